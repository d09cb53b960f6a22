"""``ClusterStore``: the metric store over a JetStream log and S3 blocks (``__init__`` tells the design).

Writing: a batch is split by partition and published; the call returns once JetStream acknowledged
every part *and* this store's consumer applied them (read-your-writes for the caller). Applying, on
the log's thread and in stream order: new series are listed, the batch joins the head, subscribers
are handed it. A flush thread turns the head into blocks every ``flush_interval``; ``close`` flushes
what is left. Opening rebuilds the local index from the manifests' blocks, then replays the stream
after the sequence the manifests cover, and returns once it has caught up with the stream as it
was: everything acknowledged before is readable.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np
import orjson

from nephoscope.config import Config
from nephoscope.metrics.series import IngestBatch, SeriesDefinition
from nephoscope.metrics.store.chunkcache import ChunkCache
from nephoscope.metrics.store.cluster.flush import Flusher, FlushReport, partition_of_batch
from nephoscope.metrics.store.cluster.index import BlockIndex
from nephoscope.metrics.store.cluster.log import MetricLog
from nephoscope.metrics.store.cluster.manifest import manifest_pointers
from nephoscope.engines.objects import ObjectStore
from nephoscope.metrics.store.cluster.reader import Reader
from nephoscope.config import ClusterSettings
from nephoscope.metrics.store.head import Head
from nephoscope.metrics.store.interface import Overloaded, SeriesFilter, SeriesInfo, StoreStats
from nephoscope.metrics.store.registry import SeriesRegistry
from nephoscope.metrics.summary import Points

log = logging.getLogger(__name__)

_CATCH_UP_SECONDS = 120.0
"""How long opening may take to replay the stream, and a write to see its own batch applied."""


class ClusterStore:
    def __init__(self, config: Config, settings: ClusterSettings) -> None:
        self.config = config
        self.settings = settings
        self.registry = SeriesRegistry(config.store.policies)
        self.head = Head()
        self.log = MetricLog(settings)
        self.objects = ObjectStore(settings)
        self.index = BlockIndex(config.data_path / "cluster-index", config.store.memory_limit, self.registry,
                                settings.partitions)
        self.pointers = manifest_pointers(self.log, settings)
        self.flusher = Flusher(self.objects, self.index, config.store, settings.partitions, pointers=self.pointers)
        self.reader = Reader(self.index, self.objects, self.head, ChunkCache(config.store.chunk_cache_bytes))
        self._covered: dict[int, int] = {}
        self._applied = 0
        self._applied_changed = threading.Condition()
        self._flush_lock = threading.Lock()
        self._unflushed: list[tuple[int, IngestBatch]] = []
        self._stop = threading.Event()
        self._flush_thread: threading.Thread | None = None
        self._listeners: list[Callable[[IngestBatch], None]] = []
        self._backlogs: list[Callable[[], int]] = []
        self._pending_points = 0
        self.points_accepted = 0
        self.requests_accepted = 0

    # -- lifecycle ----------------------------------------------------------------------------
    def open(self) -> None:
        started = time.perf_counter()
        self.log.open()
        self.pointers.open()
        self._covered = self.flusher.load()
        self.registry.add_known(self.index.series_ids().tolist())
        after = min(self._covered.values(), default=0)
        self._applied = after
        nothing_after = self.log.stream_state().last_seq <= after
        self.log.follow(after, self._apply)
        if not nothing_after and not self.log.caught_up.wait(_CATCH_UP_SECONDS):
            raise TimeoutError(f"the metric stream was not replayed within {_CATCH_UP_SECONDS}s")
        target = self._applied
        self._flush_thread = threading.Thread(target=self._flush_loop, name="cluster-flush", daemon=True)
        self._flush_thread.start()
        log.info("cluster store open: %d series, stream replayed from %d to %d in %.2fs", len(self.registry), after,
                 target, time.perf_counter() - started)

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        if self._flush_thread is not None:
            self._flush_thread.join(timeout=60)
        try:
            self.flush_now()
        finally:
            self.log.close()
            self.index.close()

    @property
    def policies(self) -> list:
        return self.config.store.policies

    # -- writing ------------------------------------------------------------------------------
    def new_series(self, definitions: Sequence[SeriesDefinition]) -> list[SeriesDefinition]:
        return self.registry.unknown(list(definitions))

    def subscribe(self, listener: Callable[[IngestBatch], None], backlog: Callable[[], int] | None = None) -> None:
        self._listeners.append(listener)
        if backlog is not None:
            self._backlogs.append(backlog)

    def admit(self) -> None:
        limit = self.config.limits.max_head_points
        if self.head.points > limit:
            raise Overloaded(f"{self.head.points} points are waiting to be stored; retry shortly", backlog=True)
        if self._pending_points > self.config.limits.max_pending_points:
            raise Overloaded(f"{self._pending_points} points are waiting for the log; retry shortly", backlog=False)
        for backlog in self._backlogs:
            waiting = backlog()
            if waiting > limit:
                raise Overloaded(f"{waiting} points are waiting for the alarm evaluator; retry shortly", backlog=True)

    async def write(self, batch: IngestBatch) -> int:
        """Durable in the replicated log when it returns (and applied here); its stream sequence."""
        self.admit()
        self._pending_points += len(batch.points)
        try:
            sequences = await asyncio.wrap_future(self.log.submit(self.log.write(batch, self.settings.partitions)))
        finally:
            self._pending_points -= len(batch.points)
        target = max(sequences, default=self._applied)
        if self._applied < target:
            await asyncio.to_thread(self._wait_applied, target)
        return target

    def write_now(self, batch: IngestBatch) -> int:
        sequences = self.log.call(self.log.write(batch, self.settings.partitions))
        target = max(sequences, default=self._applied)
        self._wait_applied(target)
        return target

    def _wait_applied(self, sequence: int) -> None:
        deadline = time.monotonic() + _CATCH_UP_SECONDS
        with self._applied_changed:
            while self._applied < sequence:
                if not self._applied_changed.wait(timeout=max(0.0, deadline - time.monotonic())) \
                        and time.monotonic() >= deadline:
                    raise TimeoutError(f"the stream was not applied up to {sequence} within {_CATCH_UP_SECONDS}s")

    def _apply(self, sequence: int, partition: int, batch: IngestBatch) -> None:
        """One message of the stream, in order (on the log's thread)."""
        if sequence > self._covered.get(partition, 0):
            if batch.tenant_series:
                self.index.add_series(batch.tenant_series)
                self.registry.add_known(d.id for d in batch.tenant_series)
            self.head.add(sequence, batch)
            self.points_accepted += len(batch.points)
            self.requests_accepted += 1
            for listener in self._listeners:
                listener(batch)
        with self._applied_changed:
            self._applied = sequence
            self._applied_changed.notify_all()

    # -- flushing and compaction -----------------------------------------------------------------
    def flush_now(self) -> None:
        with self._flush_lock:
            self._flush_locked()

    def _flush_locked(self) -> FlushReport | None:
        """Head -> blocks -> manifests; then the head and the stream let go of what blocks cover."""
        # Batches of a flush that failed (S3 away) come first: the head keeps them readable but hands
        # them out only once, and no manifest may cover a sequence whose points are in no block.
        batches = self._unflushed + self.head.take()
        if not batches:
            return None
        self._unflushed = batches
        report = self.flusher.flush(batches)
        self._unflushed = []
        covered = batches[-1][0]
        partitions = {partition_of_batch(b, self.settings.partitions) for _, b in batches}
        for partition in partitions:
            self._covered[partition] = covered
        self.head.flushed(covered)
        for partition in partitions:
            try:
                self.log.forget(partition, covered)
            except Exception:
                log.warning("the stream could not drop partition %d's messages up to %d", partition, covered,
                            exc_info=True)
        return report

    def _flush_loop(self) -> None:
        retained = time.monotonic()
        while not self._stop.wait(self.settings.flush_interval):
            try:
                self.flush_now()
            except Exception:
                log.exception("flush failed; the points stay in the stream and the head and will be retried")
            if time.monotonic() - retained >= self.config.store.compaction_interval:
                retained = time.monotonic()
                try:
                    with self._flush_lock:
                        self.flusher.apply_retention(int(time.time() * 1000))
                        self.flusher.sweep_orphans()
                except Exception:
                    log.exception("retention failed; it runs again in %.0f s", self.config.store.compaction_interval)

    def compact(self, force: bool = False) -> dict:
        """Flush the head into blocks (every block is a finished window's compaction) and apply retention."""
        del force  # blocks are complete recomputations already: open windows need nothing more
        started = time.perf_counter()
        points = self.head.points
        with self._flush_lock:
            report = self._flush_locked()
            dropped = self.flusher.apply_retention(int(time.time() * 1000))
        return {"windows": report.blocks if report else 0, "points": points,
                "chunks": report.chunks if report else 0, "dropped_chunks": dropped,
                "seconds": round(time.perf_counter() - started, 3), "store_bytes": self.size_bytes()}

    # -- reading ---------------------------------------------------------------------------------
    def _head_ids(self, series_filter: SeriesFilter) -> list[int]:
        """Series with points in the filter's time range that are only in the head yet."""
        if not series_filter.has_time:
            return []
        start = series_filter.start_ms if series_filter.start_ms is not None else -(2**62)
        end = series_filter.end_ms if series_filter.end_ms is not None else 2**62
        points, _ = self.head.read(None, start, end)
        return np.unique(points.series).tolist()

    def find(self, series_filter: SeriesFilter, after_id: int | None = None,
             limit: int | None = None) -> list[SeriesInfo]:
        return self.index.catalog.find(series_filter, self._head_ids(series_filter), after_id, limit)

    def names(self, series_filter: SeriesFilter, after: str | None, limit: int) -> list[str]:
        return self.index.catalog.names(series_filter, self._head_ids(series_filter), after, limit)

    def dimension_names(self, series_filter: SeriesFilter, after: str | None, limit: int) -> list[str]:
        return self.index.catalog.dimension_names(series_filter, self._head_ids(series_filter), after, limit)

    def dimension_values(self, series_filter: SeriesFilter, key: str, after: str | None, limit: int) -> list[str]:
        return self.index.catalog.dimension_values(series_filter, self._head_ids(series_filter), key, after, limit)

    def value_meta(self, series: Sequence[int], start_ms: int, end_ms: int) -> dict[tuple[int, int], dict]:
        series = list(series)
        found = self.index.catalog.value_meta(series, start_ms, end_ms)
        unflushed = self.head.value_meta(set(series), start_ms, end_ms)
        found.update({key: orjson.loads(text) for key, text in unflushed.items()})
        return found

    def read(self, series: Sequence[int], start_ms: int, end_ms: int, resolution: int) -> Points:
        ids = np.asarray(list(series), np.int64)
        for attempt in range(3):
            try:
                return self.reader.read(ids, start_ms, end_ms, resolution)
            except FileNotFoundError:
                # A flush replaced a block between finding it and fetching it: find again.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    # -- figures ---------------------------------------------------------------------------------
    def size_bytes(self) -> int:
        return self.flusher.stored_bytes() + self.log.stream_bytes()

    def stats(self) -> StoreStats:
        return StoreStats(series=len(self.registry), head_points=self.head.points,
                          pending_points=self._pending_points, points_accepted=self.points_accepted,
                          requests_accepted=self.requests_accepted, size_bytes=self.size_bytes())

    def storage_report(self) -> dict:
        return {"resolutions": self.index.report(), "block_bytes": self.flusher.stored_bytes(),
                "stream_bytes": self.log.stream_bytes(), "block_cache_bytes": self.objects.cached_bytes(),
                "covered": {str(p): c for p, c in self._covered.items()},  # JSON object keys are strings
                "total_bytes": self.size_bytes(), "series": len(self.registry)}

