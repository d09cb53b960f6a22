"""What PromQL expressions evaluate to, as columns.

An evaluation covers a grid of steps (``times``, milliseconds); every value is computed for all
steps at once:

* ``Scalar``: one float per step.
* ``StringValue``: a string literal (function arguments, or a whole query).
* ``InstantVector``: series × steps; a cell holds a sample when ``present``. Rows are series
  (``labels``); a series with no present cell takes no part in the result.
* ``Samples``: a range vector's raw material — every series' samples in time order, series after
  series (``offsets`` delimit them), from a matrix selector or a subquery.
* ``RangeVector``: samples plus the windows a range function looks at: ``[end - range, end]`` of
  each step (closed at both ends, as Prometheus 2 selects).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nephoscope.metrics.promql import labels as L
from nephoscope.metrics.promql.errors import SAME_LABELSET, execution


@dataclass(slots=True)
class Scalar:
    values: np.ndarray  # (T,) float64


@dataclass(slots=True)
class StringValue:
    value: str


@dataclass(slots=True)
class InstantVector:
    labels: list[L.Labels]
    values: np.ndarray  # (S, T) float64
    present: np.ndarray  # (S, T) bool
    # The timestamps of the samples a selector chose ((S, T) ms), for timestamp(); None elsewhere.
    sample_times: np.ndarray | None = None

    @staticmethod
    def empty(steps: int) -> "InstantVector":
        return InstantVector([], np.empty((0, steps)), np.zeros((0, steps), bool))

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def steps(self) -> int:
        return self.values.shape[1]

    def take(self, rows: np.ndarray | list[int]) -> "InstantVector":
        rows = np.asarray(rows, np.int64)
        times = self.sample_times[rows] if self.sample_times is not None else None
        return InstantVector([self.labels[i] for i in rows.tolist()], self.values[rows], self.present[rows], times)

    def compact(self) -> "InstantVector":
        """Without the series that have no sample at any step."""
        alive = self.present.any(axis=1)
        return self if alive.all() else self.take(np.flatnonzero(alive))

    def with_labels(self, labels: list[L.Labels], values: np.ndarray | None = None) -> "InstantVector":
        """New labels (and values), the same cells present; the chosen samples' times are forgotten."""
        return InstantVector(labels, self.values if values is None else values, self.present)

    def merged(self, message: str = SAME_LABELSET) -> "InstantVector":
        """Series with the same labels become one, as Prometheus assembles a range result; they must
        not both hold a sample at one step (``message`` is the error then)."""
        return merge_rows(self.labels, self.values, self.present, message)


def merge_rows(labels: list[L.Labels], values: np.ndarray, present: np.ndarray,
               message: str = SAME_LABELSET) -> InstantVector:
    index: dict[L.Labels, int] = {}
    groups = [index.setdefault(label, len(index)) for label in labels]
    if len(index) == len(labels):
        return InstantVector(labels, values, present)
    group = np.asarray(groups, np.int64)
    counts = np.zeros((len(index), present.shape[1]), np.int64)
    np.add.at(counts, group, present)
    if (counts > 1).any():
        raise execution(message)
    merged_values = np.zeros((len(index), values.shape[1]))
    merged_present = counts > 0
    rows, steps = np.nonzero(present)
    merged_values[group[rows], steps] = values[rows, steps]
    return InstantVector(list(index), merged_values, merged_present)


def check_unique(vector: InstantVector) -> InstantVector:
    """Prometheus's check after a range-vector function: two output series may never share labels."""
    if len(set(vector.labels)) != len(vector.labels):
        raise execution(SAME_LABELSET)
    return vector


@dataclass(slots=True)
class Samples:
    labels: list[L.Labels]
    times: np.ndarray  # (N,) int64 ms, ascending within each series
    values: np.ndarray  # (N,) float64
    offsets: np.ndarray  # (S + 1,) int64: series i is [offsets[i], offsets[i + 1])

    @staticmethod
    def empty() -> "Samples":
        return Samples([], np.empty(0, np.int64), np.empty(0), np.zeros(1, np.int64))

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, keep: np.ndarray) -> "Samples":
        """Only the samples where ``keep`` (a boolean per sample) holds."""
        if keep.all():
            return self
        counts = np.bincount(self.series_index()[keep], minlength=len(self.labels))
        return Samples(self.labels, self.times[keep], self.values[keep],
                       np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))

    def series_index(self) -> np.ndarray:
        """The series (row) of every sample."""
        return np.repeat(np.arange(len(self.labels)), np.diff(self.offsets))

    def rows(self, start: int, stop: int) -> "Samples":
        """Series ``start`` to ``stop`` (offsets rebased)."""
        first, last = int(self.offsets[start]), int(self.offsets[stop])
        return Samples(self.labels[start:stop], self.times[first:last], self.values[first:last],
                       self.offsets[start:stop + 1] - first)


@dataclass(slots=True)
class RangeVector:
    samples: Samples
    ends: np.ndarray  # (T,) int64: the window of step i is [ends[i] - range_ms, ends[i]]
    range_ms: int
    # True when the samples are a subquery's result rather than a selector's (no roll-up shortcut).
    from_subquery: bool = False


def format_float(value: float) -> str:
    """A sample value as Prometheus writes it (Go's ``FormatFloat(v, 'f', -1, 64)``): the shortest
    decimal that reads back the same, never an exponent; ``NaN``, ``+Inf``, ``-Inf``."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(float(value))
    if "e" in text or "E" in text:
        text = np.format_float_positional(value, unique=True, trim="-")
    elif text.endswith(".0"):
        text = text[:-2]
    return text
