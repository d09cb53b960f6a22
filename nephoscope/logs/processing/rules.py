"""The classification rules file: loading, validation, and what one rule matches.

A rules file is YAML::

    defaults:                 # category of a record no rule matches
      levels: {CRITICAL: error, ERROR: error, WARNING: info, INFO: info, DEBUG: noise}
      traceback: error        # a record carrying a traceback, whatever its level
      unparsed: info          # a line no parser recognised
    rules:                    # the first rule that matches decides
      - name: nova-image-cache-unknown-base-file
        category: noise       # error | telemetry | noise | audit | info
        description: why this is not worth anyone's attention
        match:                # every condition given must hold
          service: nova                      # glob or list of globs (* and ?)
          logger: nova.virt.*.imagecache
          level: [WARNING, INFO]
          template: "Unknown base file: *"   # glob over the template text
          message: "^Unknown base file"      # RE2 regular expression over the message

Match fields: ``service``, ``component``, ``host``, ``logger``, ``level``, ``template``,
``template_id``, ``message``, ``exception`` (glob over the exception type, e.g.
``*InstanceNotFound``), ``format`` (``oslo``, ``oslo-json``, ``httpd-access``, ``syslog``,
``unparsed``), ``http_status`` (glob, e.g. ``5*``), ``traceback`` (true/false).

Globs match the whole value, are case-sensitive (levels excepted) and know only ``*`` and
``?``; every other character is literal, so ``pci_stats=[]`` in a template needs no escaping.
Errors name the file, the rule (number and name) and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import yaml

CATEGORIES = ("error", "telemetry", "noise", "audit", "info")
FORMATS = ("oslo", "oslo-json", "httpd-access", "syslog", "unparsed")
LEVEL_NAMES = ("TRACE", "DEBUG", "INFO", "AUDIT", "WARNING", "ERROR", "CRITICAL")
GLOB_FIELDS = ("service", "component", "host", "logger", "template", "template_id", "exception", "http_status")
MATCH_FIELDS = (*GLOB_FIELDS, "level", "message", "format", "traceback")
RULE_FIELDS = ("name", "category", "description", "match")
_RECORD_FIELD = {"exception": "exception_type"}  # match field -> record column, where the names differ
DEFAULT_RULES = "default.yaml"


class RulesError(ValueError):
    """A rules file is wrong; the message lists every problem found, each with its place."""


def glob_pattern(glob: str) -> str:
    """A glob (``*`` any text, ``?`` one character, the rest literal) as a Python regex."""
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)


@dataclass(frozen=True)
class Rule:
    name: str
    category: str
    description: str = ""
    globs: dict[str, re.Pattern] = field(default_factory=dict)  # field -> compiled alternation of globs
    levels: frozenset[str] | None = None
    formats: frozenset[str] | None = None
    traceback: bool | None = None
    message: str | None = None  # RE2, evaluated over the batch
    origin: str = ""

    def matches(self, values: dict[str, Any]) -> bool:
        """Whether every condition except ``message`` holds for a record's ``values``."""
        if self.levels is not None and (values.get("level") or "") not in self.levels:
            return False
        if self.formats is not None and values.get("format") not in self.formats:
            return False
        if self.traceback is not None and bool(values.get("traceback")) != self.traceback:
            return False
        for name, pattern in self.globs.items():
            value = values.get(_RECORD_FIELD.get(name, name))
            if value is None or pattern.fullmatch(str(value)) is None:
                return False
        return True


@dataclass(frozen=True)
class Defaults:
    levels: dict[str, str]
    traceback: str = "error"
    unparsed: str = "info"
    other: str = "info"

    def category(self, level: str | None, traceback: bool, unparsed: bool) -> tuple[str, str]:
        """(category, reason) for a record no rule matched."""
        if traceback:
            return self.traceback, "default:traceback"
        if unparsed:
            return self.unparsed, "default:unparsed"
        level = _level(level or "")
        if level in self.levels:
            return self.levels[level], f"default:{level}"
        return self.other, "default:other"


