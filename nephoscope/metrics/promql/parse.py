"""PromQL text to the syntax tree of ``promql-parser``, and what the evaluator reads off it.

The parser (Rust, PyPI ``promql-parser``) checks syntax and types. Here: its errors become
``bad_data``, durations become milliseconds, ``@`` modifiers a timestamp, and a selector's
name and matchers the store's ``LabelMatcher``s (one tuple per ``or`` alternative).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import promql_parser as pp

from nephoscope.metrics.promql.errors import bad_data
from nephoscope.metrics.store import LabelMatcher

# The parser's enums are not hashable: keyed by their names.
_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# String literals, so that what looks like a negative "@" inside one is not taken for one.
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_NEGATIVE_AT = re.compile(r"@\s*-")

# Prometheus 2's name for double_exponential_smoothing, which Grafana and older rules still send.
try:
    pp.register_extra_functions([pp.Function("holt_winters", [pp.ValueType.Matrix, pp.ValueType.Scalar,
                                                              pp.ValueType.Scalar], pp.ValueType.Vector)])
except ValueError:  # registered already, or a later parser knows it
    pass


def parse(query: str, parameter: str = "query") -> pp.Expr:
    """The syntax tree of ``query``; ``bad_data`` naming ``parameter`` and the parser's reason when
    it is not PromQL."""
    def refused(reason: object) -> Exception:
        return bad_data(f'invalid parameter "{parameter}": parse error: {reason}')

    if not query.strip():
        raise refused("no expression found in input")
    if _NEGATIVE_AT.search(_STRINGS.sub('""', query)):
        raise refused("timestamps before 1970 are not supported by the @ modifier")
    try:
        return pp.parse(query)
    except ValueError as error:
        raise refused(error) from None
    except BaseException as error:  # the Rust parser panics on a few inputs (pyo3's PanicException)
        if type(error).__name__ != "PanicException":
            raise
        raise refused(error) from None


def format_query(query: str) -> str:
    """``query`` as the parser prints it back (``/api/v1/format_query``)."""
    return parse(query).prettify()


def enum_name(member: object) -> str:
    """``MatchOp.Re`` -> ``Re`` (the parser's enums compare but do not hash)."""
    return str(member).rpartition(".")[2]


def unwrap(expr: pp.Expr) -> pp.Expr:
    """Without enclosing parentheses."""
    while isinstance(expr, pp.ParenExpr):
        expr = expr.expr
    return expr


def duration_ms(delta: timedelta | None) -> int:
    if delta is None:
        return 0
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def at_ms(at: pp.AtModifier | None, start_ms: int, end_ms: int) -> int | None:
    """The timestamp an ``@`` modifier fixes: its own, or the query's start or end."""
    if at is None:
        return None
    if at.type == pp.AtModifierType.Start:
        return start_ms
    if at.type == pp.AtModifierType.End:
        return end_ms
    moment = at.at
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return duration_ms(moment - _EPOCH)


def _matcher(matcher: pp.Matcher) -> LabelMatcher:
    return LabelMatcher(matcher.name, _OPS[enum_name(matcher.op)], matcher.value)


def selector_matchers(selector: pp.VectorSelector) -> list[tuple[LabelMatcher, ...]]:
    """The matchers of a selector, one tuple per ``or`` alternative (each must all hold)."""
    name = (LabelMatcher("__name__", "=", selector.name),) if selector.name else ()
    matchers = selector.matchers
    groups = [list(matchers.matchers)] + [list(group) for group in matchers.or_matchers]
    groups = [group for group in groups if group] or [[]]
    return [name + tuple(_matcher(m) for m in group) for group in groups]


def parse_selectors(texts: list[str]) -> list[list[tuple[LabelMatcher, ...]]]:
    """``match[]`` parameters: each must be a series selector (``up``, ``{job="node"}``)."""
    parsed = []
    for text in texts:
        expr = unwrap(parse(text, "match[]"))
        if not isinstance(expr, pp.VectorSelector):
            raise bad_data(f'invalid parameter "match[]": {text!r} is not a series selector '
                           f'(like up or {{job="node"}})')
        parsed.append(selector_matchers(expr))
    return parsed


def equality_labels(expr: pp.Expr) -> dict[str, str]:
    """The labels ``absent()`` gives its answer: those a selector matches with one ``=`` each."""
    if isinstance(expr, pp.MatrixSelector):
        expr = expr.vector_selector
    if not isinstance(expr, pp.VectorSelector):
        return {}
    found: dict[str, str] = {}
    ambiguous: set[str] = set()
    for matcher in expr.matchers.matchers:
        if matcher.name == "__name__":
            continue
        if matcher.op == pp.MatchOp.Equal and matcher.name not in found:
            found[matcher.name] = matcher.value
        else:
            ambiguous.add(matcher.name)
    return {name: value for name, value in found.items() if name not in ambiguous}
