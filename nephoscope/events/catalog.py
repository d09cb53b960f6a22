"""The event catalog: what each OpenStack notification type means, and the traits to take from it.

Definitions are YAML files, one per service (``definitions/*.yaml`` in this package)::

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
``split: {separator: "/", segment: -1}`` (keep one segment of a text value). Paths: ``payload.<key>...``,
``data.<key>...`` (the payload with versioned objects unwrapped), ``context.<key>`` (the ``_context_*``
fields), ``publisher_id``, ``publisher.host``, ``publisher.binary``, ``event_type``, ``priority``,
``message_id``. A numeric segment indexes a list; a key holding a dot is double-quoted
(``'data.network."router:external"'`` needs none: only dots do). The first candidate that gives a
non-empty value converting to the type wins; candidates are tried in the order: the type's own
traits, its trait sets (in order), then the common traits of the same name.

Every type must define ``resource_id``; ``project_id`` and the other ids come from the common traits
when the type has nothing more specific.

Lookup: an exact name wins over any glob; among globs the longest pattern wins. Paths are compiled
once into small getter closures; ``to_event`` does one dict lookup (cached per event type) and then
runs only the getters.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from fnmatch import translate
from pathlib import Path
from typing import Any

import orjson
import yaml

from nephoscope.events.envelope import parse_text_timestamp
from nephoscope.events.records import Event, Notification
from nephoscope.events.versioned import object_data, unwrap

__all__ = [
    "CONTEXT_FALLBACKS",
    "CORE_TRAITS",
    "DEFINITIONS_DIR",
    "TRAIT_TYPES",
    "Catalog",
    "CatalogError",
    "EventTypeInfo",
    "TraitInfo",
    "path_segments",
    "render_markdown",
    "split_publisher",
]

DEFINITIONS_DIR = Path(__file__).parent / "definitions"
TRAIT_TYPES = ("text", "int", "float", "datetime")

_FILE_KEYS = {"service", "description", "prefixes", "trait_sets", "events", "common_traits"}
_EVENT_KEYS = {"description", "resource_type", "traits", "trait_sets"}
_TRAIT_KEYS = {"fields", "type", "split"}
_SPLIT_KEYS = {"separator", "segment"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SERVICE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_PATTERN = re.compile(r"^[A-Za-z0-9_.*?:\[\]!-]+$")
_LOOKUP_CACHE_MAX = 8192

Getter = Callable[[Notification], Any]


class CatalogError(ValueError):
    """The definitions are invalid; ``errors`` lists each problem as 'file: event type: field: what'."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("invalid event definitions:\n  " + "\n  ".join(self.errors))


@dataclass(frozen=True, slots=True)
class TraitInfo:
    name: str
    type: str
    fields: tuple[str, ...]  # every candidate path, in the order tried


@dataclass(frozen=True, slots=True)
class EventTypeInfo:
    event_type: str  # the name asked about (describe) or the pattern (types)
    pattern: str  # the definition that matched: an exact name or a glob
    description: str
    service: str
    resource_type: str
    traits: dict[str, str]  # trait name -> type: the type's own traits, then the common ones
    trait_fields: dict[str, tuple[str, ...]]  # trait name -> candidate paths, in the order tried
    source: str  # the definition file's name
    trait_sets: tuple[str, ...] = ()  # the named trait sets of its file it uses


# --- publisher ids ------------------------------------------------------------------------------

def split_publisher(publisher_id: str) -> tuple[str, str]:
    """(binary, host) of a publisher id: ``nova-compute:compute1`` (versioned nova), or
    ``compute.compute1`` / ``network.node-1.example.org`` (``<topic>.<host>``: legacy nova, cinder,
    neutron, glance, heat, keystone). The host is "" when there is none."""
    if ":" in publisher_id:
        binary, _, host = publisher_id.partition(":")
    elif "." in publisher_id:
        binary, _, host = publisher_id.partition(".")
    else:
        binary, host = publisher_id, ""
    return binary, host


def _publisher_host(n: Notification) -> str | None:
    return split_publisher(n.publisher_id)[1] or None


def _publisher_binary(n: Notification) -> str | None:
    return split_publisher(n.publisher_id)[0] or None


