"""Reading points back at a resolution, stitched from every place they live.

Raw data lives in three places: compressed chunks (compacted windows), recent
points (flushed, not yet compacted) and the head (acknowledged, not yet flushed);
the copy written last wins. Roll-ups are stored up to the roll-up watermark (the
end of the last compacted raw window); after it they are computed on the fly from
finer data, so a query never waits for compaction and never sees a partial bucket
in storage.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pyarrow as pa

from nephoscope.store.chunkcache import ChunkCache
from nephoscope.store.duckdb.compaction import DAY_MS, points_from_chunks, replace_buckets
from nephoscope.store.duckdb.database import PARTS, RECENT, RECENT_COLUMNS, Database, fetch_arrow
from nephoscope.store.head import Head
from nephoscope.store.summary import Points, latest_per_timestamp, rollup

FINER = {60: 0, 3600: 0, 86_400: 3600}


class Reader:
    def __init__(self, database: Database, head: Head, raw_retention_seconds: int, cache: ChunkCache) -> None:
        self.database = database
        self.head = head
        self.cache = cache
        self._query = threading.local()
        self.raw_retention_ms = raw_retention_seconds * 1000

    def raw_retained_from(self) -> int:
        return int(time.time() * 1000) - self.raw_retention_ms

    def read(self, series: np.ndarray, start_ms: int, end_ms: int, resolution: int) -> Points:
        """Points of ``series`` with start <= timestamp < end, in no particular order
        (``summary.ordered`` sorts them when needed)."""
        if not len(series) or start_ms >= end_ms:
            return Points.empty()
        cursor = self.database.cursor()
        ids = np.asarray(series, np.int64)
        cursor.register("wanted", pa.table({"id": ids}))
        # A short literal list lets DuckDB skip row groups by their min/max; a long one is a join.
        self._query.ids_sql = (f"IN ({','.join(str(int(i)) for i in ids)})" if len(ids) <= 64
                               else "IN (SELECT id FROM wanted)")
        # Per read, on this thread: the series and the watermarks (one state query, not one per level).
        self._query.ids = ids
        self._query.watermark = self.database.state("rollup_watermark")
        self._query.days_rolled = self.database.state("days_rolled_until")
        try:
            return self._read_level(cursor, resolution, start_ms, end_ms)
        finally:
            cursor.unregister("wanted")

    def _watermark(self, resolution: int) -> int:
        watermark = self._query.watermark
        if resolution == 86_400:
            return min(self._query.days_rolled, (watermark // DAY_MS) * DAY_MS)
        return watermark

    def _read_level(self, cursor, resolution: int, start_ms: int, end_ms: int) -> Points:  # noqa: ANN001
        """Buckets of ``resolution`` holding exactly the data in [start, end).

        Whole buckets come from storage up to the watermark; partial buckets at either edge and
        everything after the watermark are computed from finer data, so a range that does not
        fall on bucket boundaries is still answered exactly (while finer data is retained).
        """
        if resolution == 0:
            return self._read_raw(cursor, start_ms, end_ms)
        width = resolution * 1000
        finer = FINER[resolution]
        inner_start = -(-start_ms // width) * width
        stored_end = min((end_ms // width) * width, (self._watermark(resolution) // width) * width)
        parts = []
        if start_ms < min(inner_start, end_ms):
            if self._finer_covers(finer, start_ms):
                parts.append(rollup(self._read_level(cursor, finer, start_ms, min(inner_start, end_ms)), width))
            else:  # finer data expired: the whole stored bucket is the best answer left
                parts.append(self._read_chunks(cursor, resolution, inner_start - width, min(inner_start, end_ms)))
        if inner_start < stored_end:
            stored = self._read_chunks(cursor, resolution, inner_start, stored_end)
            late = self._late_span(cursor, inner_start, stored_end)
            if late is not None:
                # Raw points arrived for windows already rolled up: recompute those buckets from raw,
                # which is complete there, rather than answer from stale roll-ups until compaction.
                first, last = (late[0] // width) * width, (late[1] // width + 1) * width
                recomputed = rollup(self._read_level(cursor, finer, max(first, inner_start), min(last, stored_end)),
                                    width)
                stored = replace_buckets(stored, recomputed)
            parts.append(stored)
        tail_start = max(inner_start, stored_end)
        if tail_start < end_ms:
            parts.append(rollup(self._read_level(cursor, finer, tail_start, end_ms), width))
        return Points.concat(parts)

    def _late_span(self, cursor, start_ms: int, end_ms: int) -> tuple[int, int] | None:  # noqa: ANN001
        """(first, last) timestamp of raw points not yet compacted in [start, end), if any."""
        if start_ms < self.raw_retained_from():
            start_ms = self.raw_retained_from()
        if start_ms >= end_ms:
            return None
        with self.database.recent_lock.shared():
            first, last = cursor.execute(
                f"SELECT min(ts), max(ts) FROM {RECENT} WHERE ts >= ? AND ts < ? "
                f"AND series_id {self._query.ids_sql}", [start_ms, end_ms]).fetchall()[0]
        head, _ = self.head.read(self._query.ids, start_ms, end_ms)
        if len(head):
            first = min(first, int(head.timestamp.min())) if first is not None else int(head.timestamp.min())
            last = max(last, int(head.timestamp.max())) if last is not None else int(head.timestamp.max())
        return None if first is None else (int(first), int(last))

    def _finer_covers(self, finer: int, start_ms: int) -> bool:
        return finer != 0 or start_ms >= self.raw_retained_from()

    def _read_chunks(self, cursor, resolution: int, start_ms: int, end_ms: int) -> Points:  # noqa: ANN001
        """Stored points of a resolution: chunks, and for roll-ups the parts waiting for their day to close."""
        query = ("SELECT series_id, payload, false AS part FROM chunks WHERE resolution = ? AND t_last >= ? "
                 f"AND t_first < ? AND series_id {self._query.ids_sql}")
        parameters = [resolution, start_ms, end_ms]
        with_parts = resolution in (60, 3600)
        if with_parts:
            query += (f" UNION ALL SELECT series_id, payload, true FROM {PARTS} WHERE resolution = ? AND t_last >= ? "
                      f"AND t_first < ? AND series_id {self._query.ids_sql}")
            parameters += parameters
        with self.database.recent_lock.shared():
            table = fetch_arrow(cursor, query, parameters)
        is_part = table.column("part").to_numpy(zero_copy_only=False)
        if with_parts and is_part.any():
            points = replace_buckets(points_from_chunks(table.filter(pa.array(~is_part)), self.cache),
                                     points_from_chunks(table.filter(pa.array(is_part)), self.cache))
        else:
            points = points_from_chunks(table, self.cache)
        if len(points):
            inside = (points.timestamp >= start_ms) & (points.timestamp < end_ms)
            if not inside.all():
                points = points.take(inside)
        return points

    def _read_raw(self, cursor, start_ms: int, end_ms: int) -> Points:  # noqa: ANN001
        stored = self._read_chunks(cursor, 0, start_ms, end_ms)
        with self.database.recent_lock.shared():
            recent = fetch_arrow(cursor, f"SELECT {RECENT_COLUMNS} FROM {RECENT} "
                                 f"WHERE ts >= ? AND ts < ? AND series_id {self._query.ids_sql}", [start_ms, end_ms])
        head, head_sequence = self.head.read(self._query.ids, start_ms, end_ms)
        parts = [stored]
        sequences = [np.full(len(stored), -1, np.int64)]
        if recent.num_rows:
            parts.append(Points(*(recent.column(name).to_numpy() for name in
                                  ("series_id", "ts", "count", "sum", "min", "max", "last"))))
            sequences.append(recent.column("seq").to_numpy())
        if len(head):
            parts.append(head)
            sequences.append(head_sequence)
        if len(parts) == 1:
            return stored
        return latest_per_timestamp(Points.concat(parts), np.concatenate(sequences))
