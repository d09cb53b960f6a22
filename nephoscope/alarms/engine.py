"""The alarm engine in the server: the evaluator fed by the ingest stream, persisted, notifying.

One thread owns the ``Evaluator``. It takes, in arrival order, the batches the store has made
durable (``MetricStore.subscribe``), definition changes (``DefinitionStore.subscribe``) and API
requests on alarms, and closes periods on time (``Evaluator.next_close_ms``). After each step
it writes new alarms, state changes and history to SQLite in one transaction and hands the
transitions whose definitions have actions to the notification outbox, again in one
transaction. Because ticks and batches share that one ordered queue, a slow evaluator delays
answers but never evaluates a period before the points that arrived in time for it.

At start the engine restores alarms and their sub-alarm states, routes every known series,
and rebuilds the open windows from the store's minute roll-ups (exact: periods are whole
minutes), so state after a restart is what it was.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nephoscope.alarms.definitions import AlarmDefinition, DefinitionStore
from nephoscope.alarms.evaluator import Alarm, Evaluator, Transition, metric_key
from nephoscope.alarms.repository import (
    AlarmDatabase,
    AlarmRecord,
    AlarmRepository,
    StateChange,
)
from nephoscope.alarms.windows import ALARM, OK, UNDETERMINED
from nephoscope.config import AlarmsSettings
from nephoscope.errors import Rejected
from nephoscope.metrics.series import IngestBatch
from nephoscope.metrics.store import MetricStore, SeriesFilter
from nephoscope.metrics.summary import Points
from nephoscope.notify.model import AlarmTransition
from nephoscope.notify.outbox import Outbox
from nephoscope.tenancy import ALL_TENANTS

log = logging.getLogger(__name__)

_ACTIONS = {ALARM: "alarm_actions", OK: "ok_actions", UNDETERMINED: "undetermined_actions"}
_BATCHES_PER_STEP = 2000
# Batches arriving within this long are evaluated together: each step has fixed costs (a few NumPy
# calls per bank, one SQLite transaction), so under load merging ~10 batches per step cuts the
# evaluator's share of ingest by half, for at most this much added delay.
_STEP_SECONDS = 0.05


@dataclass
class EngineCounters:
    points_evaluated: int = 0
    transitions: int = 0
    ticks: int = 0
    tick_seconds: float = 0.0
    notifications_enqueued: int = 0
    cpu_seconds: float = 0.0  # the engine thread's own CPU time

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Creating many small objects (a mass transition) would trigger full collections that scan
    every alarm; pausing the collector for one step keeps a period close linear."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def record_of(alarm: Alarm, sub_states: list[str]) -> AlarmRecord:
    return AlarmRecord(id=alarm.id, definition_id=alarm.definition.id, tenant=alarm.definition.tenant,
                       instance=alarm.instance, state=alarm.state, sub_states=sub_states,
                       created_at=alarm.created_at, updated_at=alarm.updated_at,
                       state_updated_at=alarm.state_updated_at, lifecycle_state=alarm.lifecycle_state,
                       link=alarm.link, metrics=sorted(alarm.metrics.values(), key=lambda m: (m["name"], sorted(m["dimensions"].items()))))


def state_change(transition: Transition, timestamp_ms: int) -> StateChange:
    """The history entry of a transition (``timestamp_ms`` unique per alarm: the history key)."""
    alarm = transition.alarm
    return StateChange(alarm_id=alarm.id, tenant=alarm.definition.tenant, timestamp_ms=timestamp_ms,
                       old_state=transition.old_state, new_state=transition.new_state, reason=transition.reason,
                       metrics=list(alarm.metrics.values()), sub_alarms=transition.sub_alarms,
                       link=alarm.link, lifecycle_state=alarm.lifecycle_state)


def notification(transition: Transition, change: StateChange) -> tuple[AlarmTransition, list[str]] | None:
    """What the notifiers get for a transition: the message and the new state's actions (None when
    the definition's actions are disabled)."""
    alarm, definition = transition.alarm, transition.alarm.definition
    if not definition.actions_enabled:
        return None
    message = AlarmTransition(
        alarm_id=alarm.id, alarm_definition_id=definition.id, alarm_name=definition.name,
        alarm_description=definition.description, tenant_id=definition.tenant,
        old_state=transition.old_state, new_state=transition.new_state, reason=transition.reason,
        severity=definition.severity, link=alarm.link or "", lifecycle_state=alarm.lifecycle_state or "",
        timestamp_ms=change.timestamp_ms, metrics=change.metrics, sub_alarms=transition.sub_alarms)
    return message, list(getattr(definition, _ACTIONS[transition.new_state]))


