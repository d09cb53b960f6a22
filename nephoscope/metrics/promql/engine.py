"""The PromQL evaluator: a syntax tree and a grid of steps in, a value for every step out.

``Engine.instant`` and ``Engine.range`` run a query for one tenant scope. An expression is
evaluated once over all its steps (``times``): selectors look up their series and samples once,
functions and operators work on series × steps matrices. A subquery evaluates its inner expression
once, on its own aligned grid covering every outer window; ``@`` fixes a selector's time and
``offset`` shifts it, as Prometheus 2 defines them. Where ``*_over_time`` windows fall on whole
minutes or hours beyond the raw retention, the store's roll-up summaries answer them exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import promql_parser as pp

from nephoscope.config import PrometheusSettings
from nephoscope.metrics.promql import aggregations, binary, instant_functions, range_functions
from nephoscope.metrics.promql import labels as L
from nephoscope.metrics.promql.errors import bad_data
from nephoscope.metrics.promql.parse import (
    at_ms,
    duration_ms,
    enum_name,
    equality_labels,
    parse,
    selector_matchers,
    unwrap,
)
from nephoscope.metrics.promql.selectors import Budget, SeriesSource, is_stale
from nephoscope.metrics.promql.values import (
    InstantVector,
    RangeVector,
    Samples,
    Scalar,
    StringValue,
    check_unique,
    merge_rows,
)
from nephoscope.metrics.promql.windows import Windows, bounds
from nephoscope.metrics.query import covers
from nephoscope.metrics.store import MetricStore

Value = Scalar | StringValue | InstantVector | RangeVector
BLOCK_CELLS = 1 << 21  # series × steps evaluated at once by a range function

_CARDINALITY = {"OneToOne": "one-to-one", "ManyToOne": "many-to-one", "OneToMany": "one-to-many",
                "ManyToMany": "many-to-many"}
_ROLLUP_WIDTHS = (3600, 60)


@dataclass(frozen=True)
class Rollups:
    """A range function's answer from roll-up buckets at the ``expired`` steps (a (T,) mask), with each
    series' first bucket start (ms) and the buckets' width."""

    vector: InstantVector
    expired: np.ndarray
    first: dict[L.Labels, int]
    width_ms: int


def _rollups_where_raw_expired(raw: InstantVector, first_raw: dict[L.Labels, int],
                               rollups: Rollups) -> InstantVector:
    """``raw``'s answer, but the buckets' at the expired steps of the series whose raw points no longer
    hold all the data: a bucket older than the series' first raw point's bucket (or no raw point)."""
    rows: dict[L.Labels, int] = {labels: row for row, labels in enumerate(raw.labels)}
    lost = [labels for labels in rollups.vector.labels
            if labels not in first_raw
            or rollups.first.get(labels, first_raw[labels]) < first_raw[labels] // rollups.width_ms * rollups.width_ms]
    if not lost:
        return raw
    for labels in lost:
        rows.setdefault(labels, len(rows))
    steps = rollups.expired
    values = np.zeros((len(rows), len(steps)))
    present = np.zeros((len(rows), len(steps)), bool)
    values[:len(raw)], present[:len(raw)] = raw.values, raw.present
    source = {labels: row for row, labels in enumerate(rollups.vector.labels)}
    target = np.asarray([rows[labels] for labels in lost], np.int64)
    taken = np.asarray([source[labels] for labels in lost], np.int64)
    columns = np.flatnonzero(steps)
    values[target[:, None], columns] = rollups.vector.values[taken[:, None], columns]
    present[target[:, None], columns] = rollups.vector.present[taken[:, None], columns]
    return InstantVector(list(rows), values, present).compact()


@dataclass(frozen=True)
class QueryLimits:
    lookback_ms: int = 300_000
    max_samples: int = 50_000_000
    timeout_s: float = 120.0
    subquery_step_ms: int = 60_000
    max_points_per_series: int = 11_000

    @staticmethod
    def of(settings: PrometheusSettings) -> "QueryLimits":
        return QueryLimits(int(settings.lookback_delta * 1000), settings.max_samples, settings.query_timeout,
                           int(settings.subquery_step * 1000), settings.max_points_per_series)


@dataclass
class QueryResult:
    """What a query answered: ``kind`` is Prometheus's resultType."""

    kind: str  # "vector", "matrix", "scalar" or "string"
    times: np.ndarray  # the evaluation steps (ms)
    vector: InstantVector | None = None  # vector (one step) or matrix (every step) results
    samples: Samples | None = None  # a range vector evaluated at one instant
    scalar: np.ndarray | None = None
    string: str | None = None


