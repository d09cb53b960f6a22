"""Binary operators: arithmetic, comparisons (filtering or ``bool``) and the set operators, between
scalars and vectors, with Prometheus's vector matching (``on``, ``ignoring``, ``group_left``,
``group_right``) and its errors for ambiguous matches.

Matching pairs rows of the two sides once (by signature, per series); the operator then runs on the
paired rows' whole step matrices. Whether a match is ambiguous depends on the step (two series with
one signature are fine as long as they never hold a sample at the same step), so the checks count
samples per step, as Prometheus's per-step evaluation does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nephoscope.metrics.promql import labels as L
from nephoscope.metrics.promql.errors import SAME_LABELSET, execution
from nephoscope.metrics.promql.values import InstantVector, Scalar, merge_rows

ARITHMETIC = ("+", "-", "*", "/", "%", "^", "atan2")
DROPS_NAME = ("+", "-", "*", "/", "%", "^")  # Prometheus 2 keeps the name through atan2
COMPARISON = ("==", "!=", ">", "<", ">=", "<=")
SET = ("and", "or", "unless")


@dataclass(frozen=True, slots=True)
class Matching:
    """How two vectors' series pair up."""

    card: str  # "one-to-one", "many-to-one", "one-to-many", "many-to-many"
    on: bool  # True: match on ``labels``; False: ignoring ``labels`` (and the metric name)
    labels: tuple[str, ...] = ()
    include: tuple[str, ...] = ()  # group_left/group_right labels copied from the "one" side
    return_bool: bool = False


