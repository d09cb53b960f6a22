"""The evaluator: points and time in, alarm transitions out (docs/alarm-evaluation.md).

Sub-alarms live as rows of ``WindowBank``s (one bank per period shape) and are addressed by a
sub-alarm id; ``Routes`` map series ids to sub-alarm ids. ``route`` decides once, per series,
which alarm instances it feeds (creating instances as match_by values appear); ``ingest``
merges a batch's points into every window it feeds with a few NumPy operations per bank and
reports immediate ALARMs; ``tick`` closes the periods that ended at least ``grace`` ago and
reports every alarm whose state changed. Only changed alarms cost Python time. Pure and
in-process: persistence and notification belong to the engine (``alarms.engine``).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from nephoscope.alarms.definitions import AlarmDefinition
from nephoscope.alarms.expression import SubExpression
from nephoscope.alarms.fanout import Routes
from nephoscope.alarms.matching import Matcher, Target
from nephoscope.alarms.reasons import reason
from nephoscope.alarms.windows import (
    OK,
    UNDETERMINED,
    Evaluation,
    WindowBank,
    alarm_state,
)
from nephoscope.metrics.store import SeriesInfo
from nephoscope.metrics.summary import Points

_ALARM_IDS = uuid.UUID("5f0c2a58-8f4e-4c55-9a43-6a1d0c8f7e10")


@dataclass(slots=True)
class Alarm:
    """One alarm instance: a definition and the values of its match_by keys."""

    id: str
    definition: AlarmDefinition
    instance: tuple[str, ...]
    subs: list[int]  # sub-alarm ids, in sub_expressions order
    state: str
    # Monasca creates an alarm only once every sub-expression has had a matching measurement.
    created: bool = False
    metrics: dict[tuple, dict] = field(default_factory=dict)
    lifecycle_state: str | None = None
    link: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    state_updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Transition:
    alarm: Alarm
    old_state: str
    new_state: str
    reason: str
    timestamp_ms: int
    sub_alarms: list[dict]


def alarm_id(definition_id: str, instance: tuple[str, ...]) -> str:
    """Stable across restarts: the same definition and match_by values give the same id."""
    return str(uuid.uuid5(_ALARM_IDS, "\x1f".join((definition_id, *instance))))


def metric_key(name: str, dimensions: dict[str, str]) -> tuple:
    return name, tuple(sorted(dimensions.items()))


class Evaluator:
    def __init__(self, grace_ms: int = 30_000) -> None:
        self.grace_ms = grace_ms
        self.matcher = Matcher()
        self.routes = Routes()
        self.alarms: dict[str, Alarm] = {}
        self.definitions: dict[str, AlarmDefinition] = {}
        self.hold_empty_until_ms = 0  # catching up: empty periods do not count toward UNDETERMINED
        self._banks: list[WindowBank] = []
        self._bank_of_shape: dict[tuple[int, int], int] = {}
        self._bank_subs: list[np.ndarray] = []  # per bank: row -> sub-alarm id
        self._sub_bank = np.zeros(0, np.int32)
        self._sub_row = np.zeros(0, np.int64)
        self._sub_pending = np.zeros(0, np.bool_)  # its alarm is not created yet
        self._sub_alarm: list[Alarm | None] = []
        self._free_subs: list[int] = []
        self._pending_count = 0  # alarms waiting for a measurement on every sub-expression
        # What the engine persists after each call: alarms created, new metrics, sub-states changed.
        self.created: list[Alarm] = []
        self.new_metrics: list[tuple[str, dict]] = []
        self.dirty: dict[str, Alarm] = {}

    # -- definitions ------------------------------------------------------------------------------
    def load(self, definitions: list[AlarmDefinition]) -> None:
        self.definitions = {d.id: d for d in definitions}
        self.matcher.load(definitions)

    def on_change(self, change: str, definition: AlarmDefinition, now_ms: int) -> list[str]:
        """A definition changed; returns the ids of alarms it removed. Updates keep each window's
        data unless the period shape changes; deletes drop the definition's alarms."""
        self.matcher.on_change(change, definition)
        affected = [alarm for alarm in self.alarms.values() if alarm.definition.id == definition.id]
        if change == "deleted":
            self.definitions.pop(definition.id, None)
            for alarm in affected:
                self._drop(alarm)
            return [alarm.id for alarm in affected]
        self.definitions[definition.id] = definition
        expressions = definition.sub_expressions
        for alarm in affected:
            alarm.definition = definition
            for sub, expression in zip(alarm.subs, expressions):
                bank = self._banks[self._sub_bank[sub]]
                if (bank.period, bank.periods) == (expression.period, expression.periods):
                    bank.update_row(int(self._sub_row[sub]), expression)
                else:
                    self._move(sub, expression, now_ms)
        return []

    # -- routing ----------------------------------------------------------------------------------
    def route(self, series: Iterable[SeriesInfo], now_ms: int, definition_id: str | None = None) -> None:
        """Decide which alarm instances each series feeds (all definitions, or only ``definition_id``)."""
        self.route_targets(((info.id, target, {"name": info.name, "dimensions": dict(info.dimensions)})
                            for info in series
                            for target in self.matcher.targets(info.tenant, info.name, info.dimensions, definition_id)),
                           now_ms)

    def route_targets(self, routes: Iterable[tuple[int, Target, dict]], now_ms: int) -> None:
        """Route keys to sub-alarms already matched: (key, target, metric) triples. ``route`` matches
        series here; a clustered evaluator routes the feeds its partition-side folders matched
        (``alarms.cluster``), whose keys are feed ids rather than series ids."""
        keys, targets = [], []
        for key_id, target, metric in routes:
            alarm = self._alarm(target.definition_id, target.instance, now_ms)
            if alarm is None:
                continue
            keys.append(key_id)
            targets.append(alarm.subs[target.sub_index])
            key = metric_key(metric["name"], metric["dimensions"])
            if key not in alarm.metrics:
                alarm.metrics[key] = metric
                if alarm.created:
                    self.new_metrics.append((alarm.id, alarm.metrics[key]))
        self.routes.add(keys, targets)

    def _alarm(self, definition_id: str, instance: tuple[str, ...], now_ms: int) -> Alarm | None:
        identifier = alarm_id(definition_id, instance)
        alarm = self.alarms.get(identifier)
        if alarm is None:
            definition = self.definitions.get(definition_id)
            if definition is None:
                return None
            alarm = Alarm(identifier, definition, instance, [], OK if definition.deterministic else UNDETERMINED)
            alarm.subs = [self._new_sub(alarm, expression, now_ms) for expression in definition.sub_expressions]
            self.alarms[identifier] = alarm
            self._pending_count += 1
        return alarm

    def restore(self, alarm: Alarm, sub_states: list[str], now_ms: int) -> None:
        """Bring back a persisted alarm (its definition must be loaded) before routing."""
        definition = self.definitions[alarm.definition.id]
        alarm.definition = definition
        alarm.subs = [self._new_sub(alarm, expression, now_ms, state)
                      for expression, state in zip(definition.sub_expressions, sub_states)]
        self._sub_pending[alarm.subs] = False
        for sub in alarm.subs:
            self._banks[self._sub_bank[sub]].seen[self._sub_row[sub]] = True
        self.alarms[alarm.id] = alarm

    # -- sub-alarm ids ----------------------------------------------------------------------------
    def _bank(self, expression: SubExpression, now_ms: int | None) -> int:
        shape = (expression.period, expression.periods)
        index = self._bank_of_shape.get(shape)
        if index is None:
            now = now_ms if now_ms is not None else int(time.time() * 1000)
            index = len(self._banks)
            self._banks.append(WindowBank(expression.period, expression.periods, now - self.grace_ms))
            self._bank_subs.append(np.zeros(64, np.int64))
            self._bank_of_shape[shape] = index
        return index

    def _new_sub(self, alarm: Alarm, expression: SubExpression, now_ms: int | None, state: str | None = None) -> int:
        if self._free_subs:
            sub = self._free_subs.pop()
        else:
            sub = len(self._sub_alarm)
            self._sub_alarm.append(None)
            if sub >= len(self._sub_bank):
                grown = max(64, 2 * len(self._sub_bank))
                self._sub_bank = np.resize(self._sub_bank, grown)
                self._sub_row = np.resize(self._sub_row, grown)
                self._sub_pending = np.resize(self._sub_pending, grown)
        self._place(sub, expression, now_ms, state, reported=state is not None)
        self._sub_alarm[sub] = alarm
        self._sub_pending[sub] = not alarm.created
        return sub

    def _place(self, sub: int, expression: SubExpression, now_ms: int | None, state: str | None,
               reported: bool) -> None:
        index = self._bank(expression, now_ms)
        bank = self._banks[index]
        row = bank.add_row(expression, state, reported)
        if row >= len(self._bank_subs[index]):
            self._bank_subs[index] = np.resize(self._bank_subs[index], bank.capacity)
        self._bank_subs[index][row] = sub
        self._sub_bank[sub], self._sub_row[sub] = index, row

    def _move(self, sub: int, expression: SubExpression, now_ms: int | None) -> None:
        """A new period shape: the sub-alarm restarts its window in another bank, keeping its state."""
        bank = self._banks[self._sub_bank[sub]]
        row = int(self._sub_row[sub])
        state, seen = bank.state_of(row), bool(bank.seen[row])
        bank.free_row(row)
        self._place(sub, expression, now_ms, state, reported=True)
        self._banks[self._sub_bank[sub]].seen[self._sub_row[sub]] = seen

    def _drop(self, alarm: Alarm) -> None:
        self._pending_count -= int(not alarm.created)
        for sub in alarm.subs:
            self._banks[self._sub_bank[sub]].free_row(int(self._sub_row[sub]))
            self._sub_alarm[sub] = None
            self._free_subs.append(sub)
        self.routes.remove_targets(alarm.subs)
        self.alarms.pop(alarm.id, None)
        self.dirty.pop(alarm.id, None)

    def delete_alarm(self, identifier: str) -> bool:
        """Forget an alarm (Monasca: it comes back, fresh, when its metrics next arrive)."""
        alarm = self.alarms.get(identifier)
        if alarm is None:
            return False
        self._drop(alarm)
        return True

    # -- points -----------------------------------------------------------------------------------
    def ingest(self, points: Points, now_ms: int) -> list[Transition]:
        """Merge points (any order) into the windows they feed; returns immediate transitions."""
        if not len(points):
            return []
        point_index, subs = self.routes.expand(points.series)
        if not len(subs):
            return []
        banks = self._sub_bank[subs]
        rows = self._sub_row[subs]
        changed: dict[str, tuple[Alarm, dict[int, np.ndarray]]] = {}
        present = [int(banks[0])] if len(self._banks) == 1 else np.flatnonzero(np.bincount(banks)).tolist()
        for index in present:
            mine = banks == index if len(present) > 1 else slice(None)
            bank, picked, bank_rows = self._banks[index], point_index[mine], rows[mine]
            cells = bank.add(bank_rows, points.timestamp[picked], points.count[picked], points.sum[picked],
                             points.min[picked], points.max[picked], points.last[picked])
            if self._pending_count:
                fed = self._bank_subs[index][bank_rows]
                for sub in np.unique(fed[self._sub_pending[fed]]).tolist():
                    self._maybe_create(self._sub_alarm[sub])
            if len(cells) and bank.has_immediate:
                candidates = bank.may_fire_now(cells)
                if len(candidates):
                    self._collect(index, bank.evaluate_immediately(candidates), changed)
        return self._decide_all(changed, now_ms)

    def _maybe_create(self, alarm: Alarm | None) -> None:
        if alarm is None or alarm.created:
            return
        if all(self._banks[self._sub_bank[sub]].seen[self._sub_row[sub]] for sub in alarm.subs):
            alarm.created = True
            self._pending_count -= 1
            self._sub_pending[alarm.subs] = False
            for sub in alarm.subs:  # its first evaluation is reported even if the state is unchanged
                self._banks[self._sub_bank[sub]].reported[self._sub_row[sub]] = False
            self.created.append(alarm)

    # -- time -------------------------------------------------------------------------------------
    def tick(self, now_ms: int) -> list[Transition]:
        """Close every period that ended at least ``grace`` ago; returns the alarms that changed."""
        changed: dict[str, tuple[Alarm, dict[int, np.ndarray]]] = {}
        hold = now_ms < self.hold_empty_until_ms
        for index, bank in enumerate(self._banks):
            closed = ((now_ms - self.grace_ms) // bank.width) * bank.width
            if closed <= bank.view_end:
                continue
            bank.slide(closed)
            self._collect(index, bank.evaluate(hold_empty=hold), changed)
        return self._decide_all(changed, now_ms)

    def earliest_window_ms(self) -> int | None:
        """The start of the oldest open window (what a rebuild from the store must read)."""
        if not self._banks:
            return None
        return min(bank.view_end - bank.periods * bank.width for bank in self._banks)

    def next_close_ms(self) -> int | None:
        """When the next period closes (plus grace): when ``tick`` next has work."""
        if not self._banks:
            return None
        return min(bank.view_end + bank.width + self.grace_ms for bank in self._banks)

    # -- deciding ---------------------------------------------------------------------------------
    def _collect(self, index: int, evaluation: Evaluation, changed: dict) -> None:
        subs = self._bank_subs[index][evaluation.rows]
        for position, sub in enumerate(subs.tolist()):
            alarm = self._sub_alarm[sub]
            if alarm is None or not alarm.created:
                continue
            entry = changed.get(alarm.id)
            if entry is None:
                entry = changed[alarm.id] = (alarm, {})
            entry[1][sub] = evaluation.values[position]

    def _decide_all(self, changed: dict, now_ms: int) -> list[Transition]:
        transitions = []
        for alarm, values in changed.values():
            self.dirty[alarm.id] = alarm
            transition = self._decide(alarm, values, now_ms)
            if transition is not None:
                transitions.append(transition)
        return transitions

    def sub_states(self, alarm: Alarm) -> list[str]:
        return [self._banks[self._sub_bank[sub]].state_of(int(self._sub_row[sub])) for sub in alarm.subs]

    def _decide(self, alarm: Alarm, values: dict[int, np.ndarray], now_ms: int) -> Transition | None:
        states = self.sub_states(alarm)
        state = states[0] if len(states) == 1 else alarm_state(alarm.definition.parsed, states)
        if state == alarm.state:
            return None
        old, alarm.state = alarm.state, state
        alarm.state_updated_at = alarm.updated_at = now_ms / 1000
        expressions = alarm.definition.sub_expressions
        sub_alarms = []
        for sub, expression, sub_state in zip(alarm.subs, expressions, states):
            view = values.get(sub)
            if view is None:
                view = self._view_values(sub)
            sub_alarms.append({"sub_alarm_expression": expression.as_dict(), "sub_alarm_state": sub_state,
                               "current_values": [float(v) for v in view if not math.isnan(v)]})
        return Transition(alarm, old, state, reason(state, sub_alarms, alarm.definition.sub_texts), now_ms, sub_alarms)

    def _view_values(self, sub: int) -> np.ndarray:
        bank = self._banks[self._sub_bank[sub]]
        return bank._values(np.array([self._sub_row[sub]]), bank.view_end // bank.width - bank.periods, bank.periods)[0]

    def set_state(self, alarm: Alarm, state: str, now_ms: int) -> Transition | None:
        """A state set through the API (Monasca: "Alarm state updated via API"); evaluation goes on from it."""
        if state == alarm.state:
            return None
        old, alarm.state = alarm.state, state
        alarm.state_updated_at = alarm.updated_at = now_ms / 1000
        return Transition(alarm, old, state, "Alarm state updated via API", now_ms, [])

    # -- what the engine persists ----------------------------------------------------------------
    def take_changes(self) -> tuple[list[Alarm], list[tuple[str, dict]], list[Alarm]]:
        """(alarms created, (alarm id, metric) pairs added, alarms whose states changed) since the last call."""
        created, metrics, dirty = self.created, self.new_metrics, list(self.dirty.values())
        self.created, self.new_metrics, self.dirty = [], [], {}
        return created, metrics, dirty

    @property
    def dropped_points(self) -> int:
        return sum(bank.dropped for bank in self._banks)
