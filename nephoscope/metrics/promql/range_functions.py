"""Functions of range vectors: ``rate`` and friends, ``*_over_time``, ``deriv``, ``predict_linear``.

Each takes the windows of a block of series (``windows.Windows``) and the function's scalar
arguments (one value per step) and returns ``(values, present)`` for every (series, step): all
windows at once. The arithmetic follows Prometheus 2's ``promql/functions.go``: extrapolation and
counter resets in ``rate``/``increase``, the NaN rules of ``min``/``max_over_time``, the
interpolation of ``quantile_over_time``, the regression of ``deriv``/``predict_linear``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nephoscope.metrics.promql.errors import execution
from nephoscope.metrics.promql.windows import SparseTable, Windows, expand, window_counts, window_sums

Result = tuple[np.ndarray, np.ndarray]


def _extrapolated(w: Windows, counter: bool, per_second: bool) -> Result:
    n = w.count
    ok = n >= 2
    first = np.where(ok, w.lo, 0)
    last = np.where(ok, w.hi - 1, 0)
    t0, t1 = w.times[first], w.times[last]
    v0, v1 = w.values[first], w.values[last]
    with np.errstate(all="ignore"):
        result = v1 - v0
        if counter:
            previous = np.concatenate([[0.0], w.values[:-1]])
            # A drop is a reset: what the counter had reached before it still counts.
            corrections = np.where(w.values < previous, previous, 0.0)
            result = result + np.where(ok, window_sums(corrections, np.minimum(first + 1, last), last + 1), 0.0)
        to_start = (t0 - (w.ends - w.range_ms)[None, :]) / 1000.0
        to_end = (w.ends[None, :] - t1) / 1000.0
        sampled = (t1 - t0) / 1000.0
        average = sampled / np.maximum(n - 1, 1)
        if counter:
            to_zero = sampled * (v0 / result)
            to_start = np.where((result > 0) & (v0 >= 0) & (to_zero < to_start), to_zero, to_start)
        threshold = average * 1.1
        interval = (sampled + np.where(to_start < threshold, to_start, average / 2)
                    + np.where(to_end < threshold, to_end, average / 2))
        result = result * (interval / sampled)
        if per_second:
            result = result / (w.range_ms / 1000.0)
    return result, ok


def rate(w: Windows, args: list[np.ndarray]) -> Result:
    return _extrapolated(w, counter=True, per_second=True)


def increase(w: Windows, args: list[np.ndarray]) -> Result:
    return _extrapolated(w, counter=True, per_second=False)


def delta(w: Windows, args: list[np.ndarray]) -> Result:
    return _extrapolated(w, counter=False, per_second=False)


def _instant(w: Windows, per_second: bool) -> Result:
    ok = w.count >= 2
    last = np.where(ok, w.hi - 1, 1)
    previous = last - 1
    v1, v0 = w.values[last], w.values[previous]
    interval = w.times[last] - w.times[previous]
    ok &= interval != 0
    with np.errstate(all="ignore"):
        if per_second:
            result = np.where(v1 < v0, v1, v1 - v0) / (interval / 1000.0)
        else:
            result = v1 - v0
    return result, ok


def irate(w: Windows, args: list[np.ndarray]) -> Result:
    return _instant(w, per_second=True)


def idelta(w: Windows, args: list[np.ndarray]) -> Result:
    return _instant(w, per_second=False)


def _steps(w: Windows, flags: np.ndarray) -> Result:
    """How many consecutive pairs inside each window have ``flags`` set at their second sample."""
    n = w.count
    ok = n >= 1
    counted = window_counts(flags, np.minimum(w.lo + 1, w.hi), w.hi)
    return counted.astype(np.float64), ok


def changes(w: Windows, args: list[np.ndarray]) -> Result:
    previous = np.concatenate([[np.nan], w.values[:-1]])
    both_nan = np.isnan(w.values) & np.isnan(previous)
    return _steps(w, (w.values != previous) & ~both_nan)


def resets(w: Windows, args: list[np.ndarray]) -> Result:
    previous = np.concatenate([[np.nan], w.values[:-1]])
    return _steps(w, w.values < previous)


def count_over_time(w: Windows, args: list[np.ndarray]) -> Result:
    n = w.count
    return n.astype(np.float64), n >= 1


def sum_over_time(w: Windows, args: list[np.ndarray]) -> Result:
    return window_sums(w.values, w.lo, w.hi), w.count >= 1


def avg_over_time(w: Windows, args: list[np.ndarray]) -> Result:
    n = w.count
    with np.errstate(all="ignore"):
        return window_sums(w.values, w.lo, w.hi) / n, n >= 1


def last_over_time(w: Windows, args: list[np.ndarray]) -> Result:
    ok = w.count >= 1
    return w.values[np.where(ok, w.hi - 1, 0)], ok


def present_over_time(w: Windows, args: list[np.ndarray]) -> Result:
    ok = w.count >= 1
    return np.ones(ok.shape), ok


def _extreme(w: Windows, pick) -> Result:  # noqa: ANN001 - np.fmin / np.fmax
    n = w.count
    ok = n >= 1
    if not ok.any():
        return np.zeros(n.shape), ok
    table = SparseTable(w.values, int(n.max()), pick)
    return table.query(np.where(ok, w.lo, 0), np.where(ok, w.hi, 1)), ok


def min_over_time(w: Windows, args: list[np.ndarray]) -> Result:
    return _extreme(w, np.fmin)


def max_over_time(w: Windows, args: list[np.ndarray]) -> Result:
    return _extreme(w, np.fmax)


def _whole_windows(w: Windows, minimum: int,
                   compute: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> Result:
    """Results of ``compute(values, times, starts, windows)`` over windows expanded to their samples."""
    result = np.zeros(w.lo.size)
    ok = (w.count >= minimum).ravel()
    for batch in expand(w.lo, w.hi, minimum):
        result[batch.windows] = compute(w.values[batch.index], w.times[batch.index], batch.starts, batch.windows)
    return result.reshape(w.lo.shape), ok.reshape(w.lo.shape)


def _variance(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    counts = np.diff(np.append(starts, len(values)))
    with np.errstate(all="ignore"):
        mean = np.add.reduceat(values, starts) / counts
        deviation = values - np.repeat(mean, counts)
        return np.add.reduceat(deviation * deviation, starts) / counts


def stdvar_over_time(w: Windows, args: list[np.ndarray]) -> Result:
    return _whole_windows(w, 1, lambda values, times, starts, windows: _variance(values, starts))


def stddev_over_time(w: Windows, args: list[np.ndarray]) -> Result:
    return _whole_windows(w, 1, lambda values, times, starts, windows: np.sqrt(_variance(values, starts)))


def sorted_within(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``values`` sorted inside each group (groups contiguous), NaN first as Prometheus sorts them."""
    order = np.lexsort((np.where(np.isnan(values), -np.inf, values), ~np.isnan(values), groups))
    return values[order]