class Engine:
    def __init__(self, store: MetricStore, limits: QueryLimits) -> None:
        self.store = store
        self.limits = limits

    def _evaluator(self, tenant: str, start_ms: int, end_ms: int, timeout_s: float | None) -> "Evaluator":
        timeout = self.limits.timeout_s if timeout_s is None else min(timeout_s, self.limits.timeout_s)
        budget = Budget(self.limits.max_samples, time.monotonic() + timeout)
        return Evaluator(SeriesSource(self.store, tenant, budget), self.limits, start_ms, end_ms)

    def instant(self, query: str, time_ms: int, tenant: str, timeout_s: float | None = None) -> QueryResult:
        """``query`` evaluated at ``time_ms`` in ``tenant``'s scope (``ALL_TENANTS``: every project)."""
        expr = parse(query)
        evaluator = self._evaluator(tenant, time_ms, time_ms, timeout_s)
        times = np.array([time_ms], np.int64)
        value = evaluator.evaluate(expr, times)
        if isinstance(value, Scalar):
            return QueryResult("scalar", times, scalar=value.values)
        if isinstance(value, StringValue):
            return QueryResult("string", times, string=value.value)
        if isinstance(value, RangeVector):
            return QueryResult("matrix", times, samples=window_samples(value))
        return QueryResult("vector", times, vector=value.compact())

    def range(self, query: str, start_ms: int, end_ms: int, step_ms: int, tenant: str,
              timeout_s: float | None = None) -> QueryResult:
        """``query`` at every ``step_ms`` from ``start_ms`` to ``end_ms``: a matrix sorted by labels."""
        validate_range(start_ms, end_ms, step_ms, self.limits.max_points_per_series)
        expr = parse(query)
        evaluator = self._evaluator(tenant, start_ms, end_ms, timeout_s)
        times = np.arange(start_ms, end_ms + 1, step_ms, dtype=np.int64)
        value = evaluator.evaluate(expr, times)
        if isinstance(value, Scalar):
            vector = InstantVector([L.EMPTY], value.values[None, :], np.ones((1, len(times)), bool))
        elif isinstance(value, InstantVector):
            vector = value.merged().compact()
        else:
            kind = "range vector" if isinstance(value, RangeVector) else "string"
            raise bad_data(f'invalid expression type "{kind}" for range query, must be Scalar or instant Vector')
        order = sorted(range(len(vector)), key=lambda row: vector.labels[row])
        return QueryResult("matrix", times, vector=vector.take(order) if len(vector) else vector)


def window_samples(value: RangeVector) -> Samples:
    """A range vector at its one step: each series' samples inside the window (series without any left out)."""
    samples = value.samples
    end = int(value.ends[0])
    selected = samples.select((samples.times >= end - value.range_ms) & (samples.times <= end))
    counts = np.diff(selected.offsets)
    alive = np.flatnonzero(counts > 0)
    return Samples([selected.labels[i] for i in alive.tolist()], selected.times, selected.values,
                   np.concatenate([[0], np.cumsum(counts[alive])]).astype(np.int64))


