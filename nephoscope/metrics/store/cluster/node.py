"""``ClusterNode``: the metric store of one node of a cluster, built from the roles it runs.

* every node can write (``api``'s job; self-metrics of any node too): a batch is split by partition,
  published, and acknowledged once JetStream acknowledged every part — nothing is applied here;
* ``ingester``: the partitions this node leases, followed into heads and flushed to S3
  (``ingester``), their heads served to queriers (``answer``);
* ``querier``: every read, from the blocks (``reader`` over the local index) plus the owning
  ingesters' heads (``querier``): the heads are asked first, the blocks read after.

A node without the querier role refuses reads as ``Overloaded`` (503: ask a querier). ``ClusterStore``
(``store``) stays the single process playing every role, with no leases.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

import msgspec
import numpy as np
import orjson

from nephoscope.errors import malformed
from nephoscope.config import ClusterSettings, Config
from nephoscope.metrics.series import IngestBatch, SeriesDefinition
from nephoscope.metrics.store.chunkcache import ChunkCache
from nephoscope.metrics.store.cluster.flush import Flusher
from nephoscope.metrics.store.cluster.heads import HeadAnswer, HeadQuery, encode_answer
from nephoscope.metrics.store.cluster.index import BlockIndex
from nephoscope.metrics.store.cluster.manifest import manifest_pointers
from nephoscope.metrics.store.cluster.ingester import Ingester
from nephoscope.metrics.store.cluster.log import MetricLog
from nephoscope.engines.objects import ObjectStore
from nephoscope.metrics.store.cluster.querier import AnsweredHead, Querier
from nephoscope.metrics.store.cluster.reader import Reader
from nephoscope.metrics.store.interface import Overloaded, SeriesFilter, SeriesInfo, StoreStats
from nephoscope.metrics.store.registry import SeriesRegistry
from nephoscope.metrics.summary import Points

log = logging.getLogger(__name__)

STORE_ROLES = frozenset({"api", "ingester", "querier"})


class ClusterNode:
    def __init__(self, config: Config, settings: ClusterSettings, roles: frozenset[str], member: str,
                 token: str) -> None:
        self.config = config
        self.settings = settings
        self.roles = roles
        self.registry = SeriesRegistry(config.store.policies)
        self.log = MetricLog(settings)
        self._listeners: list[Callable[[IngestBatch], None]] = []
        self._pending_points = 0
        self.points_published = 0
        self.requests_published = 0
        self.ingester: Ingester | None = None
        self.querier: Querier | None = None
        self.index: BlockIndex | None = None
        self.flusher: Flusher | None = None
        self.objects = ObjectStore(settings) if roles & {"ingester", "querier"} else None
        self.pointers = manifest_pointers(self.log, settings) if self.objects is not None else None
        self._indexes: list[BlockIndex] = []
        if "ingester" in roles:
            index = self._index("ingester-index")
            flusher = Flusher(self.objects, index, config.store, settings.partitions, pointers=self.pointers)
            self.ingester = Ingester(settings, member, self.log, flusher, index, self.registry, self._listeners,
                                     config.store.compaction_interval)
        if "querier" in roles:
            if not token:
                raise ValueError("a querier asks the ingesters for their heads with the admin token: set "
                                 "[auth] admin_token (NEPHOSCOPE_ADMIN_TOKEN) on every node")
            self.index = self._index("querier-index")
            self.flusher = Flusher(self.objects, self.index, config.store, settings.partitions, pointers=self.pointers)
            self.querier = Querier(settings, self.flusher, self.index, token)
            self.cache = ChunkCache(config.store.chunk_cache_bytes)

    def _index(self, name: str) -> BlockIndex:
        index = BlockIndex(self.config.data_path / name, self.config.store.memory_limit, self.registry,
                           self.settings.partitions)
        self._indexes.append(index)
        return index

    # -- lifecycle ----------------------------------------------------------------------------------
    def open(self) -> None:
        self.log.open()
        if self.pointers is not None:
            self.pointers.open()
        if self.querier is not None:
            self.querier.open()
            self.registry.add_known(self.index.series_ids().tolist())
        if self.ingester is not None:
            self.ingester.open()
        log.info("cluster node open: roles %s", ",".join(sorted(self.roles)))

    def close(self) -> None:
        try:
            if self.ingester is not None:
                self.ingester.close()
            if self.querier is not None:
                self.querier.close()
        finally:
            self.log.close()
            for index in self._indexes:
                index.close()

    @property
    def policies(self) -> list:
        return self.config.store.policies

    # -- writing -------------------------------------------------------------------------------------
    def new_series(self, definitions: Sequence[SeriesDefinition]) -> list[SeriesDefinition]:
        """Those this node has not published yet (repeats are harmless: ingesters list a series once)."""
        return self.registry.unknown(list(definitions))

    def subscribe(self, listener: Callable[[IngestBatch], None], backlog: Callable[[], int] | None = None) -> None:
        """Batches of the partitions this node ingests (none without the ingester role)."""
        self._listeners.append(listener)

    def admit(self) -> None:
        if self._pending_points > self.config.limits.max_pending_points:
            raise Overloaded(f"{self._pending_points} points are waiting for the log; retry shortly", backlog=False)

    async def write(self, batch: IngestBatch) -> int:
        """Durable in the replicated log when it returns; the highest stream sequence of its parts."""
        self.admit()
        self._pending_points += len(batch.points)
        try:
            sequences = await asyncio.wrap_future(self.log.submit(self.log.write(batch, self.settings.partitions)))
        finally:
            self._pending_points -= len(batch.points)
        return self._published(batch, sequences)

    def write_now(self, batch: IngestBatch) -> int:
        sequences = self.log.call(self.log.write(batch, self.settings.partitions))
        return self._published(batch, sequences)

    def _published(self, batch: IngestBatch, sequences: list[int]) -> int:
        self.registry.add_known(d.id for d in batch.tenant_series)
        self.points_published += len(batch.points)
        self.requests_published += 1
        return max(sequences, default=0)

    # -- reading -------------------------------------------------------------------------------------
    def _querier(self) -> Querier:
        if self.querier is None:
            raise Overloaded(f"this node does not answer queries (its roles: {', '.join(sorted(self.roles))}); "
                             "ask a node with the querier role", backlog=False)
        return self.querier

    def _ask(self, series: np.ndarray | None, start_ms: int, end_ms: int, **wanted: bool) -> HeadAnswer:
        partitions = list(range(self.settings.partitions)) if series is None else \
            np.unique(series % self.settings.partitions).tolist()
        return self._querier().ask(HeadQuery(partitions, start_ms, end_ms,
                                             None if series is None else series.tolist(), **wanted))

    def _head_ids(self, series_filter: SeriesFilter) -> list[int]:
        """Asks every partition's head: lists the series they bring, and says which have points in
        the filter's range."""
        start = series_filter.start_ms if series_filter.start_ms is not None else -(2**62)
        end = series_filter.end_ms if series_filter.end_ms is not None else 2**62
        answer = self._ask(None, start, end, ids=series_filter.has_time, definitions=True)
        return answer.ids.tolist() if series_filter.has_time else []

    def find(self, series_filter: SeriesFilter, after_id: int | None = None,
             limit: int | None = None) -> list[SeriesInfo]:
        ids = self._head_ids(series_filter)
        return self.index.catalog.find(series_filter, ids, after_id, limit)

    def names(self, series_filter: SeriesFilter, after: str | None, limit: int) -> list[str]:
        ids = self._head_ids(series_filter)
        return self.index.catalog.names(series_filter, ids, after, limit)

    def dimension_names(self, series_filter: SeriesFilter, after: str | None, limit: int) -> list[str]:
        ids = self._head_ids(series_filter)
        return self.index.catalog.dimension_names(series_filter, ids, after, limit)

    def dimension_values(self, series_filter: SeriesFilter, key: str, after: str | None, limit: int) -> list[str]:
        ids = self._head_ids(series_filter)
        return self.index.catalog.dimension_values(series_filter, ids, key, after, limit)

    def value_meta(self, series: Sequence[int], start_ms: int, end_ms: int) -> dict[tuple[int, int], dict]:
        ids = np.asarray(list(series), np.int64)
        answer = self._ask(ids, start_ms, end_ms, value_meta=True)
        found = self.index.catalog.value_meta(ids.tolist(), start_ms, end_ms)
        found.update({key: orjson.loads(text) for key, text in answer.value_meta.items()})
        return found

    def read(self, series: Sequence[int], start_ms: int, end_ms: int, resolution: int) -> Points:
        ids = np.asarray(list(series), np.int64)
        if not len(ids) or start_ms >= end_ms:
            return Points.empty()
        for attempt in range(3):
            # The heads first, then the blocks: a flush between the two is seen in the answer.
            head = AnsweredHead(self._ask(ids, start_ms, end_ms, points=True))
            reader = Reader(self.index, self.objects, head, self.cache)
            try:
                return reader.read(ids, start_ms, end_ms, resolution)
            except FileNotFoundError:
                # A flush replaced a block between finding it and fetching it: ask again.
                if attempt == 2:
                    raise
                self.querier.refresh(np.unique(ids % self.settings.partitions).tolist())
        raise AssertionError("unreachable")

    # -- maintenance and figures ---------------------------------------------------------------------
    def flush_now(self) -> None:
        if self.ingester is not None:
            self.ingester.flush_now()

    def compact(self, force: bool = False) -> dict:
        """Flush the partitions this node ingests into blocks (a block is its window's compaction)
        and apply retention to their blocks."""
        del force
        started = time.perf_counter()
        points, dropped = 0, 0
        if self.ingester is not None:
            points = self.ingester.flush_now()
            dropped = self.ingester.apply_retention(int(time.time() * 1000))
        return {"points": points, "dropped_chunks": dropped, "seconds": round(time.perf_counter() - started, 3),
                "store_bytes": self.size_bytes()}

    def size_bytes(self) -> int:
        flusher = self.flusher if self.querier is not None else self.ingester.flusher if self.ingester else None
        return flusher.stored_bytes() if flusher is not None else 0

    def stats(self) -> StoreStats:
        ingester = self.ingester
        return StoreStats(series=len(self.registry), head_points=ingester.head_points() if ingester else 0,
                          pending_points=self._pending_points,
                          points_accepted=(ingester.points_accepted if ingester else self.points_published),
                          requests_accepted=(ingester.requests_accepted if ingester else self.requests_published),
                          size_bytes=self.size_bytes())

    def storage_report(self) -> dict:
        report: dict = {"roles": sorted(self.roles), "published_points": self.points_published}
        if self.ingester is not None:
            report["owned_partitions"] = sorted(self.ingester.owned())
            report["head_points"] = self.ingester.head_points()
            report["points_applied"] = self.ingester.points_accepted
        if self.querier is not None:
            report["resolutions"] = self.index.report()
            report["covered"] = {str(p): c for p, c in self.querier.covered.items()}  # JSON keys
        report["block_bytes"] = self.size_bytes()
        return report

    def heads_answer(self, body: bytes) -> bytes:
        """A querier's question to this ingester (``POST /v1/cluster/heads``: a ``HeadQuery`` as
        JSON), answered in the ``heads`` wire format; partitions not served here are not in it."""
        try:
            query = msgspec.json.decode(body, type=HeadQuery)
        except msgspec.DecodeError as error:
            raise malformed(f"heads query: {error}") from None
        return encode_answer(self.ingester.answer(query) if self.ingester is not None else HeadAnswer.empty())
