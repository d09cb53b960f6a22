"""PromQL: Prometheus's query language evaluated over the metric store.

Owns parsing (``parse``, with the ``promql-parser`` package), the values a query produces
(``values``: instant vectors as series × steps matrices, range vectors as columns of samples),
series selection and sample loading through the store's interface (``selectors``; the tenant
scope is applied there, so it holds inside subqueries and functions too), the window arithmetic
of range functions (``windows``), the functions (``range_functions``, ``instant_functions``),
aggregations, binary operators with vector matching (``binary``) and the evaluator (``engine``);
what the metadata endpoints list (``catalog``) and the targets derived from what arrives
(``targets``).
Everything is columnar: NumPy over series and steps, never a Python loop per sample.

Imports ``nephoscope.metrics.store`` (its public interface), ``nephoscope.metrics.query`` (the
choice of resolution), ``nephoscope.metrics.summary``, ``nephoscope.config`` and
``nephoscope.tenancy``; speaks no HTTP.
"""

from nephoscope.metrics.promql.engine import Engine, QueryLimits, QueryResult, validate_range
from nephoscope.metrics.promql.errors import PromQLError
from nephoscope.metrics.promql.parse import format_query, parse_selectors

__all__ = ["Engine", "PromQLError", "QueryLimits", "QueryResult", "format_query", "parse_selectors",
           "validate_range"]
