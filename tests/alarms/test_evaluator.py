"""The evaluator in process: points and time in, alarm transitions out."""

from __future__ import annotations

import numpy as np

from nephoscope.alarms.definitions import AlarmDefinition
from nephoscope.alarms.evaluator import Evaluator, alarm_id
from nephoscope.alarms.windows import ALARM, OK, UNDETERMINED
from nephoscope.metrics.store import SeriesInfo
from nephoscope.metrics.summary import Points

MINUTE = 60_000
T0 = 1_800_000_000_000 - (1_800_000_000_000 % MINUTE)
GRACE = 10_000
SCALE_OUT = AlarmDefinition(id="scale", tenant="p", name="scale out", match_by=["hostname"],
                            expression="avg(cpu.utilization_perc{service=compute}, 60) > 90 times 3")


def host(series_id: int, name: str) -> SeriesInfo:
    return SeriesInfo(series_id, "p", "cpu.utilization_perc", {"service": "compute", "hostname": name})


SERIES = [host(1, "h1"), host(2, "h2"), SeriesInfo(3, "p", "cpu.utilization_perc", {"service": "network",
                                                                                   "hostname": "h3"})]


def started(*definitions: AlarmDefinition, series: list[SeriesInfo] = SERIES) -> Evaluator:
    evaluator = Evaluator(grace_ms=GRACE)
    evaluator.load(list(definitions))
    evaluator.route(series, T0)
    return evaluator


def samples(series_id: int, minute: int, *values: float) -> Points:
    timestamps = T0 + minute * MINUTE + 5_000 + np.arange(len(values)) * 10_000
    array = np.array(values, float)
    return Points(np.full(len(values), series_id, np.int64), timestamps, np.ones(len(values), np.int64),
                  array, array.copy(), array.copy(), array.copy())


def run_minutes(evaluator: Evaluator, per_minute: dict[int, list[tuple[int, list[float]]]], minutes: int) -> list:
    """Feed each minute's points during that minute, tick after it closes; all transitions."""
    transitions = []
    for minute in range(minutes):
        for series_id, values in per_minute.get(minute, []):
            transitions += evaluator.ingest(samples(series_id, minute, *values), T0 + minute * MINUTE + 30_000)
        transitions += evaluator.tick(T0 + (minute + 1) * MINUTE + GRACE)
    return transitions


def test_auto_scaling_one_spike_nothing_three_hot_minutes_one_alarm_then_one_ok() -> None:
    evaluator = started(SCALE_OUT)
    normal = [20.0, 25.0, 22.0]
    per_minute = {m: [(1, normal)] for m in range(12)}
    per_minute[1] = [(1, [95.0, 25.0, 22.0])]          # a lone spike: the minute's average is low
    for m in (4, 5, 6):
        per_minute[m] = [(1, [93.0, 96.0, 99.0])]      # three consecutive hot minutes
    transitions = run_minutes(evaluator, per_minute, 12)
    states = [(t.old_state, t.new_state) for t in transitions]
    assert states == [(UNDETERMINED, OK), (OK, ALARM), (ALARM, OK)]
    fired = transitions[1]
    assert fired.timestamp_ms == T0 + 7 * MINUTE + GRACE, "fires when the third hot minute closes"
    assert fired.alarm.instance == ("h1",) and fired.alarm.id == alarm_id("scale", ("h1",))
    assert fired.reason.startswith("Thresholds were exceeded for the sub-alarms: AVG(cpu.utilization_perc")
    assert fired.reason.endswith("with the values: [96, 96, 96]")
    assert transitions[2].timestamp_ms == T0 + 8 * MINUTE + GRACE


def test_match_by_gives_one_alarm_per_host_and_unmatched_series_none() -> None:
    evaluator = started(SCALE_OUT)
    per_minute = {m: [(1, [95.0]), (2, [10.0]), (3, [99.0])] for m in range(3)}
    transitions = run_minutes(evaluator, per_minute, 3)
    assert {(t.alarm.instance, t.new_state) for t in transitions} == {(("h1",), ALARM), (("h2",), OK)}
    assert len(evaluator.alarms) == 2


