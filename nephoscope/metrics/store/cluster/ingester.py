"""The ingester role: the partitions this node leases, followed, flushed and served to queriers.

An ingester joins the ``ingesters`` lease group (``nephoscope.cluster.PartitionLeases``) under its
advertised URL. On gaining a partition it reads the partition's manifest (indexing its blocks) and
follows that partition's subject of the stream from the sequence the manifest covers, into a head
of the partition's own; on losing one it stops following and drops the head (the new owner replays
from the manifest). Every ``flush_interval`` each owned partition's head becomes blocks (a partition
gained less than a lease ago waits: the previous owner's last flush lands first): the manifest is
read again first (the previous owner may have flushed further before letting go: head batches it
covers are dropped, not merged over newer blocks), and the manifest is written only if the lease is
still held just before (``Flusher.may_commit``). ``answer`` serves a querier's
``HeadQuery`` for the partitions owned and replayed; the others are reported as not served, so the
querier asks again once the lease table shows their new owner.

Two hooks let the alarm partials follow a partition: ``on_taking(partition)`` runs once its blocks
are indexed and before its replay, ``on_applied(partition, sequence, batch)`` for every batch applied,
the replay's included (the store's subscribers get the batch alone).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nephoscope.cluster import PartitionLeases
from nephoscope.config import ClusterSettings
from nephoscope.metrics.series import IngestBatch, SeriesDefinition
from nephoscope.metrics.store.cluster.blocks import definitions
from nephoscope.metrics.store.cluster.flush import Flusher, LeaseLost
from nephoscope.metrics.store.cluster.heads import HeadAnswer, HeadQuery
from nephoscope.metrics.store.cluster.index import BlockIndex
from nephoscope.metrics.store.cluster.log import MetricLog
from nephoscope.metrics.store.head import Head
from nephoscope.metrics.store.registry import SeriesRegistry
from nephoscope.metrics.summary import Points

log = logging.getLogger(__name__)

GROUP = "ingesters"


@dataclass
class Partition:
    """An owned partition: its head, its follower and how far its blocks go."""

    covered: int
    head: Head = field(default_factory=Head)
    replayed: threading.Event = field(default_factory=threading.Event)
    follower: Future | None = None
    unflushed: list[tuple[int, IngestBatch]] = field(default_factory=list)
    gained: float = field(default_factory=time.monotonic)


class Ingester:
    def __init__(self, settings: ClusterSettings, member: str, log_: MetricLog, flusher: Flusher, index: BlockIndex,
                 registry: SeriesRegistry, listeners: list[Callable[[IngestBatch], None]],
                 retention_interval: float = 60.0) -> None:
        self.settings = settings
        # Seconds between retention passes over the owned partitions' blocks (the embedded store's
        # compaction interval): expired chunks leave object storage without anyone asking.
        self.retention_interval = retention_interval
        self.member = member
        self.log = log_
        self.flusher = flusher
        self.index = index
        self.registry = registry
        self.listeners = listeners
        self.on_taking: list[Callable[[int], None]] = []
        self.on_applied: list[Callable[[int, int, IngestBatch], None]] = []
        self.leases = PartitionLeases(settings, GROUP, member, settings.partitions)
        self.flusher.may_commit = lambda partition: partition in self.leases.owned()
        self._partitions: dict[int, Partition] = {}
        self._lock = threading.Lock()  # the partitions map
        self._flush_lock = threading.Lock()  # one flush (or a partition's hand-over) at a time
        self._stop = threading.Event()
        self._flush_thread: threading.Thread | None = None
        self.points_accepted = 0
        self.requests_accepted = 0

    # -- lifecycle ---------------------------------------------------------------------------------
    def open(self) -> None:
        self.leases.add_listener(self._changed)
        self.leases.start()
        self._flush_thread = threading.Thread(target=self._flush_loop, name="ingester-flush", daemon=True)
        self._flush_thread.start()

    def close(self) -> None:
        """Flush what the heads hold, then hand the partitions over at once."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._flush_thread is not None:
            self._flush_thread.join(timeout=60)
        try:
            self.flush_now()
        finally:
            self.leases.stop()  # its listener drops every partition (followers cancelled)

    # -- partitions coming and going ---------------------------------------------------------------------
    def _changed(self, gained: frozenset[int], lost: frozenset[int]) -> None:
        """On the leases' listener thread, in order."""
        for partition in sorted(lost):
            with self._flush_lock, self._lock:
                dropped = self._partitions.pop(partition, None)
            if dropped is not None and dropped.follower is not None:
                dropped.follower.cancel()
            log.info("%s let partition %d go", self.member, partition)
        started = time.perf_counter()
        taken = {}
        for partition in sorted(gained):  # every follower started, then the replays awaited together
            if self._stop.is_set():
                return
            taken[partition] = self._take(partition)
        for partition, owned in taken.items():
            # Served once the follower has read what the stream held (a querier waits meanwhile).
            if not owned.replayed.wait(120):
                log.warning("partition %d was not replayed within 120s", partition)
            log.info("%s took partition %d: blocks cover %d, replayed to %d after %.2fs", self.member, partition,
                     owned.covered, owned.head.last_sequence, time.perf_counter() - started)

    def _take(self, partition: int) -> Partition:
        covered = self.flusher.load_partition(partition)
        owned = Partition(covered)
        self.registry.add_known(self.index.series_ids().tolist())
        with self._lock:
            self._partitions[partition] = owned
        for hook in self.on_taking:
            hook(partition)
        owned.follower = self.log.follow(covered, lambda s, p, b: self._apply(owned, s, b, p), partition,
                                         owned.replayed)
        return owned

    def _apply(self, owned: Partition, sequence: int, batch: IngestBatch, partition: int) -> None:
        """One message of an owned partition, in order (on the log's thread)."""
        if sequence <= owned.covered:
            return
        if batch.tenant_series:
            self.index.add_series(batch.tenant_series)
            self.registry.add_known(d.id for d in batch.tenant_series)
        owned.head.add(sequence, batch)
        self.points_accepted += len(batch.points)
        self.requests_accepted += 1
        for listener in self.listeners:
            listener(batch)
        for hook in self.on_applied:
            hook(partition, sequence, batch)

    def owned(self) -> dict[int, Partition]:
        with self._lock:
            return dict(self._partitions)

    def series(self, partitions: Collection[int], tenant: str | None = None, name: str | None = None,
               names: Collection[str] | None = None) -> list[SeriesDefinition]:
        """The series these partitions hold (blocks and stream alike, as indexed here), of a tenant,
        a name, or any of ``names`` when given: what the alarm partials route from when a partition
        or a definition is new. Filtered in columns: a partition may hold a million series."""
        ids = self.index.series_ids()
        ids = ids[np.isin(ids % self.settings.partitions, np.fromiter(partitions, np.int64))]
        table = self.index.definitions(ids)
        wanted = set(names or ()) | ({name} if name is not None else set())
        if names is not None or name is not None:
            table = table.filter(pc.is_in(table.column("name"), pa.array(sorted(wanted), pa.string())))
        if tenant is not None:
            table = table.filter(pc.equal(table.column("tenant"), tenant))
        return definitions(table)

    # -- flushing ------------------------------------------------------------------------------------
    def _flush_loop(self) -> None:
        retained = time.monotonic()
        while not self._stop.wait(self.settings.flush_interval):
            try:
                self.flush_now(final=False)
            except Exception:
                log.exception("flush failed; the points stay in the stream and the heads and will be retried")
            if time.monotonic() - retained >= self.retention_interval:
                retained = time.monotonic()
                try:
                    dropped = self.apply_retention(int(time.time() * 1000))
                    if dropped:
                        log.info("retention dropped %d chunks from the owned partitions' blocks", dropped)
                except Exception:
                    log.exception("retention failed; it runs again in %.0f s", self.retention_interval)

    def flush_now(self, final: bool = True) -> int:
        """Every owned partition's head into blocks; the points flushed. Not ``final`` (the flush
        loop): partitions gained less than a lease ago wait for the next round."""
        flushed = 0
        with self._flush_lock:
            for partition, owned in sorted(self.owned().items()):
                flushed += self._flush_partition(partition, owned, final)
        return flushed

    def _flush_partition(self, partition: int, owned: Partition, final: bool = False) -> int:
        if not final and time.monotonic() - owned.gained < self.settings.lease_seconds:
            # The previous owner's last flush (lease checked just before its manifest PUT) lands first.
            return 0
        batches = owned.unflushed + owned.head.take()
        if not batches:
            return 0
        owned.unflushed = batches
        covered = self.flusher.refresh(partition)  # another owner may have flushed further
        fresh = [(s, b) for s, b in batches if s > covered]
        if fresh:
            try:
                self.flusher.flush(fresh)
            except LeaseLost:
                log.info("partition %d moved to another ingester during a flush", partition)
                return 0
            covered = fresh[-1][0]
        owned.unflushed = []
        owned.covered = covered
        owned.head.flushed(batches[-1][0])
        try:
            self.log.forget(partition, covered)
        except Exception:
            log.warning("the stream could not drop partition %d's messages up to %d", partition, covered,
                        exc_info=True)
        return sum(len(b.points) for _, b in fresh)

    def apply_retention(self, now_ms: int) -> int:
        """Retention on the blocks of the owned partitions (their manifests read again first)."""
        with self._flush_lock:
            owned = set(self.owned())
            for partition in owned:
                self.flusher.refresh(partition)
            dropped = self.flusher.apply_retention(now_ms, owned)
            self.flusher.sweep_orphans(owned)
            return dropped

    # -- serving queriers ------------------------------------------------------------------------------
    def answer(self, query: HeadQuery) -> HeadAnswer:
        """What the owned, replayed partitions among those asked hold in their heads."""
        answer = HeadAnswer.empty()
        owned = self.owned()
        leased = self.leases.owned()
        series = None if query.series is None else np.asarray(query.series, np.int64)
        for partition in query.partitions:
            held = owned.get(partition)
            if held is None or partition not in leased or not held.replayed.is_set():
                continue
            wanted = None if series is None else series[series % self.settings.partitions == partition]
            if wanted is not None and not len(wanted):
                answer.served.add(partition)
                answer.covered[partition] = held.covered
                continue
            points, sequence = held.head.read(wanted, query.start_ms, query.end_ms) \
                if query.points or query.ids else (Points.empty(), np.empty(0, np.int64))
            part = HeadAnswer(points if query.points else Points.empty(),
                              sequence if query.points else np.empty(0, np.int64),
                              np.unique(points.series) if query.ids else np.empty(0, np.int64),
                              held.head.value_meta(set(wanted.tolist()) if wanted is not None else _Everything(),
                                                   query.start_ms, query.end_ms) if query.value_meta else {},
                              held.head.definitions() if query.definitions else [],
                              # read after the head: a flush that emptied it has raised this already
                              {partition: held.covered}, {partition})
            answer = answer.merge(part)
        return answer

    def head_points(self) -> int:
        return sum(p.head.points for p in self.owned().values())


class _Everything:
    """A set holding every series (value_meta of a whole partition)."""

    def __contains__(self, item: object) -> bool:
        return True
