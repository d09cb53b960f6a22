"""Series and their samples for PromQL selectors, read through the store's interface.

Every lookup is made in the query's tenant scope (``SeriesFilter.tenant``), whatever the
expression around the selector — inside functions, aggregations and subqueries alike. Series
come back in label order, their samples in time order. A stored point is a summary (count, sum,
min, max, last): a raw sample is its value, a summary of several is their average. Where raw data
has expired the finest covering roll-up stands in (a bucket's average at its start); the
``*_over_time`` functions may instead read whole buckets (``buckets``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from nephoscope.metrics.promql import labels as L
from nephoscope.metrics.promql.errors import TOO_MANY_SAMPLES, PromQLError, execution
from nephoscope.metrics.promql.values import Samples
from nephoscope.metrics.query import measurement_segments
from nephoscope.metrics.store import LabelMatcher, MetricStore, SeriesFilter, SeriesInfo
from nephoscope.metrics.summary import Points

STALE_NAN = np.uint64(0x7FF0000000000002)
"""The NaN Prometheus writes when a series disappears (a staleness marker)."""


def is_stale(values: np.ndarray) -> np.ndarray:
    return values.view(np.uint64) == STALE_NAN


@dataclass
class Budget:
    """What a query may still spend: samples held and time."""

    max_samples: int
    deadline: float  # time.monotonic()
    samples: int = 0

    def spend(self, samples: int) -> None:
        self.samples += samples
        if self.samples > self.max_samples:
            raise execution(TOO_MANY_SAMPLES)

    def check_time(self, where: str = "expression evaluation") -> None:
        if time.monotonic() > self.deadline:
            raise PromQLError("timeout", f"query timed out in {where}")


def series_time_order(rows: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The stable order by (row, time), as ``np.lexsort((times, rows))``: one int64 key sorted once
    when rows and the time span fit in it (a third of lexsort's two passes over a day of points)."""
    if not len(rows):
        return np.empty(0, np.int64)
    first = int(times.min())
    if int(times.max()) - first < 1 << 42 and int(rows.max()) < 1 << 20:
        return np.argsort((rows.astype(np.int64) << 42) | (times.astype(np.int64) - first), kind="stable")
    return np.lexsort((times, rows))


@dataclass(slots=True)
class Buckets:
    """Roll-up buckets of series, series after series: each bucket's start and summary."""

    labels: list[L.Labels]
    starts: np.ndarray  # (N,) int64 ms
    count: np.ndarray
    sum: np.ndarray
    min: np.ndarray
    max: np.ndarray
    offsets: np.ndarray  # (S + 1,)


@dataclass
class SeriesSource:
    """The store as one query sees it: a tenant scope, the time it runs at, its budget."""

    store: MetricStore
    tenant: str
    budget: Budget
    now_ms: int = field(default_factory=lambda: int(time.time() * 1000))

    def series(self, alternatives: list[tuple[LabelMatcher, ...]], start_ms: int | None = None,
               end_ms: int | None = None) -> list[SeriesInfo]:
        """Series matching any of the matcher tuples (with points in [start, end] when given)."""
        found: dict[int, SeriesInfo] = {}
        end = end_ms + 1 if end_ms is not None else None
        for matchers in alternatives:
            try:
                for info in self.store.find(SeriesFilter(self.tenant, None, (), start_ms, end, matchers)):
                    found.setdefault(info.id, info)
            except ValueError as error:
                raise PromQLError("bad_data", str(error)) from None
        return list(found.values())

    def _located(self, alternatives: list[tuple[LabelMatcher, ...]]) -> tuple[list[L.Labels], np.ndarray]:
        # Without a time range: the catalog answers from its own table (a time range costs a scan of
        # the points' tables), and a series without points in range simply reads none.
        infos = self.series(alternatives)
        labelled = sorted(((L.of_series(info.name, info.dimensions), info.id) for info in infos))
        return [item[0] for item in labelled], np.asarray([item[1] for item in labelled], np.int64)

    @staticmethod
    def _rows_of(ids: np.ndarray, points: Points) -> np.ndarray:
        order = np.argsort(ids)
        return order[np.searchsorted(ids[order], points.series)]

    def samples(self, alternatives: list[tuple[LabelMatcher, ...]], start_ms: int, end_ms: int) -> Samples:
        """The samples of the matching series with ``start_ms <= time <= end_ms``."""
        self.budget.check_time("query preparation")
        labels, ids = self._located(alternatives)
        if not len(ids):
            return Samples.empty()
        parts = [self.store.read(ids, begin, end, resolution)
                 for resolution, begin, end in measurement_segments(self.store.policies, start_ms, end_ms + 1,
                                                                    self.now_ms)]
        points = Points.concat(parts)
        self.budget.spend(len(points))
        rows = self._rows_of(ids, points)
        order = series_time_order(rows, points.timestamp)
        # Only the columns a sample needs are reordered (a day of points: min and max are not).
        rows, timestamps, count = rows[order], points.timestamp[order], points.count[order]
        # One value per point: a raw sample as it was written, a summary of several by its average.
        with np.errstate(all="ignore"):
            values = np.where(count == 1, points.last[order], points.sum[order] / count)
        counts = np.bincount(rows, minlength=len(ids))
        alive = np.flatnonzero(counts)
        if len(alive) < len(ids):  # series with no point in range take no part
            labels = [labels[i] for i in alive.tolist()]
            counts = counts[alive]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return Samples(labels, timestamps.astype(np.int64), values.astype(np.float64), offsets)

    def buckets(self, alternatives: list[tuple[LabelMatcher, ...]], start_ms: int, end_ms: int,
                width_s: int) -> Buckets:
        """Stored ``width_s`` roll-up buckets starting in ``[start_ms, end_ms)``."""
        self.budget.check_time("query preparation")
        labels, ids = self._located(alternatives)
        points = self.store.read(ids, start_ms, end_ms, width_s) if len(ids) else Points.empty()
        self.budget.spend(len(points))
        rows = self._rows_of(ids, points) if len(ids) else np.empty(0, np.int64)
        order = series_time_order(rows, points.timestamp)
        rows, points = rows[order], points.take(order)
        offsets = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(ids)))]).astype(np.int64)
        return Buckets(labels, points.timestamp.astype(np.int64), points.count, points.sum, points.min, points.max,
                       offsets)