def apply(op: str, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(value, keep)``: comparisons keep the left value where they hold."""
    with np.errstate(all="ignore"):
        if op == "+":
            return left + right, _all(left, right)
        if op == "-":
            return left - right, _all(left, right)
        if op == "*":
            return left * right, _all(left, right)
        if op == "/":
            return left / right, _all(left, right)
        if op == "%":
            return np.fmod(left, right), _all(left, right)
        if op == "^":
            return np.power(left, right), _all(left, right)
        if op == "atan2":
            return np.arctan2(left, right), _all(left, right)
        value = np.broadcast_to(left, np.broadcast_shapes(np.shape(left), np.shape(right)))
        if op == "==":
            return value, left == right
        if op == "!=":
            return value, left != right
        if op == ">":
            return value, left > right
        if op == "<":
            return value, left < right
        if op == ">=":
            return value, left >= right
        if op == "<=":
            return value, left <= right
    raise execution(f"operator {op!r} not allowed here")


def _all(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    return np.ones(np.broadcast_shapes(np.shape(left), np.shape(right)), bool)


def scalars(op: str, left: Scalar, right: Scalar) -> Scalar:
    value, keep = apply(op, left.values, right.values)
    return Scalar(keep.astype(np.float64) if op in COMPARISON else np.asarray(value, np.float64))


def vector_scalar(op: str, vector: InstantVector, scalar: Scalar, scalar_left: bool,
                  return_bool: bool) -> InstantVector:
    row = scalar.values[None, :]
    left, right = (row, vector.values) if scalar_left else (vector.values, row)
    value, keep = apply(op, left, right)
    if op in COMPARISON:
        value = vector.values  # the vector's sample stays, on whichever side it was
        if return_bool:
            value, keep = keep.astype(np.float64), np.ones(keep.shape, bool)
    present = vector.present & keep
    labels = vector.labels
    if op in DROPS_NAME or return_bool:
        labels = [L.drop_name(label) for label in labels]
    return merge_rows(labels, np.array(value, np.float64), present).compact()


def _signature(labels: L.Labels, matching: Matching) -> L.Labels:
    if matching.on:
        return L.keep(labels, matching.labels)
    return L.without(labels, (*matching.labels, L.NAME))


def _any_per_signature(signatures: list[L.Labels], present: np.ndarray) -> dict[L.Labels, np.ndarray]:
    found: dict[L.Labels, np.ndarray] = {}
    for row, signature in enumerate(signatures):
        mask = found.get(signature)
        found[signature] = present[row] if mask is None else mask | present[row]
    return found


def set_operation(op: str, left: InstantVector, right: InstantVector, matching: Matching) -> InstantVector:
    """``and``, ``or``, ``unless``: series kept whole (labels and values), per step."""
    steps = left.steps
    left_signatures = [_signature(labels, matching) for labels in left.labels]
    right_signatures = [_signature(labels, matching) for labels in right.labels]
    nothing = np.zeros(steps, bool)
    if op == "or":
        on_left = _any_per_signature(left_signatures, left.present)
        right_present = np.vstack([right.present[row] & ~on_left.get(signature, nothing)
                                   for row, signature in enumerate(right_signatures)]) if len(right) else \
            np.zeros((0, steps), bool)
        return merge_rows(left.labels + right.labels, np.vstack([left.values, right.values]),
                          np.vstack([left.present, right_present])).compact()
    on_right = _any_per_signature(right_signatures, right.present)
    if not len(left):
        return left
    matched = np.vstack([on_right.get(signature, nothing) for signature in left_signatures])
    present = left.present & (matched if op == "and" else ~matched)
    return InstantVector(left.labels, left.values, present, left.sample_times).compact()


def _result_labels(many: L.Labels, one: L.Labels, op: str, matching: Matching, cache: dict) -> L.Labels:
    key = (many, one)
    found = cache.get(key)
    if found is not None:
        return found
    labels = L.drop_name(many) if op in DROPS_NAME else many
    if matching.card == "one-to-one":
        labels = L.keep(labels, matching.labels) if matching.on else L.without(labels, matching.labels)
    for name in matching.include:
        labels = L.with_label(labels, name, L.get(one, name))
    if matching.return_bool:
        labels = L.drop_name(labels)
    cache[key] = labels
    return labels


def _overlapping(keys: list, masks: np.ndarray) -> int | None:
    """The first key holding two masks set at one step, if any (index of its second row)."""
    if len(set(keys)) == len(keys):
        return None
    index: dict = {}
    group = np.asarray([index.setdefault(key, len(index)) for key in keys], np.int64)
    counts = np.zeros((len(index), masks.shape[1]), np.int64)
    np.add.at(counts, group, masks)
    crowded = np.flatnonzero((counts > 1).any(axis=1))
    if not len(crowded):
        return None
    return int(crowded[0])


def vectors(op: str, left: InstantVector, right: InstantVector, matching: Matching) -> InstantVector:
    """Arithmetic and comparisons between two vectors."""
    if op in SET:
        return set_operation(op, left, right, matching)
    if matching.card == "many-to-many":
        raise execution("many-to-many only allowed for set operators")
    steps = left.steps
    swapped = matching.card == "one-to-many"
    many, one = (right, left) if swapped else (left, right)
    many_signatures = [_signature(labels, matching) for labels in many.labels]
    one_signatures = [_signature(labels, matching) for labels in one.labels]
    # The "one" side may hold a signature at most once per step.
    crowded = _overlapping(one_signatures, one.present)
    if crowded is not None:
        signature = sorted(set(one_signatures), key=one_signatures.index)[crowded]
        rows = [i for i, s in enumerate(one_signatures) if s == signature]
        side = "left" if swapped else "right"
        raise execution(f"found duplicate series for the match group {L.text(signature)} on the {side} hand-side "
                        f"of the operation: [{L.text(one.labels[rows[0]])}, {L.text(one.labels[rows[1]])}];"
                        f"many-to-many matching not allowed: matching labels must be unique on one side")
    by_signature: dict[L.Labels, list[int]] = {}
    for row, signature in enumerate(one_signatures):
        by_signature.setdefault(signature, []).append(row)
    many_rows, one_rows = [], []
    for row, signature in enumerate(many_signatures):
        for partner in by_signature.get(signature, ()):
            many_rows.append(row)
            one_rows.append(partner)
    if not many_rows:
        return InstantVector.empty(steps)
    many_index, one_index = np.asarray(many_rows), np.asarray(one_rows)
    many_values, one_values = many.values[many_index], one.values[one_index]
    both = many.present[many_index] & one.present[one_index]
    left_values, right_values = (one_values, many_values) if swapped else (many_values, one_values)
    value, keep = apply(op, left_values, right_values)
    value = np.array(value, np.float64)
    if matching.return_bool:
        value, present = keep.astype(np.float64), both
    else:
        present = both & keep
    cache: dict = {}
    labels = [_result_labels(many.labels[m], one.labels[o], op, matching, cache)
              for m, o in zip(many_rows, one_rows)]
    if matching.card == "one-to-one":
        if _overlapping([many_signatures[m] for m in many_rows], present) is not None:
            raise execution("multiple matches for labels: many-to-one matching must be explicit "
                            "(group_left/group_right)")
    elif _overlapping([(many_signatures[m], label) for m, label in zip(many_rows, labels)], present) is not None:
        raise execution("multiple matches for labels: grouping labels must ensure unique matches")
    return merge_rows(labels, value, present, SAME_LABELSET).compact()
