"""Properties of the parsers and masks, for any input: nothing raises, no line is lost, masking
is lossless (constants and parameters interleaved give the message back) and idempotent, and
template ids survive a save/load restart."""

from __future__ import annotations

import string

import pyarrow.compute as pc
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nephoscope.logs.processing.masks import WILDCARD, mask, mask_one
from nephoscope.logs.processing.pipeline import LogPipeline
from nephoscope.logs.processing.schema import RECORD_SCHEMA
from nephoscope.logs.processing.sources import Source
from nephoscope.logs.processing.templates import TemplateMiner

PIPELINE = LogPipeline()
# Any text, newlines and the masks' own separators (\x1d, \x1e) included.
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=120)
TOKENS = st.sampled_from([
    "req-0b373f08-1e21-4eb6-861c-40f998e52aaf", "3f1c2f7e-6a55-4c6e-9d0c-6b1f0e2a9c41", "10.0.0.1", "10.0.0.1:5672",
    "fa:16:3e:12:34:56", "/var/lib/nova/instances/_base/abc", "http://controller:8774/v2.1", "512MB", "3.5s",
    "0x1f", "42", "3.14", "name=cp-1.example", "'quoted value'", "[instance:", "]", "ERROR", "INFO", "[-]",
    "Traceback (most recent call last):", "  File", "2017-05-16", "00:00:00.008", "25746", "nova.compute.manager",
    "\"GET", "HTTP/1.1\"", "status:", "len:", "time:", "{", "}", "<*>", "instance-0000001a", "tapabcdef01-23",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "Claim", "successful", "", " ",
])
LINES = st.lists(st.one_of(TEXT, st.lists(TOKENS, max_size=14).map(" ".join)), max_size=40)
OSLO_LINE = st.builds(
    lambda pid, level, logger, context, message: f"2024-02-03 04:05:06.789 {pid} {level} {logger} {context}{message}",
    st.integers(1, 99999), st.sampled_from(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]),
    st.sampled_from(["nova.compute.manager", "neutron.agent.l3", "cinder.volume.manager"]),
    st.sampled_from(["[-] ", "[None req-0b373f08-1e21-4eb6-861c-40f998e52aaf u p - - default default] ",
                     "[req-0b373f08-1e21-4eb6-861c-40f998e52aaf u p - - -] ", "",
                     "[instance: 3f1c2f7e-6a55-4c6e-9d0c-6b1f0e2a9c41] "]),
    st.lists(TOKENS, max_size=10).map(" ".join))


def interleave(constants: list[str], parameters: list[str]) -> str:
    pieces = []
    for index, constant in enumerate(constants):
        pieces.append(constant)
        if index < len(parameters):
            pieces.append(parameters[index])
    return "".join(pieces)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(TEXT, st.lists(TOKENS, max_size=14).map(" ".join)), min_size=1, max_size=30))
@example(["a\x1eb 5 \x1d/x y=\x1e1", "\x1d\x1e"])
def test_masking_is_lossless(messages: list[str]) -> None:
    import pyarrow as pa

    masked, parameters = mask(pa.array(messages, pa.string()))
    for message, text, values in zip(messages, masked.to_pylist(), parameters.to_pylist()):
        if WILDCARD in message:
            continue  # a literal "<*>" in a message cannot be told from a mask
        constants = text.split(WILDCARD)
        assert len(constants) == len(values) + 1
        # the masks' separators are the only characters that do not come back as they were
        assert interleave(constants, values) == message.replace("\x1d", "\ufffd").replace("\x1e", "\ufffd")


@settings(max_examples=200, deadline=None)
@given(st.lists(TOKENS, max_size=16).map(" ".join))
def test_masking_is_idempotent(message: str) -> None:
    masked, _ = mask_one(message)
    again, values = mask_one(masked)
    assert again == masked and values == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LINES)
def test_any_input_parses_and_no_line_is_lost(lines: list[str]) -> None:
    table = PIPELINE.process(lines, Source(service="nova"))
    assert table.schema == RECORD_SCHEMA
    physical = sum(len(line.split("\n")) for line in lines)
    assert int(pc.sum(table.column("lines")).as_py() or 0) == physical
    assert table.column("category").null_count == 0
    assert table.column("template_id").null_count == 0
    assert "\n".join(table.column("raw").to_pylist()).replace("\r", "") == "\n".join(lines).replace("\r", "")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OSLO_LINE, min_size=1, max_size=30))
def test_oslo_lines_one_record_each_unless_bare(lines: list[str]) -> None:
    table = PIPELINE.process(lines)
    # a line without a context block right after a line of the same date, pid and logger is a
    # traceback line of that record; every other oslo.log line is a record of its own
    assert table.num_rows <= len(lines)
    assert int(pc.sum(table.column("lines")).as_py()) == len(lines)
    assert set(table.column("format").to_pylist()) <= {"oslo"}
    for record in table.select(["level", "logger"]).to_pylist():
        assert record["level"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
        assert record["logger"] in {"nova.compute.manager", "neutron.agent.l3", "cinder.volume.manager"}


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.sampled_from(string.ascii_lowercase.split() + [
    "alpha", "beta", "gamma", "delta", "host-1", "host-2", "node7", "<*>", "value=3", "'x'", "failed", "started"]),
    min_size=1, max_size=8).map(" ".join), min_size=1, max_size=40), st.integers(0, 39))
def test_template_ids_survive_a_restart(messages: list[str], split: int) -> None:
    miner = TemplateMiner()
    first, _ = miner.assign(messages[:split])
    restored = TemplateMiner.from_json(miner.to_json())
    again, new = restored.assign(messages[:split])
    assert again == first and not any(new)
    later_original, _ = miner.assign(messages[split:])
    later_restored, _ = restored.assign(messages[split:])
    assert later_original == later_restored
