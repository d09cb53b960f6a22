"""Tests of the alarm expression grammar (nephoscope.alarms.expression), monasca-api.md §3.2-3.4."""

from __future__ import annotations

import os
import pickle
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nephoscope.alarms.expression import (
    BooleanExpression,
    ExpressionError,
    SubExpression,
    evaluate,
    format_expression,
    parse,
    sub_expressions,
)

EXAMPLES = int(os.environ.get("EXPRESSION_EXAMPLES", "300"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

E_SUB = "a function (avg, min, max, sum, count, last), a metric name or '('"
E_RELOP = "a relational operator (<, >, <=, >=, lt, gt, lte, gte)"
E_THRESHOLD = "a threshold (a number such as 95, -1 or 0.5)"
E_PERIOD = "a period in seconds (a non-zero multiple of 60)"
E_PERIODS = "a number of periods (an integer of at least 1)"
E_WINDOW = "period × periods of less than 1209600 seconds (2 weeks)"
AFTER_TOP = "'times', a boolean operator (and, or, &&, ||) or the end of the expression"
AFTER_TOP_NO_TIMES = "a boolean operator (and, or, &&, ||) or the end of the expression"
AFTER_NESTED = "'times', a boolean operator (and, or, &&, ||) or ')'"
AFTER_NESTED_NO_TIMES = "a boolean operator (and, or, &&, ||) or ')'"


def sub(function="MAX", name="cpu", dims=(), op="GT", threshold=1.0, period=60, periods=1, det=False):
    return SubExpression(function, name, tuple(dims), op, threshold, period, periods, det)


def AND(*operands):
    return BooleanExpression("AND", operands)


def OR(*operands):
    return BooleanExpression("OR", operands)


A, B, C, D = (sub(name=n) for n in "abcd")


# --- the reference's examples ----------------------------------------------------------------------------

def test_reference_example_without_function():
    e = parse("cpu.system_perc{hostname=h} > 95")
    assert e == SubExpression("MAX", "cpu.system_perc", (("hostname", "h"),), "GT", 95.0)
    assert e.period == 60 and e.periods == 1 and e.deterministic is False
    assert e.text() == "MAX(cpu.system_perc{hostname=h}) > 95.0"


def test_reference_example_period_and_times():
    e = parse("avg(cpu.system_perc{hostname=h}, 120) > 95 times 3")
    assert e == SubExpression("AVG", "cpu.system_perc", (("hostname", "h"),), "GT", 95.0, 120, 3)
    assert e.text() == "AVG(cpu.system_perc{hostname=h}, 120) > 95.0 times 3"
    assert format_expression(e) == e.text()


def test_reference_example_or():
    e = parse("avg(a{h=x}) > 90 or avg(b{h=x,device=vda},120) > 1000")
    assert e == OR(
        SubExpression("AVG", "a", (("h", "x"),), "GT", 90.0),
        SubExpression("AVG", "b", (("device", "vda"), ("h", "x")), "GT", 1000.0, 120),
    )
    assert format_expression(e) == "AVG(a{h=x}) > 90.0 or AVG(b{device=vda,h=x}, 120) > 1000.0"


def test_reference_example_deterministic_empty_braces():
    e = parse("count(log.error{}, deterministic) > 1")
    assert e == SubExpression("COUNT", "log.error", (), "GT", 1.0, deterministic=True)
    assert e.text() == "COUNT(log.error, deterministic) > 1.0"


def test_deterministic_before_period():
    e = parse("count(log.error{a=b}, deterministic, 120) > 1")
    assert e == SubExpression("COUNT", "log.error", (("a", "b"),), "GT", 1.0, 120, 1, True)
    assert e.text() == "COUNT(log.error{a=b}, deterministic, 120) > 1.0"
    with pytest.raises(ExpressionError) as info:
        parse("count(log.error{a=b}, 120, deterministic) > 1")
    assert info.value.position == len("count(log.error{a=b}, 120")
    assert info.value.expected == "')'"


def test_brief_normalised_example():
    e = parse("avg(cpu{c=d, a=b}, deterministic, 120) > 95 times 3")
    assert e.text() == "AVG(cpu{a=b,c=d}, deterministic, 120) > 95.0 times 3"
    assert e.as_dict() == {
        "function": "AVG", "metric_name": "cpu", "dimensions": {"a": "b", "c": "d"}, "operator": "GT",
        "threshold": 95.0, "period": 120, "periods": 3, "deterministic": True,
    }


# --- functions, operators, aliases, case ---------------------------------------------------------------

@pytest.mark.parametrize("function", ["AVG", "MIN", "MAX", "SUM", "COUNT", "LAST"])
@pytest.mark.parametrize("case", [str.lower, str.upper, str.capitalize, lambda s: s[:-1].lower() + s[-1].upper()])
def test_functions_case_insensitive(function, case):
    e = parse(f"{case(function)}(m) > 1")
    assert e == sub(function, "m")
    assert e.text() == f"{function}(m) > 1.0"


@pytest.mark.parametrize(
    ("spelling", "operator"),
    [("<", "LT"), ("lt", "LT"), ("LT", "LT"), ("Lt", "LT"),
     ("<=", "LTE"), ("lte", "LTE"), ("LTE", "LTE"), ("lTe", "LTE"),
     (">", "GT"), ("gt", "GT"), ("GT", "GT"), ("gT", "GT"),
     (">=", "GTE"), ("gte", "GTE"), ("GTE", "GTE"), ("Gte", "GTE")],
)
def test_relational_operators(spelling, operator):
    with_function = parse(f"sum(m) {spelling} 3")
    assert with_function.operator == operator and with_function.function == "SUM"
    bare = parse(f"m {spelling} 3")
    assert bare.operator == operator
    assert bare.function == ("MAX" if operator in ("GT", "GTE") else "MIN")
    symbol = {"LT": "<", "LTE": "<=", "GT": ">", "GTE": ">="}[operator]
    assert bare.text() == f"{bare.function}(m) {symbol} 3.0"


def test_symbols_need_no_spaces():
    assert parse("m>=3") == sub(op="GTE", name="m", threshold=3)
    assert parse("m<-3") == sub("MIN", "m", op="LT", threshold=-3)
    assert parse("a>1&&b<2||c>3") == OR(AND(sub(name="a"), sub("MIN", "b", op="LT", threshold=2)),
                                        sub(name="c", threshold=3))


@pytest.mark.parametrize("spelling", ["and", "AND", "And", "aNd", "&&"])
def test_and_aliases(spelling):
    assert parse(f"a > 1 {spelling} b > 1") == AND(A, B)


@pytest.mark.parametrize("spelling", ["or", "OR", "Or", "oR", "||"])
def test_or_aliases(spelling):
    assert parse(f"a > 1 {spelling} b > 1") == OR(A, B)


def test_keyword_case_for_times_and_deterministic():
    assert parse("avg(m, DETERMINISTIC, 60) > 1 TIMES 2") == sub("AVG", "m", periods=2, det=True)
    assert parse("avg(m, Deterministic) > 1 Times 2") == sub("AVG", "m", periods=2, det=True)


def test_defaults():
    e = parse("avg(m) > 1")
    assert (e.period, e.periods, e.deterministic) == (60, 1, False)
    assert SubExpression("AVG", "m", (), "GT", 1.0) == e
    # explicit defaults normalise away
    assert parse("avg(m, 60) > 1 times 1").text() == "AVG(m) > 1.0"


def test_times_without_function_and_implicit_function():
    assert parse("m > 1 times 3") == sub("MAX", "m", periods=3)
    assert parse("m <= 1 times 3") == sub("MIN", "m", op="LTE", periods=3)


def test_function_names_as_metric_names():
    assert parse("avg > 1") == sub("MAX", "avg")
    assert parse("count{a=b} < 1") == sub("MIN", "count", (("a", "b"),), "LT")
    assert parse("max(avg) > 1") == sub("MAX", "avg")
    assert parse("AVG (count) > 1") == sub("AVG", "count")
    # keywords are fine as metric names where a metric name is expected
    assert parse("and > 1 or or > 2 and times > 3") == OR(
        sub(name="and"), AND(sub(name="or", threshold=2), sub(name="times", threshold=3)))


# --- thresholds, periods --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "value", "normal"),
    [("95", 95.0, "95.0"), ("-5", -5.0, "-5.0"), ("0.5", 0.5, "0.5"), ("007", 7.0, "7.0"),
     ("1.50", 1.5, "1.5"), ("-0", 0.0, "-0.0"), ("123456789012345678901234567890", 1.2345678901234568e29,
                                                   "123456789012345680000000000000.0"),
     ("0.0000001", 1e-7, "0.0000001")],
)
def test_thresholds(text, value, normal):
    e = parse(f"m > {text}")
    assert e.threshold == value and isinstance(e.threshold, float)
    assert e.text() == f"MAX(m) > {normal}"
    assert parse(e.text()) == e


def test_window_limit():
    assert parse("avg(m, 1209540) > 1").period == 1209540
    assert parse("avg(m, 600) > 1 times 2015").periods == 2015
    assert parse("m > 1 times 20159").periods == 20159


# --- dimensions and names ------------------------------------------------------------------------------

def test_dimensions_sorted_trimmed_with_spaces():
    e = parse("avg(m{ zone = eu west ,host name=h 1,  a=b  }) > 1")
    assert e.dimensions == (("a", "b"), ("host name", "h 1"), ("zone", "eu west"))
    assert e.text() == "AVG(m{a=b,host name=h 1,zone=eu west}) > 1.0"
    assert parse("m { } > 1") == sub(name="m")
    assert parse("m\t{a=b}\n>\r1") == sub(name="m", dims=[("a", "b")])


def test_special_and_unicode_characters():
    name = "a.-_#!$%&'*+/:;?@[\\]^`|~Zz09"
    e = parse(f"{name} > 1")
    assert e.metric_name == name
    e = parse("avg(Ünïcødé.métrique{città=Zürich,日本=東京}) > 1")
    assert e.metric_name == "Ünïcødé.métrique"
    assert e.dimensions == (("città", "Zürich"), ("日本", "東京"))
    assert parse(e.text()) == e


def test_name_length_limits():
    assert parse("x" * 255 + " > 1").metric_name == "x" * 255
    assert parse("é" * 255 + " > 1").metric_name == "é" * 255
    with pytest.raises(ExpressionError) as info:
        parse("avg(" + "x" * 256 + ") > 1")
    assert info.value.position == 4
    assert info.value.expected == "a metric name of at most 255 characters"
    assert parse("m{" + "k" * 255 + "=" + "v" * 255 + "} > 1").dimensions == (("k" * 255, "v" * 255),)
    with pytest.raises(ExpressionError) as info:
        parse("m{k=" + "v" * 256 + "} > 1")
    assert (info.value.position, info.value.expected) == (4, "a dimension value of at most 255 characters")


# --- precedence, parentheses, normalisation ------------------------------------------------------------

def test_precedence():
    assert parse("a > 1 or b > 1 and c > 1") == OR(A, AND(B, C))
    assert parse("a > 1 and b > 1 or c > 1") == OR(AND(A, B), C)
    assert parse("a > 1 and b > 1 or c > 1 and d > 1") == OR(AND(A, B), AND(C, D))


def test_flattening():
    e = parse("a > 1 and b > 1 and c > 1")
    assert e == BooleanExpression("AND", (A, B, C)) and len(e.operands) == 3
    assert parse("(a > 1 and b > 1) and c > 1") == AND(A, B, C)
    assert parse("a > 1 or (b > 1 or (c > 1))") == OR(A, B, C)
    assert AND(AND(A, B), C) == AND(A, B, C) == AND(A, AND(B, C))


def test_parentheses():
    e = parse("(a > 1 or b > 1) and c > 1")
    assert e == AND(OR(A, B), C)
    assert format_expression(e) == "(MAX(a) > 1.0 or MAX(b) > 1.0) and MAX(c) > 1.0"
    assert parse("((((a > 1))))") == A
    assert parse("( a > 1 ) and ( ( b > 1 ) )") == AND(A, B)
    assert format_expression(parse("(a > 1) or (b > 1 and c > 1)")) == \
        "MAX(a) > 1.0 or MAX(b) > 1.0 and MAX(c) > 1.0"
    assert format_expression(parse("a > 1 and (b > 1 or c > 1) and d > 1")) == \
        "MAX(a) > 1.0 and (MAX(b) > 1.0 or MAX(c) > 1.0) and MAX(d) > 1.0"


def test_deep_nesting_limit():
    assert parse("(" * 100 + "a > 1" + ")" * 100) == A
    with pytest.raises(ExpressionError) as info:
        parse("(" * 101 + "a > 1" + ")" * 101)
    assert info.value.position == 100


def test_sub_expressions_left_to_right():
    e = parse("a > 1 or (b > 1 and c > 1) or d > 1")
    assert sub_expressions(e) == [A, B, C, D]
    assert sub_expressions(A) == [A]


# --- errors ---------------------------------------------------------------------------------------------

ERRORS = [
    ("", 0, E_SUB),
    ("   ", 3, E_SUB),
    ('"cpu" > 5', 0, E_SUB),
    ("(", 1, E_SUB),
    (")", 0, E_SUB),
    ("cpu", 3, E_RELOP),
    ("cpu 5", 4, E_RELOP),
    ("cpu =< 5", 4, E_RELOP),
    ("cpu = 5", 4, E_RELOP),
    ("cpu gt5", 4, E_RELOP),
    ("cp u > 5", 3, E_RELOP),
    ("cpu >", 5, E_THRESHOLD),
    ("cpu > abc", 6, E_THRESHOLD),
    ("cpu > +5", 6, E_THRESHOLD),
    ("cpu > .5", 6, E_THRESHOLD),
    ("cpu > - 5", 6, E_THRESHOLD),
    ("cpu > 5.", 8, "digits after the decimal point"),
    ("cpu > 1e5", 7, AFTER_TOP),
    ("cpu > " + "9" * 400, 6, "a finite threshold"),
    ("cpu > 5 and", 11, E_SUB),
    ("cpu > 5 ||", 10, E_SUB),
    ("cpu > 5 or or", 13, E_RELOP),
    ("cpu > 5 & mem > 3", 8, AFTER_TOP),
    ("cpu > 5 andmem > 3", 8, AFTER_TOP),
    ("cpu >= 5 gt", 9, AFTER_TOP),
    ("sum (cpu) > 5 xyz", 14, AFTER_TOP),
    ("cpu > 5)", 7, AFTER_TOP),
    ("(cpu > 5", 8, AFTER_NESTED),
    ("((cpu > 5)", 10, AFTER_NESTED_NO_TIMES),
    ("(cpu > 5) times 3", 10, AFTER_TOP_NO_TIMES),
    ("cpu > 5 and (mem > 3", 20, AFTER_NESTED),
    ("(cpu > 5 times 2", 16, AFTER_NESTED_NO_TIMES),
    ("cpu > 5 times 2 times 3", 16, AFTER_TOP_NO_TIMES),
    ("cpu > 5 times", 13, E_PERIODS),
    ("cpu > 5 times -1", 14, E_PERIODS),
    ("cpu > 5 times 0", 14, E_PERIODS),
    ("cpu > 5 times3", 8, AFTER_TOP),
    ("avg(cpu, 90) > 5", 9, E_PERIOD),
    ("avg(cpu, 0) > 5", 9, E_PERIOD),
    ("avg(cpu, deterministic, 30) > 5", 24, E_PERIOD),
    ("avg(cpu, -60) > 5", 9, "'deterministic' or " + E_PERIOD),
    ("avg(cpu,) > 5", 8, "'deterministic' or " + E_PERIOD),
    ("avg(cpu, deterministic,", 23, E_PERIOD),
    ("avg(cpu, deterministic, 120 > 5", 28, "')'"),
    ("avg(cpu", 7, "',' or ')'"),
    ("avg(cpu, deterministic", 22, "',' or ')'"),
    ("avg(cpu 120) > 5", 8, "',' or ')'"),
    ("avg() > 5", 4, "a metric name"),
    ("avg(cpu) 5", 9, E_RELOP),
    ("foo(cpu) > 5", 3, E_RELOP),
    ("cpu{a=b > 5", 8, "',' or '}'"),
    ("cpu{=b} > 5", 4, "a dimension name"),
    ("cpu{a=} > 5", 6, "a dimension value"),
    ("cpu{a=b,} > 5", 8, "a dimension name"),
    ("cpu{a b} > 5", 7, "'='"),
    ("cpu{a=b=c} > 5", 7, "',' or '}'"),
    ("cpu{a=b,a=c} > 5", 8, "a dimension name not already used in this metric"),
    ("avg(cpu, 600) > 5 times 2016", 24, E_WINDOW),
    ("avg(cpu, 1209600) > 5", 9, E_WINDOW),
    ("avg(cpu, 99999999999999999999) > 5", 9, E_WINDOW),
    ("cpu > 5 times 99999999999999999999", 14, E_WINDOW),
    ("x" * 256 + " > 5", 0, "a metric name of at most 255 characters"),
]


@pytest.mark.parametrize(("text", "position", "expected"), ERRORS)
def test_errors(text, position, expected):
    with pytest.raises(ExpressionError) as info:
        parse(text)
    error = info.value
    assert (error.position, error.expected) == (position, expected)
    assert error.text == text
    assert str(error) == f"parser failed on expression '{text}' at column {position + 1}: expected {expected}"
    assert isinstance(error, ValueError)


def test_error_message_wording_and_pickle():
    with pytest.raises(ExpressionError) as info:
        parse("avg(cpu) > ")
    assert str(info.value) == ("parser failed on expression 'avg(cpu) > ' at column 12: expected "
                               "a threshold (a number such as 95, -1 or 0.5)")
    again = pickle.loads(pickle.dumps(info.value))
    assert (again.text, again.position, again.expected, str(again)) == \
        (info.value.text, info.value.position, info.value.expected, str(info.value))


def test_non_string_rejected():
    with pytest.raises(TypeError):
        parse(None)  # type: ignore[arg-type]


# --- constructors ---------------------------------------------------------------------------------------

def test_constructor_normalises_and_validates():
    e = SubExpression("avg", "m", {"b": "2", "a": "1"}, ">=", 5)  # type: ignore[arg-type]
    assert (e.function, e.operator, e.dimensions, e.threshold) == ("AVG", "GTE", (("a", "1"), ("b", "2")), 5.0)
    assert isinstance(e.threshold, float)
    assert hash(e) == hash(parse("avg(m{a=1,b=2}) >= 5"))
    for bad in [dict(function="MEDIAN"), dict(operator="EQ"), dict(period=90), dict(period=0),
                dict(periods=0), dict(period=600, periods=2016), dict(threshold=float("inf")),
                dict(metric_name=""), dict(threshold=float("nan"))]:
        kwargs = dict(function="AVG", metric_name="m", dimensions=(), operator="GT", threshold=1.0) | bad
        with pytest.raises(ValueError):
            SubExpression(**kwargs)
    with pytest.raises(ValueError):
        BooleanExpression("XOR", (A, B))
    with pytest.raises(ValueError):
        BooleanExpression("AND", (A,))
    assert BooleanExpression("and", [A, B]) == AND(A, B)  # type: ignore[arg-type]


# --- evaluate, matches, breached --------------------------------------------------------------------------

def test_evaluate_by_position():
    e = parse("a > 1 or b > 1 and c > 1")
    assert evaluate(e, [False, True, True]) is True
    assert evaluate(e, [False, True, False]) is False
    assert evaluate(e, [True, False, False]) is True
    assert evaluate(e, (False, False, True)) is False
    assert evaluate(A, [True]) is True and evaluate(A, [False]) is False
    with pytest.raises(ValueError):
        evaluate(e, [True, True])


def test_evaluate_by_mapping():
    e = parse("(a > 1 or b > 1) and c > 1")
    assert evaluate(e, {A: False, B: True, C: True}) is True
    assert evaluate(e, {A: False, B: False, C: True}) is False
    assert evaluate(e, {A: True, B: False, C: False}) is False
    with pytest.raises(KeyError):
        evaluate(e, {A: True, B: True})


def test_evaluate_truth_table_all_four():
    e = parse("a > 1 and b > 1 or c > 1 and d > 1")
    for bits in range(16):
        values = [bool(bits >> i & 1) for i in range(4)]
        assert evaluate(e, values) == ((values[0] and values[1]) or (values[2] and values[3]))


def test_matches():
    s = parse("avg(cpu{host=h1,zone=eu}) > 1")
    assert s.matches("cpu", {"host": "h1", "zone": "eu"})
    assert s.matches("cpu", {"host": "h1", "zone": "eu", "device": "vda"})
    assert not s.matches("cpu", {"host": "h1"})
    assert not s.matches("cpu", {"host": "h2", "zone": "eu"})
    assert not s.matches("mem", {"host": "h1", "zone": "eu"})
    assert parse("cpu > 1").matches("cpu", {})
    assert parse("cpu > 1").matches("cpu", {"anything": "x"})


@pytest.mark.parametrize(
    ("op", "below", "equal", "above"),
    [("<", True, False, False), ("<=", True, True, False), (">", False, False, True), (">=", False, True, True)],
)
def test_breached(op, below, equal, above):
    s = parse(f"avg(m) {op} 10")
    assert (s.breached(9.5), s.breached(10), s.breached(10.5)) == (below, equal, above)
    assert s.breached(float("nan")) is False


# --- hypothesis round trips -----------------------------------------------------------------------------

ASCII_NAME_CHARS = string.ascii_letters + string.digits + ".-_#!$%&'*+/:;?@[\\]^`|~"
name_chars = st.one_of(
    st.sampled_from(ASCII_NAME_CHARS),
    st.characters(min_codepoint=0x80, blacklist_categories=("Cs",)).filter(lambda c: not c.isspace()),
)
metric_names = st.text(name_chars, min_size=1, max_size=16)
dim_texts = st.text(st.one_of(name_chars, st.just(" ")), min_size=1, max_size=10).map(
    lambda s: s.strip(" ")).filter(bool)
thresholds = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-10**6, 10**6).map(float),
    st.decimals(-10**6, 10**6, places=3, allow_nan=False, allow_infinity=False).map(float),
)
sub_expression_trees = st.builds(
    SubExpression,
    function=st.sampled_from(["AVG", "MIN", "MAX", "SUM", "COUNT", "LAST"]),
    metric_name=metric_names,
    dimensions=st.dictionaries(dim_texts, dim_texts, max_size=4).map(lambda d: tuple(d.items())),
    operator=st.sampled_from(["LT", "LTE", "GT", "GTE"]),
    threshold=thresholds,
    period=st.integers(1, 200).map(lambda k: 60 * k),
    periods=st.integers(1, 100),
    deterministic=st.booleans(),
)
expression_trees = st.recursive(
    sub_expression_trees,
    lambda children: st.builds(BooleanExpression, st.sampled_from(["AND", "OR"]),
                               st.lists(children, min_size=2, max_size=4).map(tuple)),
    max_leaves=10,
)


