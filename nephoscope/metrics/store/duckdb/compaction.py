"""Compaction, roll-ups and retention.

Raw points of a closed window (``store.raw_window``, 2 h by default) are merged
with whatever chunk the window already had (late data), de-duplicated (the last
write of a series and timestamp wins), and written as one compressed chunk per
series. The same merged points give the window's 1-minute and 1-hour buckets —
complete, because a raw window holds whole minutes and hours — which wait as
compressed parts (``recent.rollup_parts``, one per series and window) until their
day closes. Then the day's parts are merged once: a chunk of the day's minutes, the
day's hours folded into the 30-day chunk of hours, and the day's 1-day bucket
computed from those hours. Parts live in the transient recent file, so the main file
only ever receives final chunks. A roll-up is
always a complete recomputation from finer data, never an estimate, so replacing a
bucket with its recomputation (late data) is idempotent. Writing each roll-up chunk
once a day, not once a window, keeps DuckDB from accumulating dead rows.

Retention deletes whole chunk windows per resolution and archive policy.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from nephoscope.config import StoreSettings
from nephoscope.metrics.store.chunkcache import ChunkCache
from nephoscope.metrics.store.codec import ChunkColumns, decode_chunks, encode_chunks
from nephoscope.metrics.store.duckdb.database import PARTS, RECENT, RECENT_COLUMNS, Database, fetch_arrow
from nephoscope.metrics.summary import Points, group_starts, latest_per_timestamp, ordered, rollup

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
ROLLUP_WINDOWS_MS = {60: DAY_MS, 3600: 30 * DAY_MS, 86_400: 360 * DAY_MS}
PARTITION_ROWS = 2_000_000


def window_ms(resolution: int, config: StoreSettings) -> int:
    return config.raw_window * 1000 if resolution == 0 else ROLLUP_WINDOWS_MS[resolution]


def window_of(timestamp: int, width: int) -> int:
    return (timestamp // width) * width


def points_from_chunks(series_ids: Sequence[int] | np.ndarray, payloads: Sequence[bytes],
                       cache: ChunkCache | None = None, start_ms: int | None = None,
                       end_ms: int | None = None) -> Points:
    """Chunks (one series id and payload each) decoded into points, through ``cache`` if given;
    with ``start_ms`` and ``end_ms``, only the points in ``[start, end)``."""
    if not len(payloads):
        return Points.empty()
    bounded = start_ms is not None and end_ms is not None
    if cache is not None:
        lengths, columns = cache.decode(payloads, start_ms, end_ms)
        bounded = False  # trimmed chunk by chunk
    else:
        lengths, columns = decode_chunks(payloads)
    series = np.repeat(np.asarray(series_ids, np.int64), lengths)
    points = Points(series, columns.timestamps, columns.count, columns.sum, columns.min, columns.max, columns.last)
    if bounded:
        inside = (points.timestamp >= start_ms) & (points.timestamp < end_ms)
        if not inside.all():
            points = points.take(inside)
    return points


def _chunk_table_points(table: pa.Table) -> Points:
    return points_from_chunks(table.column("series_id").to_numpy(), table.column("payload").to_pylist())


def chunk_rows(points: Points, resolution: int, window_start: int) -> pa.Table:
    """One compressed chunk per series of ``points``."""
    points = ordered(points)
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
    materialized: int = 0  # raw windows whose roll-ups were built from their chunks
    seconds: float = 0.0


_SUMMARY = ("series_id", "ts", "count", "sum", "min", "max", "last")


def _points(table: pa.Table) -> Points:
    return Points(*(table.column(name).to_numpy() for name in _SUMMARY))


def replace_buckets(existing: Points, buckets: Points) -> Points:
    """``existing`` with every bucket that ``buckets`` recomputes replaced by the recomputation
    (in no particular order)."""
    if not len(existing):
        return buckets
    if not len(buckets):
        return existing
    if int(buckets.timestamp.min()) > int(existing.timestamp.max()):
        return Points.concat([existing, buckets])  # nothing to replace: the usual case, no sort
    sequence = np.concatenate([np.zeros(len(existing), np.int64), np.ones(len(buckets), np.int64)])
    return latest_per_timestamp(Points.concat([existing, buckets]), sequence)


class Compactor:
    def __init__(self, database: Database, config: StoreSettings) -> None:
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
        watermark = self.database.state("rollup_watermark")
        for window in windows:
            # Parts are written with the window when roll-ups are materialized at compaction, and
            # for late data into a window whose roll-ups are already stored (read up to the watermark).
            self._compact_raw_window(window, width, report, with_parts=self.on_compaction or window < watermark)
        if self.on_compaction:
            # Windows compacted while roll-ups waited for expiry (the setting was switched) get theirs
            # from their chunks; those compacted just now have them already.
            self._advance_rollups(closed_until, report, written=frozenset(windows))
        self.apply_retention(now_ms, report)
        if windows or report.days_rolled or report.materialized:
            self.database.shrink_recent()
        report.seconds = time.perf_counter() - started
        if report.windows or report.days_rolled:
            log.info("compacted %d windows: %d points into %d chunks, rolled up %d series-days in %.2fs",
                     report.windows, report.points, report.chunks, report.days_rolled, report.seconds)
        return report

    @contextmanager
    def _registered(self, name: str, table: pa.Table) -> Iterator[None]:
        cursor = self.database.cursor()
        cursor.register(name, table)
        try:
            yield
        finally:
            cursor.unregister(name)

    def _replace_rows(self, table_name: str, replaced: list[tuple[int, int]], tables: list[pa.Table]) -> None:
        """One transaction on one file: drop the touched series' rows of each (resolution, window)
        of ``table_name``, insert the new ones."""
        cursor = self.database.cursor()
        cursor.execute("BEGIN")
        try:
            for resolution, window_start in replaced:
                cursor.execute(f"DELETE FROM {table_name} WHERE resolution = ? AND window_start = ? "
                               "AND series_id IN (SELECT id FROM touched)", [resolution, window_start])
            for table in tables:
                if table.num_rows:
                    cursor.register("new_rows", table)
                    cursor.execute(f"INSERT INTO {table_name} SELECT * FROM new_rows")
                    cursor.unregister("new_rows")
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise

    # -- raw windows ---------------------------------------------------------------------------
    def _compact_raw_window(self, window: int, width: int, report: CompactionReport, with_parts: bool) -> None:
        cursor = self.database.cursor()
        with self.database.recent_lock.shared():
            rows = cursor.execute(f"SELECT count(*) FROM {RECENT} WHERE ts >= ? AND ts < ?",
                                  [window, window + width]).fetchall()[0][0]
        partitions = max(1, math.ceil(rows / PARTITION_ROWS))
        bounds = np.linspace(0, 2**63, partitions + 1, dtype=np.float64)
        for index in range(partitions):
            low = int(bounds[index])
            high = 2**63 - 1 if index == partitions - 1 else int(bounds[index + 1])
            self._compact_partition(window, width, low, high, report, with_parts)
        report.windows += 1

    def _compact_partition(self, window: int, width: int, low: int, high: int, report: CompactionReport,
                           with_parts: bool) -> None:
        cursor = self.database.cursor()
        with self.database.write_lock, self.database.recent_lock.shared():
            recent = fetch_arrow(
                cursor, f"SELECT {RECENT_COLUMNS} FROM {RECENT} "
                "WHERE ts >= ? AND ts < ? AND series_id >= ? AND series_id <= ?",
                [window, window + width, low, high])
            if recent.num_rows == 0:
                return
            new = _points(recent)
            sequences = recent.column("seq").to_numpy()
            with self._registered("touched", pa.table({"id": np.unique(new.series)})):
                old = self._read_chunks(0, window, "touched")
                merged = latest_per_timestamp(
                    Points.concat([old, new]), np.concatenate([np.full(len(old), -1, np.int64), sequences]))
                table = chunk_rows(merged, 0, window)
                self._replace_rows("chunks", [(0, window)], [table])
                if with_parts:
                    # Each file commits on its own: a crash in between only makes the next pass redo the
                    # window, which yields the same chunk and parts.
                    self._write_parts(merged, window)
            # Committed separately (another file): should a crash come first, the next pass merges
            # these rows into the chunk again, which changes nothing.
            cursor.execute(f"DELETE FROM {RECENT} WHERE ts >= ? AND ts < ? AND series_id >= ? "
                           "AND series_id <= ? AND seq <= ?",
                           [window, window + width, low, high, int(sequences.max())])
        report.points += len(merged)
        report.chunks += table.num_rows

    def _write_parts(self, merged: Points, window: int) -> None:
        """A raw window's complete minute and hour buckets, compressed, waiting for their day to close
        (the caller has the window's series registered as ``touched``)."""
        parts = [chunk_rows(rollup(merged, r * 1000), r, window) for r in (60, 3600)]
        self._replace_rows(PARTS, [(60, window), (3600, window)], parts)

    # -- roll-ups: materialized up to the watermark --------------------------------------------------
    @property
    def on_compaction(self) -> bool:
        return self.config.materialize_rollups == "on_compaction"

    def expiry_target(self, now_ms: int) -> int:
        """Where roll-ups must be stored by ``now_ms`` with ``on_expiry``: the start of the raw window
        holding the shortest raw retention's edge. Every window before it may be deleted now; none
        after it can be, and none before it can still receive samples (they are refused at ingest)."""
        shortest = min(policy.raw for policy in self.config.policies)
        return window_of(now_ms - shortest * 1000, window_ms(0, self.config))

    def _advance_rollups(self, target: int, report: CompactionReport, written: frozenset[int] = frozenset()) -> None:
        """Store roll-ups up to ``target`` (parts built from the raw chunks of the windows not yet rolled
        up, but those in ``written``), move the watermark there, and merge the closed days' parts."""
        watermark = self.database.state("rollup_watermark")
        if target > watermark:
            self._materialize(watermark, target, written, report)
            with self.database.write_lock:
                self.database.set_state(self.database.cursor(), "rollup_watermark", target)
            watermark = target
        closed_days_end = window_of(watermark, DAY_MS)
        cursor = self.database.cursor()
        with self.database.recent_lock.shared():
            days = [int(row[0]) for row in cursor.execute(
                f"SELECT DISTINCT (window_start // {DAY_MS}) * {DAY_MS} AS d FROM {PARTS} "
                "WHERE window_start < ? ORDER BY d", [closed_days_end]).fetchall()]
        for day in days:
            report.days_rolled += self._roll_day(day, report)
        with self.database.write_lock:
            self.database.set_state(cursor, "days_rolled_until",
                                    max(closed_days_end, self.database.state("days_rolled_until")))

    def _materialize(self, start: int, end: int, written: frozenset[int], report: CompactionReport) -> None:
        """Roll-up parts of the compacted raw windows in [start, end) but ``written``, from their chunks."""
        rows = self.database.cursor().execute(
            "SELECT window_start, sum(n) FROM chunks WHERE resolution = 0 AND window_start >= ? AND window_start < ? "
            "GROUP BY window_start ORDER BY window_start", [start, end]).fetchall()
        for window, points in rows:
            if window in written:
                continue
            partitions = max(1, math.ceil(int(points) / PARTITION_ROWS))
            bounds = np.linspace(0, 2**63, partitions + 1, dtype=np.float64)
            for index in range(partitions):
                low = int(bounds[index])
                high = 2**63 - 1 if index == partitions - 1 else int(bounds[index + 1])
                with self.database.write_lock:
                    table = fetch_arrow(
                        self.database.cursor(),
                        "SELECT series_id, payload FROM chunks WHERE resolution = 0 AND window_start = ? "
                        "AND series_id >= ? AND series_id <= ? ORDER BY series_id", [int(window), low, high])
                    if not table.num_rows:
                        continue
                    raw = _chunk_table_points(table)
                    with self._registered("touched", pa.table({"id": np.unique(raw.series)})):
                        self._write_parts(raw, int(window))
            report.materialized += 1

    def _read_chunks(self, resolution: int, window_start: int, ids_table: str) -> Points:
        table = fetch_arrow(
            self.database.cursor(),
            "SELECT series_id, payload FROM chunks WHERE resolution = ? AND window_start = ? "
            f"AND series_id IN (SELECT id FROM {ids_table}) ORDER BY series_id", [resolution, window_start])
        return _chunk_table_points(table)

    def _read_parts(self, resolution: int, day: int) -> pa.Table:
        with self.database.recent_lock.shared():
            return fetch_arrow(
                self.database.cursor(),
                f"SELECT series_id, payload FROM {PARTS} WHERE resolution = ? AND window_start >= ? "
                "AND window_start < ? ORDER BY series_id, window_start", [resolution, day, day + DAY_MS])

    # -- closed days ------------------------------------------------------------------------------
    def _roll_day(self, day: int, report: CompactionReport) -> int:
        """Merge a closed day's roll-up parts into roll-up chunks; returns the series rolled."""
        month = window_of(day, ROLLUP_WINDOWS_MS[3600])
        year = window_of(day, ROLLUP_WINDOWS_MS[86_400])
        with self.database.write_lock:
            minutes = _chunk_table_points(self._read_parts(60, day))
            hours = _chunk_table_points(self._read_parts(3600, day))
            if not len(minutes) and not len(hours):
                return 0
            touched = np.unique(np.concatenate([minutes.series, hours.series]))
            with self._registered("touched", pa.table({"id": touched})):
                minute_chunks = replace_buckets(self._read_chunks(60, day, "touched"), minutes)
                hour_chunks = replace_buckets(self._read_chunks(3600, month, "touched"), hours)
                in_day = (hour_chunks.timestamp >= day) & (hour_chunks.timestamp < day + DAY_MS)
                days = replace_buckets(self._read_chunks(86_400, year, "touched"),
                                       rollup(hour_chunks.take(in_day), DAY_MS))
                tables = [chunk_rows(minute_chunks, 60, day), chunk_rows(hour_chunks, 3600, month),
                          chunk_rows(days, 86_400, year)]
                self._replace_rows("chunks", [(60, day), (3600, month), (86_400, year)], tables)
                # After the chunks are committed: a crash before this re-rolls the day, to the same chunks.
                with self.database.recent_lock.shared():
                    self.database.cursor().execute(
                        f"DELETE FROM {PARTS} WHERE window_start >= ? AND window_start < ? "
                        "AND series_id IN (SELECT id FROM touched)", [day, day + DAY_MS])
        report.chunks += sum(t.num_rows for t in tables)
        return len(touched)

    # -- retention ------------------------------------------------------------------------------------
    def apply_retention(self, now_ms: int, report: CompactionReport | None = None) -> int:
        """Delete chunk windows that ended before each policy's retention; returns rows deleted.
        With ``on_expiry``, the roll-ups of the raw windows about to go are stored first."""
        target = self.expiry_target(now_ms)
        if not self.on_compaction:
            self._advance_rollups(target, report or CompactionReport())
        deleted = 0
        cursor = self.database.cursor()
        with self.database.write_lock:
            for index, policy in enumerate(self.config.policies):
                for resolution in (0, 60, 3600, 86_400):
                    cutoff = now_ms - policy.retention(resolution) * 1000
                    width = window_ms(resolution, self.config)
                    rows = cursor.execute(
                        "DELETE FROM chunks WHERE resolution = ? AND window_start + ? <= ? "
                        "AND series_id IN (SELECT id FROM series WHERE policy = ?)",
                        [resolution, width, cutoff, index]).fetchall()
                    deleted += int(rows[0][0]) if rows else 0
            oldest_raw = now_ms - max(p.raw for p in self.config.policies) * 1000
            cursor.execute("DELETE FROM value_meta WHERE ts < ?", [oldest_raw])
            # Every raw window deleted so far starts before this: readers may compute from raw after it.
            self.database.set_state(cursor, "raw_kept_from", max(target, self.database.state("raw_kept_from")))
        return deleted
