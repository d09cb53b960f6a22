"""The metric store's contract, written against ``MetricStore`` only.

Every implementation (``conftest.IMPLEMENTATIONS``) must pass these: durable appends that
survive a restart, series found by tenant, name, dimensions and time, names and dimension
listings, reads at every resolution with exact summaries, value_meta, subscribers, back-
pressure and retention. Nothing here reaches into an implementation.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nephoscope.config import ArchivePolicy
from nephoscope.metrics.series import IngestBatch, PointBatch, SeriesDefinition, ValueMeta, define_series
from nephoscope.metrics.store import LabelMatcher, MetricStore, Overloaded, SeriesFilter, StoreStats
from nephoscope.metrics.summary import ordered
from nephoscope.tenancy import ALL_TENANTS

MINUTE, HOUR = 60_000, 3_600_000


def recent_hour() -> int:
    """The start of an hour that closed at least an hour ago: within raw retention, rolled up whole."""
    return (int(time.time() * 1000) // HOUR) * HOUR - 2 * HOUR


def write(store: MetricStore, definition: SeriesDefinition, timestamps: np.ndarray, values: np.ndarray,
          meta: ValueMeta | None = None) -> None:
    batch = IngestBatch(store.new_series([definition]),
                        PointBatch(np.full(len(values), definition.id, np.int64), np.asarray(timestamps, np.int64),
                                   value=np.asarray(values, np.float64)), meta or ValueMeta(), definition.tenant)
    store.write_now(batch)


def write_summaries(store: MetricStore, definition: SeriesDefinition, timestamps: np.ndarray, count: np.ndarray,
                    total: np.ndarray, low: np.ndarray, high: np.ndarray, last: np.ndarray) -> None:
    points = PointBatch(np.full(len(timestamps), definition.id, np.int64), np.asarray(timestamps, np.int64),
                        count=np.asarray(count, np.int64), sum=np.asarray(total, np.float64),
                        min=np.asarray(low, np.float64), max=np.asarray(high, np.float64),
                        last=np.asarray(last, np.float64))
    store.write_now(IngestBatch(store.new_series([definition]), points, ValueMeta(), definition.tenant))


def cpu(host: str, tenant: str = "project-a", **extra: str) -> SeriesDefinition:
    return define_series(tenant, "cpu.utilization_perc", {"hostname": host, **extra})


def test_a_durable_write_reads_back_at_raw_resolution(store: MetricStore) -> None:
    series = cpu("h1")
    start = recent_hour()
    write(store, series, start + np.arange(30) * 10_000, np.arange(30.0))
    points = ordered(store.read([series.id], start, start + HOUR, 0))
    assert points.timestamp.tolist() == (start + np.arange(30) * 10_000).tolist()
    assert points.sum.tolist() == list(np.arange(30.0)) and points.count.tolist() == [1] * 30
    assert points.last.tolist() == points.min.tolist() == points.max.tolist() == list(np.arange(30.0))


def test_reads_are_bounded_by_range_and_series(store: MetricStore) -> None:
    a, b = cpu("h1"), cpu("h2")
    start = recent_hour()
    write(store, a, start + np.arange(60) * MINUTE, np.ones(60))
    write(store, b, start + np.arange(60) * MINUTE, np.full(60, 2.0))
    points = store.read([a.id], start + 10 * MINUTE, start + 20 * MINUTE, 0)
    assert set(points.series.tolist()) == {a.id}
    assert sorted(points.timestamp.tolist()) == [start + i * MINUTE for i in range(10, 20)]
    assert len(store.read([], start, start + HOUR, 0)) == 0
    assert len(store.read([a.id], start + HOUR, start, 0)) == 0


def test_a_series_is_new_until_written_and_known_after_a_restart(store_factory) -> None:  # noqa: ANN001
    store = store_factory()
    series = cpu("h1")
    assert store.new_series([series]) == [series]
    write(store, series, np.array([recent_hour()]), np.array([1.0]))
    assert store.new_series([series]) == []
    store.close()
    reopened = store_factory()
    assert reopened.new_series([series]) == []


def test_everything_acknowledged_survives_a_restart(store_factory) -> None:  # noqa: ANN001
    store = store_factory()
    series = cpu("h1")
    start = recent_hour()
    write(store, series, start + np.arange(100) * 1000, np.arange(100.0))
    store.close()
    reopened = store_factory()
    points = ordered(reopened.read([series.id], start, start + HOUR, 0))
    assert len(points) == 100 and float(points.sum.sum()) == float(np.arange(100.0).sum())
    assert [info.id for info in reopened.find(SeriesFilter("project-a"))] == [series.id]


def test_rollups_are_exact_before_and_after_compaction(store: MetricStore) -> None:
    series = cpu("h1")
    start = recent_hour()
    values = np.sin(np.arange(360)) * 50 + 50
    write(store, series, start + np.arange(360) * 10_000, values)

    def check() -> None:
        minutes = ordered(store.read([series.id], start, start + HOUR, 60))
        assert minutes.timestamp.tolist() == [start + i * MINUTE for i in range(60)]
        assert minutes.count.tolist() == [6] * 60
        per_minute = values.reshape(60, 6)
        assert np.allclose(minutes.sum, per_minute.sum(axis=1))
        assert minutes.min.tolist() == per_minute.min(axis=1).tolist()
        assert minutes.max.tolist() == per_minute.max(axis=1).tolist()
        assert minutes.last.tolist() == per_minute[:, -1].tolist()
        hour = store.read([series.id], start, start + HOUR, 3600)
        assert hour.count.tolist() == [360] and hour.last.tolist() == [values[-1]]
        assert np.isclose(hour.sum[0], values.sum()) and hour.max[0] == values.max()

    check()
    store.compact(force=True)
    check()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 3599), st.integers(1, 5), st.floats(-1e6, 1e6, allow_nan=False),
                          st.floats(0, 1e3, allow_nan=False)), min_size=1, max_size=40, unique_by=lambda t: t[0]))
def test_summaries_merge_exactly_into_rollups(store: MetricStore, rows: list) -> None:
    """Window summaries (count, sum, min, max, last) pushed by agents roll up exactly."""
    series = define_series("project-a", f"summary.{abs(hash(tuple(rows)))}", {})
    start = recent_hour()
    rows = sorted(rows)
    seconds = np.array([r[0] for r in rows])
    count = np.array([r[1] for r in rows])
    low = np.array([r[2] for r in rows])
    high = low + np.array([r[3] for r in rows])
    last = high
    total = (low + high) / 2 * count
    write_summaries(store, series, start + seconds * 1000, count, total, low, high, last)
    hour = store.read([series.id], start, start + HOUR, 3600)
    assert hour.count.tolist() == [int(count.sum())]
    assert np.isclose(hour.sum[0], total.sum(), rtol=1e-9, atol=1e-6)
    assert hour.min[0] == low.min() and hour.max[0] == high.max() and hour.last[0] == last[-1]


def test_a_resent_point_replaces_the_one_stored(store: MetricStore) -> None:
    series = cpu("h1")
    start = recent_hour()
    write(store, series, start + np.arange(10) * 1000, np.zeros(10))
    write(store, series, np.array([start + 3000]), np.array([42.0]))
    points = ordered(store.read([series.id], start, start + HOUR, 0))
    assert len(points) == 10 and points.sum.tolist()[3] == 42.0


def test_find_is_scoped_to_the_tenant(store: MetricStore) -> None:
    start = recent_hour()
    mine, theirs = cpu("h1", "project-a"), cpu("h1", "project-b")
    write(store, mine, np.array([start]), np.array([1.0]))
    write(store, theirs, np.array([start]), np.array([1.0]))
    assert [s.id for s in store.find(SeriesFilter("project-a"))] == [mine.id]
    assert [s.id for s in store.find(SeriesFilter("project-b"))] == [theirs.id]
    assert store.find(SeriesFilter("project-c")) == []
    assert {s.id for s in store.find(SeriesFilter(ALL_TENANTS))} == {mine.id, theirs.id}
    assert store.names(SeriesFilter("project-c"), None, 10) == []


def test_find_matches_names_and_dimensions(store: MetricStore) -> None:
    start = recent_hour()
    definitions = [cpu("h1", service="compute"), cpu("h2", service="compute"), cpu("h3", service="network"),
                   define_series("project-a", "mem.free_mb", {"hostname": "h1"})]
    for definition in definitions:
        write(store, definition, np.array([start]), np.array([1.0]))
    found = store.find(SeriesFilter("project-a", "cpu.utilization_perc", (("service", ("compute",)),)))
    assert {s.dimensions["hostname"] for s in found} == {"h1", "h2"}
    found = store.find(SeriesFilter("project-a", None, (("hostname", ("h1", "h3")),)))
    assert {(s.name, s.dimensions["hostname"]) for s in found} == {
        ("cpu.utilization_perc", "h1"), ("cpu.utilization_perc", "h3"), ("mem.free_mb", "h1")}
    assert {s.name for s in store.find(SeriesFilter("project-a", None, (("service", None),)))} == {
        "cpu.utilization_perc"}
    info = store.find(SeriesFilter("project-a", "mem.free_mb"))[0]
    assert (info.id, info.tenant, info.name, info.dimensions) == (
        definitions[3].id, "project-a", "mem.free_mb", {"hostname": "h1"})


def _matched(store: MetricStore, *matchers: tuple[str, str, str], tenant: str = "project-a") -> set[tuple]:
    found = store.find(SeriesFilter(tenant, matchers=tuple(LabelMatcher(*m) for m in matchers)))
    return {(s.name, s.dimensions.get("hostname", "")) for s in found}


def _prometheus_catalog(store: MetricStore) -> None:
    start = recent_hour()
    for name, dimensions in (("cpu.utilization_perc", {"hostname": "h1", "zone": "a"}),
                             ("cpu.utilization_perc", {"hostname": "h2"}),
                             ("cpu_utilization_perc", {"hostname": "h3", "zone": "b"}),
                             ("node_cpu_seconds_total", {"hostname": "web-01", "mode": "idle"}),
                             ("node_cpu_seconds_total", {"hostname": "web-02", "mode": "user"}),
                             ("température.cœur", {"hostname": "h1"})):
        write(store, define_series("project-a", name, dimensions), np.array([start]), np.array([1.0]))
    write(store, define_series("project-b", "cpu.utilization_perc", {"hostname": "h1"}), np.array([start]),
          np.array([1.0]))


def test_label_matchers_select_as_prometheus_does(store: MetricStore) -> None:
    _prometheus_catalog(store)
    assert _matched(store, ("hostname", "=", "h1")) == {("cpu.utilization_perc", "h1"), ("température.cœur", "h1")}
    assert _matched(store, ("__name__", "=", "node_cpu_seconds_total"), ("mode", "!=", "idle")) == {
        ("node_cpu_seconds_total", "web-02")}
    # Regular expressions are anchored at both ends (Prometheus's semantics).
    assert _matched(store, ("hostname", "=~", "web")) == set()
    assert _matched(store, ("hostname", "=~", "web-.*")) == {("node_cpu_seconds_total", "web-01"),
                                                             ("node_cpu_seconds_total", "web-02")}
    assert _matched(store, ("__name__", "=~", "node.*"), ("hostname", "!~", ".*-01")) == {
        ("node_cpu_seconds_total", "web-02")}
    # A missing label is the empty string: ="" selects the series without it, !="" those with it.
    assert _matched(store, ("__name__", "=~", "cpu.*"), ("zone", "=", "")) == {("cpu.utilization_perc", "h2")}
    assert _matched(store, ("zone", "!=", "")) == {("cpu.utilization_perc", "h1"), ("cpu_utilization_perc", "h3")}
    assert _matched(store, ("__name__", "=~", "cpu.*"), ("zone", "=~", "a|")) == {
        ("cpu.utilization_perc", "h1"), ("cpu.utilization_perc", "h2")}
    assert _matched(store, ("__name__", "=~", "cpu.*"), ("zone", "!~", "a|")) == {("cpu_utilization_perc", "h3")}
    assert _matched(store, ("__name__", "=~", "cpu.*"), ("zone", "!~", "b")) == {
        ("cpu.utilization_perc", "h1"), ("cpu.utilization_perc", "h2")}
    # Every matcher keeps to the tenant scope.
    assert _matched(store, ("hostname", "=", "h1"), tenant="project-b") == {("cpu.utilization_perc", "h1")}
    assert len(store.find(SeriesFilter(ALL_TENANTS, matchers=(LabelMatcher("hostname", "=", "h1"),)))) == 3


def test_a_classic_name_finds_the_dotted_name_it_escapes_to(store: MetricStore) -> None:
    _prometheus_catalog(store)
    # cpu_utilization_perc is both a stored name and the escaped form of cpu.utilization_perc: both answer.
    assert _matched(store, ("__name__", "=", "cpu_utilization_perc")) == {
        ("cpu.utilization_perc", "h1"), ("cpu.utilization_perc", "h2"), ("cpu_utilization_perc", "h3")}
    assert _matched(store, ("__name__", "=", "cpu.utilization_perc")) == {
        ("cpu.utilization_perc", "h1"), ("cpu.utilization_perc", "h2")}
    assert _matched(store, ("__name__", "=", "temp_rature_c_ur")) == {("température.cœur", "h1")}
    assert _matched(store, ("__name__", "=~", "cpu_util.*"), ("hostname", "=", "h2")) == {
        ("cpu.utilization_perc", "h2")}
    assert _matched(store, ("__name__", "!=", "cpu_utilization_perc"), ("hostname", "=~", "h.*")) == {
        ("température.cœur", "h1")}
    assert _matched(store, ("__name__", "=", "cpu_utilization")) == set()


def test_label_matchers_narrow_names_and_dimension_listings(store: MetricStore) -> None:
    _prometheus_catalog(store)
    idle = SeriesFilter("project-a", matchers=(LabelMatcher("mode", "=", "idle"),))
    assert store.names(idle, None, 10) == ["node_cpu_seconds_total"]
    assert store.dimension_names(idle, None, 10) == ["hostname", "mode"]
    zoned = SeriesFilter("project-a", matchers=(LabelMatcher("__name__", "=", "cpu_utilization_perc"),))
    assert store.dimension_values(zoned, "zone", None, 10) == ["a", "b"]
    assert store.dimension_values(zoned, "hostname", None, 10) == ["h1", "h2", "h3"]


def test_an_invalid_regular_expression_is_the_callers_error(store: MetricStore) -> None:
    _prometheus_catalog(store)
    with pytest.raises(ValueError, match="regular expression"):
        store.find(SeriesFilter("project-a", matchers=(LabelMatcher("hostname", "=~", "("),)))
    with pytest.raises(ValueError, match="operator"):
        LabelMatcher("hostname", "~", "x")


def test_find_pages_in_a_stable_order(store: MetricStore) -> None:
    start = recent_hour()
    for host in range(7):
        write(store, cpu(f"h{host}"), np.array([start]), np.array([1.0]))
    everything = store.find(SeriesFilter("project-a"))
    assert len(everything) == 7
    assert everything == sorted(everything, key=lambda s: (s.name, sorted(s.dimensions.items()), s.id)) or \
        [s.id for s in everything] == [s.id for s in store.find(SeriesFilter("project-a"))]
    pages, after = [], None
    while True:
        page = store.find(SeriesFilter("project-a"), after, 3)
        pages += page
        if len(page) < 3:
            break
        after = page[-1].id
    assert [s.id for s in pages] == [s.id for s in everything]


def test_find_with_a_time_range_sees_only_series_with_points_in_it(store: MetricStore) -> None:
    start = recent_hour()
    early, late = cpu("early"), cpu("late")
    write(store, early, np.array([start]), np.array([1.0]))
    write(store, late, np.array([start + 30 * MINUTE]), np.array([1.0]))
    in_range = store.find(SeriesFilter("project-a", None, (), start + 20 * MINUTE, start + HOUR))
    assert [s.id for s in in_range] == [late.id]
    # Points acknowledged but perhaps not yet flushed count where they lie in time, not everywhere.
    before = SeriesFilter("project-a", None, (), start - HOUR, start + MINUTE)
    assert [s.id for s in store.find(before)] == [early.id]
    assert store.names(SeriesFilter("project-a", None, (), start + 2 * HOUR, start + 3 * HOUR), None, 10) == []
    store.compact(force=True)
    in_range = store.find(SeriesFilter("project-a", None, (), start - HOUR, start + MINUTE))
    assert [s.id for s in in_range] == [early.id]
    # A known series' new point, not yet flushed, does not make it match a range it has no point in.
    write(store, late, np.array([start + 40 * MINUTE]), np.array([2.0]))
    assert [s.id for s in store.find(before)] == [early.id]
    assert store.dimension_values(before, "hostname", None, 10) == ["early"]


def test_names_and_dimensions_are_listed_sorted_and_paged(store: MetricStore) -> None:
    start = recent_hour()
    for name, dimensions in (("b.metric", {"zone": "z1", "hostname": "h1"}), ("a.metric", {"hostname": "h2"}),
                             ("c.metric", {"hostname": "h3", "rack": "r1"})):
        write(store, define_series("project-a", name, dimensions), np.array([start]), np.array([1.0]))
    scope = SeriesFilter("project-a")
    assert store.names(scope, None, 10) == ["a.metric", "b.metric", "c.metric"]
    assert store.names(scope, "a.metric", 1) == ["b.metric"]
    assert store.dimension_names(scope, None, 10) == ["hostname", "rack", "zone"]
    assert store.dimension_names(SeriesFilter("project-a", "b.metric"), None, 10) == ["hostname", "zone"]
    assert store.dimension_values(scope, "hostname", None, 10) == ["h1", "h2", "h3"]
    assert store.dimension_values(scope, "hostname", "h1", 1) == ["h2"]
    assert store.dimension_values(SeriesFilter("project-b"), "hostname", None, 10) == []


def test_value_meta_is_kept_per_measurement(store: MetricStore) -> None:
    series = cpu("h1")
    start = recent_hour()
    meta = ValueMeta([series.id], [start + 2000], ['{"rc":"1"}'])
    write(store, series, start + np.arange(5) * 1000, np.arange(5.0), meta)
    assert store.value_meta([series.id], start, start + HOUR) == {(series.id, start + 2000): {"rc": "1"}}
    assert store.value_meta([series.id], start + 3000, start + HOUR) == {}


def test_subscribers_get_every_durable_batch(store: MetricStore) -> None:
    seen: list[IngestBatch] = []
    store.subscribe(seen.append)
    series = cpu("h1")
    write(store, series, np.array([recent_hour()]), np.array([1.0]))
    assert len(seen) == 1 and seen[0].points.series.tolist() == [series.id]


def test_a_subscriber_behind_makes_writes_refused_as_backlog(store: MetricStore) -> None:
    behind = {"points": 0}
    store.subscribe(lambda batch: None, backlog=lambda: behind["points"])
    store.admit()
    behind["points"] = 10**12
    with pytest.raises(Overloaded) as refused:
        store.admit()
    assert refused.value.backlog

    async def write_async() -> None:
        series = cpu("h1")
        await store.write(IngestBatch([series], PointBatch(np.array([series.id]), np.array([recent_hour()]),
                                                           value=np.array([1.0])), ValueMeta()))

    with pytest.raises(Overloaded):
        asyncio.run(write_async())


def test_an_async_write_is_durable_when_it_returns(store: MetricStore) -> None:
    series = cpu("h1")
    start = recent_hour()

    async def write_async() -> int:
        return await store.write(IngestBatch(
            store.new_series([series]),
            PointBatch(np.array([series.id, series.id]), np.array([start, start + 1000]), value=np.array([1.0, 2.0])),
            ValueMeta(), "project-a"))

    asyncio.run(write_async())
    assert len(store.read([series.id], start, start + HOUR, 0)) == 2


def test_retention_drops_raw_points_and_keeps_rollups(store_factory) -> None:  # noqa: ANN001
    store = store_factory([ArchivePolicy(raw=3600)])
    assert store.policies[0].raw == 3600
    series = cpu("h1")
    old = (int(time.time() * 1000) // HOUR) * HOUR - 6 * HOUR
    write(store, series, old + np.arange(60) * MINUTE, np.ones(60))
    store.compact(force=True)
    assert len(store.read([series.id], old, old + HOUR, 0)) == 0
    minutes = store.read([series.id], old, old + HOUR, 60)
    assert int(minutes.count.sum()) == 60


def test_stats_count_series_and_accepted_points(store: MetricStore) -> None:
    before = store.stats()
    assert isinstance(before, StoreStats)
    write(store, cpu("h1"), recent_hour() + np.arange(4), np.ones(4))
    after = store.stats()
    assert after.series == before.series + 1
    assert after.points_accepted == before.points_accepted + 4
    assert after.size_bytes > 0
    report = store.compact(force=True)
    assert {"windows", "points", "chunks"} <= set(report)
    assert isinstance(store.storage_report(), dict)


def test_a_repeated_find_sees_series_written_since(store: MetricStore) -> None:
    start = recent_hour()
    write(store, cpu("h1"), np.array([start]), np.array([1.0]))
    scope = SeriesFilter("project-a", "cpu.utilization_perc")
    assert [s.dimensions["hostname"] for s in store.find(scope)] == ["h1"]
    assert [s.dimensions["hostname"] for s in store.find(scope)] == ["h1"]  # asked again: the same answer
    write(store, cpu("h2"), np.array([start]), np.array([1.0]))
    assert [s.dimensions["hostname"] for s in store.find(scope)] == ["h1", "h2"]
    answer = store.find(scope)
    answer.clear()  # an answer is the caller's own
    assert len(store.find(scope)) == 2
