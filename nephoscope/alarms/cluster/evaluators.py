"""The ``evaluators`` role: the evaluator partitions this member holds, evaluated from the partials.

Alarms are spread over ``settings.partitions`` evaluator partitions (``partials.evaluator_of``);
members share them through ``PartitionLeases`` (group ``"evaluators"``). For each partition it
gains, a member loads the partition's snapshot from the state bucket (or starts empty), catches up
with the definitions, and reads the partition's partial reports from the sequence after the
snapshot (a consumer it creates afresh, replacing any consumer a dead predecessor left: the
snapshot's sequence, written with the state, is the one read position). Then, in a loop:

1. apply the reports fetched (``merging.PartitionEvaluator``: merge, close periods on watermarks);
2. hand the transitions to the notifiers (``notify.workqueue.publish``, message id = transition id)
   and write alarms and history through the alarm repository (idempotent: the history key is the
   alarm and transition time);
3. answer the API nodes whose changes (state, deletion) were among the reports, once persisted;
4. every ``snapshot_seconds``, write the snapshot (compare-and-set: a member that lost the lease
   fails here and stops) and purge the reports it covers.

A member dying between 2 and 4 leaves transitions published beyond its last snapshot; its successor
applies the same reports to the same state and makes the same transitions with the same ids, which
JetStream stores once (the snapshot interval is far below the duplicate window): none is missed or
doubled. Sources that stop reporting (an ingester dead, its partitions not yet taken over) hold
periods open for at most ``lateness_seconds``: then this member publishes a forced watermark for
them into the partition's own stream, so a replay sees the same decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import Callable
from typing import Any

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError

from nephoscope.alarms.cluster.merging import PartitionEvaluator, Report
from nephoscope.alarms.cluster.streams import (
    ensure_partials,
    ensure_snapshots,
    ensure_state,
    partials_stream,
    partials_subject,
    state_data,
    state_key,
    state_object,
    state_value,
)
from nephoscope.alarms.cluster.wire import decode, encode, message_id
from nephoscope.alarms.definitions import AlarmDefinition, DefinitionStore
from nephoscope.alarms.engine import notification, record_of, state_change
from nephoscope.alarms.evaluator import Transition
from nephoscope.alarms.repository import AlarmRepository
from nephoscope.cluster import PartitionLeases
from nephoscope.engines.loop import LoopThread
from nephoscope.config import AlarmsSettings, ClusterSettings
from nephoscope.notify.workqueue import ensure_transitions, publish
from nephoscope.tenancy import ALL_TENANTS
from nephoscope.engines.jetstream import connect

log = logging.getLogger(__name__)

GROUP = "evaluators"
_FETCH = 512
_PUBLISH_AT_ONCE = 1000


class Fenced(Exception):
    """Another member wrote this partition's state: this one lost its lease."""


