"""Every configuration key is documented, and nothing documented is gone: docs/configuration.md
against the dataclasses of ``nephoscope/config.py`` (the server's file) and
``nephoscope/agent/config.py`` (the agent's)."""

from __future__ import annotations

import dataclasses
import re
import typing

from nephoscope.agent.config import AgentConfig
from nephoscope.config import Config
from tests.conftest import ROOT

DOC = ROOT / "docs" / "configuration.md"
AGENT_PART = "## The edge agent's file"


def _keys(root: object) -> set[str]:
    """``section.key`` of every setting; arrays of tables as ``section.key.item`` or ``table.item``."""
    keys = set()
    hints = typing.get_type_hints(type(root))
    for field in dataclasses.fields(root):
        value = getattr(root, field.name)
        if dataclasses.is_dataclass(value):
            section_hints = typing.get_type_hints(type(value))
            for inner in dataclasses.fields(value):
                keys.add(f"{field.name}.{inner.name}")
                item = _table_item(section_hints[inner.name])
                if item is not None:
                    keys.update(f"{field.name}.{inner.name}.{f.name}" for f in dataclasses.fields(item))
        elif _table_item(hints[field.name]) is not None:
            keys.update(f"{field.name}.{f.name}" for f in dataclasses.fields(_table_item(hints[field.name])))
    return keys


def _table_item(hint: object) -> type | None:
    if typing.get_origin(hint) is list and dataclasses.is_dataclass(typing.get_args(hint)[0]):
        return typing.get_args(hint)[0]
    return None


def _documented() -> tuple[set[str], set[str]]:
    """(server keys, agent keys) as the document's tables name them, under their sections' headings."""
    server, agent = set(), set()
    target, sections = server, []
    for line in DOC.read_text().splitlines():
        if line.startswith(AGENT_PART):
            target, sections = agent, []
        elif line.startswith("#"):
            sections = [name for name in re.findall(r"`\[\[?([\w.]+)\]?\]`", line)]
        elif line.startswith("| `"):
            cell = line.split("|")[1]
            for token in re.findall(r"`([\w.]+)`", cell):
                if "." in token:
                    target.add(token)
                elif len(sections) == 1:
                    target.add(f"{sections[0]}.{token}")
    return server, agent


def test_every_server_setting_is_documented_and_only_those() -> None:
    documented, _ = _documented()
    expected = _keys(Config())
    assert expected - documented == set(), "undocumented settings"
    assert documented - expected == set(), "documented settings that do not exist"


def test_every_agent_setting_is_documented_and_only_those() -> None:
    _, documented = _documented()
    expected = _keys(AgentConfig())
    assert expected - documented == set(), "undocumented agent settings"
    assert documented - expected == set(), "documented agent settings that do not exist"