@SETTINGS
@given(expression_trees)
def test_roundtrip_tree_format_parse(tree):
    text = format_expression(tree)
    assert parse(text) == tree
    assert format_expression(parse(text)) == text
    assert sub_expressions(parse(text)) == sub_expressions(tree)


@SETTINGS
@given(sub_expression_trees)
def test_roundtrip_sub_expression_text(s):
    assert parse(s.text()) == s
    assert s.as_dict()["dimensions"] == dict(s.dimensions)


WHITESPACE = " \t\n\r\u00a0\u3000"


@st.composite
def source_text(draw, tree):
    """Random source text (spacing, aliases, case, redundant parentheses) for ``tree``."""

    def ws(min_size=0):
        return draw(st.text(st.sampled_from(WHITESPACE), min_size=min_size, max_size=3))

    def cased(word):
        flags = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
        return "".join(c.upper() if f else c.lower() for c, f in zip(word, flags))

    def number(n):
        return draw(st.sampled_from(["", "0", "00"])) + str(n)

    def threshold(value):
        text = format_expression(SubExpression("AVG", "m", (), "GT", value)).split(" > ")[1]
        if draw(st.booleans()) and value == int(value) and abs(value) < 1e15:
            text = str(int(value)) if not (value == 0 and str(value).startswith("-")) else "-0"
        elif draw(st.booleans()):
            text += "0" * draw(st.integers(1, 3))
        return text

    def dims(pairs):
        if not pairs:
            return draw(st.sampled_from(["", "", "{}", "{ }", " {}"]))
        items = [ws() + k + ws() + "=" + ws() + v + ws() for k, v in draw(st.permutations(list(pairs)))]
        return ws() + "{" + ",".join(items) + "}"

    def relop(op):
        symbol = {"LT": "<", "LTE": "<=", "GT": ">", "GTE": ">="}[op]
        if draw(st.booleans()):
            return ws() + symbol + ws()
        return ws(1) + cased(op.lower()) + ws(1)

    def render_sub(s):
        default_function = "MAX" if s.operator in ("GT", "GTE") else "MIN"
        bare = (s.function == default_function and s.period == 60 and not s.deterministic
                and draw(st.booleans()))
        if bare:
            text = s.metric_name + dims(s.dimensions)
        else:
            text = cased(s.function) + ws() + "(" + ws() + s.metric_name + dims(s.dimensions) + ws()
            if s.deterministic:
                text += "," + ws() + cased("deterministic") + ws()
            if s.period != 60 or draw(st.booleans()):
                text += "," + ws() + number(s.period) + ws()
            text += ")"
        text += relop(s.operator) + threshold(s.threshold)
        if s.periods != 1 or draw(st.booleans()):
            text += ws(1) + cased("times") + ws(1) + number(s.periods)
        return text

    def render(node, parent=None):
        if isinstance(node, SubExpression):
            text = render_sub(node)
        else:
            parts = []
            for operand in node.operands:
                parts.append(render(operand, node.operator))
            joined = ""
            for i, part in enumerate(parts):
                if i:
                    if draw(st.booleans()):
                        joined += ws() + ("&&" if node.operator == "AND" else "||") + ws()
                    else:
                        joined += ws(1) + cased(node.operator.lower()) + ws(1)
                joined += part
            text = joined
        needed = parent == "AND" and isinstance(node, BooleanExpression) and node.operator == "OR"
        redundant_ok = parent != node.operator if isinstance(node, BooleanExpression) else True
        if needed or (redundant_ok and draw(st.integers(0, 4)) == 0) or (not redundant_ok and draw(st.integers(0, 9)) == 0):
            text = "(" + ws() + text + ws() + ")"
        return text

    return ws() + render(tree) + ws()


@SETTINGS
@given(st.data(), expression_trees)
def test_roundtrip_source_text(data, tree):
    text = data.draw(source_text(tree))
    parsed = parse(text)
    assert parsed == tree
    assert parse(format_expression(parsed)) == parsed
