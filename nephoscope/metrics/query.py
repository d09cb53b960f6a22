"""Measurements and statistics over groups of series, as Monasca defines them.

Owns the choice of resolution: measurements read the finest resolution whose
retention covers the range, stitched from raw data where it is still kept and the
finest covering roll-up before that; statistics read the coarsest resolution whose
buckets tile the requested period exactly (same answer, far fewer points), falling
back to the finest covering one. Reads go through the store's interface only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from nephoscope.config import ArchivePolicy
from nephoscope.metrics.series import RESOLUTIONS
from nephoscope.metrics.store import MetricStore, SeriesInfo
from nephoscope.metrics.summary import Points

STATISTICS = ("avg", "min", "max", "sum", "count")


class MultipleMetrics(Exception):
    """Several series match and neither merge_metrics nor group_by was given (Monasca's 409)."""


@dataclass
class Group:
    """Series answered together: one series, a merge of all, or one group_by value combination."""

    id: str
    name: str
    dimensions: dict[str, str]
    series: list[int]


def covers(policies: list[ArchivePolicy], resolution: int, start_ms: int, now_ms: int) -> bool:
    """Whether every policy keeps ``resolution`` back to ``start_ms``."""
    return all(policy.retention(resolution) > 0 and now_ms - policy.retention(resolution) * 1000 <= start_ms
               for policy in policies)


def measurement_resolution(policies: list[ArchivePolicy], start_ms: int, now_ms: int | None = None) -> int:
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    for resolution in RESOLUTIONS:
        if covers(policies, resolution, start_ms, now_ms):
            return resolution
    return RESOLUTIONS[-1]


def statistics_resolution(policies: list[ArchivePolicy], start_ms: int, period_s: int,
                          now_ms: int | None = None) -> int:
    """The coarsest covering resolution whose buckets tile ``period`` (exact, fewest points)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    exact = [r for r in RESOLUTIONS
             if (r == 0 or (period_s and period_s % r == 0)) and covers(policies, r, start_ms, now_ms)]
    return max(exact) if exact else measurement_resolution(policies, start_ms, now_ms)


def measurement_segments(policies: list[ArchivePolicy], start_ms: int, end_ms: int,
                         now_ms: int | None = None) -> list[tuple[int, int, int]]:
    """(resolution, start, end) pieces: raw data wherever it is still kept, the finest
    covering roll-up before that."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    raw_from = now_ms - min(policy.raw for policy in policies) * 1000
    if start_ms >= raw_from or end_ms <= start_ms:
        return [(0, start_ms, end_ms)]
    older = measurement_resolution(policies, start_ms, now_ms)
    if end_ms <= raw_from:
        return [(older, start_ms, end_ms)]
    return [(older, start_ms, raw_from), (0, raw_from, end_ms)]


def groups_for(matches: list[SeriesInfo], query_dimensions: dict[str, str], merge: bool,
               group_by: list[str]) -> list[Group]:
    if not matches:
        return []
    if group_by:
        keyed: dict[tuple, Group] = {}
        every_key = "*" in group_by
        for info in matches:
            if every_key:
                key_dimensions = dict(info.dimensions)
            else:
                key_dimensions = {k: info.dimensions[k] for k in group_by if k in info.dimensions}
            key = (info.name, tuple(sorted(key_dimensions.items())))
            group = keyed.get(key)
            if group is None:
                group = keyed[key] = Group(str(len(keyed)), info.name, key_dimensions, [])
            group.series.append(info.id)
        return list(keyed.values())
    if merge:
        return [Group("0", matches[0].name, query_dimensions, [info.id for info in matches])]
    if len(matches) > 1:
        raise MultipleMetrics(
            "Found multiple metrics matching metric name and dimensions. Please refine your search criteria "
            "using a unique metric name or additional dimensions. Alternatively, you may specify "
            "'merge_metrics=True' as a query param to combine all metrics matching search criteria "
            "into a single series.")
    info = matches[0]
    return [Group(format(info.id, "x"), info.name, info.dimensions, [info.id])]


def bucket_statistics(points: Points, start_ms: int, period_s: int) -> tuple[np.ndarray, dict]:
    """Statistics per ``period`` bucket over every series given; empty buckets are left out.

    Buckets are aligned to the epoch, as Monasca's InfluxDB backend (``GROUP BY time(period)``)
    does: the answer does not depend on the start, and stored roll-ups tile it exactly.
    Period 0 means one bucket for the whole range, labelled with the start.
    """
    if not len(points):
        return np.empty(0, np.int64), {name: np.empty(0) for name in STATISTICS}
    if period_s > 0:
        width = period_s * 1000
        index = points.timestamp // width
        first = int(index.min())
        index = index - first
        # Few distinct buckets: a narrow integer key sorts by radix, far faster than by timestamp.
        if index.max() < 2**16:
            index = index.astype(np.uint16)
        elif index.max() < 2**32:
            index = index.astype(np.uint32)
        order = np.argsort(index, kind="stable")
        keys = index[order]
        starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
        buckets = (keys[starts].astype(np.int64) + first) * width
    else:
        order = np.arange(len(points))
        starts = np.zeros(1, np.int64)
        buckets = np.array([start_ms], np.int64)
    count = np.add.reduceat(points.count[order], starts)
    total = np.add.reduceat(points.sum[order], starts)
    return buckets, {"avg": total / count, "min": np.minimum.reduceat(points.min[order], starts),
                     "max": np.maximum.reduceat(points.max[order], starts), "sum": total, "count": count}


def measurement_values(points: Points) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(series, timestamps, values) of one group in time order; a summary point's value is its average."""
    order = np.argsort(points.timestamp, kind="stable")
    merged = points.take(order)
    return merged.series, merged.timestamp, merged.sum / merged.count


@dataclass
class Measurements:
    """One group's measurements in time order: a value is a point's average; ``value_meta``
    holds a row's Monasca value_meta ({} where it has none)."""

    timestamps: np.ndarray  # int64 ms
    values: np.ndarray  # float64
    value_meta: list[dict]


def measurements(store: MetricStore, group: Group, start_ms: int, end_ms: int, limit: int) -> Measurements:
    """At most ``limit`` measurements of ``group`` in ``[start_ms, end_ms)``."""
    points = Points.concat([store.read(group.series, begin, end, resolution)
                            for resolution, begin, end in measurement_segments(store.policies, start_ms, end_ms)])
    series, timestamps, values = measurement_values(points)
    series, timestamps, values = series[:limit], timestamps[:limit], values[:limit]
    meta = store.value_meta(group.series, start_ms, end_ms) if len(timestamps) else {}
    rows = ([meta.get(key, {}) for key in zip(series.tolist(), timestamps.tolist())] if meta
            else [{} for _ in range(len(timestamps))])
    return Measurements(timestamps, values, rows)


def statistics(store: MetricStore, group: Group, begin_ms: int, end_ms: int, start_ms: int, period_s: int,
               requested: list[str], limit: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """At most ``limit`` buckets of ``group`` from ``begin_ms`` (where a page resumes) to ``end_ms``,
    aligned as if the query began at ``start_ms``; a column for each of ``requested``."""
    points = store.read(group.series, begin_ms, end_ms, statistics_resolution(store.policies, start_ms, period_s))
    buckets, values = bucket_statistics(points, start_ms, period_s)
    return buckets[:limit], [values[name][:limit] for name in requested]
