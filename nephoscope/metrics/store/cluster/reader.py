"""Reading points back: raw chunks from the blocks (through the object cache) plus the head.

Raw data of a series and window lives in at most one block (the current one of its partition and
window) and in the head (acknowledged, not yet in a block); the copy written last wins, as in the
embedded store. Minutes and hours are rolled up from raw wherever raw is kept — exact at either
edge of a range — and read from the blocks' roll-up chunks where retention dropped raw; days are
rolled up from hours (summaries merge exactly).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from nephoscope.metrics.store.chunkcache import ChunkCache
from nephoscope.metrics.store.cluster.index import BlockIndex
from nephoscope.engines.objects import ObjectStore
from nephoscope.metrics.store.duckdb.compaction import DAY_MS, points_from_chunks
from nephoscope.metrics.store.head import Head
from nephoscope.metrics.summary import Points, latest_per_timestamp, rollup


class Reader:
    def __init__(self, index: BlockIndex, objects: ObjectStore, head: Head, cache: ChunkCache) -> None:
        self.index = index
        self.objects = objects
        self.head = head
        self.cache = cache

    def read(self, series: np.ndarray, start_ms: int, end_ms: int, resolution: int) -> Points:
        if not len(series) or start_ms >= end_ms:
            return Points.empty()
        if resolution == 0:
            return self._raw(series, start_ms, end_ms)
        if resolution == 86_400:
            return rollup(self.read(series, start_ms, end_ms, 3600), DAY_MS)
        width = resolution * 1000
        computed = rollup(self._raw(series, start_ms, end_ms), width)
        # Where retention dropped raw, the stored bucket is the best answer left (whole, even at an edge).
        stored = self._chunks(self.index.locate(series, resolution, (start_ms // width) * width, end_ms,
                                                raw_kept=False))
        if len(stored):
            stored = stored.take((stored.timestamp >= (start_ms // width) * width) & (stored.timestamp < end_ms))
        return Points.concat([computed, stored])

    def _raw(self, series: np.ndarray, start_ms: int, end_ms: int) -> Points:
        stored = self._chunks(self.index.locate(series, 0, start_ms, end_ms))
        if len(stored):
            stored = stored.take((stored.timestamp >= start_ms) & (stored.timestamp < end_ms))
        head, sequence = self.head.read(np.asarray(series, np.int64), start_ms, end_ms)
        if not len(head):
            return stored
        return latest_per_timestamp(Points.concat([stored, head]),
                                    np.concatenate([np.full(len(stored), -1, np.int64), sequence]))

    def _chunks(self, located: pa.Table) -> Points:
        """Decode the located chunks (block, series_id, position, length), each block fetched once."""
        if located.num_rows == 0:
            return Points.empty()
        blocks = located.column("block").to_pylist()
        positions = located.column("position").to_numpy()
        lengths = located.column("length").to_numpy()
        payloads, data, current = [], b"", None
        for block, position, length in zip(blocks, positions.tolist(), lengths.tolist()):
            if block != current:  # rows come ordered by block
                data, current = self.objects.get_immutable(block), block
            payloads.append(data[position:position + length])
        return points_from_chunks(located.column("series_id").to_numpy(), payloads, self.cache)
