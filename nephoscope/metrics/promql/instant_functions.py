"""Functions of instant vectors and scalars: arithmetic, clamps, dates, labels, histograms.

Each works on whole series × steps matrices. As in Prometheus, most drop the metric name from
what they return (``vector cannot contain metrics with the same labelset`` when that leaves two
series alike at one step); ``label_replace``/``label_join`` change labels once per series.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from nephoscope.metrics.promql import labels as L
from nephoscope.metrics.promql.errors import execution
from nephoscope.metrics.promql.values import InstantVector, Scalar

_MATH: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "abs": np.abs, "ceil": np.ceil, "floor": np.floor, "exp": np.exp, "sqrt": np.sqrt, "ln": np.log,
    "log2": np.log2, "log10": np.log10, "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin,
    "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh,
    "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh,
    "rad": lambda v: v * np.pi / 180, "deg": lambda v: v * 180 / np.pi,
    # Go's sgn keeps NaN and signed zero as they are.
    "sgn": lambda v: np.where(v < 0, -1.0, np.where(v > 0, 1.0, v)),
}


def without_names(vector: InstantVector, values: np.ndarray) -> InstantVector:
    """``values`` under the labels of ``vector`` without their metric name."""
    return InstantVector([L.drop_name(labels) for labels in vector.labels], values, vector.present).merged()


def math(name: str) -> Callable[[InstantVector], InstantVector] | None:
    function = _MATH.get(name)
    if function is None:
        return None

    def apply(vector: InstantVector) -> InstantVector:
        with np.errstate(all="ignore"):
            return without_names(vector, function(vector.values))

    return apply


def clamp(vector: InstantVector, low: np.ndarray | None, high: np.ndarray | None) -> InstantVector:
    """``clamp``, ``clamp_min`` and ``clamp_max``; a step where max < min has no result (Prometheus)."""
    values = vector.values
    if low is not None:
        values = np.maximum(low[None, :], values)
    if high is not None:
        values = np.minimum(high[None, :], values)
    result = without_names(vector, values)
    if low is not None and high is not None:
        result.present = result.present & ~(high < low)[None, :]
    return result


def round_to(vector: InstantVector, to_nearest: np.ndarray | None) -> InstantVector:
    """Round half up to a multiple of ``to_nearest`` (Prometheus inverts it first: fewer float errors)."""
    inverse = 1.0 / (to_nearest if to_nearest is not None else np.ones(vector.steps))
    with np.errstate(all="ignore"):
        values = np.floor(vector.values * inverse[None, :] + 0.5) / inverse[None, :]
    return without_names(vector, values)


def _date_parts(seconds: np.ndarray, part: str) -> np.ndarray:
    finite = np.isfinite(seconds)
    whole = np.where(finite, np.trunc(np.where(finite, seconds, 0)), 0).astype(np.int64)
    moment = whole.astype("datetime64[s]")
    day = moment.astype("datetime64[D]")
    month = moment.astype("datetime64[M]")
    year = moment.astype("datetime64[Y]")
    if part == "year":
        result = year.astype(np.int64) + 1970
    elif part == "month":
        result = (month - year.astype("datetime64[M]")).astype(np.int64) + 1
    elif part == "day_of_month":
        result = (day - month.astype("datetime64[D]")).astype(np.int64) + 1
    elif part == "day_of_year":
        result = (day - year.astype("datetime64[D]")).astype(np.int64) + 1
    elif part == "day_of_week":
        result = (day.astype(np.int64) + 4) % 7  # 1970-01-01 was a Thursday
    elif part == "days_in_month":
        result = ((month + 1).astype("datetime64[D]") - month.astype("datetime64[D]")).astype(np.int64)
    elif part == "hour":
        result = (whole - day.astype("datetime64[s]").astype(np.int64)) // 3600
    else:  # minute
        result = ((whole - day.astype("datetime64[s]").astype(np.int64)) % 3600) // 60
    return np.where(finite, result.astype(np.float64), np.nan)


DATE_FUNCTIONS = ("year", "month", "day_of_month", "day_of_year", "day_of_week", "days_in_month", "hour", "minute")


def date(part: str, vector: InstantVector | None, times: np.ndarray) -> InstantVector:
    """A calendar field (UTC) of each sample's value, or of the evaluation time without an argument."""
    if vector is None:
        values = _date_parts(times / 1000.0, part)[None, :]
        return InstantVector([L.EMPTY], values, np.ones(values.shape, bool))
    return without_names(vector, _date_parts(vector.values, part))


