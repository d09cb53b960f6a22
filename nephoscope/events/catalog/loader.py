"""Reading the definition files: YAML (a key given twice is an error), every problem found reported
at once as 'file: event type: field: what' (``CatalogError``), each trait's paths compiled.

Definitions are YAML files, one per service (``nephoscope/events/definitions/*.yaml``)::

    service: nova                      # the service its types belong to
    prefixes: [compute, instance]      # first event-type segments that mean this service (unknown types)
    trait_sets:                        # named groups of traits, reused by the types below
      instance:
        resource_id: {fields: [data.uuid], type: text}
    events:
      instance.create.*:               # an exact name, or an fnmatch glob (* ? [..])
        description: One plain sentence.
        resource_type: instance
        trait_sets: [instance]
        traits:
          key_name: {fields: [data.key_name], type: text}

and ``common.yaml`` holds ``common_traits``: the traits every type gets, known or not.

A trait is ``{fields: <path or list of candidate paths>, type: text|int|float|datetime}``, optionally
``split: {separator: "/", segment: -1}`` (keep one segment of a text value); paths are those of
``catalog.paths``. Every type must define ``resource_id``; ``project_id`` and the other ids come
from the common traits when the type has nothing more specific.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nephoscope.events.catalog.paths import TRAIT_TYPES, Getter, compile_path, splitter

__all__ = ["DEFINITIONS_DIR", "CatalogError", "RawDefinition", "TraitSpec", "read_definitions"]

DEFINITIONS_DIR = Path(__file__).parent.parent / "definitions"

_FILE_KEYS = {"service", "description", "prefixes", "trait_sets", "events", "common_traits"}
_EVENT_KEYS = {"description", "resource_type", "traits", "trait_sets"}
_TRAIT_KEYS = {"fields", "type", "split"}
_SPLIT_KEYS = {"separator", "segment"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SERVICE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_PATTERN = re.compile(r"^[A-Za-z0-9_.*?:\[\]!-]+$")


class CatalogError(ValueError):
    """The definitions are invalid; ``errors`` lists each problem as 'file: event type: field: what'."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("invalid event definitions:\n  " + "\n  ".join(self.errors))


@dataclass(frozen=True, slots=True)
class TraitSpec:
    """One layer's view of a trait (own, a trait set or common), before merging."""
    type: str
    fields: tuple[str, ...]
    getters: tuple[Getter, ...]
    split: Callable[[Any], Any] | None


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key given twice in one mapping (PyYAML would keep the last one)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, Any] = {}
    for key_node, _value in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, f"unhashable key {key!r}", key_node.start_mark) from None
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                f"key {key!r} is given twice (first on line {seen[key].line + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _closest(word: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