class Evaluator:
    """One query's evaluation: its series source (tenant scope, budget) and its start and end."""

    def __init__(self, source: SeriesSource, limits: QueryLimits, start_ms: int, end_ms: int) -> None:
        self.source = source
        self.limits = limits
        self.start_ms = start_ms
        self.end_ms = end_ms

    # -- dispatch -------------------------------------------------------------------------------
    def evaluate(self, expr: pp.Expr, times: np.ndarray) -> Value:
        self.source.budget.check_time()
        if isinstance(expr, pp.ParenExpr):
            return self.evaluate(expr.expr, times)
        if isinstance(expr, pp.NumberLiteral):
            return Scalar(np.full(len(times), float(expr.val)))
        if isinstance(expr, pp.StringLiteral):
            return StringValue(expr.val)
        if isinstance(expr, pp.VectorSelector):
            return self.select(expr, times)
        if isinstance(expr, pp.MatrixSelector):
            return self.matrix(expr, times)
        if isinstance(expr, pp.SubqueryExpr):
            return self.subquery(expr, times)
        if isinstance(expr, pp.UnaryExpr):
            return self.negate(self.evaluate(expr.expr, times))
        if isinstance(expr, pp.BinaryExpr):
            return self.binary(expr, times)
        if isinstance(expr, pp.AggregateExpr):
            return self.aggregate(expr, times)
        if isinstance(expr, pp.Call):
            return self.call(expr, times)
        raise bad_data(f"unsupported expression {type(expr).__name__}")

    def _scalar(self, expr: pp.Expr, times: np.ndarray) -> np.ndarray:
        value = self.evaluate(expr, times)
        if not isinstance(value, Scalar):
            raise bad_data("expected a scalar argument")
        return value.values

    def _vector(self, expr: pp.Expr, times: np.ndarray) -> InstantVector:
        value = self.evaluate(expr, times)
        if not isinstance(value, InstantVector):
            raise bad_data("expected an instant vector argument")
        return value

    # -- selectors ------------------------------------------------------------------------------
    def _reference_times(self, at: pp.AtModifier | None, offset: object, times: np.ndarray) -> np.ndarray:
        fixed = at_ms(at, self.start_ms, self.end_ms)
        base = np.full(len(times), fixed, np.int64) if fixed is not None else times
        return base - duration_ms(offset)

    def select(self, selector: pp.VectorSelector, times: np.ndarray) -> InstantVector:
        """The latest sample at or before each step within the lookback; a staleness marker ends it."""
        references = self._reference_times(selector.at, selector.offset, times)
        distinct, inverse = np.unique(references, return_inverse=True)
        lookback = self.limits.lookback_ms
        samples = self.source.samples(selector_matchers(selector), int(distinct[0]) - lookback, int(distinct[-1]))
        self.source.budget.spend(len(samples) * len(times))
        lo, hi = bounds(samples, distinct - lookback, distinct)
        found = hi > lo
        latest = np.where(found, hi - 1, 0)
        values = samples.values[latest] if len(samples.values) else np.zeros(latest.shape)
        sample_times = samples.times[latest] if len(samples.times) else np.zeros(latest.shape, np.int64)
        found &= ~is_stale(values)
        inverse = inverse.ravel()
        return InstantVector(samples.labels, values[:, inverse], found[:, inverse], sample_times[:, inverse])

    def matrix(self, selector: pp.MatrixSelector, times: np.ndarray) -> RangeVector:
        inner = selector.vector_selector
        ends = self._reference_times(inner.at, inner.offset, times)
        range_ms = duration_ms(selector.range)
        samples = self.source.samples(selector_matchers(inner), int(ends.min()) - range_ms, int(ends.max()))
        return RangeVector(samples.select(~is_stale(samples.values)), ends, range_ms)

    def subquery(self, expr: pp.SubqueryExpr, times: np.ndarray) -> RangeVector:
        """The inner expression on its own grid (multiples of the step) covering every window."""
        ends = self._reference_times(expr.at, expr.offset, times)
        range_ms = duration_ms(expr.range)
        step = duration_ms(expr.step) or self.limits.subquery_step_ms
        first = -(-(int(ends.min()) - range_ms) // step) * step
        grid = np.arange(first, int(ends.max()) + 1, step, dtype=np.int64)
        self.source.budget.spend(len(grid))
        inner = self.evaluate(expr.expr, grid)
        if isinstance(inner, Scalar):
            inner = InstantVector([L.EMPTY], inner.values[None, :], np.ones((1, len(grid)), bool))
        if not isinstance(inner, InstantVector):
            raise bad_data("subqueries need an instant vector or a scalar")
        inner = inner.merged().compact()
        rows, columns = np.nonzero(inner.present)
        offsets = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(inner)))]).astype(np.int64)
        samples = Samples(inner.labels, grid[columns], inner.values[rows, columns], offsets)
        return RangeVector(samples, ends, range_ms, from_subquery=True)

    # -- operators ------------------------------------------------------------------------------
    def negate(self, value: Value) -> Value:
        if isinstance(value, Scalar):
            return Scalar(-value.values)
        if isinstance(value, InstantVector):
            return InstantVector([L.drop_name(labels) for labels in value.labels], -value.values,
                                 value.present).merged()
        raise bad_data("unary minus needs a scalar or an instant vector")

    def binary(self, expr: pp.BinaryExpr, times: np.ndarray) -> Value:
        op = str(expr.op)
        left, right = self.evaluate(expr.lhs, times), self.evaluate(expr.rhs, times)
        modifier = expr.modifier
        return_bool = bool(modifier and modifier.return_bool)
        if isinstance(left, Scalar) and isinstance(right, Scalar):
            return binary.scalars(op, left, right)
        if isinstance(left, InstantVector) and isinstance(right, Scalar):
            return binary.vector_scalar(op, left, right, False, return_bool)
        if isinstance(left, Scalar) and isinstance(right, InstantVector):
            return binary.vector_scalar(op, right, left, True, return_bool)
        if not (isinstance(left, InstantVector) and isinstance(right, InstantVector)):
            raise bad_data("binary expression must contain only scalar and instant vector types")
        card = _CARDINALITY[enum_name(modifier.card)] if modifier else "one-to-one"
        matching = modifier.matching if modifier else None
        on = bool(matching and matching.type == pp.LabelModifierType.Include)
        labels = tuple(matching.labels) if matching else ()
        include = tuple(modifier.group_labels or ()) if modifier else ()
        self.source.budget.check_time()
        return binary.vectors(op, left, right, binary.Matching(card, on, labels, include, return_bool))

    def aggregate(self, expr: pp.AggregateExpr, times: np.ndarray) -> InstantVector:
        op = str(expr.op)
        if op not in ("sum", "avg", "count", "min", "max", "group", "stddev", "stdvar", "topk", "bottomk",
                      "quantile", "count_values"):
            raise bad_data(f"aggregation {op}() is not supported (Prometheus 2 aggregations are)")
        param: np.ndarray | str | None = None
        if op == "count_values":
            value = self.evaluate(expr.param, times)
            param = value.value if isinstance(value, StringValue) else ""
        elif op in ("topk", "bottomk", "quantile"):
            param = self._scalar(expr.param, times)
        vector = self._vector(expr.expr, times)
        modifier = expr.modifier
        grouping = list(modifier.labels) if modifier else []
        without = bool(modifier and modifier.type == pp.AggModifierType.Without)
        return aggregations.aggregate(op, vector, grouping, without, param)

    # -- functions ------------------------------------------------------------------------------
    def call(self, expr: pp.Call, times: np.ndarray) -> Value:
        name = expr.func.name
        args = list(expr.args)
        for index, arg in enumerate(args):
            if isinstance(unwrap(arg), (pp.MatrixSelector, pp.SubqueryExpr)):
                return self.range_call(name, args, index, times)
        return self.instant_call(name, args, times)

    def range_call(self, name: str, args: list[pp.Expr], index: int, times: np.ndarray) -> InstantVector:
        scalars = [self._scalar(arg, times) for i, arg in enumerate(args) if i != index]
        target = unwrap(args[index])
        if name in range_functions.ROLLUP_FUNCTIONS and isinstance(target, pp.MatrixSelector):
            answered = self._from_rollups(name, target, times)
            if answered is not None:
                # Raw points answer with Prometheus's exact (t - range, t] edges wherever they still
                # hold everything a window holds; buckets ([t - range, t), whole) only where the
                # raw points of a series have expired.
                raw, first_raw = self._range_call_raw(name, args, index, times, scalars)
                return _rollups_where_raw_expired(raw, first_raw, answered)
        return self._range_call_raw(name, args, index, times, scalars)[0]

    def _range_call_raw(self, name: str, args: list[pp.Expr], index: int, times: np.ndarray,
                        scalars: list[np.ndarray]) -> tuple[InstantVector, dict[L.Labels, int]]:
        """The function over the raw samples, and each result series' first sample (ms)."""
        target = unwrap(args[index])
        value = self.evaluate(target, times)
        assert isinstance(value, RangeVector)
        if name == "absent_over_time":
            return self._absent_over_time(value, args[index], times), {}
        function = range_functions.FUNCTIONS.get(name)
        if function is None:
            raise bad_data(f"function {name}() is not supported")
        values, present = self._run_windows(function, value, scalars, times, name == "predict_linear")
        labels = value.samples.labels if name == "last_over_time" else [L.drop_name(x) for x in value.samples.labels]
        samples = value.samples
        held = np.flatnonzero(np.diff(samples.offsets) > 0)
        first = dict(zip([labels[i] for i in held.tolist()], samples.times[samples.offsets[:-1][held]].tolist()))
        return check_unique(InstantVector(labels, values, present).compact()), first

    def _run_windows(self, function, value: RangeVector, scalars: list[np.ndarray],  # noqa: ANN001
                     times: np.ndarray, uses_time: bool) -> tuple[np.ndarray, np.ndarray]:
        """``function`` over every window, in blocks of series; steps whose windows and arguments are
        alike (an ``@`` fixes them) are computed once."""
        samples = value.samples
        key_columns = [value.ends, *scalars] + ([times] if uses_time else [])
        keys = np.vstack([np.asarray(column, np.float64) for column in key_columns]).T
        distinct, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
        ends, steps = value.ends[first], times[first]
        arguments = [column[first] for column in scalars]
        count, width = len(samples), len(first)
        self.source.budget.spend(count * len(times))
        values = np.empty((count, len(times)))
        present = np.zeros((count, len(times)), bool)
        block = max(1, BLOCK_CELLS // max(width, 1))
        for start in range(0, count, block):
            self.source.budget.check_time()
            part = samples.rows(start, min(count, start + block))
            lo, hi = bounds(part, ends - value.range_ms, ends)
            computed, found = function(Windows(part.times, part.values, lo, hi, ends, value.range_ms, steps),
                                       arguments)
            values[start:start + len(part)] = computed[:, inverse]
            present[start:start + len(part)] = found[:, inverse]
        return values, present

    def _from_rollups(self, name: str, selector: pp.MatrixSelector, times: np.ndarray) -> Rollups | None:
        """``*_over_time`` from whole roll-up buckets for the steps whose windows begin before the raw
        points' retention, when every window is made of whole buckets: the buckets' count, sum, min
        and max are exact for them."""
        inner = selector.vector_selector
        ends = self._reference_times(inner.at, inner.offset, times)
        range_ms = duration_ms(selector.range)
        policies = self.source.store.policies
        now = self.source.now_ms
        start = int(ends.min()) - range_ms
        if covers(policies, 0, start, now):
            return None  # raw points answer with Prometheus's exact window edges
        distinct = np.unique(ends)
        expired = np.asarray([not covers(policies, 0, int(end) - range_ms, now) for end in distinct.tolist()])
        expired = expired[np.searchsorted(distinct, ends)]
        for width in _ROLLUP_WIDTHS:
            width_ms = width * 1000
            if range_ms % width_ms or (ends % width_ms).any() or not covers(policies, width, start, now):
                continue
            buckets = self.source.buckets(selector_matchers(inner), start, int(ends[expired].max()), width)
            starts = Samples(buckets.labels, buckets.starts, buckets.sum, buckets.offsets)
            lo, hi = bounds(starts, ends - range_ms, ends, closed_end=False)
            values, present = range_functions.rollup_over_time(name, buckets.count, buckets.sum, buckets.min,
                                                               buckets.max, lo, hi)
            labels = [L.drop_name(x) for x in buckets.labels]
            held = np.flatnonzero(np.diff(buckets.offsets) > 0)
            first = dict(zip([labels[i] for i in held.tolist()],
                             buckets.starts[buckets.offsets[:-1][held]].astype(np.int64).tolist()))
            return Rollups(check_unique(InstantVector(labels, values, present & expired).compact()), expired,
                           first, width_ms)
        return None

    def _absent_over_time(self, value: RangeVector, arg: pp.Expr, times: np.ndarray) -> InstantVector:
        lo, hi = bounds(value.samples, value.ends - value.range_ms, value.ends)
        seen = (hi > lo).any(axis=0) if len(value.samples) else np.zeros(len(times), bool)
        labels = L.make(equality_labels(unwrap(arg)))
        return InstantVector([labels], np.ones((1, len(times))), ~seen[None, :]).compact()

    def instant_call(self, name: str, args: list[pp.Expr], times: np.ndarray) -> Value:
        simple = instant_functions.math(name)
        if simple is not None:
            return simple(self._vector(args[0], times))
        if name == "time":
            return Scalar(times / 1000.0)
        if name == "pi":
            return Scalar(np.full(len(times), np.pi))
        if name == "vector":
            return instant_functions.vector(Scalar(self._scalar(args[0], times)))
        if name == "scalar":
            return instant_functions.scalar(self._vector(args[0], times))
        if name in ("clamp", "clamp_min", "clamp_max"):
            vector = self._vector(args[0], times)
            bounds_ = [self._scalar(arg, times) for arg in args[1:]]
            low = bounds_[0] if name in ("clamp", "clamp_min") else None
            high = bounds_[-1] if name in ("clamp", "clamp_max") else None
            return instant_functions.clamp(vector, low, high)
        if name == "round":
            vector = self._vector(args[0], times)
            return instant_functions.round_to(vector, self._scalar(args[1], times) if len(args) > 1 else None)
        if name in instant_functions.DATE_FUNCTIONS:
            return instant_functions.date(name, self._vector(args[0], times) if args else None, times)
        if name == "timestamp":
            return self._timestamp(args[0], times)
        if name in ("sort", "sort_desc"):
            return instant_functions.sort(self._vector(args[0], times), name == "sort_desc")
        if name in ("sort_by_label", "sort_by_label_desc"):
            labels = [self._string(arg, times) for arg in args[1:]]
            return instant_functions.sort_by_label(self._vector(args[0], times), labels, name == "sort_by_label_desc")
        if name == "label_replace":
            strings = [self._string(arg, times) for arg in args[1:5]]
            return instant_functions.label_replace(self._vector(args[0], times), *strings)
        if name == "label_join":
            strings = [self._string(arg, times) for arg in args[1:]]
            return instant_functions.label_join(self._vector(args[0], times), strings[0], strings[1], strings[2:])
        if name == "histogram_quantile":
            q = self._scalar(args[0], times)
            return instant_functions.histogram_quantile(q, self._vector(args[1], times))
        if name == "absent":
            vector = self._vector(args[0], times)
            seen = vector.present.any(axis=0) if len(vector) else np.zeros(len(times), bool)
            labels = L.make(equality_labels(args[0]))
            return InstantVector([labels], np.ones((1, len(times))), ~seen[None, :]).compact()
        raise bad_data(f"function {name}() is not supported")

    def _string(self, expr: pp.Expr, times: np.ndarray) -> str:
        value = self.evaluate(expr, times)
        if not isinstance(value, StringValue):
            raise bad_data("expected a string argument")
        return value.value

    def _timestamp(self, arg: pp.Expr, times: np.ndarray) -> InstantVector:
        """The time of each sample a selector chose (not the step's); of anything else, the step."""
        target = unwrap(arg)
        vector = self._vector(target, times)
        if isinstance(target, pp.VectorSelector) and vector.sample_times is not None:
            stamps = vector.sample_times / 1000.0
        else:
            stamps = np.broadcast_to(times[None, :] / 1000.0, vector.values.shape)
        return merge_rows([L.drop_name(labels) for labels in vector.labels], np.array(stamps, np.float64),
                          vector.present)


def validate_range(start_ms: int, end_ms: int, step_ms: int, max_points: int) -> None:
    """Prometheus's checks of a range query's grid (400 ``bad_data``)."""
    if end_ms < start_ms:
        raise bad_data("end timestamp must not be before start time")
    if step_ms <= 0:
        raise bad_data("zero or negative query resolution step widths are not accepted. Try a positive integer")
    if (end_ms - start_ms) // step_ms + 1 > max_points:
        raise bad_data(f"exceeded maximum resolution of {max_points:,} points per timeseries. "
                       "Try decreasing the query resolution (?step=XX)")

