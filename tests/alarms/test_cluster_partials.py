"""Alarms across partitions: partials folded where series live, merged where alarms live, give the
single-node evaluator's transitions on the same points (docs/alarm-evaluation.md, "Clustered")."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nephoscope.alarms.cluster.merging import PartitionEvaluator, Report
from nephoscope.alarms.cluster.partials import PartialFolder, evaluator_of
from nephoscope.alarms.definitions import AlarmDefinition
from nephoscope.alarms.evaluator import Evaluator, alarm_id
from nephoscope.metrics.series import IngestBatch, PointBatch, SeriesDefinition, ValueMeta
from nephoscope.metrics.summary import Points

MINUTE = 60_000
T0 = 1_800_000_000_000 - (1_800_000_000_000 % MINUTE)
GRACE = 30_000
SOURCES = 2
DEFINITIONS = [
    AlarmDefinition(id="both", tenant="p", name="both", expression="avg(a) > 5 and max(b) < 3"),
    AlarmDefinition(id="per-host", tenant="p", name="per host", match_by=["host"],
                    expression="avg(a) > 5 and max(b, 60) < 3 times 2"),
    AlarmDefinition(id="spike", tenant="p", name="spike", expression="max(b) > 8"),
]
# Series ids decide partitions (id % 2): a{x} and b{y} on partition 0, a{y} and b{x} on partition 1,
# so every alarm reads series of both partitions.
SERIES = [SeriesDefinition(10, "p", "a", {"host": "x"}), SeriesDefinition(11, "p", "b", {"host": "x"}),
          SeriesDefinition(12, "p", "b", {"host": "y"}), SeriesDefinition(13, "p", "a", {"host": "y"})]

step = st.tuples(
    st.integers(0, 45_000),  # time passing before the step (ms)
    st.booleans(),  # a period-closing tick (else a batch)
    st.lists(st.tuples(st.integers(0, 3), st.integers(-100_000, 15_000), st.integers(0, 10)), max_size=6),
)


def batch(points: list[tuple[int, int, int]], now: int) -> IngestBatch:
    series = np.array([SERIES[i].id for i, _, _ in points], np.int64)
    timestamps = np.array([now + offset for _, offset, _ in points], np.int64)
    values = np.array([float(v) for _, _, v in points])  # whole numbers: sums are exact in any order
    return IngestBatch([], PointBatch(series, timestamps, value=values), ValueMeta(), "p")


def part(whole: IngestBatch, partition: int) -> IngestBatch:
    mask = whole.points.series % SOURCES == partition
    return IngestBatch([], PointBatch(whole.points.series[mask], whole.points.timestamp[mask],
                                      value=whole.points.value[mask]), ValueMeta(), "p")


def single_node(steps: list) -> list[tuple]:
    evaluator = Evaluator(grace_ms=GRACE)
    evaluator.load(DEFINITIONS)
    evaluator.route(SERIES, T0)
    now, seen = T0, []
    for index, (elapsed, tick, points) in enumerate(steps):
        now += elapsed
        if tick:
            transitions = evaluator.tick(now)
        else:
            whole = batch(points, now).points
            values = whole.value
            transitions = evaluator.ingest(Points(whole.series, whole.timestamp, np.ones(len(values), np.int64),
                                                  values, values, values, values), now)
        seen += [(index, t.alarm.id, t.old_state, t.new_state, t.timestamp_ms) for t in transitions]
    return seen


def clustered(steps: list, evaluators: int) -> list[tuple]:
    folders = [PartialFolder(evaluators) for _ in range(SOURCES)]
    partitions = [PartitionEvaluator(e, SOURCES, GRACE, T0) for e in range(evaluators)]
    sequence = [0] * evaluators

    def send(destination: int, report: Report) -> list:
        sequence[destination] += 1
        return partitions[destination].apply(sequence[destination], report)

    for folder in folders:
        folder.load(DEFINITIONS)
    for evaluator in partitions:
        evaluator.load(DEFINITIONS)
    for source, folder in enumerate(folders):
        for destination, routes in folder.route(s for s in SERIES if s.id % SOURCES == source).items():
            send(destination, Report(source, T0, routes=routes))
    now, seen = T0, []
    for index, (elapsed, tick, points) in enumerate(steps):
        now += elapsed
        transitions = []
        for source, folder in enumerate(folders):
            if tick:  # every source reports it has sent everything up to now
                for destination in range(evaluators):
                    transitions += send(destination, Report(source, now, watermark_ms=now))
                continue
            fold = folder.fold(part(batch(points, now), source))
            for destination, partials in fold.partials.items():
                transitions += send(destination, Report(source, now, routes=fold.routes.get(destination, []),
                                                        partials=partials))
        seen += [(index, t.alarm.id, t.old_state, t.new_state, t.timestamp_ms) for t in transitions]
    return seen


def by_alarm(transitions: list[tuple]) -> dict[str, list[tuple]]:
    """Each alarm's own sequence (alarms of different evaluator partitions interleave freely)."""
    grouped: dict[str, list[tuple]] = {}
    for transition in transitions:
        grouped.setdefault(transition[1], []).append(transition)
    return grouped


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=30), st.integers(1, 3))
def test_partials_merged_across_partitions_give_the_single_node_transitions(steps: list, evaluators: int) -> None:
    assert by_alarm(clustered(steps, evaluators)) == by_alarm(single_node(steps))


