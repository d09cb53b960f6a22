"""Which sub-alarms a series feeds: the index that keeps evaluation cost independent of the
number of alarm definitions (docs/alarm-evaluation.md, "Instances and matching").

Definitions are indexed by (tenant, metric name); a series is matched once, when first seen,
and the answer is cached by series id until a definition changes. A target names the alarm
instance (definition + the series' values of the definition's ``match_by`` keys) and the
sub-expression the series' points feed.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass

from nephoscope.alarms.definitions import AlarmDefinition
from nephoscope.alarms.expression import SubExpression, sub_expressions


@dataclass(frozen=True, slots=True)
class Target:
    definition_id: str
    # The alarm instance: the series' values of the definition's match_by keys, in match_by order.
    instance: tuple[str, ...]
    sub_index: int


@dataclass(frozen=True, slots=True)
class _Entry:
    definition: AlarmDefinition
    sub_index: int
    sub: SubExpression


class Matcher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[tuple[str, str], list[_Entry]] = defaultdict(list)
        self._cache: dict[int, tuple[Target, ...]] = {}

    def load(self, definitions: list[AlarmDefinition]) -> None:
        with self._lock:
            self._by_name.clear()
            for definition in definitions:
                self._index(definition)
            self._cache.clear()

    def _index(self, definition: AlarmDefinition) -> None:
        for position, sub in enumerate(sub_expressions(definition.parsed)):
            self._by_name[(definition.tenant, sub.metric_name)].append(_Entry(definition, position, sub))

    def on_change(self, change: str, definition: AlarmDefinition) -> None:
        """A ``DefinitionStore`` listener: re-index that definition, forget cached matches."""
        with self._lock:
            for key, entries in list(self._by_name.items()):
                kept = [entry for entry in entries if entry.definition.id != definition.id]
                if kept:
                    self._by_name[key] = kept
                else:
                    del self._by_name[key]
            if change != "deleted":
                self._index(definition)
            self._cache.clear()

    def targets(self, series_id: int, tenant: str, name: str, dimensions: dict[str, str]) -> tuple[Target, ...]:
        """The sub-alarms this series feeds (cached by series id)."""
        cached = self._cache.get(series_id)
        if cached is not None:
            return cached
        with self._lock:
            found = []
            for entry in self._by_name.get((tenant, name), ()):
                if not entry.sub.matches(name, dimensions):
                    continue
                match_by = entry.definition.match_by
                if any(key not in dimensions for key in match_by):
                    continue  # Monasca: metrics lacking the match_by keys create no alarm
                found.append(Target(entry.definition.id, tuple(dimensions[key] for key in match_by), entry.sub_index))
            result = tuple(found)
            self._cache[series_id] = result
            return result

    def known(self, series_id: int) -> bool:
        return series_id in self._cache
