"""A sub-alarm's window and state, as docs/alarm-evaluation.md (Monasca's thresh) defines them."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nephoscope.alarms.expression import parse, sub_expressions
from nephoscope.alarms.window import ALARM, OK, UNDETERMINED, SubAlarm, alarm_state

MINUTE = 60_000
T0 = 1_800_000_000_000 - (1_800_000_000_000 % MINUTE)


def sub(text: str) -> SubAlarm:
    return SubAlarm(sub_expressions(parse(text))[0], view_end=T0)


def raw(alarm: SubAlarm, minute: int, *values: float, second: int = 10) -> None:
    """Raw samples in minute ``minute`` (relative to T0), ``second`` apart from its start."""
    timestamps = T0 + minute * MINUTE + second * 1000 + np.arange(len(values)) * 1000
    array = np.array(values, float)
    alarm.add(timestamps, np.ones(len(values), np.int64), array, array, array, array)


def close(alarm: SubAlarm, minute: int) -> str | None:
    """Slide the view to end after minute ``minute`` and evaluate."""
    alarm.slide(T0 + (minute + 1) * MINUTE)
    return alarm.evaluate()


def test_a_lone_spike_does_not_fire_a_three_period_alarm() -> None:
    alarm = sub("avg(cpu{h=a}) > 90 times 3")
    raw(alarm, 0, 20.0)
    assert close(alarm, 0) == OK
    raw(alarm, 1, 95.0)
    raw(alarm, 2, 30.0)
    assert close(alarm, 1) is None and close(alarm, 2) is None  # the good minute keeps it OK
    assert alarm.state == OK


def test_three_breaching_periods_alarm_and_one_good_period_clears() -> None:
    alarm = sub("avg(cpu{h=a}) > 90 times 3")
    results = []
    for minute in range(3):
        raw(alarm, minute, 93.0, 97.0)
        results.append(close(alarm, minute))
    assert results[-1] == ALARM
    assert alarm.current_values == [95.0, 95.0, 95.0]
    raw(alarm, 3, 10.0)
    assert close(alarm, 3) == OK


def test_summaries_merge_exactly() -> None:
    alarm = sub("avg(cpu) > 50")
    timestamps = np.array([T0 + 5_000, T0 + 40_000])
    # Two 30 s agent windows: (count 3, sum 270) and (count 1, sum 10): avg = 280 / 4 = 70.
    alarm.add(timestamps, np.array([3, 1]), np.array([270.0, 10.0]), np.array([80.0, 10.0]),
              np.array([100.0, 10.0]), np.array([90.0, 10.0]))
    assert close(alarm, 0) == ALARM and alarm.current_values == [70.0]
    for text, expected in (("min(cpu) < 11", 10.0), ("max(cpu) > 50", 100.0), ("sum(cpu) > 5", 280.0),
                           ("count(cpu) > 3", 4.0), ("last(cpu) < 50", 10.0)):
        other = sub(text)
        other.add(timestamps, np.array([3, 1]), np.array([270.0, 10.0]), np.array([80.0, 10.0]),
                  np.array([100.0, 10.0]), np.array([90.0, 10.0]))
        assert close(other, 0) == ALARM and other.current_values == [expected], text


def test_no_data_goes_undetermined_after_the_empty_threshold() -> None:
    alarm = sub("avg(cpu) > 90 times 2")  # threshold: 2 x 2 periods x 1 minute = 4 empty observations
    raw(alarm, 0, 99.0)
    raw(alarm, 1, 99.0)
    assert close(alarm, 1) == ALARM
    results = [close(alarm, minute) for minute in range(2, 8)]
    assert results[:3] == [None, None, None] and UNDETERMINED in results
    assert alarm.state == UNDETERMINED


def test_deterministic_sub_alarms_fall_back_to_ok_never_undetermined() -> None:
    alarm = sub("count(log.error{svc=nova}, deterministic) > 2")
    assert alarm.state == OK
    raw(alarm, 0, 1.0, 1.0, 1.0)
    assert close(alarm, 0) == ALARM
    states = [close(alarm, minute) for minute in range(1, 6)]
    assert OK in states and UNDETERMINED not in states


def test_immediate_evaluation_for_monotonic_cases() -> None:
    alarm = sub("max(disk{d=sda}) > 90 times 2")
    raw(alarm, 0, 95.0)
    raw(alarm, 1, 96.0)  # a future slot: the view still ends at T0
    assert alarm.evaluate_immediately() == ALARM
    assert sub("avg(disk) > 90").evaluate_immediately() is None


def test_points_outside_the_window_are_dropped_and_counted() -> None:
    alarm = sub("avg(cpu) > 1")
    raw(alarm, -5, 5.0)
    raw(alarm, 10, 5.0)
    assert alarm.dropped == 2 and not alarm.slots


def test_alarm_state_from_sub_alarms() -> None:
    expression = parse("avg(a) > 1 or avg(b) > 1")
    assert alarm_state(expression, [OK, ALARM]) == ALARM
    assert alarm_state(expression, [OK, OK]) == OK
    assert alarm_state(expression, [ALARM, UNDETERMINED]) == UNDETERMINED
    assert alarm_state(parse("avg(a) > 1 and avg(b) > 1"), [ALARM, OK]) == OK


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.floats(0, 100, allow_nan=False), min_size=0, max_size=6), min_size=3, max_size=3),
       st.integers(1, 3))
def test_alarm_exactly_when_every_view_period_has_data_and_breaches(minutes, periods) -> None:  # noqa: ANN001
    alarm = sub(f"avg(cpu) > 50 times {periods}")
    alarm.slide(T0 + 3 * MINUTE)  # the view: the last `periods` of minutes 0, 1, 2
    for minute, values in enumerate(minutes):
        if values:
            raw(alarm, minute, *values)
    state = alarm.evaluate()
    view = minutes[3 - periods:]
    averages = [sum(v) / len(v) for v in view if v]
    if any(a <= 50 for a in averages):
        assert state == OK
    elif len(averages) == periods:
        assert state == ALARM
    else:
        assert state is None and alarm.state == UNDETERMINED
