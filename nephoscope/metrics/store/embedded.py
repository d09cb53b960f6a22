"""The embedded metric store: one process, a write-ahead log, DuckDB tables and pcodec chunks.

``EmbeddedStore`` implements ``interface.MetricStore``. It wires the WAL, the head, the
DuckDB tables, the flush loop and the compaction loop together and owns their lifecycle.
Writes: ``write`` (async, from request handlers) and ``write_now`` (blocking, for in-process
producers). Reads go through the series catalog (which series) and the reader (their
points), always with a tenant scope.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from nephoscope.config import Config
from nephoscope.metrics.series import IngestBatch, SeriesDefinition
from nephoscope.metrics.store.chunkcache import ChunkCache
from nephoscope.metrics.store.duckdb.compaction import CompactionReport, Compactor
from nephoscope.metrics.store.duckdb.database import Database
from nephoscope.metrics.store.duckdb.reader import Reader
from nephoscope.metrics.store.duckdb.series_catalog import SeriesCatalog
from nephoscope.metrics.store.duckdb.writer import flush
from nephoscope.metrics.store.head import Head
from nephoscope.metrics.store.interface import Overloaded, SeriesFilter, SeriesInfo, StoreStats
from nephoscope.metrics.store.registry import SeriesRegistry
from nephoscope.metrics.store.wal import WriteAheadLog
from nephoscope.metrics.summary import Points

log = logging.getLogger(__name__)

_FOUND_ENTRIES = 4096
"""find() answers kept (each a list of the series it found; at most a page)."""
_FOUND_LARGEST = 2000
"""Larger answers are not kept: their memory would grow with the cloud, their query cost is small beside their reads."""


@dataclass
class StoreCounters:
    points_accepted: int = 0
    requests_accepted: int = 0
    flushes: int = 0
    flush_seconds: float = 0.0
    compactions: int = 0


class EmbeddedStore:
    """The single-process store under ``<data dir>``: ``store.duckdb`` and ``wal/``."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.data_dir: Path = config.data_path
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.registry = SeriesRegistry(config.store.policies)
        self.database = Database(self.data_dir / "store.duckdb", config.store.memory_limit)
        self.head = Head()
        self.catalog = SeriesCatalog(self.database)
        self.chunk_cache = ChunkCache(config.store.chunk_cache_bytes)
        self.reader = Reader(self.database, self.head, min(p.raw for p in config.store.policies), self.chunk_cache,
                             config.store.raw_window)
        self.compactor = Compactor(self.database, config.store)
        self.counters = StoreCounters()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.wal = WriteAheadLog(self.data_dir / "wal", self._on_durable, config.limits.max_pending_points,
                                 self.database.state("flushed_sequence") + 1)
        self.last_compaction: CompactionReport | None = None
        self._listeners: list[Callable[[IngestBatch], None]] = []
        # find() answers without a time range, by filter and page: dashboards and the alarm engine
        # ask the same questions again and again, and the answer changes only with new series.
        self._series_generation = 0
        self._found: collections.OrderedDict = collections.OrderedDict()
        self._found_lock = threading.Lock()
        self._backlogs: list[Callable[[], int]] = []

    # -- lifecycle ----------------------------------------------------------------------------
    def open(self) -> None:
        started = time.perf_counter()
        known = self.database.cursor().execute("SELECT id FROM series").fetchnumpy()["id"]
        self.registry.add_known(known.tolist())
        replayed = 0
        for sequence, batch in self.wal.replay(self.database.state("flushed_sequence")):
            self._on_durable(sequence, batch)
            replayed += len(batch.points)
        self.wal.start()
        if replayed:
            log.info("replayed %d acknowledged points from the write-ahead log", replayed)
            self.flush_now()
        for name, target in (("store-flush", self._flush_loop), ("store-compaction", self._compaction_loop)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("store open at %s: %d series known, ready in %.2fs", self.data_dir, len(self.registry),
                 time.perf_counter() - started)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        self.wal.close()
        self.flush_now()
        self.database.checkpoint()
        self.database.close()

    @property
    def policies(self) -> list:
        return self.config.store.policies

    # -- writing ------------------------------------------------------------------------------
    def new_series(self, definitions) -> list[SeriesDefinition]:  # noqa: ANN001 - any sequence
        return self.registry.unknown(list(definitions))

    def _on_durable(self, sequence: int, batch: IngestBatch) -> None:
        if batch.tenant_series:
            self.registry.add_known(d.id for d in batch.tenant_series)
            self._series_generation += 1
        self.head.add(sequence, batch)
        self.counters.points_accepted += len(batch.points)
        self.counters.requests_accepted += 1
        for listener in self._listeners:
            listener(batch)

    def subscribe(self, listener: Callable[[IngestBatch], None], backlog: Callable[[], int] | None = None) -> None:
        """Call ``listener`` with every batch once it is durable (on the WAL thread: it must only
        hand the batch over). ``backlog`` counts the points it has yet to process; ingest is
        refused with 429 while that is over ``limits.max_head_points``."""
        self._listeners.append(listener)
        if backlog is not None:
            self._backlogs.append(backlog)

    def admit(self) -> None:
        """Refuse work early when the head is over its bound (flushing cannot keep up)."""
        if self.head.points > self.config.limits.max_head_points:
            raise Overloaded(f"{self.head.points} points are waiting to be stored; retry shortly", backlog=True)
        for backlog in self._backlogs:
            waiting = backlog()
            if waiting > self.config.limits.max_head_points:
                raise Overloaded(f"{waiting} points are waiting for the alarm evaluator; retry shortly", backlog=True)

    async def write(self, batch: IngestBatch) -> int:
        """Make the batch durable; returns its WAL sequence. Raises ``Overloaded``."""
        self.admit()
        return await asyncio.shield(self.wal.submit(batch))

    def write_now(self, batch: IngestBatch) -> int:
        return self.wal.write_now(batch)

    # -- flushing and compaction -----------------------------------------------------------------
    def flush_now(self) -> None:
        with self._flush_lock:
            batches = self.head.take()
            if not batches:
                return
            started = time.perf_counter()
            sequence = flush(self.database, batches, self.registry)
            self.head.flushed(sequence)
            self.wal.release(sequence)
            self.counters.flushes += 1
            self.counters.flush_seconds += time.perf_counter() - started

    def sync_series(self) -> None:
        """Read-your-writes for the catalog: series acknowledged but not yet flushed become visible."""
        if self.head.has_new_series:
            self.flush_now()

    def compact(self, force: bool = False) -> dict:
        self.flush_now()
        report = self.compactor.run(force=force)
        self.last_compaction = report
        self.counters.compactions += 1
        if force:
            self.database.checkpoint()
        return {"windows": report.windows, "points": report.points, "chunks": report.chunks,
                "seconds": round(report.seconds, 3), "store_bytes": self.size_bytes()}

    def _flush_loop(self) -> None:
        interval = self.config.store.flush_interval
        while not self._stop.wait(interval):
            try:
                self.flush_now()
            except Exception:
                log.exception("flush failed; the points stay in the write-ahead log and will be retried")

    def _compaction_loop(self) -> None:
        interval = self.config.store.compaction_interval
        while not self._stop.wait(interval):
            try:
                self.compact()
            except Exception:
                log.exception("compaction failed; will retry")

    # -- reading ---------------------------------------------------------------------------------
    def _head_ids(self, series_filter: SeriesFilter) -> list[int]:
        """Series with points not yet flushed: a time-bounded search must see them too."""
        if not series_filter.has_time:
            return []
        return list(self.head.series_ids(series_filter.start_ms, series_filter.end_ms))

    def find(self, series_filter: SeriesFilter, after_id: int | None = None,
             limit: int | None = None) -> list[SeriesInfo]:
        if series_filter.has_time:  # depends on where points are: not cached
            self.sync_series()
            return self.catalog.find(series_filter, self._head_ids(series_filter), after_id, limit)
        key = (series_filter, after_id, limit)
        generation = self._series_generation
        with self._found_lock:
            hit = self._found.get(key)
            if hit is not None and hit[0] == generation:
                self._found.move_to_end(key)
                return list(hit[1])
        self.sync_series()
        found = self.catalog.find(series_filter, [], after_id, limit)
        if len(found) > _FOUND_LARGEST:
            return found
        with self._found_lock:
            self._found[key] = (generation, found)
            self._found.move_to_end(key)
            while len(self._found) > _FOUND_ENTRIES:
                self._found.popitem(last=False)
        return list(found)

    def names(self, series_filter: SeriesFilter, after: str | None, limit: int) -> list[str]:
        self.sync_series()
        return self.catalog.names(series_filter, self._head_ids(series_filter), after, limit)

    def dimension_names(self, series_filter: SeriesFilter, after: str | None, limit: int) -> list[str]:
        self.sync_series()
        return self.catalog.dimension_names(series_filter, self._head_ids(series_filter), after, limit)

    def dimension_values(self, series_filter: SeriesFilter, key: str, after: str | None, limit: int) -> list[str]:
        self.sync_series()
        return self.catalog.dimension_values(series_filter, self._head_ids(series_filter), key, after, limit)

    def value_meta(self, series, start_ms: int, end_ms: int) -> dict[tuple[int, int], dict]:  # noqa: ANN001
        series = list(series)
        found = self.catalog.value_meta(series, start_ms, end_ms)
        # Acknowledged but not yet flushed: read-your-writes, as for the points themselves.
        unflushed = self.head.value_meta(set(series), start_ms, end_ms)
        found.update({key: orjson.loads(text) for key, text in unflushed.items()})
        return found

    def stats(self) -> StoreStats:
        return StoreStats(series=len(self.registry), head_points=self.head.points,
                          pending_points=self.wal.pending_points, points_accepted=self.counters.points_accepted,
                          requests_accepted=self.counters.requests_accepted, size_bytes=self.size_bytes())

    def storage_report(self) -> dict:
        """Where the disk goes: compressed payload per resolution, transient data, file sizes."""
        cursor = self.database.cursor()
        resolutions = {
            str(r): {"chunks": n, "points": int(p or 0), "payload_bytes": int(b or 0)}
            for r, n, p, b in cursor.execute(
                "SELECT resolution, count(*), sum(n), sum(octet_length(payload)) FROM chunks "
                "GROUP BY resolution ORDER BY resolution").fetchall()}
        files = {path.name: path.stat().st_size for path in sorted(self.data_dir.glob("*.duckdb*"))}
        return {"resolutions": resolutions, "files": files, "wal_bytes": self.wal.disk_bytes(),
                "total_bytes": self.size_bytes(), "series": len(self.registry)}

    def size_bytes(self) -> int:
        return self.database.size_bytes() + self.wal.disk_bytes()

    def read(self, series, start_ms: int, end_ms: int, resolution: int) -> Points:  # noqa: ANN001
        return self.reader.read(np.asarray(series, np.int64), start_ms, end_ms, resolution)