def test_an_alarm_reading_two_partitions_fires_and_clears_as_on_one_node() -> None:
    """avg(a) from partition 0 and max(b) from partition 1: ALARM only once both sides' partials
    for the minute are merged and every source has reported past its end plus grace."""
    steps = [(5_000, False, [(0, 0, 9), (1, 0, 1)]), (60_000, False, []), (GRACE, True, []),
             (60_000, False, [(0, 0, 1), (1, 0, 1)]), (60_000 + GRACE, True, [])]
    expected = single_node(steps)
    both = alarm_id("both", ())
    assert [(t[2], t[3]) for t in expected if t[1] == both] == [("UNDETERMINED", "ALARM"), ("ALARM", "OK")]
    assert by_alarm(clustered(steps, 2)) == by_alarm(expected)


def test_a_period_waits_for_the_slowest_source() -> None:
    """Until every source has reported past a period's end plus grace, it is not closed."""
    sources = [PartialFolder(1) for _ in range(SOURCES)]
    evaluator = PartitionEvaluator(0, SOURCES, GRACE, T0)
    evaluator.load(DEFINITIONS[:1])
    for number, (source, values) in enumerate(zip(sources, ([(0, 1000, 9)], [(1, 1000, 1)])), 1):
        source.load(DEFINITIONS[:1])
        routes = source.route([SERIES[values[0][0]]])[0]
        partials = source.fold(part(batch(values, T0), number - 1)).partials[0]
        evaluator.apply(number, Report(number - 1, T0, routes=routes, partials=partials))
    closed = T0 + MINUTE + GRACE
    assert evaluator.apply(3, Report(0, closed, watermark_ms=closed)) == []  # source 1 is still behind
    transitions = evaluator.apply(4, Report(1, closed, watermark_ms=closed))
    assert [(t.old_state, t.new_state, t.timestamp_ms) for t in transitions] == [("UNDETERMINED", "ALARM", closed)]
    assert evaluator.apply(4, Report(1, closed, watermark_ms=closed)) == []  # applied once


def test_a_snapshot_resumes_with_the_same_transitions() -> None:
    steps = [(5_000, False, [(0, 0, 9), (1, 0, 1), (2, 0, 1), (3, 0, 7)]), (60_000 + GRACE, True, []),
             (30_000, False, [(0, 0, 1), (3, 0, 1)]), (60_000 + GRACE, True, [])]
    folders = [PartialFolder(1) for _ in range(SOURCES)]
    reports = []
    for source, folder in enumerate(folders):
        folder.load(DEFINITIONS)
        reports.append(Report(source, T0, routes=folder.route(s for s in SERIES if s.id % SOURCES == source)[0]))
    now = T0
    for elapsed, tick, points in steps:
        now += elapsed
        for source, folder in enumerate(folders):
            if tick:
                reports.append(Report(source, now, watermark_ms=now))
            else:
                fold = folder.fold(part(batch(points, now), source))
                reports += [Report(source, now, partials=p) for p in fold.partials.values()]

    def run(evaluator: PartitionEvaluator, start: int) -> list:
        out = []
        for sequence, report in enumerate(reports[start:], start + 1):
            out += [(t.alarm.id, t.new_state, t.timestamp_ms) for t in evaluator.apply(sequence, report)]
        return out

    whole = PartitionEvaluator(0, SOURCES, GRACE, T0)
    whole.load(DEFINITIONS)
    expected = run(whole, 0)
    assert expected
    cut = len(reports) // 2
    first_half = PartitionEvaluator(0, SOURCES, GRACE, T0)
    first_half.load(DEFINITIONS)
    done = []
    for sequence, report in enumerate(reports[:cut], 1):
        done += [(t.alarm.id, t.new_state, t.timestamp_ms) for t in first_half.apply(sequence, report)]
    resumed = PartitionEvaluator.restore(first_half.snapshot())
    # A successor is handed the messages after the snapshot, and some before it again (not yet acked).
    again = []
    for sequence, report in enumerate(reports, 1):
        again += [(t.alarm.id, t.new_state, t.timestamp_ms) for t in resumed.apply(sequence, report)]
    assert done + again == expected


