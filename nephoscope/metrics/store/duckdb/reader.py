"""Reading points back at a resolution, stitched from every place they live.

Raw data lives in three places: compressed chunks (compacted windows), recent
points (flushed, not yet compacted) and the head (acknowledged, not yet flushed);
the copy written last wins. Roll-ups are stored up to the roll-up watermark (the
end of the last compacted raw window); after it they are computed on the fly from
finer data, so a query never waits for compaction and never sees a partial bucket
in storage. Roll-ups of raw data are computed per raw chunk where a chunk lies whole in the range
and no newer raw points share its window; those per-chunk roll-ups are cached like decoded
chunks, so with roll-ups materialized only on expiry a coarse query costs about what reading
stored roll-ups did.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pyarrow as pa

from nephoscope.metrics.store.chunkcache import ChunkCache
from nephoscope.metrics.store.duckdb.compaction import DAY_MS, points_from_chunks, replace_buckets
from nephoscope.metrics.store.duckdb.database import PARTS, RECENT, RECENT_COLUMNS, Database
from nephoscope.metrics.store.head import Head
from nephoscope.metrics.summary import Points, latest_per_timestamp, rollup

FINER = {60: 0, 3600: 0, 86_400: 3600}


class Reader:
    def __init__(self, database: Database, head: Head, raw_retention_seconds: int, cache: ChunkCache,
                 raw_window_seconds: int) -> None:
        self.database = database
        self.raw_window_ms = raw_window_seconds * 1000
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
        # A short literal list lets DuckDB skip row groups by their min/max; a long one is a join.
        joined = len(ids) > 64
        self._query.ids_sql = "IN (SELECT id FROM wanted)" if joined else f"IN ({','.join(str(int(i)) for i in ids)})"
        if joined:
            cursor.register("wanted", pa.table({"id": ids}))
        try:
            self._prepare(cursor, ids, start_ms, end_ms)
            return self._read_level(cursor, resolution, start_ms, end_ms)
        finally:
            if joined:
                cursor.unregister("wanted")

    def _prepare(self, cursor, ids: np.ndarray, start_ms: int, end_ms: int) -> None:  # noqa: ANN001
        """Per read, on this thread: the series, the watermarks, and the points not yet compacted
        (recent, then the head), fetched once: every raw read below (edges, the tail after the
        watermark, late data) asks for a part of [start, end)."""
        self._query.ids = ids
        self._query.watermark = self.database.state("rollup_watermark")
        self._query.days_rolled = self.database.state("days_rolled_until")
        # Unknown until a retention pass records it (a store from an earlier version): the retention then.
        self._query.raw_kept_from = self.database.state("raw_kept_from") or 2**62
        with self.database.recent_lock.shared():
            # NumPy straight from DuckDB: an empty answer costs 0.4 ms where Arrow's costs 2, a large one
            # about half (every column is NOT NULL here, so no masked arrays).
            recent = cursor.execute(f"SELECT {RECENT_COLUMNS} FROM {RECENT} WHERE ts >= ? AND ts < ? "
                                    f"AND series_id {self._query.ids_sql}", [start_ms, end_ms]).fetchnumpy()
        head, head_sequence = self.head.read(ids, start_ms, end_ms)
        self._query.uncompacted = (
            Points.concat([Points(*(np.asarray(recent[name]) for name in
                                    ("series_id", "ts", "count", "sum", "min", "max", "last"))), head]),
            np.concatenate([np.asarray(recent["seq"]), head_sequence]))

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
                parts.append(self._rolled(cursor, finer, start_ms, min(inner_start, end_ms), width))
            else:  # finer data expired: the whole stored bucket is the best answer left
                parts.append(self._read_chunks(cursor, resolution, inner_start - width, min(inner_start, end_ms)))
        if inner_start < stored_end:
            stored = self._read_chunks(cursor, resolution, inner_start, stored_end)
            late = self._late_span(cursor, inner_start, stored_end)
            if late is not None:
                # Raw points arrived for windows already rolled up: recompute those buckets from raw,
                # which is complete there, rather than answer from stale roll-ups until compaction.
                first, last = (late[0] // width) * width, (late[1] // width + 1) * width
                recomputed = self._rolled(cursor, finer, max(first, inner_start), min(last, stored_end), width)
                stored = replace_buckets(stored, recomputed)
            parts.append(stored)
        tail_start = max(inner_start, stored_end)
        if tail_start < end_ms:
            parts.append(self._rolled(cursor, finer, tail_start, end_ms, width))
        return Points.concat(parts)

    def _rolled(self, cursor, finer: int, start_ms: int, end_ms: int, width: int) -> Points:  # noqa: ANN001
        """Buckets ``width`` wide of the data in [start, end), from the ``finer`` resolution."""
        if finer != 0 or self.raw_window_ms % width:
            return rollup(self._read_level(cursor, finer, start_ms, end_ms), width)
        rows = self._chunk_rows(cursor, 0, start_ms, end_ms, with_window=True)
        uncompacted, sequence = self._uncompacted(start_ms, end_ms)
        whole = np.fromiter((row[2] >= start_ms and row[3] < end_ms for row in rows), bool, len(rows))
        if len(uncompacted) and whole.any():
            # A newer raw point in a chunk's window replaces or joins its points: that window is
            # rolled up from its merged points below. (A key collision only sends a chunk there too.)
            def key(series: np.ndarray, window: np.ndarray) -> np.ndarray:
                return series * np.int64(1_000_003) + window // self.raw_window_ms

            with np.errstate(over="ignore"):
                late = np.unique(key(uncompacted.series, uncompacted.timestamp))
                ids = np.fromiter((row[0] for row in rows), np.int64, len(rows))
                windows = np.fromiter((row[4] for row in rows), np.int64, len(rows))
                whole &= ~np.isin(key(ids, windows), late)
        rolled = Points.empty()
        if whole.any():
            picked = [rows[i] for i in np.flatnonzero(whole)]
            lengths, columns = self.cache.rollups([row[1] for row in picked], width)
            rolled = Points(np.repeat(np.fromiter((row[0] for row in picked), np.int64, len(picked)), lengths),
                            columns.timestamps, columns.count, columns.sum, columns.min, columns.max, columns.last)
        rest = [rows[i] for i in np.flatnonzero(~whole)]
        if not rest and not len(uncompacted):
            return rolled
        stored = self._decode(rest, start_ms, end_ms)
        raw = latest_per_timestamp(Points.concat([stored, uncompacted]),
                                   np.concatenate([np.full(len(stored), -1, np.int64), sequence]))
        return Points.concat([rolled, rollup(raw, width)])

    def _uncompacted(self, start_ms: int, end_ms: int) -> tuple[Points, np.ndarray]:
        points, sequence = self._query.uncompacted
        inside = (points.timestamp >= start_ms) & (points.timestamp < end_ms)
        return points.take(inside), sequence[inside]

    def _late_span(self, cursor, start_ms: int, end_ms: int) -> tuple[int, int] | None:  # noqa: ANN001
        """(first, last) timestamp of raw points not yet compacted in [start, end), if any."""
        start_ms = max(start_ms, self.raw_retained_from())
        if start_ms >= end_ms:
            return None
        late, _ = self._uncompacted(start_ms, end_ms)
        return (int(late.timestamp.min()), int(late.timestamp.max())) if len(late) else None

    def _finer_covers(self, finer: int, start_ms: int) -> bool:
        """Whether the finer resolution still holds [start, …): roll-ups always do; raw data does
        inside its retention, and wherever retention has not deleted it yet."""
        return finer != 0 or start_ms >= min(self.raw_retained_from(), self._query.raw_kept_from)

    def _chunk_rows(self, cursor, resolution: int, start_ms: int, end_ms: int,  # noqa: ANN001
                    with_window: bool = False) -> list[tuple]:
        """(series_id, payload[, t_first, t_last, window_start]) of the chunks of a resolution
        overlapping [start, end)."""
        extra = ", t_first, t_last, window_start" if with_window else ""
        with self.database.recent_lock.shared():
            return cursor.execute(
                f"SELECT series_id, payload{extra} FROM chunks WHERE resolution = ? AND t_last >= ? "
                f"AND t_first < ? AND series_id {self._query.ids_sql}", [resolution, start_ms, end_ms]).fetchall()

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
            rows = cursor.execute(query, parameters).fetchall()  # few rows of blobs: cheaper than Arrow
        chunks = [row for row in rows if not row[2]]
        points = self._decode(chunks, start_ms, end_ms)
        if len(chunks) < len(rows):
            points = replace_buckets(points, self._decode([row for row in rows if row[2]], start_ms, end_ms))
        return points

    def _decode(self, rows: list[tuple], start_ms: int, end_ms: int) -> Points:
        """(series_id, payload, …) rows to their points in [start, end), through the decoded-chunk cache."""
        return points_from_chunks([row[0] for row in rows], [row[1] for row in rows], self.cache, start_ms, end_ms)

    def _read_raw(self, cursor, start_ms: int, end_ms: int) -> Points:  # noqa: ANN001
        stored = self._read_chunks(cursor, 0, start_ms, end_ms)
        uncompacted, sequence = self._uncompacted(start_ms, end_ms)
        if not len(uncompacted):
            return stored
        return latest_per_timestamp(Points.concat([stored, uncompacted]),
                                    np.concatenate([np.full(len(stored), -1, np.int64), sequence]))
