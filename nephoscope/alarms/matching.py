"""Which alarm instances and sub-expressions a series feeds (docs/alarm-evaluation.md,
"Instances and matching").

Definitions are indexed by (tenant, metric name), so matching a series costs the handful of
sub-expressions on its name, however many definitions exist. The evaluator asks once per
series (when it appears, or when a definition does) and keeps the answer as routes.
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

    def load(self, definitions: list[AlarmDefinition]) -> None:
        with self._lock:
            self._by_name.clear()
            for definition in definitions:
                self._index(definition)

    def _index(self, definition: AlarmDefinition) -> None:
        for position, sub in enumerate(sub_expressions(definition.parsed)):
            self._by_name[(definition.tenant, sub.metric_name)].append(_Entry(definition, position, sub))

    def on_change(self, change: str, definition: AlarmDefinition) -> None:
        """A ``DefinitionStore`` change: re-index that definition."""
        with self._lock:
            for key, entries in list(self._by_name.items()):
                kept = [entry for entry in entries if entry.definition.id != definition.id]
                if kept:
                    self._by_name[key] = kept
                else:
                    del self._by_name[key]
            if change != "deleted":
                self._index(definition)

    def targets(self, tenant: str, name: str, dimensions: dict[str, str],
                definition_id: str | None = None) -> list[Target]:
        """The sub-alarms a series feeds (only those of ``definition_id`` when given)."""
        with self._lock:
            found = []
            for entry in self._by_name.get((tenant, name), ()):
                if definition_id is not None and entry.definition.id != definition_id:
                    continue
                if not entry.sub.matches(name, dimensions):
                    continue
                match_by = entry.definition.match_by
                if any(key not in dimensions for key in match_by):
                    continue  # Monasca: metrics lacking the match_by keys create no alarm
                found.append(Target(entry.definition.id, tuple(dimensions[key] for key in match_by), entry.sub_index))
            return found

    def metric_names(self, tenant: str) -> set[str]:
        with self._lock:
            return {name for (owner, name) in self._by_name if owner == tenant}