def test_an_alarm_waits_for_every_sub_expression_to_have_a_metric() -> None:
    both = AlarmDefinition(id="both", tenant="p", name="both", expression="max(cpu.utilization_perc) > 50 and "
                           "max(mem.usage{hostname=h1}) > 80")
    evaluator = started(both, series=[*SERIES, SeriesInfo(9, "p", "mem.usage", {"hostname": "h1"})])
    assert evaluator.ingest(samples(1, 0, 99.0), T0 + 30_000) == []
    assert evaluator.tick(T0 + MINUTE + GRACE) == [], "no alarm until mem.usage has been measured"
    assert not evaluator.alarms[alarm_id("both", ())].created
    assert evaluator.ingest(samples(9, 1, 90.0), T0 + MINUTE + 30_000)[0].new_state == ALARM  # immediate
    assert evaluator.alarms[alarm_id("both", ())].created


def test_deterministic_alarms_start_ok_and_never_go_undetermined() -> None:
    errors = AlarmDefinition(id="errors", tenant="p", name="errors",
                             expression="count(log.error{service=nova}, deterministic) > 2")
    evaluator = started(errors, series=[SeriesInfo(5, "p", "log.error", {"service": "nova", "hostname": "c1"})])
    transitions = evaluator.ingest(samples(5, 0, 1.0, 1.0, 1.0), T0 + 40_000)
    assert [(t.old_state, t.new_state) for t in transitions] == [(OK, ALARM)]  # count > 2: immediate
    later = []
    for minute in range(1, 8):
        later += evaluator.tick(T0 + (minute + 1) * MINUTE + GRACE)
    assert [t.new_state for t in later] == [OK]


def test_deleting_a_definition_drops_its_alarms_and_updates_take_effect() -> None:
    evaluator = started(SCALE_OUT)
    run_minutes(evaluator, {0: [(1, [95.0])]}, 1)
    assert evaluator.alarms
    stricter = AlarmDefinition(id="scale", tenant="p", name="scale out", match_by=["hostname"],
                               expression="avg(cpu.utilization_perc{service=compute}, 60) > 99 times 1")
    evaluator.on_change("updated", stricter, T0 + MINUTE)
    assert next(iter(evaluator.alarms.values())).definition.expression.endswith("> 99 times 1")
    evaluator.ingest(samples(1, 1, 98.0), T0 + MINUTE + 30_000)
    assert [t.new_state for t in evaluator.tick(T0 + 2 * MINUTE + GRACE)] == [OK], "the new threshold applies"
    removed = evaluator.on_change("deleted", stricter, T0 + 2 * MINUTE)
    assert removed == [alarm_id("scale", ("h1",)), alarm_id("scale", ("h2",))] or len(removed) == 2
    assert not evaluator.alarms and not len(evaluator.routes)
    assert evaluator.ingest(samples(1, 2, 95.0), T0 + 2 * MINUTE + 30_000) == [] and not evaluator.alarms


def test_windowed_reason_prints_averages_without_float_noise() -> None:
    # (7.6 + 7.8) / 2 is 7.699999999999999 in binary floating point
    definition = AlarmDefinition(id="noise", tenant="p", name="noise", match_by=["hostname"],
                                 expression="avg(cpu.utilization_perc{service=compute}, 60) > 7 times 2")
    evaluator = started(definition)
    transitions = run_minutes(evaluator, {m: [(1, [7.6, 7.8])] for m in range(3)}, 3)
    fired = next(t for t in transitions if t.new_state == ALARM)
    assert fired.reason.endswith("with the values: [7.7, 7.7]"), fired.reason
    assert fired.sub_alarms[0]["current_values"] == [7.699999999999999, 7.699999999999999]  # the data stays exact


def test_immediate_reason_names_the_values_that_fired() -> None:
    """max(...) > x fires as the point arrives, before its period closes: the values are those of the
    breaching run (in the open period), not the closed view's (which is empty)."""
    definition = AlarmDefinition(id="now", tenant="p", name="now", match_by=["hostname"],
                                 expression="max(cpu.utilization_perc{service=compute}) > 7")
    evaluator = started(definition)
    evaluator.ingest(samples(1, 0, 1.0), T0 + 20_000)  # the alarm exists (OK) once it has data
    evaluator.tick(T0 + MINUTE + 10_000)
    fired = evaluator.ingest(samples(1, 1, 7.699999999999999, 3.0), T0 + MINUTE + 30_000)
    assert [t.new_state for t in fired] == [ALARM]
    assert fired[0].reason == ("Thresholds were exceeded for the sub-alarms: MAX(cpu.utilization_perc{service=compute})"
                               " > 7.0 with the values: [7.7]"), fired[0].reason