class _Validator:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, where: str, what: str) -> None:
        self.errors.append(f"{where}: {what}")

    def unknown_keys(self, where: str, mapping: dict, allowed: set[str]) -> None:
        for key in mapping:
            if key not in allowed:
                self.error(where, f"unknown key {key!r}{_closest(str(key), allowed)}; allowed: "
                                  f"{', '.join(sorted(allowed))}")

    def text(self, where: str, mapping: dict, key: str) -> str:
        value = mapping.get(key)
        if not isinstance(value, str) or not value.strip():
            self.error(where, f"{key} must be a non-empty string" + ("" if key in mapping else " (missing)"))
            return ""
        return value.strip()

    def trait(self, where: str, name: Any, spec: Any) -> TraitSpec | None:
        if not isinstance(name, str) or not _NAME.match(name):
            self.error(where, f"trait name {name!r} must be an identifier (letters, digits, _)")
            return None
        where = f"{where}: trait {name!r}"
        if isinstance(spec, (str, list)):
            spec = {"fields": spec}
        if not isinstance(spec, dict):
            self.error(where, "must be a mapping {fields: ..., type: ...}")
            return None
        self.unknown_keys(where, spec, _TRAIT_KEYS)
        fields = spec.get("fields")
        if isinstance(fields, str):
            fields = [fields]
        if not isinstance(fields, list) or not fields:
            self.error(where, "fields must be a path or a non-empty list of paths"
                       + ("" if "fields" in spec else " (missing)"))
            return None
        kind = spec.get("type", "text")
        if kind not in TRAIT_TYPES:
            self.error(where, f"type {kind!r} is not one of {', '.join(TRAIT_TYPES)}"
                       f"{_closest(str(kind), TRAIT_TYPES)}")
            return None
        getters = []
        for path in fields:
            try:
                getters.append(compile_path(path))
            except ValueError as exc:
                self.error(where, f"fields: path {path!r}: {exc}")
        if len(getters) != len(fields):
            return None
        split = None
        if "split" in spec:
            raw = spec["split"]
            if not isinstance(raw, dict):
                self.error(where, "split must be a mapping {separator: ..., segment: ...}")
                return None
            self.unknown_keys(f"{where}: split", raw, _SPLIT_KEYS)
            separator, segment = raw.get("separator"), raw.get("segment", -1)
            if not isinstance(separator, str) or not separator:
                self.error(where, "split: separator must be a non-empty string")
                return None
            if not isinstance(segment, int) or isinstance(segment, bool):
                self.error(where, "split: segment must be an integer (negative counts from the end)")
                return None
            split = splitter(separator, segment)
        return TraitSpec(type=kind, fields=tuple(fields), getters=tuple(getters), split=split)

    def traits(self, where: str, raw: Any) -> dict[str, TraitSpec]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.error(where, "traits must be a mapping of trait name -> {fields, type}")
            return {}
        out = {}
        for name, spec in raw.items():
            compiled = self.trait(where, name, spec)
            if compiled is not None:
                out[name] = compiled
        return out


@dataclass
class RawDefinition:
    pattern: str
    description: str
    service: str
    resource_type: str
    layers: list[dict[str, TraitSpec]]  # own, then trait sets in order
    source: str
    set_names: tuple[str, ...]


_UNREADABLE = object()


