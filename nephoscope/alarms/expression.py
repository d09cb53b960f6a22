"""Monasca's alarm expression grammar: a hand-written recursive-descent parser.

Grammar (monasca-api.md §3.3)::

    expression := or_expr
    or_expr    := and_expr ( OR and_expr )*        ; 'and' binds tighter than 'or'
    and_expr   := sub_expr ( AND sub_expr )*
    sub_expr   := func '(' metric [',' 'deterministic'] [',' period] ')' relop threshold ['times' periods]
                | metric relop threshold ['times' periods]
                | '(' expression ')'
    func       := avg | min | max | sum | count | last       ; case-insensitive
    metric     := metric_name [ '{' [ dim ( ',' dim )* ] '}' ]
    dim        := dim_name '=' dim_value
    relop      := '<' | 'lt' | '<=' | 'lte' | '>' | 'gt' | '>=' | 'gte'
    AND        := 'and' | '&&'      OR := 'or' | '||'      ; case-insensitive
    threshold  := ['-'] digits ['.' digits]
    period     := digits            ; seconds, a non-zero multiple of 60, default 60
    periods    := digits            ; >= 1, default 1; period * periods < 1209600 (2 weeks)

Metric names are 1-255 characters from ASCII letters and digits, ``.-_#!$%&'*+/:;?@[\\]^`|~`` and any
non-space character above U+007F; dimension names and values use the same set plus spaces (surrounding
spaces are trimmed). Whitespace between tokens is ignored. A sub-expression without a function uses
``MAX`` for ``>``/``>=`` and ``MIN`` for ``<``/``<=``.

Parsing produces a tree of :class:`SubExpression` leaves and flattened :class:`BooleanExpression` nodes
(``a and b and c`` is one ``AND`` with three operands). :func:`format_expression` writes the normalised
text (``AVG(cpu{a=b}, 120) > 95.0 times 3``) which parses back to the same tree. Every syntax error is an
:class:`ExpressionError` carrying the 0-based position and what was expected there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "BooleanExpression",
    "Expression",
    "ExpressionError",
    "SubExpression",
    "evaluate",
    "format_expression",
    "parse",
    "sub_expressions",
]

FUNCTIONS = ("AVG", "MIN", "MAX", "SUM", "COUNT", "LAST")
OPERATORS = ("LT", "LTE", "GT", "GTE")
OPERATOR_SYMBOLS = {"LT": "<", "LTE": "<=", "GT": ">", "GTE": ">="}
_OPERATOR_ALIASES = {"<": "LT", "<=": "LTE", ">": "GT", ">=": "GTE"}
DEFAULT_PERIOD = 60
DEFAULT_PERIODS = 1
MAX_WINDOW = 1_209_600
"""``period * periods`` must stay below two weeks."""
MAX_NAME_LENGTH = 255
MAX_NESTING = 100
"""Deepest parenthesis nesting accepted (keeps the recursive descent well inside the stack)."""

_ASCII_NAME_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" ".-_#!$%&'*+/:;?@[\\]^`|~"
)
_DIGITS = frozenset("0123456789")
_KEYWORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$")

# what was expected, in words
_E_SUB = "a function (avg, min, max, sum, count, last), a metric name or '('"
_E_METRIC = "a metric name"
_E_RELOP = "a relational operator (<, >, <=, >=, lt, gt, lte, gte)"
_E_THRESHOLD = "a threshold (a number such as 95, -1 or 0.5)"
_E_PERIOD = "a period in seconds (a non-zero multiple of 60)"
_E_PERIODS = "a number of periods (an integer of at least 1)"
_E_BOOLEAN = "a boolean operator (and, or, &&, ||)"
_E_DIM_NAME = "a dimension name"
_E_DIM_VALUE = "a dimension value"


def is_name_char(ch: str) -> bool:
    """True for a character allowed in metric names (and, with spaces, in dimension names and values)."""
    return ch in _ASCII_NAME_CHARS or (ord(ch) > 0x7F and not ch.isspace())


class ExpressionError(ValueError):
    """An alarm expression that does not parse, with where and what was expected (Monasca's wording)."""

    text: str
    position: int
    expected: str

    def __init__(self, text: str, position: int, expected: str) -> None:
        self.text = text
        self.position = position
        self.expected = expected
        super().__init__(f"parser failed on expression '{text}' at column {position + 1}: expected {expected}")

    def __reduce__(self):  # keep pickling (e.g. across processes) working with the 3-argument constructor
        return (type(self), (self.text, self.position, self.expected))


def _format_threshold(value: float) -> str:
    """The float's repr, written without an exponent so that the grammar accepts it back."""
    text = repr(float(value))
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    if "." not in text:
        text += ".0"
    return text


@dataclass(frozen=True)
class SubExpression:
    """One ``FUNC(metric{dims}[, deterministic][, period]) op threshold [times periods]`` comparison."""

    function: str
    metric_name: str
    dimensions: tuple[tuple[str, str], ...]
    operator: str
    threshold: float
    period: int = DEFAULT_PERIOD
    periods: int = DEFAULT_PERIODS
    deterministic: bool = False

    def __post_init__(self) -> None:
        function = str(self.function).upper()
        if function not in FUNCTIONS:
            raise ValueError(f"unknown function {self.function!r}; expected one of {', '.join(FUNCTIONS)}")
        operator = _OPERATOR_ALIASES.get(str(self.operator), str(self.operator).upper())
        if operator not in OPERATORS:
            raise ValueError(f"unknown operator {self.operator!r}; expected one of {', '.join(OPERATORS)}")
        if not isinstance(self.metric_name, str) or not 1 <= len(self.metric_name) <= MAX_NAME_LENGTH:
            raise ValueError("metric_name must be a string of 1 to 255 characters")
        raw = self.dimensions.items() if isinstance(self.dimensions, Mapping) else self.dimensions
        dimensions = tuple(sorted((str(k), str(v)) for k, v in raw))
        if len({k for k, _ in dimensions}) != len(dimensions):
            raise ValueError("duplicate dimension name")
        threshold = float(self.threshold)
        if not math.isfinite(threshold):
            raise ValueError("threshold must be finite")
        if isinstance(self.period, bool) or not isinstance(self.period, int):
            raise ValueError("period must be an integer")
        if self.period <= 0 or self.period % 60:
            raise ValueError("period must be a non-zero multiple of 60")
        if isinstance(self.periods, bool) or not isinstance(self.periods, int) or self.periods < 1:
            raise ValueError("periods must be an integer of at least 1")
        if self.period * self.periods >= MAX_WINDOW:
            raise ValueError("period * periods must be less than 1209600 (2 weeks)")
        object.__setattr__(self, "function", function)
        object.__setattr__(self, "operator", operator)
        object.__setattr__(self, "dimensions", dimensions)
        object.__setattr__(self, "threshold", threshold)
        object.__setattr__(self, "deterministic", bool(self.deterministic))

    def text(self) -> str:
        """Normalised text, e.g. ``AVG(cpu{a=b,c=d}, deterministic, 120) > 95.0 times 3``."""
        parts = [self.metric_name]
        if self.dimensions:
            parts.append("{" + ",".join(f"{k}={v}" for k, v in self.dimensions) + "}")
        if self.deterministic:
            parts.append(", deterministic")
        if self.period != DEFAULT_PERIOD:
            parts.append(f", {self.period}")
        text = f"{self.function}({''.join(parts)}) {OPERATOR_SYMBOLS[self.operator]} {_format_threshold(self.threshold)}"
        if self.periods != DEFAULT_PERIODS:
            text += f" times {self.periods}"
        return text

    def __str__(self) -> str:
        return self.text()

    def as_dict(self) -> dict:
        """The ``expression_data`` form: function, metric_name, dimensions, operator, threshold, period,
        periods and deterministic."""
        return {
            "function": self.function,
            "metric_name": self.metric_name,
            "dimensions": dict(self.dimensions),
            "operator": self.operator,
            "threshold": self.threshold,
            "period": self.period,
            "periods": self.periods,
            "deterministic": self.deterministic,
        }

    def matches(self, name: str, dimensions: Mapping[str, str]) -> bool:
        """True when the metric has our name and its dimensions include all of ours (it may carry more)."""
        if name != self.metric_name:
            return False
        missing = object()
        return all(dimensions.get(k, missing) == v for k, v in self.dimensions)

    def breached(self, value: float) -> bool:
        """``value <operator> threshold`` (NaN never breaches)."""
        op = self.operator
        if op == "GT":
            return value > self.threshold
        if op == "GTE":
            return value >= self.threshold
        if op == "LT":
            return value < self.threshold
        return value <= self.threshold


@dataclass(frozen=True)
class BooleanExpression:
    """``AND`` or ``OR`` of two or more operands; nested operands with the same operator are flattened."""

    operator: str
    operands: tuple[Expression, ...]

    def __post_init__(self) -> None:
        operator = str(self.operator).upper()
        if operator in ("&&", "||"):
            operator = "AND" if operator == "&&" else "OR"
        if operator not in ("AND", "OR"):
            raise ValueError(f"unknown boolean operator {self.operator!r}; expected AND or OR")
        flat: list[Expression] = []
        for operand in self.operands:
            if isinstance(operand, BooleanExpression) and operand.operator == operator:
                flat.extend(operand.operands)
            elif isinstance(operand, (SubExpression, BooleanExpression)):
                flat.append(operand)
            else:
                raise ValueError(f"operand {operand!r} is not an expression")
        if len(flat) < 2:
            raise ValueError("a boolean expression needs at least two operands")
        object.__setattr__(self, "operator", operator)
        object.__setattr__(self, "operands", tuple(flat))

    def __str__(self) -> str:
        return format_expression(self)


Expression = SubExpression | BooleanExpression
"""A parsed alarm expression: a single comparison or a boolean combination."""


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.n = len(text)
        self.times_allowed = False  # whether 'times' may follow the sub-expression just parsed

    # -- helpers ---------------------------------------------------------------------------------------
    def fail(self, expected: str, position: int | None = None) -> ExpressionError:
        return ExpressionError(self.text, self.pos if position is None else position, expected)

    def skip(self) -> None:
        text, pos, n = self.text, self.pos, self.n
        while pos < n and text[pos].isspace():
            pos += 1
        self.pos = pos

    def peek(self, literal: str) -> bool:
        return self.text.startswith(literal, self.pos)

    def keyword(self, word: str) -> bool:
        """Consume a case-insensitive keyword that is not followed by an identifier character."""
        end = self.pos + len(word)
        chunk = self.text[self.pos : end]
        if len(chunk) == len(word) and chunk.isascii() and chunk.lower() == word:
            if end >= self.n or self.text[end] not in _KEYWORD_CHARS:
                self.pos = end
                return True
        return False

    def name_run(self, spaces: bool = False) -> str:
        text, start, n = self.text, self.pos, self.n
        pos = start
        while pos < n and (is_name_char(text[pos]) or (spaces and text[pos] == " ")):
            pos += 1
        self.pos = pos
        return text[start:pos]

    def digits(self) -> str:
        text, start, n = self.text, self.pos, self.n
        pos = start
        while pos < n and text[pos] in _DIGITS:
            pos += 1
        self.pos = pos
        return text[start:pos]

    def after_sub_expected(self, closing: bool) -> str:
        options = ["'times'"] if self.times_allowed else []
        options.append(_E_BOOLEAN)
        options.append("')'" if closing else "the end of the expression")
        return ", ".join(options[:-1]) + " or " + options[-1]

    # -- grammar ---------------------------------------------------------------------------------------
    def parse(self) -> Expression:
        expression = self.or_expr(0)
        self.skip()
        if self.pos != self.n:
            raise self.fail(self.after_sub_expected(closing=False))
        return expression

    def or_expr(self, depth: int) -> Expression:
        operands = [self.and_expr(depth)]
        while True:
            self.skip()
            if self.peek("||"):
                self.pos += 2
            elif not self.keyword("or"):
                break
            operands.append(self.and_expr(depth))
        return operands[0] if len(operands) == 1 else BooleanExpression("OR", tuple(operands))

    def and_expr(self, depth: int) -> Expression:
        operands = [self.sub_expr(depth)]
        while True:
            self.skip()
            if self.peek("&&"):
                self.pos += 2
            elif not self.keyword("and"):
                break
            operands.append(self.sub_expr(depth))
        return operands[0] if len(operands) == 1 else BooleanExpression("AND", tuple(operands))

    def sub_expr(self, depth: int) -> Expression:
        self.skip()
        if self.peek("("):
            if depth >= MAX_NESTING:
                raise self.fail(f"a sub-expression (parentheses nest at most {MAX_NESTING} deep)")
            self.pos += 1
            inner = self.or_expr(depth + 1)
            self.skip()
            if not self.peek(")"):
                raise self.fail(self.after_sub_expected(closing=True))
            self.pos += 1
            self.times_allowed = False
            return inner
        start = self.pos
        run = self.name_run()
        if not run:
            raise self.fail(_E_SUB)
        self.skip()
        if self.peek("(") and run.isascii() and run.upper() in FUNCTIONS:
            return self.function_form(run.upper())
        self.pos = start + len(run)
        return self.comparison(None, run, start, self.dimensions(), False, DEFAULT_PERIOD, None)

    def function_form(self, function: str) -> SubExpression:
        self.pos += 1  # '('
        self.skip()
        start = self.pos
        name = self.name_run()
        if not name:
            raise self.fail(_E_METRIC)
        dimensions = self.dimensions()
        deterministic = False
        period = DEFAULT_PERIOD
        period_at: int | None = None
        self.skip()
        expected_close = "',' or ')'"
        if self.peek(","):
            self.pos += 1
            self.skip()
            if self.keyword("deterministic"):
                deterministic = True
                self.skip()
                if self.peek(","):
                    self.pos += 1
                    self.skip()
                    period, period_at = self.period(_E_PERIOD)
                    expected_close = "')'"
            else:
                period, period_at = self.period(f"'deterministic' or {_E_PERIOD}")
                expected_close = "')'"
            self.skip()
        if not self.peek(")"):
            raise self.fail(expected_close)
        self.pos += 1
        return self.comparison(function, name, start, dimensions, deterministic, period, period_at)

    def period(self, expected: str) -> tuple[int, int]:
        at = self.pos
        digits = self.digits()
        if not digits:
            raise self.fail(expected)
        value = int(digits) if len(digits) <= 12 else MAX_WINDOW * 60
        if value == 0 or value % 60:
            raise self.fail(_E_PERIOD, at)
        return value, at

    def dimensions(self) -> tuple[tuple[str, str], ...]:
        """Optional ``{name=value, ...}`` after a metric name; ``{}`` is allowed."""
        name_end = self.pos
        self.skip()
        if not self.peek("{"):
            self.pos = name_end
            return ()
        self.pos += 1
        pairs: dict[str, str] = {}
        self.skip()
        if self.peek("}"):
            self.pos += 1
            return ()
        while True:
            self.skip()
            at = self.pos
            key = self.name_run(spaces=True).rstrip(" ")
            if not key:
                raise self.fail(_E_DIM_NAME, at)
            if len(key) > MAX_NAME_LENGTH:
                raise self.fail(f"{_E_DIM_NAME} of at most {MAX_NAME_LENGTH} characters", at)
            if key in pairs:
                raise self.fail(f"{_E_DIM_NAME} not already used in this metric", at)
            self.skip()
            if not self.peek("="):
                raise self.fail("'='")
            self.pos += 1
            self.skip()
            at = self.pos
            value = self.name_run(spaces=True).rstrip(" ")
            if not value:
                raise self.fail(_E_DIM_VALUE, at)
            if len(value) > MAX_NAME_LENGTH:
                raise self.fail(f"{_E_DIM_VALUE} of at most {MAX_NAME_LENGTH} characters", at)
            pairs[key] = value
            self.skip()
            if self.peek(","):
                self.pos += 1
                continue
            if self.peek("}"):
                self.pos += 1
                return tuple(sorted(pairs.items()))
            raise self.fail("',' or '}'")

    def relop(self) -> str:
        self.skip()
        for symbol, operator in (("<=", "LTE"), (">=", "GTE"), ("<", "LT"), (">", "GT")):
            if self.peek(symbol):
                self.pos += len(symbol)
                return operator
        for word in ("lte", "gte", "lt", "gt"):
            if self.keyword(word):
                return word.upper()
        raise self.fail(_E_RELOP)

    def threshold(self) -> float:
        self.skip()
        start = self.pos
        if self.peek("-"):
            self.pos += 1
        if not self.digits():
            raise self.fail(_E_THRESHOLD, start)
        if self.peek("."):
            self.pos += 1
            if not self.digits():
                raise self.fail("digits after the decimal point")
        value = float(self.text[start : self.pos])
        if not math.isfinite(value):
            raise self.fail("a finite threshold", start)
        return value

    def comparison(
        self,
        function: str | None,
        name: str,
        name_at: int,
        dimensions: tuple[tuple[str, str], ...],
        deterministic: bool,
        period: int,
        period_at: int | None,
    ) -> SubExpression:
        if len(name) > MAX_NAME_LENGTH:
            raise self.fail(f"{_E_METRIC} of at most {MAX_NAME_LENGTH} characters", name_at)
        operator = self.relop()
        threshold = self.threshold()
        periods = DEFAULT_PERIODS
        self.skip()
        self.times_allowed = True
        if self.keyword("times"):
            self.skip()
            at = self.pos
            digits = self.digits()
            if not digits:
                raise self.fail(_E_PERIODS)
            periods = int(digits) if len(digits) <= 12 else MAX_WINDOW
            if periods < 1:
                raise self.fail(_E_PERIODS, at)
            self.times_allowed = False
            if period * periods >= MAX_WINDOW:
                raise self.fail(f"period × periods of less than {MAX_WINDOW} seconds (2 weeks)", at)
        elif period >= MAX_WINDOW:
            raise self.fail(f"period × periods of less than {MAX_WINDOW} seconds (2 weeks)", period_at)
        if function is None:
            function = "MAX" if operator in ("GT", "GTE") else "MIN"
        return SubExpression(function, name, dimensions, operator, threshold, period, periods, deterministic)


def parse(text: str) -> Expression:
    """Parse an alarm expression into a tree; raises :class:`ExpressionError` on any syntax error."""
    if not isinstance(text, str):
        raise TypeError(f"expression must be a string, not {type(text).__name__}")
    return _Parser(text).parse()


def sub_expressions(expression: Expression) -> list[SubExpression]:
    """The sub-expressions, left to right (positions are the ones :func:`evaluate` uses)."""
    out: list[SubExpression] = []
    stack: list[Expression] = [expression]
    while stack:
        node = stack.pop()
        if isinstance(node, SubExpression):
            out.append(node)
        else:
            stack.extend(reversed(node.operands))
    return out


def format_expression(expression: Expression) -> str:
    """Normalised text; parentheses only where needed (an ``or`` inside an ``and``)."""
    if isinstance(expression, SubExpression):
        return expression.text()
    parts = []
    for operand in expression.operands:
        text = format_expression(operand)
        if isinstance(operand, BooleanExpression) and operand.operator == "OR" and expression.operator == "AND":
            text = f"({text})"
        parts.append(text)
    return f" {expression.operator.lower()} ".join(parts)


def evaluate(expression: Expression, states: Mapping[SubExpression, bool] | Sequence[bool]) -> bool:
    """The boolean value of the expression given each sub-expression's breached state, either by
    sub-expression or by position in :func:`sub_expressions` order."""
    if isinstance(states, Mapping):
        lookup = states

        def leaf(node: SubExpression, index: int) -> bool:
            try:
                return bool(lookup[node])
            except KeyError:
                raise KeyError(f"no state given for sub-expression {node.text()}") from None

    else:
        values = list(states)
        count = len(sub_expressions(expression))
        if len(values) != count:
            raise ValueError(f"expected {count} states (one per sub-expression), got {len(values)}")

        def leaf(node: SubExpression, index: int) -> bool:
            return bool(values[index])

    def walk(node: Expression, index: int) -> tuple[bool, int]:
        if isinstance(node, SubExpression):
            return leaf(node, index), index + 1
        results = []
        for operand in node.operands:
            value, index = walk(operand, index)
            results.append(value)
        return (all(results) if node.operator == "AND" else any(results)), index

    return walk(expression, 0)[0]