# --- paths -> getters ---------------------------------------------------------------------------

_ROOT_CONTAINERS: dict[str, Getter] = {
    "payload": lambda n: n.payload,
    "data": lambda n: n.top,
    "context": lambda n: n.context,
}
_ROOT_SCALARS: dict[str, Getter] = {
    "publisher_id": lambda n: n.publisher_id,
    "publisher.host": _publisher_host,
    "publisher.binary": _publisher_binary,
    "event_type": lambda n: n.event_type,
    "priority": lambda n: n.priority,
    "message_id": lambda n: n.message_id,
}


def _opened(value: Any) -> Any:
    """A versioned object's data in place of the object (``data.`` paths step through them)."""
    if type(value) is dict:
        inner = object_data(value)
        if inner is not None:
            return inner
    return value


def path_segments(path: str) -> list[str]:
    """Split on dots; a double-quoted segment may hold dots. Raises ValueError."""
    segments: list[str] = []
    i, size = 0, len(path)
    while i <= size:
        if i < size and path[i] == '"':
            end = path.find('"', i + 1)
            if end < 0:
                raise ValueError("unterminated double quote")
            segment = path[i + 1:end]
            i = end + 1
            if i < size and path[i] != ".":
                raise ValueError("a quoted segment must be followed by '.' or end the path")
        else:
            end = path.find(".", i)
            end = size if end < 0 else end
            segment = path[i:end]
            if '"' in segment:
                raise ValueError("a double quote may only enclose a whole segment")
            i = end
        if not segment:
            raise ValueError("empty segment")
        segments.append(segment)
        i += 1  # past the dot
    return segments


def _step(value: Any, key: str, index: int | None) -> Any:
    if isinstance(value, dict):
        return value.get(key)
    if index is not None and isinstance(value, list):
        try:
            return value[index]
        except IndexError:
            return None
    return None


def _leaf(value: Any) -> Any:
    """A container at the end of a ``data.`` path, with the objects inside it unwrapped too."""
    kind = type(value)
    return unwrap(value) if kind is dict or kind is list else value


def compile_path(path: str) -> Getter:
    """A function of a Notification giving the value at ``path`` (None when absent). Raises
    ValueError for a path that is not valid. ``data.`` paths open every versioned object they pass
    through, so they read the payload as if it were fully unwrapped without unwrapping it."""
    if not isinstance(path, str) or not path.strip():
        raise ValueError("a path must be a non-empty string")
    if path in _ROOT_SCALARS:
        return _ROOT_SCALARS[path]
    segments = path_segments(path)
    root = _ROOT_CONTAINERS.get(segments[0])
    if root is None:
        roots = sorted([*_ROOT_CONTAINERS, *_ROOT_SCALARS])
        raise ValueError(f"path must start with one of {', '.join(roots)}")
    keys = segments[1:]
    opening = segments[0] == "data"
    if not keys:
        return (lambda n: n.data) if opening else root
    steps = tuple((k, int(k) if k.lstrip("-").isdigit() else None) for k in keys)
    if opening:
        def get_opening(n: Notification) -> Any:
            value = n.top
            for key, index in steps:
                value = _step(value, key, index)
                if value is None:
                    return None
                kind = type(value)
                if kind is dict:
                    inner = object_data(value)
                    if inner is not None:
                        value = inner
            return _leaf(value)
        if len(keys) == 1 and steps[0][1] is None:
            (k1,) = keys

            def get1_opening(n: Notification) -> Any:
                value = n.top.get(k1)
                return value if type(value) is not dict and type(value) is not list else _leaf(_opened(value))
            return get1_opening
        if len(keys) == 2 and steps[0][1] is None and steps[1][1] is None:
            k1, k2 = keys

            def get2_opening(n: Notification) -> Any:
                value = n.top.get(k1)
                if type(value) is not dict:
                    return None
                inner = object_data(value)
                value = (value if inner is None else inner).get(k2)
                return value if type(value) is not dict and type(value) is not list else _leaf(_opened(value))
            return get2_opening
        return get_opening
    if any(index is not None for _, index in steps):  # list indexes somewhere: the general walk
        def get_indexed(n: Notification) -> Any:
            value = root(n)
            for key, index in steps:
                value = _step(value, key, index)
                if value is None:
                    return None
            return value
        return get_indexed
    if len(keys) == 1:
        (k1,) = keys

        def get1(n: Notification) -> Any:
            value = root(n)
            return value.get(k1) if isinstance(value, dict) else None
        return get1
    if len(keys) == 2:
        k1, k2 = keys

        def get2(n: Notification) -> Any:
            value = root(n)
            if isinstance(value, dict):
                value = value.get(k1)
                if isinstance(value, dict):
                    return value.get(k2)
            return None
        return get2
    keys_t = tuple(keys)

    def get_n(n: Notification) -> Any:
        value = root(n)
        for key in keys_t:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value
    return get_n