def quantile_of_sorted(ordered: np.ndarray, starts: np.ndarray, counts: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Prometheus's ``quantile``: linear interpolation between the closest ranks (q per group)."""
    with np.errstate(all="ignore"):
        rank = q * (counts - 1)
        lower = np.maximum(0, np.floor(rank))
        upper = np.minimum(counts - 1, lower + 1)
        weight = rank - np.floor(rank)
        low = ordered[starts + np.clip(lower, 0, np.maximum(counts - 1, 0)).astype(np.int64)]
        high = ordered[starts + np.clip(upper, 0, np.maximum(counts - 1, 0)).astype(np.int64)]
        result = low * (1 - weight) + high * weight
    result = np.where(q < 0, -np.inf, result)
    result = np.where(q > 1, np.inf, result)
    return np.where(np.isnan(q), np.nan, result)


def quantile_over_time(w: Windows, args: list[np.ndarray]) -> Result:
    q_by_window = np.broadcast_to(args[0][None, :], w.lo.shape).ravel()

    def compute(values: np.ndarray, times: np.ndarray, starts: np.ndarray, windows: np.ndarray) -> np.ndarray:
        counts = np.diff(np.append(starts, len(values)))
        ordered = sorted_within(values, np.repeat(np.arange(len(starts)), counts))
        return quantile_of_sorted(ordered, starts, counts, q_by_window[windows])

    return _whole_windows(w, 1, compute)


def _regression(values: np.ndarray, times: np.ndarray, starts: np.ndarray,
                intercept_times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope and intercept (at ``intercept_times``) per window, as Prometheus's
    linearRegression: a window of one repeated value has slope 0 (NaN for ±Inf)."""
    counts = np.diff(np.append(starts, len(values)))
    x = (times - np.repeat(intercept_times, counts)) / 1000.0
    with np.errstate(all="ignore"):
        n = counts.astype(np.float64)
        sum_x = np.add.reduceat(x, starts)
        sum_y = np.add.reduceat(values, starts)
        sum_xy = np.add.reduceat(x * values, starts)
        sum_x2 = np.add.reduceat(x * x, starts)
        first = values[starts]
        constant = np.add.reduceat((values != np.repeat(first, counts)).astype(np.int64), starts) == 0
        covariance = sum_xy - sum_x * sum_y / n
        variance = sum_x2 - sum_x * sum_x / n
        slope = covariance / variance
        intercept = sum_y / n - slope * sum_x / n
    infinite = np.isinf(first)
    slope = np.where(constant, np.where(infinite, np.nan, 0.0), slope)
    intercept = np.where(constant, np.where(infinite, np.nan, first), intercept)
    return slope, intercept


def deriv(w: Windows, args: list[np.ndarray]) -> Result:
    def compute(values: np.ndarray, times: np.ndarray, starts: np.ndarray, windows: np.ndarray) -> np.ndarray:
        return _regression(values, times, starts, times[starts])[0]

    return _whole_windows(w, 2, compute)


def predict_linear(w: Windows, args: list[np.ndarray]) -> Result:
    now = np.broadcast_to(w.steps[None, :], w.lo.shape).ravel()
    seconds = np.broadcast_to(args[0][None, :], w.lo.shape).ravel()

    def compute(values: np.ndarray, times: np.ndarray, starts: np.ndarray, windows: np.ndarray) -> np.ndarray:
        slope, intercept = _regression(values, times, starts, now[windows])
        return slope * seconds[windows] + intercept

    return _whole_windows(w, 2, compute)


def holt_winters(w: Windows, args: list[np.ndarray]) -> Result:
    """Double exponential smoothing (``holt_winters``; ``double_exponential_smoothing`` in Prometheus 3):
    the recurrence runs over sample positions, every window at once."""
    shape = w.lo.shape
    smoothing = np.broadcast_to(args[0][None, :], shape).ravel()
    trend_factor = np.broadcast_to(args[1][None, :], shape).ravel()
    n = w.count.ravel()
    ok = n >= 2
    lo = w.lo.ravel()
    result = np.zeros(lo.shape)
    live = np.flatnonzero(ok)
    if len(live):
        for factor, name in ((smoothing[live], "smoothing"), (trend_factor[live], "trend")):
            bad = factor[(factor <= 0) | (factor >= 1) | np.isnan(factor)]
            if len(bad):
                raise execution(f"invalid {name} factor. Expected: 0 < {name[0]}f < 1, got: {bad[0]:f}")
        sf, tf, start, length = smoothing[live], trend_factor[live], lo[live], n[live]
        s0 = np.zeros(len(live))
        s1 = w.values[start]
        b = w.values[start + 1] - w.values[start]
        with np.errstate(all="ignore"):
            for i in range(1, int(length.max())):
                going = i < length
                x = sf * w.values[np.where(going, start + i, start)]
                trend = b if i == 1 else tf * (s1 - s0) + (1 - tf) * b
                y = (1 - sf) * (s1 + trend)
                s0, s1, b = np.where(going, s1, s0), np.where(going, x + y, s1), np.where(going, trend, b)
        result[live] = s1
    return result.reshape(shape), ok.reshape(shape)


FUNCTIONS: dict[str, Callable[[Windows, list[np.ndarray]], Result]] = {
    "rate": rate, "increase": increase, "delta": delta, "irate": irate, "idelta": idelta,
    "changes": changes, "resets": resets, "deriv": deriv, "predict_linear": predict_linear,
    "count_over_time": count_over_time, "sum_over_time": sum_over_time, "avg_over_time": avg_over_time,
    "min_over_time": min_over_time, "max_over_time": max_over_time, "last_over_time": last_over_time,
    "present_over_time": present_over_time, "stddev_over_time": stddev_over_time,
    "stdvar_over_time": stdvar_over_time, "quantile_over_time": quantile_over_time,
    "holt_winters": holt_winters, "double_exponential_smoothing": holt_winters,
}
"""Range-vector functions by name; ``absent_over_time`` needs every series and lives in the engine."""

ROLLUP_FUNCTIONS = ("avg_over_time", "sum_over_time", "count_over_time", "min_over_time", "max_over_time")
"""Functions a window of whole roll-up buckets answers exactly (count, sum, min, max)."""


def rollup_over_time(name: str, count: np.ndarray, total: np.ndarray, low: np.ndarray, high: np.ndarray,
                     lo: np.ndarray, hi: np.ndarray) -> Result:
    """``name`` over windows of stored buckets ``[lo, hi)`` (columns of the buckets' summaries)."""
    n = window_sums(count.astype(np.float64), lo, hi)
    ok = n > 0
    if name == "count_over_time":
        return n, ok
    if name in ("sum_over_time", "avg_over_time"):
        sums = window_sums(total, lo, hi)
        with np.errstate(all="ignore"):
            return (sums if name == "sum_over_time" else sums / n), ok
    pick = np.fmin if name == "min_over_time" else np.fmax
    column = low if name == "min_over_time" else high
    if not ok.any():
        return np.zeros(lo.shape), ok
    table = SparseTable(column, int((hi - lo).max()), pick)
    return table.query(np.where(ok, lo, 0), np.where(ok, hi, 1)), ok