def scalar(vector: InstantVector) -> Scalar:
    """The one sample of each step, NaN when there are none or several."""
    counts = vector.present.sum(axis=0)
    values = np.where(vector.present, vector.values, 0.0).sum(axis=0) if len(vector) else np.zeros(vector.steps)
    return Scalar(np.where(counts == 1, values, np.nan))


def vector(value: Scalar) -> InstantVector:
    return InstantVector([L.EMPTY], value.values[None, :].copy(), np.ones((1, len(value.values)), bool))


def sort(vector: InstantVector, descending: bool) -> InstantVector:
    """Rows ordered by their value at the (single) step; NaN last either way. A range query's result
    is ordered by labels, so this only matters to instant queries."""
    if vector.steps != 1 or len(vector) < 2:
        return vector
    values = vector.values[:, 0]
    key = -values if descending else values
    order = np.lexsort((np.where(np.isnan(values), 0, key), np.isnan(values)))
    return vector.take(order)


def sort_by_label(vector: InstantVector, names: list[str], descending: bool) -> InstantVector:
    order = sorted(range(len(vector)), key=lambda i: [L.get(vector.labels[i], n) for n in names] + [vector.labels[i]],
                   reverse=descending)
    return vector.take(order)


_TEMPLATE = re.compile(r"\$(?:\$|\{([^}]*)\}|([a-zA-Z0-9_]+))")


def _expand(template: str, match: re.Match) -> str:
    """Go's ``Regexp.Expand``: ``$1``, ``${1}``, ``$name``, ``${name}``; ``$$`` is a dollar; a group
    that does not exist (or did not take part) is empty."""
    def group(found: re.Match) -> str:
        if found.group(0) == "$$":
            return "$"
        name = found.group(1) if found.group(1) is not None else found.group(2)
        try:
            value = match.group(int(name)) if name.isdigit() else match.group(name)
        except IndexError:
            return ""
        return value or ""

    return _TEMPLATE.sub(group, template)


def label_replace(vector: InstantVector, destination: str, replacement: str, source: str,
                  pattern: str) -> InstantVector:
    try:
        regex = re.compile(f"^(?:{pattern})$")
    except re.error:
        raise execution(f"invalid regular expression in label_replace(): {pattern}") from None
    if not L.LABEL_NAME.fullmatch(destination):
        raise execution(f"invalid destination label name in label_replace(): {destination}")
    changed = []
    for labels in vector.labels:
        found = regex.match(L.get(labels, source))
        changed.append(L.with_label(labels, destination, _expand(replacement, found)) if found else labels)
    return InstantVector(changed, vector.values, vector.present).merged()


def label_join(vector: InstantVector, destination: str, separator: str, sources: list[str]) -> InstantVector:
    for name in sources:
        if not L.LABEL_NAME.fullmatch(name):
            raise execution(f"invalid source label name in label_join(): {name}")
    if not L.LABEL_NAME.fullmatch(destination):
        raise execution(f"invalid destination label name in label_join(): {destination}")
    changed = [L.with_label(labels, destination, separator.join(L.get(labels, name) for name in sources))
               for labels in vector.labels]
    return InstantVector(changed, vector.values, vector.present).merged()