# --- converters ---------------------------------------------------------------------------------

def _to_text(value: Any) -> str | None:
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return str(value)
    if kind is dict or kind is list:
        try:
            return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
        except (TypeError, ValueError):
            return None
    return str(value)


def _to_int(value: Any) -> int | None:
    kind = type(value)
    if kind is int:
        return value
    if kind is bool:
        return int(value)
    if kind is float:
        return int(value) if math.isfinite(value) else None
    if kind is str:
        text = value.strip()
        lowered = text.lower()
        if lowered in ("true", "false"):
            return int(lowered == "true")
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                return None
            return int(number) if math.isfinite(number) else None
    return None


def _to_float(value: Any) -> float | None:
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int or kind is bool:
        return float(value)
    if kind is str:
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _to_datetime(value: Any) -> datetime | None:
    """An aware UTC datetime; naive texts are UTC (what OpenStack services write)."""
    kind = type(value)
    try:
        if kind is str:
            if len(value) > 64:
                return None
            parsed = parse_text_timestamp(value)
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        if (kind is int or kind is float) and math.isfinite(value):
            return datetime.fromtimestamp(value / 1000 if abs(value) > 1e11 else value, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "text": _to_text, "int": _to_int, "float": _to_float, "datetime": _to_datetime,
}


def _splitter(separator: str, segment: int) -> Callable[[Any], Any]:
    def split(value: Any) -> Any:
        if type(value) is not str:
            return value
        parts = value.split(separator)
        try:
            return parts[segment] or None
        except IndexError:
            return None
    return split


# --- compiled definitions -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _TraitSpec:
    """One layer's view of a trait (own, a trait set or common), before merging."""
    type: str
    fields: tuple[str, ...]
    getters: tuple[Getter, ...]
    split: Callable[[Any], Any] | None


CORE_TRAITS = frozenset({
    # who and what: the event's own columns
    "resource_id", "project_id", "user_id", "request_id", "global_request_id",
    # what lifecycle metrics need (events.lifecycle)
    "state", "status", "flavor_name", "vcpus", "memory_mb", "size",
})
"""The traits extracted when an event is stored; the others are extracted from the stored
notification when an event is read (a few dozen getters per event cost more than the rest of
the ingest path)."""
CONTEXT_FALLBACKS: dict[str, tuple[str, ...]] = {
    "project_id": ("project_id", "tenant_id", "tenant", "project"),
    "user_id": ("user_id", "user"),
    "request_id": ("request_id",),
    "global_request_id": ("global_request_id",),
}
"""An event's id column with no trait value takes the first of these request-context fields
that is set."""