def test_feeds_go_to_the_evaluator_partition_of_their_alarm() -> None:
    folder = PartialFolder(3)
    folder.load(DEFINITIONS)
    routes = folder.route(SERIES)
    for destination, found in routes.items():
        for route in found:
            assert evaluator_of(alarm_id(route.target.definition_id, route.target.instance), 3) == destination


def test_a_report_survives_the_wire_and_its_id_ignores_the_send_time() -> None:
    from nephoscope.alarms.cluster.wire import batch_origin, decode, encode, message_id

    folder = PartialFolder(1)
    folder.load(DEFINITIONS)
    points = batch([(0, 0, 9), (0, 10, 3), (3, -70_000, 4)], T0).points
    fold = folder.fold(IngestBatch(SERIES, points, ValueMeta(), "p"))
    report = Report(0, T0, routes=fold.routes[0], partials=fold.partials[0], watermark_ms=T0 - 5)
    again = decode(encode(report))
    assert again.routes == report.routes and again.watermark_ms == T0 - 5 and again.at_ms == T0
    for name in ("feed", "slot", "count", "sum", "min", "max", "last", "last_time"):
        assert np.array_equal(getattr(again.partials, name), getattr(report.partials, name))
        assert getattr(again.partials, name).dtype == getattr(report.partials, name).dtype
    assert message_id(0, report) == message_id(0, Report(0, T0 + 999, report.routes, report.partials, T0 - 5))
    assert message_id(0, report) != message_id(1, report)
    # Two batches folding to equal partials are two messages: the batch's own digest is in the id.
    other = IngestBatch(SERIES, batch([(0, 0, 9), (0, 10, 3), (3, -70_001, 4)], T0).points, ValueMeta(), "p")
    assert batch_origin(other) != batch_origin(IngestBatch(SERIES, points, ValueMeta(), "p"))
    assert message_id(0, report, batch_origin(other)) != message_id(0, report, b"")


def test_definitions_changed_elsewhere_are_caught_up_on_both_sides() -> None:
    """A definition created, changed and deleted through another node's API reaches a folder and an
    evaluator partition by ``sync``: new series are matched, a new period re-slots, a deletion drops."""
    folder, evaluator = PartialFolder(1), PartitionEvaluator(0, 1, GRACE, T0)
    folder.load(DEFINITIONS[:1])
    evaluator.load(DEFINITIONS[:1])
    added = AlarmDefinition(id="low", tenant="p", name="low", expression="min(a) < 1")
    assert folder.sync([DEFINITIONS[0], added]) == [added]
    assert evaluator.sync([DEFINITIONS[0], added]) == []
    routes = folder.route(SERIES, "low")[0]
    assert {route.target.definition_id for route in routes} == {"low"}
    evaluator.apply(1, Report(0, T0, routes=routes))
    assert {alarm.definition.id for alarm in evaluator.evaluator.alarms.values()} == {"low"}
    slower = AlarmDefinition(id="low", tenant="p", name="low", expression="min(a, 120) < 1")
    folder.sync([DEFINITIONS[0], slower])
    fold = folder.fold(batch([(0, 0, 0)], T0 + 60_000))
    assert (fold.partials[0].slot % 120_000 == 0).all()
    removed = evaluator.sync([DEFINITIONS[0]])
    assert removed == [alarm_id("low", ())] and not evaluator.evaluator.alarms
    assert folder.sync([DEFINITIONS[0]]) == [] and not len(folder.fold(batch([(0, 0, 0)], T0)).partials)