class AlarmEngine:
    def __init__(self, store: MetricStore, data_dir: Path, definitions: DefinitionStore, outbox: Outbox,
                 settings: AlarmsSettings,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.definitions = definitions
        self.outbox = outbox
        self.settings = settings
        self.clock = clock
        self.repository = AlarmRepository(AlarmDatabase(data_dir))
        self.evaluator = Evaluator(grace_ms=int(settings.grace_seconds * 1000))
        self.counters = EngineCounters()
        self._queue: collections.deque = collections.deque()
        self._pending_points = 0
        self._wake = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._last_history_ms: dict[str, int] = {}
        self._behind_since_ms: int | None = None
        self._last_lag_ms = 0

    # -- lifecycle --------------------------------------------------------------------------------
    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def start(self) -> None:
        """Restore, route, rebuild windows, then follow the ingest stream (blocking work: call in a thread)."""
        started = time.perf_counter()
        now = self.now_ms()
        definitions = self.definitions.list(ALL_TENANTS)
        self.evaluator.load(definitions)
        known = {d.id for d in definitions}
        orphans = []
        for record in self.repository.load_all():
            if record.definition_id not in known:
                orphans.append(record.id)
                continue
            alarm = Alarm(record.id, self.evaluator.definitions[record.definition_id], record.instance, [],
                          record.state, created=True, lifecycle_state=record.lifecycle_state, link=record.link,
                          created_at=record.created_at, updated_at=record.updated_at,
                          state_updated_at=record.state_updated_at)
            for metric in record.metrics:
                alarm.metrics[metric_key(metric["name"], metric["dimensions"])] = metric
            self.evaluator.restore(alarm, record.sub_states, now)
        self.repository.delete(orphans)  # their definition was deleted while the server was down
        for definition in definitions:
            self._route_definition(definition, now)
        self._rebuild_windows(now)
        self._persist([], *self.evaluator.take_changes())
        self.store.subscribe(self._on_batch, backlog=lambda: self._pending_points)
        self.definitions.subscribe(self._on_definition)
        self._thread = threading.Thread(target=self._run, name="alarm-engine", daemon=True)
        self._thread.start()
        log.info("alarm engine ready in %.2fs: %d definitions, %d alarms, %d routes", time.perf_counter() - started,
                 len(definitions), len(self.evaluator.alarms), len(self.evaluator.routes))

    def stop(self) -> None:
        with self._wake:
            self._stop = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _route_definition(self, definition: AlarmDefinition, now: int) -> None:
        """Route the series that already exist to a new (or, at start, every) definition."""
        for name in {sub.metric_name for sub in definition.sub_expressions}:
            series = self.store.find(SeriesFilter(tenant=definition.tenant, name=name))
            self.evaluator.route(series, now, definition.id)

    def _rebuild_windows(self, now: int) -> None:
        """Refill the open windows from the store: minute roll-ups are exact summaries."""
        start = self.evaluator.earliest_window_ms()
        if start is None or not len(self.evaluator.routes):
            return
        series = np.unique(self.evaluator.routes.series())
        points = self.store.read(series.tolist(), start, now + 1, 60)
        self.evaluator.ingest(points, now)

    # -- intake (other threads) ---------------------------------------------------------------------
    def _on_batch(self, batch: IngestBatch) -> None:
        with self._wake:
            self._queue.append(("batch", batch, self.now_ms()))
            self._pending_points += len(batch.points)
            self._wake.notify()

    def _on_definition(self, change: str, definition: AlarmDefinition) -> None:
        if change == "deleted":
            # Visible at once: the evaluator forgets them when it reaches this change.
            self.repository.delete(self.repository.ids_for_definition(definition.id))
        self._submit(("definition", change, definition))

    def _submit(self, item: tuple) -> None:
        with self._wake:
            self._queue.append(item)
            self._wake.notify()

    def call(self, function: Callable[[], object]) -> concurrent.futures.Future:
        """Run ``function`` on the engine thread, in order with the stream (for API changes)."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        if self._thread is None:  # not started: a node of a cluster (its evaluators hold the alarms)
            future.set_exception(Rejected(503, "this node does not run the alarm engine: alarm state changes and "
                                               "deletion are not routed to a cluster's evaluators yet"))
            return future
        self._submit(("call", function, future))
        return future

    @property
    def pending_points(self) -> int:
        return self._pending_points

    def status(self) -> dict:
        """What an operator asks first: how many alarms, how far behind, what it costs."""
        return {**self.counters.as_dict(), "instances": len(self.evaluator.alarms), "routes": len(self.evaluator.routes),
                "definitions": len(self.evaluator.definitions), "pending_points": self._pending_points,
                "dropped_points": self.evaluator.dropped_points}

    # -- the engine thread ------------------------------------------------------------------------
    def _run(self) -> None:
        last_step = 0.0
        while True:
            pause = last_step + _STEP_SECONDS - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            with self._wake:
                while not self._queue and not self._stop:
                    due = self.evaluator.next_close_ms()
                    wait = None if due is None else max(0.0, (due - self.now_ms()) / 1000)
                    if wait == 0.0:
                        break
                    self._wake.wait(timeout=min(wait, 1.0) if wait is not None else 1.0)
                if self._stop:
                    return
                items = [self._queue.popleft() for _ in range(min(len(self._queue), _BATCHES_PER_STEP))]
            last_step = time.monotonic()
            cpu = time.thread_time()
            try:
                self._step(items)
            except Exception:  # the engine must outlive one bad step
                log.exception("alarm engine step failed; continuing")
            self.counters.cpu_seconds += time.thread_time() - cpu

    def _step(self, items: list[tuple]) -> None:
        answers: list[tuple[concurrent.futures.Future, object]] = []
        with _collector_paused():
            transitions: list[Transition] = []
            batches = []
            for item in items:
                if item[0] == "batch":
                    batches.append(item)
                    continue
                transitions += self._ingest(batches)
                batches = []
                if item[0] == "definition":
                    self._definition_changed(item[1], item[2])
                    continue
                _, function, future = item
                try:
                    result = function()
                except Exception as error:  # noqa: BLE001 - handed back to the caller
                    future.set_exception(error)
                    continue
                transitions += getattr(result, "transitions", [])
                answers.append((future, result))
            transitions += self._ingest(batches)
            now = self.now_ms()
            due = self.evaluator.next_close_ms()
            if due is not None and due <= now:
                started = time.perf_counter()
                transitions += self.evaluator.tick(now)
                self.counters.ticks += 1
                self.counters.tick_seconds += time.perf_counter() - started
            self._persist(transitions, *self.evaluator.take_changes())
        for future, result in answers:  # answered once persisted: a GET right after sees the change
            future.set_result(result)

    def _ingest(self, batches: list[tuple]) -> list[Transition]:
        if not batches:
            return []
        now = self.now_ms()
        new_series = [series for _, batch, _ in batches for series in batch.tenant_series]
        if new_series:
            self.evaluator.route(new_series, now)
        parts = []
        for _, batch, received_ms in batches:
            points = batch.points
            if not len(points):
                continue
            count, total, low, high, last = points.summary_columns()
            parts.append(Points(points.series, points.timestamp, count, total, low, high, last))
            self._note_lag(int(points.timestamp.max()), received_ms)
        points_in = sum(len(p) for p in parts)
        transitions = self.evaluator.ingest(Points.concat(parts), now) if parts else []
        with self._wake:
            self._pending_points -= sum(len(batch.points) for _, batch, _ in batches)
        self.counters.points_evaluated += points_in
        return transitions

    def _note_lag(self, newest_ms: int, received_ms: int) -> None:
        """Backlog (a replayed spool) holds empty evaluations, for at most ``max_catch_up_seconds``
        of continuous backlog, so a source that only ever sends old points still goes UNDETERMINED."""
        lag_ms = int(self.settings.lag_seconds * 1000)
        if newest_ms >= received_ms - lag_ms:
            return
        if self._behind_since_ms is None or received_ms - self._last_lag_ms > lag_ms:
            self._behind_since_ms = received_ms  # a new episode of backlog
        self._last_lag_ms = received_ms
        if received_ms - self._behind_since_ms < self.settings.max_catch_up_seconds * 1000:
            self.evaluator.hold_empty_until_ms = received_ms + lag_ms

    def _definition_changed(self, change: str, definition: AlarmDefinition) -> None:
        now = self.now_ms()
        removed = self.evaluator.on_change(change, definition, now)
        if change == "created":
            self._route_definition(definition, now)
        if removed:
            self.repository.delete(removed)
            for identifier in removed:  # a deleted alarm's periodic re-sends stop with it
                self.outbox.cancel_periodic(identifier)

    # -- persistence and notification ---------------------------------------------------------------
    def _persist(self, transitions: list[Transition], created: list[Alarm], new_metrics: list[tuple[str, dict]],
                 dirty: list[Alarm]) -> None:
        now = self.clock()
        for alarm in created:
            alarm.created_at = alarm.updated_at = alarm.state_updated_at = now
        changed = {alarm.id: alarm for alarm in (*created, *dirty, *(t.alarm for t in transitions))}
        changed = {key: alarm for key, alarm in changed.items() if key in self.evaluator.alarms}
        records = [record_of(alarm, self.evaluator.sub_states(alarm)) for alarm in changed.values()]
        metrics = list(new_metrics) + [(alarm.id, metric) for alarm in created for metric in alarm.metrics.values()]
        history = [self._history(transition) for transition in transitions]
        self.repository.save(records, metrics, history)
        self.counters.transitions += len(transitions)
        self._notify(transitions, history)

    def _history(self, transition: Transition) -> StateChange:
        alarm = transition.alarm
        # The history id is the transition's epoch ms (Monasca): keep it unique per alarm.
        timestamp = max(transition.timestamp_ms, self._last_history_ms.get(alarm.id, 0) + 1)
        self._last_history_ms[alarm.id] = timestamp
        return state_change(transition, timestamp)

    def _notify(self, transitions: list[Transition], history: list[StateChange]) -> None:
        items = [item for item in (notification(t, change) for t, change in zip(transitions, history)) if item]
        if items:
            self.outbox.enqueue_many(items)
            self.counters.notifications_enqueued += len(items)

    # -- API operations (run on the engine thread through ``call``) ---------------------------------
    def _owned(self, scope: str, identifier: str) -> Alarm | None:
        alarm = self.evaluator.alarms.get(identifier)
        if alarm is None or not alarm.created or (scope != ALL_TENANTS and alarm.definition.tenant != scope):
            return None
        return alarm

    def update_alarm(self, scope: str, identifier: str, changes: dict) -> concurrent.futures.Future:
        """Set any of ``state``, ``lifecycle_state``, ``link``; resolves to an ``AlarmUpdate``
        (``record`` None when the alarm is unknown in ``scope``)."""
        def apply() -> AlarmUpdate:
            alarm = self._owned(scope, identifier)
            if alarm is None:
                return AlarmUpdate(None, [])
            alarm.lifecycle_state = changes.get("lifecycle_state", alarm.lifecycle_state)
            alarm.link = changes.get("link", alarm.link)
            alarm.updated_at = self.clock()
            transition = None
            if changes.get("state"):
                transition = self.evaluator.set_state(alarm, changes["state"], self.now_ms())
            self.evaluator.dirty[alarm.id] = alarm
            return AlarmUpdate(record_of(alarm, self.evaluator.sub_states(alarm)), [transition] if transition else [])

        return self.call(apply)

    def delete_alarm(self, scope: str, identifier: str) -> concurrent.futures.Future:
        """Resolves to True when the alarm existed (its periodic notifications stop too)."""
        def apply() -> bool:
            alarm = self._owned(scope, identifier)
            if alarm is None:
                return False
            self.evaluator.delete_alarm(identifier)
            self.repository.delete([identifier])
            self.outbox.cancel_periodic(identifier)
            return True

        return self.call(apply)


@dataclass(frozen=True)
class AlarmUpdate:
    """An API change's result: the alarm's record (None if unknown) and the transition it made."""

    record: AlarmRecord | None
    transitions: list[Transition]