def _read_yaml(path: Path, check: _Validator) -> Any:
    """The document, or _UNREADABLE (the error is recorded)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        check.error(path.name, f"cannot be read: {exc}")
        return _UNREADABLE
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        check.error(path.name, f"is not valid YAML: {exc}".replace("\n", " "))
        return _UNREADABLE


def _load_file(path: Path, check: _Validator, definitions: list[RawDefinition],
               common: dict[str, tuple[TraitSpec, str]], prefixes: dict[str, tuple[str, str]],
               all_sets: dict[str, dict[str, dict[str, TraitSpec]]]) -> None:
    name = path.name
    doc = _read_yaml(path, check)
    if doc is _UNREADABLE:
        return
    if doc is None:
        check.error(name, "is empty")
        return
    if not isinstance(doc, dict):
        check.error(name, "must be a mapping with service and events (or common_traits)")
        return
    check.unknown_keys(name, doc, _FILE_KEYS)
    if "common_traits" in doc:
        for trait_name, spec in check.traits(f"{name}: common_traits", doc["common_traits"]).items():
            if trait_name in common:
                check.error(f"{name}: common_traits", f"trait {trait_name!r} is already a common trait "
                                                      f"(in {common[trait_name][1]})")
            else:
                common[trait_name] = (spec, name)
    if "events" not in doc:
        if "common_traits" not in doc:
            check.error(name, "has neither events nor common_traits")
        return
    service = doc.get("service")
    if not isinstance(service, str) or not _SERVICE.match(service):
        check.error(name, f"service must be a lower-case name like 'nova', got {service!r}")
        service = ""
    raw_prefixes = doc.get("prefixes", [])
    if not isinstance(raw_prefixes, list) or not all(isinstance(p, str) and p for p in raw_prefixes):
        check.error(name, "prefixes must be a list of event-type prefixes")
    else:
        for prefix in raw_prefixes:
            if prefix in prefixes and prefixes[prefix][0] != service:
                check.error(name, f"prefix {prefix!r} is already claimed by service {prefixes[prefix][0]!r} "
                                  f"(in {prefixes[prefix][1]})")
            else:
                prefixes[prefix] = (service, name)
    sets: dict[str, dict[str, TraitSpec]] = {}
    raw_sets = doc.get("trait_sets", {})
    if not isinstance(raw_sets, dict):
        check.error(name, "trait_sets must be a mapping of set name -> traits")
    else:
        for set_name, traits in raw_sets.items():
            sets[str(set_name)] = check.traits(f"{name}: trait set {set_name!r}", traits)
    all_sets[name] = sets
    events = doc["events"]
    if not isinstance(events, dict) or not events:
        check.error(name, "events must be a non-empty mapping of event type -> definition")
        return
    for pattern, body in events.items():
        where = f"{name}: event {pattern!r}"
        if not isinstance(pattern, str) or not _PATTERN.match(pattern):
            check.error(where, "an event type must be a name or glob of letters, digits and . _ - : * ? [ ]")
            continue
        if not isinstance(body, dict):
            check.error(where, "must be a mapping with description, resource_type and traits")
            continue
        check.unknown_keys(where, body, _EVENT_KEYS)
        description = check.text(where, body, "description")
        resource_type = check.text(where, body, "resource_type")
        layers = [check.traits(where, body.get("traits"))]
        used: list[str] = []
        wanted = body.get("trait_sets", [])
        if isinstance(wanted, str):
            wanted = [wanted]
        if not isinstance(wanted, list):
            check.error(where, "trait_sets must be a list of trait set names")
            wanted = []
        for set_name in wanted:
            if set_name not in sets:
                check.error(where, f"trait_sets: no trait set {set_name!r} in this file"
                                   f"{_closest(str(set_name), sets)}")
            else:
                layers.append(sets[set_name])
                used.append(set_name)
        if not any("resource_id" in layer for layer in layers):
            check.error(where, "defines no resource_id trait (every type must say which resource it is about)")
        definitions.append(RawDefinition(pattern=pattern, description=description, service=service,
                                         resource_type=resource_type, layers=layers, source=name,
                                         set_names=tuple(used)))


def _files(paths: Iterable[Path | str]) -> list[Path]:
    files: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            files.extend(sorted([*path.glob("*.yaml"), *path.glob("*.yml")]))
        else:
            files.append(path)
    return files


def read_definitions(paths: list[Path] | None = None) -> tuple[
        list[RawDefinition], dict[str, TraitSpec], dict[str, str], dict[str, dict[str, dict[str, TraitSpec]]]]:
    """Read and check definition files (a directory means its ``*.yaml``); default: the shipped
    catalog. Returns what ``Catalog`` is built of: the definitions, the common traits, the prefix
    -> service claims and each file's trait sets. Raises CatalogError listing every problem found."""
    files = _files([DEFINITIONS_DIR] if paths is None else paths)
    check = _Validator()
    if not files:
        check.error(", ".join(str(p) for p in (paths or [DEFINITIONS_DIR])), "no definition files found")
    definitions: list[RawDefinition] = []
    common: dict[str, tuple[TraitSpec, str]] = {}
    prefixes: dict[str, tuple[str, str]] = {}
    sets: dict[str, dict[str, dict[str, TraitSpec]]] = {}
    for path in files:
        _load_file(path, check, definitions, common, prefixes, sets)
    first: dict[str, RawDefinition] = {}
    for raw in definitions:
        if raw.pattern in first:
            check.error(f"{raw.source}: event {raw.pattern!r}",
                        f"is already defined in {first[raw.pattern].source}")
        else:
            first[raw.pattern] = raw
    if check.errors:
        raise CatalogError(check.errors)
    return definitions, {k: v[0] for k, v in common.items()}, {k: v[0] for k, v in prefixes.items()}, sets