class _Compiled:
    """A definition ready to run: the merged traits as (name, candidates, converter)."""

    __slots__ = ("_core", "_traits", "info", "resource_type", "service")

    def __init__(self, info: EventTypeInfo, traits: list[tuple[str, tuple[Getter, ...], Callable[[Any], Any]]]):
        self.info = info
        self.service = info.service
        self.resource_type = info.resource_type
        self._traits = tuple(traits)
        self._core = tuple(trait for trait in traits if trait[0] in CORE_TRAITS)

    def extract(self, n: Notification, core: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, getters, convert in self._core if core else self._traits:
            for get in getters:
                value = get(n)
                if value is None or value == "":
                    continue
                value = convert(value)
                if value is not None and value != "":
                    out[name] = value
                    break
        return out


def _merge_traits(layers: list[dict[str, _TraitSpec]],
                  name_order: list[dict[str, _TraitSpec]] | None = None) -> tuple[dict[str, TraitInfo], list]:
    """Merge trait layers (most specific first) into TraitInfos and runnable (name, getters, convert).
    ``name_order``: the layers in the order their names should be listed (default: ``layers``)."""
    names: list[str] = []
    for layer in name_order or layers:
        names.extend(name for name in layer if name not in names)
    infos: dict[str, TraitInfo] = {}
    runnable = []
    for name in names:
        specs = [layer[name] for layer in layers if name in layer]
        kind = specs[0].type
        convert = _CONVERTERS[kind]
        getters: list[Getter] = []
        fields: list[str] = []
        seen: set[tuple[str, int]] = set()
        for spec in specs:
            for path, get in zip(spec.fields, spec.getters, strict=True):
                if (path, id(spec.split)) in seen:
                    continue
                seen.add((path, id(spec.split)))
                fields.append(path)
                if spec.split is not None:
                    getters.append(lambda n, get=get, split=spec.split: split(get(n)))
                else:
                    getters.append(get)
        infos[name] = TraitInfo(name=name, type=kind, fields=tuple(fields))
        runnable.append((name, tuple(getters), convert))
    return infos, runnable


# --- loading and validation ---------------------------------------------------------------------

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

    def trait(self, where: str, name: Any, spec: Any) -> _TraitSpec | None:
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
            split = _splitter(separator, segment)
        return _TraitSpec(type=kind, fields=tuple(fields), getters=tuple(getters), split=split)

    def traits(self, where: str, raw: Any) -> dict[str, _TraitSpec]:
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
class _RawDefinition:
    pattern: str
    description: str
    service: str
    resource_type: str
    layers: list[dict[str, _TraitSpec]]  # own, then trait sets in order
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


def _load_file(path: Path, check: _Validator, definitions: list[_RawDefinition],
               common: dict[str, tuple[_TraitSpec, str]], prefixes: dict[str, tuple[str, str]],
               all_sets: dict[str, dict[str, dict[str, _TraitSpec]]]) -> None:
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
    sets: dict[str, dict[str, _TraitSpec]] = {}
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
        definitions.append(_RawDefinition(pattern=pattern, description=description, service=service,
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


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


class Catalog:
    """The loaded definitions. Build with ``Catalog.load()``."""

    def __init__(self, definitions: list[_RawDefinition], common: dict[str, _TraitSpec],
                 prefixes: dict[str, str], trait_sets: dict[str, dict[str, dict[str, _TraitSpec]]] | None = None,
                 ) -> None:
        self._prefixes = dict(prefixes)
        # definition file -> trait set name -> traits (for the documentation)
        self.trait_sets: dict[str, dict[str, dict[str, TraitInfo]]] = {
            source: {set_name: _merge_traits([specs])[0] for set_name, specs in sets.items()}
            for source, sets in (trait_sets or {}).items()}
        self._common_specs = dict(common)
        self.common_traits, common_runnable = _merge_traits([self._common_specs])
        self._unknown = _Compiled(
            EventTypeInfo(event_type="", pattern="", description="", service="", resource_type="",
                          traits={n: t.type for n, t in self.common_traits.items()},
                          trait_fields={n: t.fields for n, t in self.common_traits.items()}, source=""),
            common_runnable)
        self._exact: dict[str, _Compiled] = {}
        self._globs: list[tuple[re.Pattern[str], _Compiled]] = []
        self._all: list[_Compiled] = []
        for raw in definitions:
            infos, runnable = _merge_traits([*raw.layers, self._common_specs],
                                            [*raw.layers[1:], raw.layers[0], self._common_specs])
            info = EventTypeInfo(event_type=raw.pattern, pattern=raw.pattern, description=raw.description,
                                 service=raw.service, resource_type=raw.resource_type,
                                 traits={n: t.type for n, t in infos.items()},
                                 trait_fields={n: t.fields for n, t in infos.items()}, source=raw.source,
                                 trait_sets=raw.set_names)
            compiled = _Compiled(info, runnable)
            self._all.append(compiled)
            if _is_glob(raw.pattern):
                self._globs.append((re.compile(translate(raw.pattern)), compiled))
            else:
                self._exact[raw.pattern] = compiled
        # longest pattern first; ties: fewer wildcards, then the name, so the order never depends on files
        self._globs.sort(key=lambda item: (-len(item[1].info.pattern),
                                           sum(item[1].info.pattern.count(c) for c in "*?["),
                                           item[1].info.pattern))
        self._cache: dict[str, _Compiled | None] = {}

    # -- loading --

    @classmethod
    def load(cls, paths: list[Path] | None = None) -> Catalog:
        """Load definition files (a directory means its ``*.yaml``); default: the shipped catalog.
        Raises CatalogError listing every problem found."""
        files = _files([DEFINITIONS_DIR] if paths is None else paths)
        check = _Validator()
        if not files:
            check.error(", ".join(str(p) for p in (paths or [DEFINITIONS_DIR])), "no definition files found")
        definitions: list[_RawDefinition] = []
        common: dict[str, tuple[_TraitSpec, str]] = {}
        prefixes: dict[str, tuple[str, str]] = {}
        sets: dict[str, dict[str, dict[str, _TraitSpec]]] = {}
        for path in files:
            _load_file(path, check, definitions, common, prefixes, sets)
        first: dict[str, _RawDefinition] = {}
        for raw in definitions:
            if raw.pattern in first:
                check.error(f"{raw.source}: event {raw.pattern!r}",
                            f"is already defined in {first[raw.pattern].source}")
            else:
                first[raw.pattern] = raw
        if check.errors:
            raise CatalogError(check.errors)
        return cls(definitions, {k: v[0] for k, v in common.items()}, {k: v[0] for k, v in prefixes.items()}, sets)

    # -- lookups --

    def _lookup(self, event_type: str) -> _Compiled | None:
        try:
            return self._cache[event_type]
        except KeyError:
            pass
        found = self._exact.get(event_type)
        if found is None:
            for regex, compiled in self._globs:
                if regex.match(event_type):
                    found = compiled
                    break
        if len(self._cache) >= _LOOKUP_CACHE_MAX:
            self._cache.clear()
        self._cache[event_type] = found
        return found

    def describe(self, event_type: str) -> EventTypeInfo | None:
        """What the catalog knows about ``event_type``, or None when no definition matches."""
        found = self._lookup(event_type)
        return None if found is None else replace(found.info, event_type=event_type)

    def types(self) -> list[EventTypeInfo]:
        """Every definition, in file order (files sorted by name)."""
        return [compiled.info for compiled in self._all]

    def store_paths(self, event_type: str | None = None) -> list[str]:
        """The paths the core traits read: what storing an event reads of its notification
        (``events.projection``). Of ``event_type``'s definition (the common traits' for a type
        the catalog does not define), or of every definition and the common traits."""
        paths: dict[str, None] = {}
        if event_type is None:
            definitions = [*self._all, self._unknown]
        else:
            definitions = [self._lookup(event_type) or self._unknown]
        for compiled in definitions:
            for name, fields in compiled.info.trait_fields.items():
                if name in CORE_TRAITS:
                    paths.update(dict.fromkeys(fields))
        return list(paths)

    def services(self) -> list[str]:
        return sorted({compiled.service for compiled in self._all})

    def service_of(self, event_type: str, publisher_id: str = "") -> str:
        """The service of a type: its definition's, else the one claiming its prefix, else the
        publisher's binary (``nova-compute`` -> nova; a ``<topic>.<host>`` topic a service claims)."""
        found = self._lookup(event_type)
        if found is not None:
            return found.service
        return self._service_by_name(event_type, publisher_id)

    def _service_by_name(self, event_type: str, publisher_id: str) -> str:
        service = self._prefixes.get(event_type.partition(".")[0])
        if service:
            return service
        binary = split_publisher(publisher_id)[0]
        if not binary:
            return ""
        service = self._prefixes.get(binary)
        if service:
            return service
        return binary.partition("-")[0].lower()

    # -- events --

    def to_event(self, notification: Notification, core: bool = False) -> Event:
        """The Event of a notification: traits by its definition (the common ones only, known=False,
        when the catalog has none for its type); with ``core``, only the ``CORE_TRAITS``."""
        n = notification
        found = self._lookup(n.event_type)
        known = found is not None
        compiled = found if known else self._unknown
        traits = compiled.extract(n, core)
        context = n.context
        service = compiled.service if known else self._service_by_name(n.event_type, n.publisher_id)
        # Positional, in the fields' order (message_id, event_type, timestamp_ms, service, host,
        # priority, project_id, user_id, request_id, global_request_id, resource_id, resource_type,
        # traits, known, raw): a dataclass called with 15 keywords costs 0.6 µs more.
        return Event(
            n.message_id, n.event_type, n.timestamp_ms, service, split_publisher(n.publisher_id)[1], n.priority,
            _id(traits.get("project_id"), context, CONTEXT_FALLBACKS["project_id"]),
            _id(traits.get("user_id"), context, CONTEXT_FALLBACKS["user_id"]),
            _id(traits.get("request_id"), context, CONTEXT_FALLBACKS["request_id"]),
            _id(traits.get("global_request_id"), context, CONTEXT_FALLBACKS["global_request_id"]),
            _id(traits.get("resource_id"), None, ()), compiled.resource_type, traits, known, n,
        )


def _id(value: Any, context: dict | None, keys: tuple[str, ...]) -> str:
    if value is not None and value != "":
        return value if type(value) is str else str(value)
    if context:
        for key in keys:
            candidate = context.get(key)
            if type(candidate) is str and candidate:
                return candidate
    return ""


# --- documentation ------------------------------------------------------------------------------

def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _fields(fields: tuple[str, ...]) -> str:
    return ", ".join(f"`{f}`" for f in fields)


def render_markdown(catalog: Catalog) -> str:
    """The catalog as a documentation page: the common traits, then one section per service with
    its trait sets and a table of its event types (type, description, resource, traits)."""
    lines = [
        "# Event catalog",
        "",
        ("The OpenStack notifications nephoscope understands, generated from "
         "`nephoscope/events/definitions/*.yaml`. A type ending in `*` covers every name it matches "
         "(`instance.create.*`: `.start`, `.end`, `.error`); an exact name wins over a pattern, a longer "
         "pattern over a shorter one. Types not listed are still stored, with the common traits only."),
        "",
        ("Trait paths: `payload.` is the payload as sent, `data.` the payload with versioned objects "
         "unwrapped (`nova_object.data`), `context.` the request context; the first path that has a value "
         "gives the trait."),
        "",
        "## Traits every event has",
        "",
        "| trait | type | taken from (first found) |",
        "|---|---|---|",
    ]
    for trait in catalog.common_traits.values():
        lines.append(f"| `{trait.name}` | {trait.type} | {_cell(_fields(trait.fields))} |")
    by_service: dict[str, list[EventTypeInfo]] = {}
    for info in catalog.types():
        by_service.setdefault(info.service, []).append(info)
    common = catalog.common_traits
    for service in sorted(by_service):
        infos = by_service[service]
        lines += ["", f"## {service}", ""]
        used = [(info.source, name) for info in infos for name in info.trait_sets]
        for source, set_name in dict.fromkeys(used):
            traits = catalog.trait_sets.get(source, {}).get(set_name, {})
            lines += [f"Trait set *{set_name}*:", "", "| trait | type | taken from (first found) |", "|---|---|---|"]
            lines += [f"| `{t.name}` | {t.type} | {_cell(_fields(t.fields))} |" for t in traits.values()]
            lines.append("")
        lines += ["| type | description | resource | traits |", "|---|---|---|---|"]
        for info in infos:
            in_sets: set[str] = set()
            for set_name in info.trait_sets:
                in_sets.update(catalog.trait_sets.get(info.source, {}).get(set_name, {}))
            parts = [f"*{name}* set" for name in info.trait_sets]
            parts += [f"`{name}` ({kind})" for name, kind in info.traits.items()
                      if name not in in_sets and (name not in common
                                                  or info.trait_fields[name] != common[name].fields)]
            lines.append(f"| `{_cell(info.pattern)}` | {_cell(info.description)} | {_cell(info.resource_type)} "
                         f"| {_cell(', '.join(parts))} |")
    lines.append("")
    return "\n".join(lines)