BUILTIN_DEFAULTS = Defaults({"CRITICAL": "error", "ERROR": "error", "WARNING": "info", "AUDIT": "audit",
                             "INFO": "info", "DEBUG": "noise", "TRACE": "noise"})


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    defaults: Defaults = BUILTIN_DEFAULTS

    def __len__(self) -> int:
        return len(self.rules)

    def __add__(self, other: RuleSet) -> RuleSet:
        """Rules of ``self`` first (they win), then ``other``'s; ``self``'s defaults."""
        return RuleSet(self.rules + other.rules, self.defaults)


def _level(name: str) -> str:
    name = name.upper()
    return {"WARN": "WARNING", "FATAL": "CRITICAL"}.get(name, name)


def _strings(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [str(value)]
    if isinstance(value, list) and value and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        return [str(v) for v in value]
    return None


def check_re2(pattern: str) -> str | None:
    """The RE2 error for ``pattern`` (the engine the classifier uses), or None when it is valid."""
    try:
        pc.match_substring_regex(pa.array([""], pa.string()), pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        return str(error).removeprefix("Invalid regular expression: ")
    return None


def parse_rules(document: Any, origin: str = "<rules>") -> RuleSet:
    """A validated :class:`RuleSet` from a parsed YAML document; :class:`RulesError` lists every problem."""
    problems: list[str] = []
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise RulesError(f"{origin}: the file must be a mapping with a 'rules' list, not {type(document).__name__}")
    for key in document:
        if key not in ("rules", "defaults", "version"):
            problems.append(f"{origin}: unknown top-level key {key!r} (expected rules, defaults, version)")
    defaults = _parse_defaults(document.get("defaults"), origin, problems)
    raw_rules = document.get("rules", [])
    if not isinstance(raw_rules, list):
        problems.append(f"{origin}: 'rules' must be a list of rules")
        raw_rules = []
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(raw_rules, 1):
        rule = _parse_rule(raw, number, origin, problems)
        if rule is None:
            continue
        if rule.name in seen:
            problems.append(f"{origin}: rule {number} {rule.name!r}: the name is already used by rule {seen[rule.name]}")
        seen[rule.name] = number
        rules.append(rule)
    if problems:
        raise RulesError("invalid rules:\n  " + "\n  ".join(problems))
    return RuleSet(tuple(rules), defaults)


def _parse_defaults(raw: Any, origin: str, problems: list[str]) -> Defaults:
    if raw is None:
        return BUILTIN_DEFAULTS
    if not isinstance(raw, dict):
        problems.append(f"{origin}: 'defaults' must be a mapping")
        return BUILTIN_DEFAULTS
    levels = dict(BUILTIN_DEFAULTS.levels)
    values = {"traceback": BUILTIN_DEFAULTS.traceback, "unparsed": BUILTIN_DEFAULTS.unparsed,
              "other": BUILTIN_DEFAULTS.other}
    for key, value in raw.items():
        if key == "levels":
            if not isinstance(value, dict):
                problems.append(f"{origin}: field 'defaults.levels' must map level names to categories")
                continue
            for level, category in value.items():
                name = _level(str(level))
                if name not in LEVEL_NAMES:
                    problems.append(f"{origin}: field 'defaults.levels': {level!r} is not a level "
                                    f"(one of {', '.join(LEVEL_NAMES)})")
                elif category not in CATEGORIES:
                    problems.append(f"{origin}: field 'defaults.levels.{level}': {category!r} is not a category "
                                    f"(one of {', '.join(CATEGORIES)})")
                else:
                    levels[name] = category
        elif key in values:
            if value not in CATEGORIES:
                problems.append(f"{origin}: field 'defaults.{key}': {value!r} is not a category "
                                f"(one of {', '.join(CATEGORIES)})")
            else:
                values[key] = value
        else:
            problems.append(f"{origin}: unknown field 'defaults.{key}' (expected levels, traceback, unparsed, other)")
    return Defaults(levels, **values)


def _parse_rule(raw: Any, number: int, origin: str, problems: list[str]) -> Rule | None:
    if not isinstance(raw, dict):
        problems.append(f"{origin}: rule {number}: must be a mapping with name, category and match")
        return None
    name = raw.get("name")
    where = f"{origin}: rule {number} {name!r}" if isinstance(name, str) and name else f"{origin}: rule {number}"
    before = len(problems)
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{where}: field 'name' is required (a non-empty string)")
    for key in raw:
        if key not in RULE_FIELDS:
            problems.append(f"{where}: unknown field {key!r} (expected {', '.join(RULE_FIELDS)})")
    category = raw.get("category")
    if category not in CATEGORIES:
        problems.append(f"{where}: field 'category': {category!r} is not a category (one of {', '.join(CATEGORIES)})")
    description = raw.get("description", "")
    if not isinstance(description, str):
        problems.append(f"{where}: field 'description' must be a string")
    match = raw.get("match")
    if not isinstance(match, dict) or not match:
        problems.append(f"{where}: field 'match' is required: a mapping with at least one condition "
                        f"({', '.join(MATCH_FIELDS)})")
        match = {}
    globs: dict[str, re.Pattern] = {}
    levels = formats = None
    traceback = message = None
    for key, value in match.items():
        place = f"{where}: field 'match.{key}'"
        if key in GLOB_FIELDS:
            values = _strings(value)
            if values is None:
                problems.append(f"{place}: must be a string or a list of strings")
                continue
            globs[key] = re.compile("|".join(f"(?:{glob_pattern(v)})" for v in values), re.DOTALL)
        elif key == "level":
            values = _strings(value)
            if values is None:
                problems.append(f"{place}: must be a level name or a list of them")
                continue
            names = [_level(v) for v in values]
            unknown = [v for v, n in zip(values, names) if n not in LEVEL_NAMES]
            if unknown:
                problems.append(f"{place}: {', '.join(map(repr, unknown))} is not a level (one of {', '.join(LEVEL_NAMES)})")
            levels = frozenset(names)
        elif key == "format":
            values = _strings(value)
            unknown = [v for v in values or [] if v not in FORMATS]
            if values is None or unknown:
                problems.append(f"{place}: must be one or more of {', '.join(FORMATS)}")
                continue
            formats = frozenset(values)
        elif key == "traceback":
            if not isinstance(value, bool):
                problems.append(f"{place}: must be true or false")
                continue
            traceback = value
        elif key == "message":
            if not isinstance(value, str) or not value:
                problems.append(f"{place}: must be a regular expression (a non-empty string)")
                continue
            error = check_re2(value)
            if error:
                problems.append(f"{place}: invalid regular expression {value!r}: {error} "
                                f"(RE2 syntax: no look-ahead/look-behind or back-references)")
                continue
            message = value
        else:
            problems.append(f"{place}: unknown condition (expected {', '.join(MATCH_FIELDS)})")
    if len(problems) > before:
        return None
    return Rule(name, category, description, globs, levels, formats, traceback, message, f"{origin}#{number}")


def load_rules(*paths: str | Path, include_defaults: bool = True) -> RuleSet:
    """Rules from ``paths`` in order (earlier files win), then the shipped defaults unless
    ``include_defaults`` is false. The first file's ``defaults`` section applies."""
    sets = []
    for path in paths:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise RulesError(f"{path}: cannot read the rules file: {error.strerror or error}") from None
        sets.append(parse_text(text, str(path)))
    if include_defaults:
        sets.append(default_rules())
    if not sets:
        return RuleSet(())
    combined = sets[0]
    for more in sets[1:]:
        combined = combined + more
    return combined


def parse_text(text: str, origin: str = "<rules>") -> RuleSet:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise RulesError(f"{origin}: not valid YAML: {error}") from None
    return parse_rules(document, origin)


def default_rules() -> RuleSet:
    """The rules shipped with Nephoscope (``nephoscope/logs/processing/rules/default.yaml``)."""
    text = resources.files("nephoscope.logs.processing").joinpath("rules", DEFAULT_RULES).read_text(encoding="utf-8")
    return parse_text(text, f"nephoscope/logs/processing/rules/{DEFAULT_RULES}")