def test_a_successor_replaying_a_partition_gives_each_batch_once() -> None:
    """Source 0's owner sends its first batch and dies before sending its second; the new owner
    replays both (a folder of its own, routes again) with their stream sequences. avg(a) is 5 only
    when each is merged once: 9 twice, or the 1 missing, would raise the alarm."""
    steps = [(5_000, False, [(0, 0, 9), (1, 0, 1)]), (5_000, False, [(0, 0, 1)]), (60_000 + GRACE, True, [])]
    expected = single_node(steps)
    both = alarm_id("both", ())
    assert [(t[2], t[3]) for t in expected if t[1] == both] == [("UNDETERMINED", "OK")]

    evaluator = PartitionEvaluator(0, SOURCES, GRACE, T0)
    evaluator.load(DEFINITIONS[:1])
    sequence = iter(range(1, 100))
    seen: list = []

    def send(report: Report) -> None:
        seen.extend((both, t.old_state, t.new_state) for t in evaluator.apply(next(sequence), report)
                    if t.alarm.id == both)

    def owner(source: int) -> PartialFolder:
        folder = PartialFolder(1)
        folder.load(DEFINITIONS[:1])
        send(Report(source, T0, routes=folder.route(s for s in SERIES if s.id % SOURCES == source)[0]))
        return folder

    def fold(folder: PartialFolder, source: int, index: int, origin: int) -> Report:
        elapsed = sum(step[0] for step in steps[:index + 1])
        partials = folder.fold(part(batch(steps[index][2], T0 + elapsed), source)).partials[0]
        return Report(source, T0 + elapsed, partials=partials, origin=origin)

    first, other = owner(0), owner(1)
    send(fold(first, 0, 0, origin=101))
    send(fold(other, 1, 0, origin=102))
    fold(first, 0, 1, origin=103)  # applied, never sent: the owner is killed
    successor = owner(0)
    send(fold(successor, 0, 0, origin=101))  # sent already: merged once
    send(fold(successor, 0, 1, origin=103))
    closed = T0 + sum(step[0] for step in steps)
    for source in range(SOURCES):
        send(Report(source, closed, watermark_ms=closed))
    assert seen == [(both, "UNDETERMINED", "OK")]
    assert evaluator.folded.tolist() == [103, 102]
    assert PartitionEvaluator.restore(evaluator.snapshot()).folded.tolist() == [103, 102]


def test_api_changes_apply_in_order_with_the_partials_and_replay_the_same() -> None:
    """A state set through the API is a transition at the change's time; lifecycle state and link
    are kept; another project's alarm is not found; a deletion drops the alarm; a successor
    replaying from a snapshot decides the same (the same transition, the same answers)."""
    from nephoscope.alarms.cluster.wire import decode, encode

    reports = []
    for source, point in enumerate(((0, 0, 9), (1, 0, 1))):  # the alarm exists once both sides have points
        folder = PartialFolder(1)
        folder.load(DEFINITIONS[:1])
        reports += [Report(source, T0, routes=folder.route(s for s in SERIES if s.id % SOURCES == source)[0]),
                    Report(source, T0 + 5_000,
                           partials=folder.fold(part(batch([point], T0 + 5_000), source)).partials[0])]
    both = alarm_id("both", ())
    changes = [{"alarm": both, "scope": "other", "reply": "r1", "state": "OK"},
               {"alarm": both, "scope": "p", "reply": "r2", "state": "OK", "lifecycle_state": "OPEN",
                "link": "http://ticket/1"},
               {"alarm": both, "scope": "p", "reply": "r3", "delete": True},
               {"alarm": both, "scope": "p", "reply": "r4", "state": "ALARM"}]
    reports += [decode(encode(Report(-1, T0 + 6_000 + i, change=change))) for i, change in enumerate(changes)]

    def run(evaluator: PartitionEvaluator, start: int, stop: int) -> list:
        out = []
        for sequence, report in enumerate(reports[start:stop], start + 1):
            out += [(t.alarm.id, t.old_state, t.new_state, t.reason, t.timestamp_ms)
                    for t in evaluator.apply(sequence, report)]
        return out

    evaluator = PartitionEvaluator(0, SOURCES, GRACE, T0)
    evaluator.load(DEFINITIONS[:1])
    assert run(evaluator, 0, 5) == []
    snapshot = evaluator.snapshot()
    made = run(evaluator, 5, 6)
    assert made == [(both, "UNDETERMINED", "OK", "Alarm state updated via API", T0 + 6_001)]
    alarm = evaluator.evaluator.alarms[both]
    assert (alarm.lifecycle_state, alarm.link) == ("OPEN", "http://ticket/1")
    run(evaluator, 6, len(reports))
    assert evaluator.answers == [("r1", False), ("r2", True), ("r3", True), ("r4", False)]
    assert evaluator.deleted == [both] and both not in evaluator.evaluator.alarms
    successor = PartitionEvaluator.restore(snapshot)
    assert run(successor, 5, len(reports)) == made
    assert successor.answers[-3:] == [("r2", True), ("r3", True), ("r4", False)]
