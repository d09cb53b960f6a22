"""The evaluator: points in, alarm transitions out (docs/alarm-evaluation.md).

``ingest`` takes columnar points of known series, routes each series' rows to the sub-alarms
it feeds (``matching``), merges them into their windows (``window``) and reports immediate
ALARMs; ``tick`` closes periods (after the grace for late data) and reports every alarm whose
state changed. Pure and in-process: persistence and notification belong to the caller.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import numpy as np

from nephoscope.alarms.definitions import AlarmDefinition
from nephoscope.alarms.expression import sub_expressions
from nephoscope.alarms.matching import Matcher
from nephoscope.alarms.window import ALARM, OK, UNDETERMINED, SubAlarm, alarm_state
from nephoscope.store.summary import Points

_ALARM_IDS = uuid.UUID("5f0c2a58-8f4e-4c55-9a43-6a1d0c8f7e10")


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    tenant: str
    name: str
    dimensions: dict[str, str]


@dataclass
class Alarm:
    """One alarm instance: a definition and the values of its match_by keys."""

    id: str
    definition: AlarmDefinition
    instance: tuple[str, ...]
    subs: list[SubAlarm]
    state: str
    seen: set[int] = field(default_factory=set)  # sub-expressions that have had a matching metric
    metrics: dict[tuple, dict] = field(default_factory=dict)

    @property
    def created(self) -> bool:
        """Monasca creates an alarm once every sub-expression has a matching metric."""
        return len(self.seen) == len(self.subs)


@dataclass(frozen=True)
class Transition:
    alarm: Alarm
    old_state: str
    new_state: str
    reason: str
    timestamp_ms: int


def alarm_id(definition_id: str, instance: tuple[str, ...]) -> str:
    """Stable across restarts: the same definition and match_by values give the same id."""
    return str(uuid.uuid5(_ALARM_IDS, "\x1f".join((definition_id, *instance))))


def reason(alarm: Alarm, state: str) -> str:
    subs = ", ".join(f"{sub.expression.text()} with the values: {sub.current_values}" for sub in alarm.subs)
    if state == ALARM:
        return f"Thresholds were exceeded for the sub-alarms: {subs}"
    if state == OK:
        return f"The alarm threshold(s) have not been exceeded for the sub-alarms: {subs}"
    return f"No data was present for the sub-alarms: {subs}"


class Evaluator:
    def __init__(self, grace_ms: int = 30_000) -> None:
        self.grace_ms = grace_ms
        self.matcher = Matcher()
        self.alarms: dict[str, Alarm] = {}
        self._definitions: dict[str, AlarmDefinition] = {}

    # -- definitions -----------------------------------------------------------------------
    def load(self, definitions: list[AlarmDefinition]) -> None:
        self._definitions = {d.id: d for d in definitions}
        self.matcher.load(definitions)

    def on_change(self, change: str, definition: AlarmDefinition) -> None:
        """A ``DefinitionStore`` listener. Updated expressions restart their windows."""
        self.matcher.on_change(change, definition)
        for key in [k for k, a in self.alarms.items() if a.definition.id == definition.id]:
            if change == "deleted":
                del self.alarms[key]
            else:
                self.alarms[key] = self._rebuilt(self.alarms[key], definition)
        if change == "deleted":
            self._definitions.pop(definition.id, None)
        else:
            self._definitions[definition.id] = definition

    @staticmethod
    def _rebuilt(alarm: Alarm, definition: AlarmDefinition) -> Alarm:
        subs = [SubAlarm(sub, view_end=old.view_end, state=old.state, reported=old.reported)
                for sub, old in zip(sub_expressions(definition.parsed), alarm.subs)]
        return Alarm(alarm.id, definition, alarm.instance, subs, alarm.state, alarm.seen, alarm.metrics)

    # -- points ------------------------------------------------------------------------------
    def ingest(self, points: Points, series: dict[int, SeriesInfo], now_ms: int) -> list[Transition]:
        """Route points (any order) to their sub-alarms; returns immediate transitions."""
        if not len(points):
            return []
        order = np.argsort(points.series, kind="stable")
        ids = points.series[order]
        starts = np.flatnonzero(np.concatenate([[True], ids[1:] != ids[:-1]]))
        ends = np.append(starts[1:], len(ids))
        touched: dict[str, Alarm] = {}
        for start, end in zip(starts.tolist(), ends.tolist()):
            series_id = int(ids[start])
            info = series.get(series_id)
            if info is None:
                continue
            targets = self.matcher.targets(series_id, info.tenant, info.name, info.dimensions)
            if not targets:
                continue
            rows = order[start:end]
            columns = (points.timestamp[rows], points.count[rows], points.sum[rows], points.min[rows],
                       points.max[rows], points.last[rows])
            for target in targets:
                alarm = self._alarm(target.definition_id, target.instance, now_ms)
                if alarm is None:
                    continue
                alarm.seen.add(target.sub_index)
                alarm.metrics[(info.name, tuple(sorted(info.dimensions.items())))] = {
                    "name": info.name, "dimensions": info.dimensions}
                alarm.subs[target.sub_index].add(*columns)
                touched[alarm.id] = alarm
        transitions = []
        for alarm in touched.values():
            if alarm.created and any(sub.evaluate_immediately() for sub in alarm.subs):
                transitions += self._decide(alarm, now_ms)
        return transitions

    def _alarm(self, definition_id: str, instance: tuple[str, ...], now_ms: int) -> Alarm | None:
        identifier = alarm_id(definition_id, instance)
        alarm = self.alarms.get(identifier)
        if alarm is None:
            definition = self._definitions.get(definition_id)
            if definition is None:
                return None
            subs = [SubAlarm(sub, view_end=(now_ms // (sub.period * 1000)) * sub.period * 1000)
                    for sub in sub_expressions(definition.parsed)]
            alarm = Alarm(identifier, definition, instance, subs, OK if definition.deterministic else UNDETERMINED)
            self.alarms[identifier] = alarm
        return alarm

    # -- time ---------------------------------------------------------------------------------
    def tick(self, now_ms: int) -> list[Transition]:
        """Close every period that ended at least ``grace`` ago; returns the alarms that changed."""
        transitions = []
        for alarm in list(self.alarms.values()):
            changed = False
            for sub in alarm.subs:
                closed = ((now_ms - self.grace_ms) // sub.width) * sub.width
                if closed > sub.view_end:
                    sub.slide(closed)
                    changed |= sub.evaluate() is not None
            if changed and alarm.created:
                transitions += self._decide(alarm, now_ms)
        return transitions

    def _decide(self, alarm: Alarm, now_ms: int) -> list[Transition]:
        state = alarm_state(alarm.definition.parsed, [sub.state for sub in alarm.subs])
        if state == alarm.state:
            return []
        old, alarm.state = alarm.state, state
        return [Transition(alarm, old, state, reason(alarm, state), now_ms)]
