"""Aggregation operators: ``sum``, ``avg``, ``min``, ``max``, ``count``, ``group``, ``stddev``,
``stdvar``, ``topk``, ``bottomk``, ``quantile``, ``count_values``, with ``by`` and ``without``.

Series are grouped once (a label set per series); the reductions run over the series of a group
for every step at once (``reduceat`` on the series × steps matrix). ``topk``/``bottomk`` and
``quantile`` sort each group's column of values per step.
"""

from __future__ import annotations

import numpy as np

from nephoscope.metrics.promql import labels as L
from nephoscope.metrics.promql.errors import execution
from nephoscope.metrics.promql.values import InstantVector, format_float

MAX_INT64_FLOAT = 9223372036854774784.0


def _group_labels(labels: L.Labels, grouping: list[str], without: bool) -> L.Labels:
    if without:
        return L.without(labels, [*grouping, L.NAME])
    return L.keep(labels, grouping)


def _groups(keys: list[L.Labels]) -> tuple[list[L.Labels], np.ndarray]:
    """The distinct keys in order of first appearance, and each key's position among them."""
    index: dict[L.Labels, int] = {}
    positions = np.asarray([index.setdefault(key, len(index)) for key in keys], np.int64)
    return list(index), positions


def aggregate(op: str, vector: InstantVector, grouping: list[str], without: bool,
              param: np.ndarray | str | None) -> InstantVector:
    if op == "count_values":
        return _count_values(vector, grouping, without, str(param))
    names, group = _groups([_group_labels(labels, grouping, without) for labels in vector.labels])
    if op in ("topk", "bottomk"):
        return _top(vector, group, len(names), param, op == "topk")
    if not len(vector):
        return InstantVector.empty(vector.steps)
    order = np.argsort(group, kind="stable")
    sorted_group = group[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_group[1:] != sorted_group[:-1]]))
    values, present = vector.values[order], vector.present[order]
    count = np.add.reduceat(present.astype(np.int64), starts, axis=0)
    if op == "quantile":
        result = _quantile(values, present, sorted_group, starts, count, param)
    else:
        result = _reduce(op, values, present, starts, count, sorted_group)
    return InstantVector(names, result, count > 0)


def _reduce(op: str, values: np.ndarray, present: np.ndarray, starts: np.ndarray, count: np.ndarray,
            group: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        if op == "count":
            return count.astype(np.float64)
        if op == "group":
            return np.ones(count.shape)
        if op in ("min", "max"):
            pick = np.fmin if op == "min" else np.fmax
            return pick.reduceat(np.where(present, values, np.nan), starts, axis=0)
        total = np.add.reduceat(np.where(present, values, 0.0), starts, axis=0)
        if op == "sum":
            return total
        mean = total / count
        if op == "avg":
            return mean
        if op in ("stddev", "stdvar"):
            # Group ids are 0..G-1, each with a series: the i-th reduced row is group i.
            deviation = np.where(present, values - mean[group], 0.0)
            variance = np.add.reduceat(deviation * deviation, starts, axis=0) / count
            return np.sqrt(variance) if op == "stddev" else variance
    raise execution(f"aggregation {op}() is not supported")


def _quantile(values: np.ndarray, present: np.ndarray, group: np.ndarray, starts: np.ndarray, count: np.ndarray,
              q: np.ndarray) -> np.ndarray:
    """φ-quantile over each group's present samples per step (NaN sorts first, as in Prometheus)."""
    # Sort every column by (group, absent last, NaN first, value): each group's present values lead.
    nan = np.isnan(values)
    order = np.lexsort((np.where(nan | ~present, 0.0, values), ~nan, ~present,
                        np.broadcast_to(group[:, None], values.shape)), axis=0)
    ordered = np.take_along_axis(values, order, axis=0)
    columns = np.arange(values.shape[1])[None, :]
    with np.errstate(all="ignore"):
        rank = q[None, :] * (count - 1)
        lower = np.clip(np.floor(rank), 0, np.maximum(count - 1, 0)).astype(np.int64)
        upper = np.minimum(np.maximum(count - 1, 0), lower + 1)
        weight = rank - np.floor(rank)
        low = ordered[starts[:, None] + lower, columns]
        high = ordered[starts[:, None] + upper, columns]
        result = low * (1 - weight) + high * weight
    q_row = np.broadcast_to(q[None, :], result.shape)
    result = np.where(q_row < 0, -np.inf, np.where(q_row > 1, np.inf, result))
    return np.where(np.isnan(q_row), np.nan, result)


def _top(vector: InstantVector, group: np.ndarray, groups: int, k: np.ndarray, largest: bool) -> InstantVector:
    """``topk``/``bottomk``: per group and step the k largest (smallest) samples, NaN last; the series
    keep their labels."""
    if np.isnan(k).any() or (np.abs(k) > MAX_INT64_FLOAT).any():
        bad = k[np.isnan(k) | (np.abs(k) > MAX_INT64_FLOAT)][0]
        raise execution(f"Scalar value {format_float(bad)} overflows int64")
    k = np.trunc(k)
    keep = np.zeros(vector.present.shape, bool)
    ranks = np.zeros(vector.present.shape, np.int64)
    for g in range(groups):
        rows = np.flatnonzero(group == g)
        values, present = vector.values[rows].T, vector.present[rows].T  # steps × rows
        nan = np.isnan(values)
        key = np.where(nan | ~present, 0.0, -values if largest else values)
        order = np.lexsort((key, nan, ~present), axis=-1)
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(len(rows))[None, :].repeat(len(values), axis=0), axis=-1)
        keep[rows] = (present & (rank < k[:, None])).T
        ranks[rows] = rank.T
    result = InstantVector(vector.labels, vector.values, keep)
    if vector.steps == 1:  # an instant query lists each group's samples in rank order
        order = np.lexsort((ranks[:, 0], group))
        result = result.take(order)
    return result.compact()


def _count_values(vector: InstantVector, grouping: list[str], without: bool, label: str) -> InstantVector:
    if not L.LABEL_NAME.fullmatch(label):
        raise execution(f'invalid label name "{label}"')
    steps = vector.steps
    rows, columns = np.nonzero(vector.present)
    if not len(rows):
        return InstantVector.empty(steps)
    values = vector.values[rows, columns]
    distinct, value_index = np.unique(values, return_inverse=True)
    texts = [format_float(v) for v in distinct.tolist()]  # once per distinct value
    drops_value = without and label in grouping
    bases = [(_group_labels(L.with_label(labels, label, ""), grouping, without)) for labels in vector.labels]
    base_keys, base_index = _groups(bases)
    combined = base_index[rows] * len(distinct) + value_index.ravel()
    combos, combo_index = np.unique(combined, return_inverse=True)
    counts = np.zeros((len(combos), steps))
    np.add.at(counts, (combo_index.ravel(), columns), 1.0)
    labels = []
    for combo in combos.tolist():
        base, value = divmod(combo, len(distinct))
        key = base_keys[base]
        labels.append(key if drops_value else L.with_label(key, label, texts[value]))
    return InstantVector(labels, counts, counts > 0).merged()
