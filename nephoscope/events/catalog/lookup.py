"""The catalog itself: the loaded definitions, looked up by event type, and a notification made
into an ``Event``.

Lookup: an exact name wins over any glob; among globs the longest pattern wins. A trait's
candidate paths are tried in the order: the type's own traits, its trait sets (in order), then
the common traits of the same name; the first that gives a non-empty value converting to the type
wins. ``to_event`` does one dict lookup (cached per event type) and then runs only the getters.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from fnmatch import translate
from pathlib import Path
from typing import Any

from nephoscope.events.catalog.loader import RawDefinition, TraitSpec, read_definitions
from nephoscope.events.catalog.paths import CONVERTERS, Getter, split_publisher
from nephoscope.events.records import Event, Notification

__all__ = ["CONTEXT_FALLBACKS", "CORE_TRAITS", "Catalog", "EventTypeInfo", "TraitInfo"]

_LOOKUP_CACHE_MAX = 8192


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


def _merge_traits(layers: list[dict[str, TraitSpec]],
                  name_order: list[dict[str, TraitSpec]] | None = None) -> tuple[dict[str, TraitInfo], list]:
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
        convert = CONVERTERS[kind]
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


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


class Catalog:
    """The loaded definitions. Build with ``Catalog.load()``."""

    def __init__(self, definitions: list[RawDefinition], common: dict[str, TraitSpec],
                 prefixes: dict[str, str], trait_sets: dict[str, dict[str, dict[str, TraitSpec]]] | None = None,
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
        return cls(*read_definitions(paths))

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
