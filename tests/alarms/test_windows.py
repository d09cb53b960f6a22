"""Sub-alarm windows and states, as docs/alarm-evaluation.md (Monasca's thresh) defines them."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nephoscope.alarms.expression import parse, sub_expressions
from nephoscope.alarms.windows import (
    ALARM,
    OK,
    STATES,
    UNDETERMINED,
    WindowBank,
    alarm_state,
)

MINUTE = 60_000
T0 = 1_800_000_000_000 - (1_800_000_000_000 % MINUTE)


class One:
    """One sub-alarm in its own bank, with the answers a single row gives."""

    def __init__(self, text: str) -> None:
        expression = sub_expressions(parse(text))[0]
        self.bank = WindowBank(expression.period, expression.periods, T0)
        self.row = self.bank.add_row(expression)
        self.current_values: list[float] = []

    @property
    def state(self) -> str:
        return self.bank.state_of(self.row)

    def add(self, timestamps, count, total, low, high, last) -> None:
        rows = np.full(len(timestamps), self.row, np.int64)
        self.bank.add(rows, np.asarray(timestamps, np.int64), np.asarray(count, np.int64), *(
            np.asarray(column, float) for column in (total, low, high, last)))

    def raw(self, minute: int, *values: float, second: int = 10) -> None:
        timestamps = T0 + minute * MINUTE + second * 1000 + np.arange(len(values)) * 1000
        array = np.array(values, float)
        self.add(timestamps, np.ones(len(values), np.int64), array, array, array, array)

    def _answer(self, evaluation) -> str | None:
        if self.row not in evaluation.rows.tolist():
            return None
        values = evaluation.values[evaluation.rows.tolist().index(self.row)]
        self.current_values = [float(v) for v in values if not math.isnan(v)]
        return STATES[int(evaluation.states[evaluation.rows.tolist().index(self.row)])]

    def close(self, minute: int) -> str | None:
        """Slide the view to end after minute ``minute`` and evaluate."""
        self.bank.slide(T0 + (minute + 1) * MINUTE)
        return self._answer(self.bank.evaluate())

    def immediately(self) -> str | None:
        return self._answer(self.bank.evaluate_immediately(np.array([self.row])))


def test_a_lone_spike_does_not_fire_a_three_period_alarm() -> None:
    alarm = One("avg(cpu{h=a}) > 90 times 3")
    alarm.raw(0, 20.0)
    assert alarm.close(0) == OK
    alarm.raw(1, 95.0)
    alarm.raw(2, 30.0)
    assert alarm.close(1) is None and alarm.close(2) is None  # the good minute keeps it OK
    assert alarm.state == OK


def test_three_breaching_periods_alarm_and_one_good_period_clears() -> None:
    alarm = One("avg(cpu{h=a}) > 90 times 3")
    results = []
    for minute in range(3):
        alarm.raw(minute, 93.0, 97.0)
        results.append(alarm.close(minute))
    assert results[-1] == ALARM
    assert alarm.current_values == [95.0, 95.0, 95.0]
    alarm.raw(3, 10.0)
    assert alarm.close(3) == OK


def test_summaries_merge_exactly() -> None:
    timestamps = np.array([T0 + 5_000, T0 + 40_000])
    # Two 30 s agent windows: (count 3, sum 270) and (count 1, sum 10): avg = 280 / 4 = 70.
    columns = ([3, 1], [270.0, 10.0], [80.0, 10.0], [100.0, 10.0], [90.0, 10.0])
    for text, expected in (("avg(cpu) > 50", 70.0), ("min(cpu) < 11", 10.0), ("max(cpu) > 50", 100.0),
                           ("sum(cpu) > 5", 280.0), ("count(cpu) > 3", 4.0), ("last(cpu) < 50", 10.0)):
        alarm = One(text)
        alarm.add(timestamps, *columns)
        assert alarm.close(0) == ALARM and alarm.current_values == [expected], text


def test_last_takes_the_newest_point_whatever_the_arrival_order() -> None:
    alarm = One("last(cpu) > 50")
    alarm.raw(0, 99.0, second=50)
    alarm.raw(0, 1.0, second=10)  # older, arrives later
    assert alarm.close(0) == ALARM and alarm.current_values == [99.0]


def test_no_data_goes_undetermined_after_two_empty_windows() -> None:
    alarm = One("avg(cpu) > 90 times 2")  # two empty windows of 2 periods = 4 empty evaluations
    alarm.raw(0, 99.0)
    alarm.raw(1, 99.0)
    assert alarm.close(1) == ALARM
    results = [alarm.close(minute) for minute in range(2, 8)]
    assert results[:3] == [None, None, None] and UNDETERMINED in results
    assert alarm.state == UNDETERMINED


def test_catching_up_holds_empty_evaluations() -> None:
    alarm = One("avg(cpu) > 90")
    alarm.raw(0, 99.0)
    assert alarm.close(0) == ALARM
    for minute in range(1, 10):
        alarm.bank.slide(T0 + (minute + 1) * MINUTE)
        assert not len(alarm.bank.evaluate(hold_empty=True).rows)
    assert alarm.state == ALARM


def test_deterministic_sub_alarms_fall_back_to_ok_never_undetermined() -> None:
    alarm = One("count(log.error{svc=nova}, deterministic) > 2")
    assert alarm.state == OK
    alarm.raw(0, 1.0, 1.0, 1.0)
    assert alarm.close(0) == ALARM
    states = [alarm.close(minute) for minute in range(1, 6)]
    assert OK in states and UNDETERMINED not in states


def test_immediate_evaluation_for_monotonic_cases() -> None:
    alarm = One("max(disk{d=sda}) > 90 times 2")
    alarm.raw(0, 95.0)
    alarm.raw(1, 96.0)  # a future slot: the view still ends at T0
    assert alarm.immediately() == ALARM
    average = One("avg(disk) > 90")
    average.raw(0, 99.0)
    assert average.immediately() is None


def test_points_outside_the_window_are_dropped_and_counted() -> None:
    alarm = One("avg(cpu) > 1")
    alarm.raw(-5, 5.0)
    alarm.raw(10, 5.0)
    assert alarm.bank.dropped == 2 and int(alarm.bank.count.sum()) == 0


def test_freed_rows_are_reused_clean() -> None:
    alarm = One("avg(cpu) > 1")
    alarm.raw(0, 5.0)
    alarm.bank.free_row(alarm.row)
    again = alarm.bank.add_row(sub_expressions(parse("avg(cpu) > 1"))[0])
    assert again == alarm.row and int(alarm.bank.count[again].sum()) == 0


def test_alarm_state_from_sub_alarms() -> None:
    expression = parse("avg(a) > 1 or avg(b) > 1")
    assert alarm_state(expression, [OK, ALARM]) == ALARM
    assert alarm_state(expression, [OK, OK]) == OK
    assert alarm_state(expression, [ALARM, UNDETERMINED]) == UNDETERMINED
    assert alarm_state(parse("avg(a) > 1 and avg(b) > 1"), [ALARM, OK]) == OK


def _reference(function: str, operator: str, threshold: float, minutes: list[list[float]], periods: int) -> str | None:
    """Straight from the rules: one Python value per view slot."""
    view = [values for values in minutes[len(minutes) - periods:]]
    compute = {"AVG": lambda v: sum(v) / len(v), "MIN": min, "MAX": max, "SUM": sum, "COUNT": len,
               "LAST": lambda v: v[-1]}[function]
    breach = {"LT": lambda v: v < threshold, "LTE": lambda v: v <= threshold, "GT": lambda v: v > threshold,
              "GTE": lambda v: v >= threshold}[operator]
    values = [compute(v) for v in view if v]
    if any(not breach(v) for v in values):
        return OK
    if len(values) == periods:
        return ALARM
    return None


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["avg", "min", "max", "sum", "count", "last"]),
                          st.sampled_from(["<", "<=", ">", ">="]), st.integers(0, 100),
                          st.lists(st.lists(st.integers(0, 100), max_size=5), min_size=3, max_size=3)),
                min_size=1, max_size=12),
       st.integers(1, 3))
def test_a_bank_of_many_rows_agrees_with_the_rules_row_by_row(rows, periods) -> None:
    """Many sub-alarms evaluated together give each row the answer the rules give it alone."""
    bank = WindowBank(60, periods, T0)
    for function, operator, threshold, _ in rows:
        bank.add_row(sub_expressions(parse(f"{function}(cpu) {operator} {threshold} times {periods}"))[0])
    bank.slide(T0 + 3 * MINUTE)
    index, stamps, values = [], [], []
    for row, (_, _, _, minutes) in enumerate(rows):
        for minute, samples in enumerate(minutes):
            for position, value in enumerate(samples):
                index.append(row)
                stamps.append(T0 + minute * MINUTE + position * 1000)
                values.append(float(value))
    order = np.random.default_rng(len(values)).permutation(len(values))  # arrival order must not matter
    array = np.array(values)[order] if values else np.zeros(0)
    bank.add(np.array(index, np.int64)[order], np.array(stamps, np.int64)[order], np.ones(len(values), np.int64),
             array, array, array, array)
    evaluation = bank.evaluate()
    answers = dict(zip(evaluation.rows.tolist(), evaluation.states.tolist()))
    for row, (function, operator, threshold, minutes) in enumerate(rows):
        expected = _reference(function.upper(), {"<": "LT", "<=": "LTE", ">": "GT", ">=": "GTE"}[operator],
                              threshold, minutes, periods)
        got = STATES[answers[row]] if row in answers else None
        assert got == expected, (function, operator, threshold, minutes)
