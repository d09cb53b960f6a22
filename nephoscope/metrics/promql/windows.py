"""Which samples each window holds, and arithmetic over windows without a loop per sample.

Every (series, step) window is a slice ``[lo, hi)`` of a series' samples, found for all windows
at once with one ``searchsorted`` over keys that put the series one after another on a single
axis. Sums over windows are differences of cumulative sums (in extended precision, with NaN and
±Inf counted apart so one of them does not poison every later window); minima and maxima come
from a sparse table (two lookups per window); what needs every sample of a window (quantiles,
deviations, regressions) expands the windows into flat index arrays, a bounded number at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from nephoscope.metrics.promql.values import Samples

EXPAND_ELEMENTS = 1 << 22  # samples gathered at once when a function needs whole windows


@dataclass(slots=True)
class Windows:
    """Windows over one block of series: samples ``[lo, hi)`` of ``times``/``values`` per (series, step)."""

    times: np.ndarray  # (N,) int64 ms
    values: np.ndarray  # (N,) float64
    lo: np.ndarray  # (B, T) int64
    hi: np.ndarray  # (B, T) int64
    ends: np.ndarray  # (T,) int64 ms: each step's window end
    range_ms: int
    steps: np.ndarray  # (T,) int64 ms: the evaluation times (predict_linear's "now")

    @property
    def count(self) -> np.ndarray:
        return self.hi - self.lo


def bounds(samples: Samples, starts: np.ndarray, ends: np.ndarray, closed_start: bool = True,
           closed_end: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)`` per series and step: the samples with ``starts[t] <= time <= ends[t]``
    (``<`` where a side is open)."""
    count, steps = len(samples), len(ends)
    if count == 0 or len(samples.times) == 0:
        zeros = np.zeros((count, steps), np.int64)
        return zeros, zeros.copy()
    base = min(int(samples.times.min()), int(starts.min())) - 1
    span = max(int(samples.times.max()), int(ends.max())) - base + 2
    if span * (count + 1) >= 2**62:
        raise OverflowError("time range too wide to index")  # years × millions of series
    keys = samples.series_index().astype(np.int64) * span + (samples.times - base)
    rows = (np.arange(count, dtype=np.int64) * span)[:, None]
    lo = np.searchsorted(keys, (rows + (starts - base)[None, :]).ravel(), "left" if closed_start else "right")
    hi = np.searchsorted(keys, (rows + (ends - base)[None, :]).ravel(), "right" if closed_end else "left")
    return lo.reshape(count, steps).astype(np.int64), hi.reshape(count, steps).astype(np.int64)


def prefix_sums(values: np.ndarray) -> np.ndarray:
    """Cumulative sums with a leading zero, in extended precision."""
    out = np.zeros(len(values) + 1, np.longdouble)
    np.cumsum(values, dtype=np.longdouble, out=out[1:])
    return out


def window_sums(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Σ values[lo:hi] per window, with float semantics for NaN and ±Inf (an empty window sums to 0)."""
    finite = np.isfinite(values)
    if finite.all():
        sums = prefix_sums(values)
        return (sums[hi] - sums[lo]).astype(np.float64)
    sums = prefix_sums(np.where(finite, values, 0.0))
    result = (sums[hi] - sums[lo]).astype(np.float64)
    nans, positive, negative = (np.concatenate([[0], np.cumsum(flag)]) for flag in
                                (np.isnan(values), values == np.inf, values == -np.inf))
    has_nan = (nans[hi] - nans[lo]) > 0
    has_positive = (positive[hi] - positive[lo]) > 0
    has_negative = (negative[hi] - negative[lo]) > 0
    result = np.where(has_positive, np.inf, result)
    result = np.where(has_negative, -np.inf, result)
    return np.where(has_nan | (has_positive & has_negative), np.nan, result)


def window_counts(flags: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """How many ``flags`` are set in each window ``[lo, hi)``."""
    counts = np.concatenate([[0], np.cumsum(flags, dtype=np.int64)])
    return counts[hi] - counts[lo]


class SparseTable:
    """Range minimum (or maximum) over ``values`` in two lookups per query, NaN ignored unless a
    range holds nothing else (Prometheus's min_over_time / max_over_time)."""

    def __init__(self, values: np.ndarray, longest: int, pick) -> None:  # noqa: ANN001 - np.fmin / np.fmax
        self.pick = pick
        levels = [values]
        width = 1
        while width * 2 <= max(longest, 1):
            previous = levels[-1]
            levels.append(pick(previous[:-width] if width else previous, previous[width:]) if len(previous) > width
                          else previous[:0])
            width *= 2
        self.levels = levels

    def query(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """The extreme of ``values[lo:hi]`` per window (windows must not be empty)."""
        length = np.maximum(hi - lo, 1)
        level = np.floor(np.log2(length)).astype(np.int64)
        level = np.minimum(level, len(self.levels) - 1)
        result = np.full(lo.shape, np.nan)
        for k in np.unique(level).tolist():
            chosen = level == k
            table = self.levels[k]
            first = lo[chosen]
            second = hi[chosen] - (1 << k)
            result[chosen] = self.pick(table[first], table[second])
        return result


@dataclass(slots=True)
class Expanded:
    """A batch of whole windows laid out flat: ``index`` are sample positions, window after window."""

    windows: np.ndarray  # positions (into the flattened (B, T) grid) of the windows in this batch
    lengths: np.ndarray  # samples per window
    starts: np.ndarray  # where each window begins in ``index``
    index: np.ndarray  # sample positions


def expand(lo: np.ndarray, hi: np.ndarray, minimum: int = 1,
           budget: int = EXPAND_ELEMENTS) -> Iterator[Expanded]:
    """The windows with at least ``minimum`` samples, expanded in batches of about ``budget`` samples."""
    flat_lo, flat_hi = lo.ravel(), hi.ravel()
    lengths = flat_hi - flat_lo
    chosen = np.flatnonzero(lengths >= max(minimum, 1))
    if not len(chosen):
        return
    cumulative = np.cumsum(lengths[chosen])
    first = 0
    while first < len(chosen):
        before = cumulative[first - 1] if first else 0
        last = int(np.searchsorted(cumulative, before + budget, "right"))
        last = max(last, first + 1)
        windows = chosen[first:last]
        window_lengths = lengths[windows]
        starts = np.concatenate([[0], np.cumsum(window_lengths)[:-1]]).astype(np.int64)
        total = int(window_lengths.sum())
        index = np.repeat(flat_lo[windows] - starts, window_lengths) + np.arange(total, dtype=np.int64)
        yield Expanded(windows, window_lengths, starts, index)
        first = last
