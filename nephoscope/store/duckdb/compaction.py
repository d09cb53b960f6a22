"""Compaction, roll-ups and retention.

Raw points of a closed window (``store.raw_window``, 2 h by default) are merged
with whatever chunk the window already had (late data), de-duplicated (the last
write of a series and timestamp wins), and written as one compressed chunk per
series. The same merged points give the window's 1-minute and 1-hour buckets —
complete, because a raw window holds whole minutes and hours — which are folded
into the longer roll-up chunks (a day of minutes, 30 days of hours). When a day is
closed, its 1-day buckets are computed from its hours. A roll-up is therefore always
a complete recomputation from finer data, never an estimate, and replacing a bucket
with its recomputation is idempotent.

Retention deletes whole chunk windows per resolution and archive policy.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from nephoscope.config import StoreConfig
from nephoscope.store.codec import ChunkColumns, decode_chunks, encode_chunks
from nephoscope.store.duckdb.database import RECENT, RECENT_COLUMNS, Database, fetch_arrow, first_row
from nephoscope.store.summary import Points, group_starts, latest_per_timestamp, rollup

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
ROLLUP_WINDOWS_MS = {60: DAY_MS, 3600: 30 * DAY_MS, 86_400: 360 * DAY_MS}
PARTITION_ROWS = 2_000_000


def window_ms(resolution: int, config: StoreConfig) -> int:
    return config.raw_window * 1000 if resolution == 0 else ROLLUP_WINDOWS_MS[resolution]


def window_of(timestamp: int, width: int) -> int:
    return (timestamp // width) * width


def points_from_chunks(table: pa.Table) -> Points:
    if table.num_rows == 0:
        return Points.empty()
    lengths, columns = decode_chunks(table.column("payload").to_pylist())
    series = np.repeat(table.column("series_id").to_numpy(), lengths)
    return Points(series, columns.timestamps, columns.count, columns.sum, columns.min, columns.max, columns.last)


def chunk_rows(points: Points, resolution: int, window_start: int) -> pa.Table:
    """One compressed chunk per series of ``points`` (sorted by series, timestamp)."""
    starts = group_starts(points.series)
    offsets = np.append(starts, len(points)).astype(np.int64)
    blobs = encode_chunks(offsets, ChunkColumns(points.timestamp, points.count, points.sum,
                                                points.min, points.max, points.last))
    ends = offsets[1:] - 1
    return pa.table({
        "resolution": pa.array(np.full(len(starts), resolution, np.int32)),
        "window_start": pa.array(np.full(len(starts), window_start, np.int64)),
        "series_id": pa.array(points.series[starts]),
        "t_first": pa.array(points.timestamp[starts]),
        "t_last": pa.array(points.timestamp[ends]),
        "n": pa.array(np.diff(offsets).astype(np.int32)),
        "payload": pa.array(blobs, pa.binary()),
    })


@dataclass
class CompactionReport:
    windows: int = 0
    points: int = 0
    chunks: int = 0
    days_rolled: int = 0
    seconds: float = 0.0


class Compactor:
    def __init__(self, database: Database, config: StoreConfig) -> None:
        self.database = database
        self.config = config

    # -- the pass ----------------------------------------------------------------------------
    def run(self, now_ms: int | None = None, force: bool = False) -> CompactionReport:
        """Compact closed raw windows (all windows when ``force``), roll up closed days, apply retention."""
        started = time.perf_counter()
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        width = window_ms(0, self.config)
        grace = 0 if force else int(self.config.compaction_grace * 1000)
        closed_until = window_of(now_ms - grace, width)
        scan_until = now_ms + int(self.config.max_future_seconds * 1000) + width if force else closed_until
        report = CompactionReport()
        cursor = self.database.cursor()
        with self.database.recent_lock.shared():
            windows = [int(row[0]) for row in cursor.execute(
                f"SELECT DISTINCT (ts // ?) * ? AS w FROM {RECENT} WHERE ts < ? ORDER BY w",
                [width, width, scan_until]).fetchall()]
        watermark = max(self.database.state("rollup_watermark"), closed_until)
        days_done = self.database.state("days_rolled_until")
        for window in windows:
            self._compact_raw_window(window, width, days_done, report)
        with self.database.write_lock:
            Database.set_state(cursor, "rollup_watermark", watermark)
        closed_day_end = window_of(watermark, DAY_MS)
        day = max(days_done, window_of(self._oldest_rollup_hour(), DAY_MS)) if days_done == 0 else days_done
        while day + DAY_MS <= closed_day_end:
            report.days_rolled += self._roll_day(day, None)
            day += DAY_MS
            with self.database.write_lock:
                Database.set_state(cursor, "days_rolled_until", day)
        self.apply_retention(now_ms)
        if windows:
            self.database.replace_recent_if_empty()
        report.seconds = time.perf_counter() - started
        if report.windows:
            log.info("compacted %d windows: %d points into %d chunks, %d day roll-ups in %.2fs",
                     report.windows, report.points, report.chunks, report.days_rolled, report.seconds)
        return report

    def _oldest_rollup_hour(self) -> int:
        row = first_row(self.database.cursor(), "SELECT min(window_start) FROM chunks WHERE resolution = 3600")
        return int(row[0]) if row and row[0] is not None else 2**62

    # -- raw windows ---------------------------------------------------------------------------
    def _compact_raw_window(self, window: int, width: int, days_done: int, report: CompactionReport) -> None:
        cursor = self.database.cursor()
        with self.database.recent_lock.shared():
            rows = first_row(cursor, f"SELECT count(*) FROM {RECENT} WHERE ts >= ? AND ts < ?",
                             [window, window + width])[0]
        partitions = max(1, math.ceil(rows / PARTITION_ROWS))
        bounds = np.linspace(0, 2**63, partitions + 1, dtype=np.float64)
        for index in range(partitions):
            low = int(bounds[index])
            high = 2**63 - 1 if index == partitions - 1 else int(bounds[index + 1])
            self._compact_partition(window, width, low, high, days_done, report)
        report.windows += 1

    def _compact_partition(self, window: int, width: int, low: int, high: int, days_done: int,
                           report: CompactionReport) -> None:
        cursor = self.database.cursor()
        with self.database.write_lock, self.database.recent_lock.shared():
            recent = fetch_arrow(
                cursor, f"SELECT {RECENT_COLUMNS} FROM {RECENT} "
                "WHERE ts >= ? AND ts < ? AND series_id >= ? AND series_id <= ?",
                [window, window + width, low, high])
            if recent.num_rows == 0:
                return
            new = Points(*(recent.column(name).to_numpy() for name in
                           ("series_id", "ts", "count", "sum", "min", "max", "last")))
            max_sequence = int(recent.column("seq").to_numpy().max())
            touched = pa.table({"id": np.unique(new.series)})
            cursor.register("touched", touched)
            try:
                old = self._read_chunks(0, window, "touched")
                sequence = np.concatenate([np.full(len(old), -1, np.int64), recent.column("seq").to_numpy()])
                merged = latest_per_timestamp(Points.concat([old, new]) if len(old) else new, sequence)
                tables = [chunk_rows(merged, 0, window)]
                replaced = [(0, window)]
                hours = None
                for resolution in (60, 3600):
                    buckets = rollup(merged, resolution * 1000)
                    rollup_window = window_of(window, ROLLUP_WINDOWS_MS[resolution])
                    existing = self._read_chunks(resolution, rollup_window, "touched")
                    combined = self._replace_buckets(existing, buckets)
                    tables.append(chunk_rows(combined, resolution, rollup_window))
                    replaced.append((resolution, rollup_window))
                    if resolution == 3600:
                        hours = combined
                day = window_of(window, DAY_MS)
                if day + DAY_MS <= days_done and hours is not None:
                    # Late data in a day already rolled up: recompute that day for these series.
                    day_buckets = self._day_buckets(hours, day)
                    year = window_of(day, ROLLUP_WINDOWS_MS[86_400])
                    existing = self._read_chunks(86_400, year, "touched")
                    tables.append(chunk_rows(self._replace_buckets(existing, day_buckets), 86_400, year))
                    replaced.append((86_400, year))
                cursor.execute("BEGIN")
                try:
                    for resolution, window_start in replaced:
                        cursor.execute("DELETE FROM chunks WHERE resolution = ? AND window_start = ? "
                                       "AND series_id IN (SELECT id FROM touched)", [resolution, window_start])
                    for table in tables:
                        cursor.register("new_chunks", table)
                        cursor.execute("INSERT INTO chunks SELECT * FROM new_chunks")
                        cursor.unregister("new_chunks")
                    cursor.execute("COMMIT")
                except BaseException:
                    cursor.execute("ROLLBACK")
                    raise
                # Separately committed (another file): if a crash comes first, the next pass merges
                # these rows into the chunk again, which changes nothing.
                cursor.execute(f"DELETE FROM {RECENT} WHERE ts >= ? AND ts < ? AND series_id >= ? "
                               "AND series_id <= ? AND seq <= ?", [window, window + width, low, high, max_sequence])
            finally:
                cursor.unregister("touched")
        report.points += len(merged)
        report.chunks += sum(t.num_rows for t in tables)

    def _read_chunks(self, resolution: int, window_start: int, ids_table: str | None) -> Points:
        query = "SELECT series_id, payload FROM chunks WHERE resolution = ? AND window_start = ?"
        if ids_table:
            query += f" AND series_id IN (SELECT id FROM {ids_table})"
        table = fetch_arrow(self.database.cursor(), query + " ORDER BY series_id", [resolution, window_start])
        return points_from_chunks(table)

    @staticmethod
    def _replace_buckets(existing: Points, buckets: Points) -> Points:
        if not len(existing):
            return buckets
        sequence = np.concatenate([np.zeros(len(existing), np.int64), np.ones(len(buckets), np.int64)])
        return latest_per_timestamp(Points.concat([existing, buckets]), sequence)

    @staticmethod
    def _day_buckets(hours: Points, day: int) -> Points:
        in_day = (hours.timestamp >= day) & (hours.timestamp < day + DAY_MS)
        return rollup(hours.take(in_day), DAY_MS)

    # -- closed days --------------------------------------------------------------------------------
    def _roll_day(self, day: int, ids_table: str | None) -> int:
        """1-day buckets of ``day`` from its 1-hour buckets, for every series that has some."""
        month = window_of(day, ROLLUP_WINDOWS_MS[3600])
        year = window_of(day, ROLLUP_WINDOWS_MS[86_400])
        with self.database.write_lock:
            hours = self._read_chunks(3600, month, ids_table)
            buckets = self._day_buckets(hours, day)
            if not len(buckets):
                return 0
            cursor = self.database.cursor()
            cursor.register("touched_days", pa.table({"id": np.unique(buckets.series)}))
            try:
                existing = self._read_chunks(86_400, year, "touched_days")
                table = chunk_rows(self._replace_buckets(existing, buckets), 86_400, year)
                cursor.execute("BEGIN")
                try:
                    cursor.execute("DELETE FROM chunks WHERE resolution = 86400 AND window_start = ? "
                                   "AND series_id IN (SELECT id FROM touched_days)", [year])
                    cursor.register("new_chunks", table)
                    cursor.execute("INSERT INTO chunks SELECT * FROM new_chunks")
                    cursor.unregister("new_chunks")
                    cursor.execute("COMMIT")
                except BaseException:
                    cursor.execute("ROLLBACK")
                    raise
            finally:
                cursor.unregister("touched_days")
        return len(buckets)

    # -- retention ------------------------------------------------------------------------------------
    def apply_retention(self, now_ms: int) -> int:
        """Delete chunk windows that ended before each policy's retention; returns rows deleted."""
        deleted = 0
        cursor = self.database.cursor()
        with self.database.write_lock:
            for index, policy in enumerate(self.config.policies):
                for resolution in (0, 60, 3600, 86_400):
                    cutoff = now_ms - policy.retention(resolution) * 1000
                    width = window_ms(resolution, self.config)
                    result = first_row(
                        cursor, "DELETE FROM chunks WHERE resolution = ? AND window_start + ? <= ? "
                        "AND series_id IN (SELECT id FROM series WHERE policy = ?)",
                        [resolution, width, cutoff, index])
                    deleted += int(result[0]) if result else 0
            oldest_raw = now_ms - max(p.raw for p in self.config.policies) * 1000
            cursor.execute("DELETE FROM value_meta WHERE ts < ?", [oldest_raw])
        return deleted