def histogram_quantile(q: np.ndarray, vector: InstantVector) -> InstantVector:
    """The φ-quantile of classic histograms (``le`` buckets), interpolated linearly inside the bucket
    it falls in, as Prometheus's bucketQuantile (monotonic envelope, +Inf bucket required, the lowest
    bucket starting at 0 when its bound is positive)."""
    groups: dict[tuple, list[tuple[float, int]]] = {}
    for row, labels in enumerate(vector.labels):
        try:
            bound = float(L.get(labels, "le"))
        except ValueError:
            continue  # no bucket label, or not a number: not a bucket
        key = (L.without(labels, ("le", L.NAME)), L.get(labels, L.NAME))
        groups.setdefault(key, []).append((bound, row))
    out_labels, out_values, out_present = [], [], []
    for (labels, _name), buckets in groups.items():
        value, present = _bucket_quantile(q, vector, sorted(buckets))
        out_labels.append(labels)
        out_values.append(value)
        out_present.append(present)
    if not out_labels:
        return InstantVector.empty(vector.steps)
    return InstantVector(out_labels, np.vstack(out_values), np.vstack(out_present)).merged()


def _bucket_quantile(q: np.ndarray, vector: InstantVector, buckets: list[tuple[float, int]]) -> tuple[np.ndarray,
                                                                                                      np.ndarray]:
    steps = vector.steps
    bounds = np.array([bound for bound, _ in buckets])
    rows = np.array([row for _, row in buckets])
    present = vector.present[rows]
    counts = np.where(present, vector.values[rows], 0.0)
    # Equal bounds (le="1" and le="1.0") are one bucket.
    distinct, first = np.unique(bounds, return_index=True)
    if len(distinct) < len(bounds):
        group = np.searchsorted(distinct, bounds)
        merged_counts = np.zeros((len(distinct), steps))
        np.add.at(merged_counts, group, counts)
        merged_present = np.zeros((len(distinct), steps), bool)
        np.logical_or.at(merged_present, group, present)
        bounds, counts, present = distinct, merged_counts, merged_present
    n = len(bounds)
    index = np.arange(n)[:, None]
    any_present = present.any(axis=0)
    last = np.where(present, index, -1).max(axis=0)  # the highest bucket present at each step
    enough = (present.sum(axis=0) >= 2) & (bounds[np.maximum(last, 0)] == np.inf)
    # The monotonic envelope over the buckets present at a step.
    envelope = np.fmax.accumulate(np.where(present, counts, -np.inf), axis=0)
    columns = np.arange(steps)
    observations = envelope[np.maximum(last, 0), columns]
    with np.errstate(all="ignore"):
        rank = q * observations
        candidate = present & (envelope >= rank[None, :]) & (index < last[None, :])
        found = candidate.any(axis=0)
        chosen = np.where(found, np.argmax(candidate, axis=0), last)
        previous_rows = np.where(present, index, -1)
        previous_before = np.maximum.accumulate(np.vstack([np.full((1, steps), -1), previous_rows[:-1]]), axis=0)
        previous = previous_before[chosen, columns]  # the present bucket below the chosen one
        second_highest = previous_before[np.maximum(last, 0), columns]
        bucket_end = bounds[chosen]
        bucket_start = np.where(previous >= 0, bounds[np.maximum(previous, 0)], 0.0)
        below = np.where(previous >= 0, envelope[np.maximum(previous, 0), columns], 0.0)
        in_bucket = envelope[chosen, columns] - below
        value = bucket_start + (bucket_end - bucket_start) * ((rank - below) / in_bucket)
        value = np.where(~found, bounds[np.maximum(second_highest, 0)], value)
        first_present = np.argmax(present, axis=0)
        value = np.where(found & (chosen == first_present) & (bucket_end <= 0), bucket_end, value)
    value = np.where(enough & (observations != 0), value, np.nan)
    value = np.where(q < 0, -np.inf, np.where(q > 1, np.inf, value))
    value = np.where(np.isnan(q), np.nan, value)
    return value, any_present
