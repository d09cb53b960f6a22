"""The ingester side of clustered alarms: fold applied batches, publish partials and watermarks.

``PartialSources`` is given every batch the node applies (``on_applied``: an ingester's hook, with
the batch's partition and stream sequence; or ``on_batch``, the store's subscriber hook, where a
part holds the series of one partition, so its partition is known from its series), folds
it (``partials.PartialFolder``) and publishes one report per evaluator partition it feeds,
returning once JetStream stored them (so the evaluator reads them before any later watermark of
this source) — or, ``asynchronous`` (a server's ingester), once queued for a thread that publishes
reports and watermarks in their order, so a JetStream election does not stall the node's applies. Every ``interval_seconds`` it reports, for each source partition this node applies
(``set_sources``: the ingester leases), a *watermark*: the time by which everything it applied has
been sent. A batch is folded under the same lock, so a watermark never overtakes a batch being
folded; a batch appended to the metric stream before a watermark but not yet applied is late, and
still merged unless its period has closed (the grace absorbs the apply delay).

A partition being taken over (``begin_source``, before the ingester replays it) has the series of
its blocks routed, then its replayed batches folded and sent with their stream sequences: what the
previous owner applied and never sent reaches the evaluators, what it had sent is merged once there
(``merging``); its watermarks start once the replay is done (``set_sources``).

Definitions come from the ``DefinitionStore`` (loaded at start, changes followed); with a ``store``,
the series that exist already are routed at start and when a definition is created, as the
single-node engine does.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Collection, Iterable
from typing import Any


from nephoscope.alarms.cluster.merging import Report
from nephoscope.alarms.cluster.partials import FeedRoute, PartialFolder
from nephoscope.alarms.cluster.streams import ensure_partials, partials_subject
from nephoscope.alarms.cluster.wire import batch_origin, encode, message_id
from nephoscope.alarms.definitions import AlarmDefinition, DefinitionStore
from nephoscope.engines.loop import LoopThread
from nephoscope.config import ClusterSettings
from nephoscope.metrics.series import IngestBatch
from nephoscope.metrics.store import MetricStore, SeriesFilter
from nephoscope.tenancy import ALL_TENANTS
from nephoscope.engines.jetstream import connect

log = logging.getLogger(__name__)

_QUEUED = 10_000  # report sets an asynchronous source holds while JetStream does not acknowledge


class PartialSources:
    def __init__(self, settings: ClusterSettings, definitions: DefinitionStore, store: MetricStore | None = None,
                 interval_seconds: float = 1.0, clock: Callable[[], float] = time.time,
                 definitions_seconds: float = 5.0, sources: Callable[[], Iterable[int]] | None = None,
                 asynchronous: bool = False) -> None:
        """``asynchronous``: ``on_batch`` returns once the reports are queued, a thread of this object
        publishing them in order (watermarks in the same queue, so none overtakes a report): a node's
        apply step is not held up by a JetStream leader election. Otherwise it returns once stored."""
        self.settings = settings
        self.definitions = definitions
        self.store = store
        self.interval = interval_seconds
        self.clock = clock
        self.definitions_seconds = definitions_seconds
        # Asked at every beat when given: the source partitions owned and replayed (``set_sources``).
        self.sources = sources
        self._synced = time.monotonic()
        self.folder = PartialFolder(settings.partitions)
        self._sources: frozenset[int] | None = None  # None: every batch given is folded, no watermark beats
        self._replaying: set[int] = set()  # taken over, being replayed: folded, no watermark yet
        self._lock = threading.Lock()
        self._loop = LoopThread("alarm-partials")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._outbox: queue.Queue | None = queue.Queue(maxsize=_QUEUED) if asynchronous else None
        self._sender: threading.Thread | None = None
        self._nc: Any = None

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        self._loop.start()
        self._loop.call(self._open())
        definitions = self.definitions.list(ALL_TENANTS)
        with self._lock:
            self.folder.load(definitions)
        for definition in definitions:
            self._route_existing(definition)
        self.definitions.subscribe(self._on_definition)
        if self._outbox is not None:
            self._sender = threading.Thread(target=self._send_queued, name="alarm-partials-sender", daemon=True)
            self._sender.start()
        if self.interval > 0:
            self._thread = threading.Thread(target=self._beat, name="alarm-watermarks", daemon=True)
            self._thread.start()

    async def _open(self) -> None:
        self._nc = await connect(self.settings)
        self._js = self._nc.jetstream(timeout=self.settings.publish_timeout_seconds)
        await ensure_partials(self._js, self.settings)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sender is not None:
            self._outbox.put(None)  # after what is queued: sent, unless JetStream stays away
            self._sender.join(timeout=15)
        if self._nc is not None:
            try:
                self._loop.call(self._nc.close(), timeout=10)
            except Exception:  # noqa: BLE001 - closing anyway
                log.debug("closing the NATS connection failed", exc_info=True)
        self._loop.stop()

    def set_sources(self, partitions: frozenset[int]) -> None:
        """The source partitions this node owns *and has caught up with* (the ingester leases'
        ``owned()``, each added once its replay is done: a watermark says everything was sent).
        Batches of other partitions are not folded, unless being replayed (``begin_source``)."""
        with self._lock:
            self._sources = frozenset(partitions)
            self._replaying -= self._sources

    def begin_source(self, partition: int, series_named: Callable[[Collection[str]], Iterable]) -> None:
        """A partition is being taken over: route its blocks' series now, then fold its replayed
        batches as they are applied (before its first watermark)."""
        with self._lock:
            self._replaying.add(partition)
        self.route_series(series_named)

    def route_series(self, series_named: Callable[[Collection[str]], Iterable]) -> None:
        """Route the series ``series_named(names)`` gives for the metric names the definitions read
        (none asked when no definition exists: a takeover does not wait on a partition's series)."""
        with self._lock:
            names = self.folder.metric_names()
        if names:
            self.publish_routes(series_named(names))

    def drop_sources(self, partitions: Iterable[int]) -> None:
        """Partitions let go (or lost during their replay): their batches are no longer folded."""
        with self._lock:
            self._replaying.difference_update(partitions)
            if self._sources is not None:
                self._sources = self._sources.difference(partitions)

    # -- batches ----------------------------------------------------------------------------------
    def on_batch(self, batch: IngestBatch) -> None:
        """Fold and publish a batch the node applied (blocks until JetStream stored the reports)."""
        if len(batch.points):
            source = int(batch.points.series[0]) % self.settings.partitions
        elif batch.tenant_series:
            source = batch.tenant_series[0].id % self.settings.partitions
        else:
            return
        self._fold(source, 0, batch)

    def on_applied(self, partition: int, sequence: int, batch: IngestBatch) -> None:
        """Fold and publish a batch of ``partition`` applied at metric stream ``sequence``."""
        self._fold(partition, sequence, batch)

    def _fold(self, source: int, sequence: int, batch: IngestBatch) -> None:
        with self._lock:
            if self._sources is not None and source not in self._sources and source not in self._replaying:
                return
            fold = self.folder.fold(batch)
            now = self._now_ms()
            reports = {destination: Report(source, now, routes=routes) for destination, routes in fold.routes.items()}
            for destination, partials in fold.partials.items():
                report = reports.setdefault(destination, Report(source, now))
                report.partials, report.origin = partials, sequence
            self._send(reports, batch_origin(batch) if reports else b"")

    def _route_existing(self, definition: AlarmDefinition, only: str | None = None) -> None:
        if self.store is None:
            return
        names = {sub.metric_name for sub in definition.sub_expressions}
        series = [info for name in names for info in self.store.find(SeriesFilter(tenant=definition.tenant, name=name))]
        self.publish_routes(series, only)

    def publish_routes(self, series: Iterable, definition_id: str | None = None) -> None:
        """Route series (of any source) and send the routes (e.g. a partition's series once taken over)."""
        by_source: dict[int, list] = {}
        for info in series:
            by_source.setdefault(info.id % self.settings.partitions, []).append(info)
        with self._lock:
            for source, infos in by_source.items():
                found: dict[int, list[FeedRoute]] = self.folder.route(infos, definition_id)
                now = self._now_ms()
                self._send({destination: Report(source, now, routes=routes) for destination, routes in found.items()})

    def _on_definition(self, change: str, definition: AlarmDefinition) -> None:
        with self._lock:
            self.folder.on_change(change, definition)
        if change == "created":
            self._route_existing(definition, definition.id)

    # -- watermarks -------------------------------------------------------------------------------
    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if self.sources is not None:
                    self.set_sources(frozenset(self.sources()))
                self.report_watermarks()
                if time.monotonic() - self._synced >= self.definitions_seconds:
                    self.sync_definitions()
            except Exception:  # noqa: BLE001 - the next beat reports a later one
                log.warning("alarm watermarks could not be published", exc_info=True)

    def sync_definitions(self) -> None:
        """Catch up with definitions changed through another node's API (this node's own changes
        arrive at once through ``DefinitionStore.subscribe``)."""
        self._synced = time.monotonic()
        definitions = self.definitions.list(ALL_TENANTS)
        with self._lock:
            created = self.folder.sync(definitions)
        for definition in created:
            self._route_existing(definition, definition.id)

    def report_watermarks(self, sources: Iterable[int] | None = None) -> None:
        """Tell every evaluator partition that these sources (default: ``set_sources``) sent everything."""
        with self._lock:
            now = self._now_ms()
            for source in sorted((self._sources or ()) if sources is None else sources):
                self._send({destination: Report(source, now, watermark_ms=now)
                            for destination in range(self.settings.partitions)})

    # -- publishing -------------------------------------------------------------------------------
    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _send(self, reports: dict[int, Report], origin: bytes = b"") -> None:
        """Called under the fold's lock, so reports and watermarks are queued in their order."""
        if not reports:
            return
        if self._outbox is not None:
            self._outbox.put((reports, origin))  # blocks only while _QUEUED sets wait: back-pressure
        else:
            self._loop.call(self._publish(reports, origin))

    def _send_queued(self) -> None:
        while (item := self._outbox.get()) is not None:
            while True:  # the same reports again until stored: their message ids make copies one
                try:
                    self._loop.call(self._publish(*item))
                    break
                except Exception:  # noqa: BLE001 - JetStream away for longer than a publish timeout
                    if self._stop.is_set():
                        log.warning("alarm partials not published at stop; a new owner's replay folds them again")
                        return
                    log.warning("alarm partials could not be published; trying again", exc_info=True)
                    time.sleep(0.5)

    def pending(self) -> int:
        """Report sets queued, not yet stored (asynchronous only)."""
        return self._outbox.qsize() if self._outbox is not None else 0

    async def _publish(self, reports: dict[int, Report], origin: bytes) -> None:
        await asyncio.gather(*(self._publish_one(destination, report, origin)
                               for destination, report in reports.items()))

    async def _publish_one(self, destination: int, report: Report, origin: bytes) -> None:
        deadline = time.monotonic() + self.settings.publish_timeout_seconds
        while True:  # a leader election answers "no responders" for a moment: retry with the same id
            try:
                await self._js.publish(partials_subject(self.settings, destination, report.source), encode(report),
                                       headers={"Nats-Msg-Id": message_id(destination, report, origin)})
                return
            except Exception:
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(0.1)
