"""Exact arithmetic on summary points (count, sum, min, max, last).

Everything the store does with values goes through here: de-duplicating resent
points, rolling windows up into coarser buckets, and answering statistics. Merging
summaries is exact: count and sum add, min and max take the extremes, and last is
the last value of the latest point. All of it is vectorised: arrays in, arrays out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(slots=True)
class Points:
    """Summary points of many series, as columns."""

    series: np.ndarray  # int64
    timestamp: np.ndarray  # int64 ms
    count: np.ndarray  # int64
    sum: np.ndarray  # float64
    min: np.ndarray
    max: np.ndarray
    last: np.ndarray

    def __len__(self) -> int:
        return int(self.series.shape[0])

    def take(self, index: np.ndarray | slice) -> "Points":
        return Points(self.series[index], self.timestamp[index], self.count[index], self.sum[index],
                      self.min[index], self.max[index], self.last[index])

    @staticmethod
    def empty() -> "Points":
        i, f = np.empty(0, np.int64), np.empty(0, np.float64)
        return Points(i, i, i, f, f, f, f)

    @staticmethod
    def concat(parts: list["Points"]) -> "Points":
        parts = [p for p in parts if len(p)]
        if not parts:
            return Points.empty()
        if len(parts) == 1:
            return parts[0]
        return Points(*(np.concatenate([getattr(p, name) for p in parts]) for name in FIELDS))

    @property
    def average(self) -> np.ndarray:
        return self.sum / self.count


FIELDS = ("series", "timestamp", "count", "sum", "min", "max", "last")


def latest_per_timestamp(points: Points, sequence: np.ndarray) -> Points:
    """Sort by (series, timestamp) and keep, for each, the point written last.

    A resent window (an agent retrying after a timeout) replaces the earlier copy
    instead of being counted twice. ``sequence`` orders writes (higher is newer).
    """
    if not len(points):
        return points
    order = np.lexsort((sequence, points.timestamp, points.series))
    ordered = points.take(order)
    series, timestamp = ordered.series, ordered.timestamp
    keep = np.ones(len(ordered), bool)
    keep[:-1] = (series[1:] != series[:-1]) | (timestamp[1:] != timestamp[:-1])
    return ordered if keep.all() else ordered.take(keep)


def ordered(points: Points) -> Points:
    """``points`` sorted by (series, timestamp); a linear check first, sorting only if needed."""
    if len(points) < 2:
        return points
    series_step = np.diff(points.series)
    in_order = (series_step > 0) | ((series_step == 0) & (np.diff(points.timestamp) >= 0))
    if in_order.all():
        return points
    return points.take(np.lexsort((points.timestamp, points.series)))


def group_starts(*keys: np.ndarray) -> np.ndarray:
    """Start offsets of runs of equal key tuples in sorted columns."""
    length = keys[0].shape[0]
    if length == 0:
        return np.empty(0, np.int64)
    change = np.zeros(length, bool)
    change[0] = True
    for key in keys:
        change[1:] |= key[1:] != key[:-1]
    return np.flatnonzero(change)


def reduce_groups(points: Points, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge each run [starts[i], starts[i+1]) of time-ordered points into one summary."""
    ends = np.append(starts[1:], len(points)) - 1
    return (
        np.add.reduceat(points.count, starts),
        np.add.reduceat(points.sum, starts),
        np.minimum.reduceat(points.min, starts),
        np.maximum.reduceat(points.max, starts),
        points.last[ends],
    )


def bucket_start(timestamp: np.ndarray, width_ms: int, origin_ms: int = 0) -> np.ndarray:
    return origin_ms + ((timestamp - origin_ms) // width_ms) * width_ms


def rollup(points: Points, width_ms: int, origin_ms: int = 0) -> Points:
    """Merge points into buckets ``width_ms`` wide, per series; the result is sorted by
    (series, timestamp). Each bucket's timestamp is its start; buckets never straddle
    ``origin_ms + k*width``.
    """
    if not len(points):
        return points
    points = ordered(points)
    buckets = bucket_start(points.timestamp, width_ms, origin_ms)
    starts = group_starts(points.series, buckets)
    count, total, low, high, last = reduce_groups(points, starts)
    return Points(points.series[starts], buckets[starts], count, total, low, high, last)