class AlarmEvaluators:
    def __init__(self, settings: ClusterSettings, definitions: DefinitionStore, member: str, alarms: AlarmsSettings,
                 repository: AlarmRepository | None = None, lateness_seconds: float = 10.0,
                 snapshot_seconds: float = 1.0, clock: Callable[[], float] = time.time,
                 definitions_seconds: float = 5.0, inline_snapshot_bytes: int = 512 * 1024) -> None:
        self.settings = settings
        self.definitions = definitions
        self.member = member
        self.grace_ms = int(alarms.grace_seconds * 1000)
        self.repository = repository
        self.lateness_ms = int(lateness_seconds * 1000)
        self.snapshot_seconds = snapshot_seconds
        self.definitions_seconds = definitions_seconds  # how often definitions changed elsewhere are read
        self.inline_snapshot_bytes = inline_snapshot_bytes  # larger snapshots go to the object store
        self._objects: dict[int, str | None] = {}  # per partition, the object its current snapshot is in
        self.clock = clock
        self.leases = PartitionLeases(settings, GROUP, member, settings.partitions)
        self.partitions: dict[int, PartitionEvaluator] = {}  # running now (touched on the loop only)
        self.transitions_published = 0
        self._tasks: dict[int, asyncio.Task] = {}
        self._loop = LoopThread("alarm-evaluators")
        self._nc: Any = None

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        self._loop.start()
        self._loop.call(self._open())
        self.definitions.subscribe(self._on_definition)
        self.leases.add_listener(self._on_leases)
        self.leases.start()

    async def _open(self) -> None:
        self._nc = await connect(self.settings)
        self._js = self._nc.jetstream(timeout=self.settings.publish_timeout_seconds)
        await ensure_partials(self._js, self.settings)
        await ensure_transitions(self._js, self.settings)
        self._kv = await ensure_state(self._js, self.settings)
        self._snapshots = await ensure_snapshots(self._js, self.settings)

    def stop(self) -> None:
        self.leases.stop()
        with contextlib.suppress(Exception):
            self._loop.call(self._close(), timeout=30)
        self._loop.stop()

    async def _close(self) -> None:
        for partition in list(self._tasks):
            await self._lose(partition)
        if self._nc is not None:
            await self._nc.close()

    def owned(self) -> frozenset[int]:
        return frozenset(self.partitions)

    def status(self) -> dict[int, dict]:
        """Per running partition: alarms, the stream sequence applied, the clock (lowest watermark)."""
        return {p: {"alarms": len(e.evaluator.alarms), "sequence": e.sequence, "clock_ms": e.clock_ms}
                for p, e in list(self.partitions.items())}

    # -- leases and definitions (other threads) ---------------------------------------------------
    def _on_leases(self, gained: frozenset[int], lost: frozenset[int]) -> None:
        for partition in sorted(lost):
            self._loop.submit(self._lose(partition))
        for partition in sorted(gained):
            self._loop.submit(self._gain(partition))

    async def _gain(self, partition: int) -> None:
        if partition not in self._tasks:
            self._tasks[partition] = asyncio.create_task(self._run(partition), name=f"evaluator-{partition}")

    async def _lose(self, partition: int) -> None:
        task = self._tasks.pop(partition, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        self.partitions.pop(partition, None)

    def _on_definition(self, change: str, definition: AlarmDefinition) -> None:
        self._loop.submit(self._definition_changed(change, definition))

    async def _sync_definitions(self, evaluator: PartitionEvaluator) -> None:
        """Definitions changed through another node's API (this node's own arrive at once)."""
        removed = evaluator.sync(await asyncio.to_thread(self.definitions.list, ALL_TENANTS))
        if removed and self.repository is not None:
            await asyncio.to_thread(self.repository.delete, removed)

    async def _definition_changed(self, change: str, definition: AlarmDefinition) -> None:
        for evaluator in list(self.partitions.values()):
            removed = evaluator.on_change(change, definition)
            if removed and self.repository is not None:
                await asyncio.to_thread(self.repository.delete, removed)

    # -- one partition ----------------------------------------------------------------------------
    async def _run(self, partition: int) -> None:
        while True:
            try:
                await self._evaluate(partition)
                return
            except asyncio.CancelledError:
                raise
            except Fenced:
                log.warning("alarm evaluator partition %d was taken over by another member; stopping it", partition)
                self.partitions.pop(partition, None)
                return
            except Exception:  # noqa: BLE001 - a NATS node went away: resume from the last snapshot
                task = asyncio.current_task()
                if task is not None and task.cancelling():  # nats-py turns a cancelled fetch into an error
                    raise asyncio.CancelledError from None
                log.warning("alarm evaluator partition %d interrupted; resuming from its snapshot", partition,
                            exc_info=True)
                self.partitions.pop(partition, None)
                await asyncio.sleep(0.5)

    async def _load(self, partition: int) -> tuple[PartitionEvaluator, int | None]:
        definitions = await asyncio.to_thread(self.definitions.list, ALL_TENANTS)
        try:
            entry = await self._kv.get(state_key(partition))
        except KeyNotFoundError:
            evaluator = PartitionEvaluator(partition, self.settings.partitions, self.grace_ms, self._now_ms())
            evaluator.load(definitions)
            return evaluator, None
        self._objects[partition] = state_object(entry.value)
        evaluator = PartitionEvaluator.restore(zlib.decompress(await state_data(entry.value, self._snapshots)))
        removed = evaluator.sync(definitions)
        if removed and self.repository is not None:
            await asyncio.to_thread(self.repository.delete, removed)
        return evaluator, entry.revision

    async def _subscribe(self, partition: int, after: int) -> Any:
        durable = f"evaluator-{partition}"
        with contextlib.suppress(NotFoundError):  # a dead predecessor's reader: its position is not ours
            await self._js.delete_consumer(partials_stream(self.settings), durable)
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1,
                                ack_policy=AckPolicy.NONE, mem_storage=True, num_replicas=1, inactive_threshold=30.0)
        return await self._js.pull_subscribe(partials_subject(self.settings, partition, "*"), durable=durable,
                                             stream=partials_stream(self.settings), config=config)

    async def _evaluate(self, partition: int) -> None:
        evaluator, revision = await self._load(partition)
        subscription = await self._subscribe(partition, evaluator.sequence)
        self.partitions[partition] = evaluator
        log.info("alarm evaluator partition %d resumed at sequence %d (%d alarms)", partition, evaluator.sequence,
                 len(evaluator.evaluator.alarms))
        saved, last_save, forced, synced = evaluator.sequence, time.monotonic(), 0.0, time.monotonic()
        interval = self.snapshot_seconds
        try:
            while True:
                try:
                    messages = await subscription.fetch(_FETCH, timeout=0.2)
                except TimeoutError:
                    messages = []
                transitions: list[Transition] = []
                for message in messages:
                    report = decode(message.data)
                    known = evaluator.evaluator.definitions
                    if time.monotonic() - synced >= 0.2 and any(
                            route.target.definition_id not in known for route in report.routes):
                        # A definition made through another node's API, which the ingester's folder
                        # read before this member's periodic sync: read them now, or the route is lost.
                        synced = time.monotonic()
                        await self._sync_definitions(evaluator)
                    transitions += evaluator.apply(message.metadata.sequence.stream, report)
                await self._emit(evaluator, transitions)
                await self._answer(evaluator)
                if time.monotonic() - synced >= self.definitions_seconds:
                    synced = time.monotonic()
                    await self._sync_definitions(evaluator)
                if time.monotonic() - forced >= 1.0:
                    forced = time.monotonic()
                    await self._force_late(evaluator)
                if evaluator.sequence > saved and time.monotonic() - last_save >= interval:
                    began = time.monotonic()
                    revision = await self._save(evaluator, revision)
                    saved, last_save = evaluator.sequence, time.monotonic()
                    # A large partition's snapshot takes a while: keep it under a tenth of the time,
                    # and well inside the duplicate window that makes a replay's transitions one.
                    interval = min(max(self.snapshot_seconds, 10 * (last_save - began)),
                                   self.settings.duplicate_window_seconds / 4)
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def _emit(self, evaluator: PartitionEvaluator, transitions: list[Transition]) -> None:
        history = [state_change(t, evaluator.history_timestamp(t)) for t in transitions]
        items = [item for item in (notification(t, change) for t, change in zip(transitions, history))
                 if item is not None and item[1]]
        # At once, not one round trip each: a close can change every alarm of the partition, and a
        # successor replays many closes. The notifiers do not rely on the queue's order across alarms.
        for start in range(0, len(items), _PUBLISH_AT_ONCE):
            fresh = await asyncio.gather(*(publish(self._js, self.settings, *item)
                                           for item in items[start:start + _PUBLISH_AT_ONCE]))
            self.transitions_published += sum(fresh)
        created, metrics, dirty = evaluator.evaluator.take_changes()
        if self.repository is None or not (created or dirty or transitions or metrics):
            return
        for alarm in created:  # the stream's time, not this machine's: a replay writes the same
            alarm.created_at = alarm.updated_at = alarm.state_updated_at = evaluator.latest_ms / 1000
        changed = {alarm.id: alarm for alarm in (*created, *dirty, *(t.alarm for t in transitions))}
        records = [record_of(alarm, evaluator.evaluator.sub_states(alarm)) for alarm in changed.values()
                   if alarm.id in evaluator.evaluator.alarms]
        metrics = list(metrics) + [(alarm.id, metric) for alarm in created for metric in alarm.metrics.values()]
        await asyncio.to_thread(self.repository.save, records, metrics, history)

    async def _answer(self, evaluator: PartitionEvaluator) -> None:
        """Persist the API's deletions, then tell each waiting API node whether its alarm was found
        (after ``_emit``: the alarm as changed is in the repository when the answer arrives)."""
        deleted, evaluator.deleted = evaluator.deleted, []
        answers, evaluator.answers = evaluator.answers, []
        if deleted and self.repository is not None:
            await asyncio.to_thread(self.repository.delete, deleted)
        for reply, found in answers:  # a replay answers again: nobody listens any more
            await self._nc.publish(reply, b"1" if found else b"0")

    async def _force_late(self, evaluator: PartitionEvaluator) -> None:
        now = self._now_ms()
        for source in evaluator.late_sources(now, self.lateness_ms):
            report = Report(source, now - self.lateness_ms, watermark_ms=now - self.lateness_ms, forced=True)
            await self._js.publish(partials_subject(self.settings, evaluator.partition, source), encode(report),
                                   headers={"Nats-Msg-Id": "forced-" + message_id(evaluator.partition, report)})

    async def _save(self, evaluator: PartitionEvaluator, revision: int | None) -> int:
        data = zlib.compress(evaluator.snapshot(), 1)
        key = state_key(evaluator.partition)
        name = f"{key}.{evaluator.sequence}.{self.member}"
        value = await state_value(data, name, self.inline_snapshot_bytes, self._snapshots)
        try:
            if revision is None:
                revision = await self._kv.create(key, value)
            else:
                revision = await self._kv.update(key, value, last=revision)
        except Exception as error:
            if state_object(value) is not None:
                with contextlib.suppress(Exception):
                    await self._snapshots.delete(state_object(value))
            if isinstance(error, KeyWrongLastSequenceError) or "wrong last sequence" in str(error).lower():
                raise Fenced(str(error)) from error
            raise
        replaced, self._objects[evaluator.partition] = self._objects.get(evaluator.partition), state_object(value)
        if replaced is not None:
            with contextlib.suppress(Exception):  # an orphan object costs space only
                await self._snapshots.delete(replaced)
        await self._js.purge_stream(partials_stream(self.settings), seq=evaluator.sequence + 1,
                                    subject=partials_subject(self.settings, evaluator.partition, "*"))
        return revision

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)
