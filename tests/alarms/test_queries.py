"""The alarm read queries in process, against a temporary data dir: every filter, every sort field
both ways, paging, counts with each group_by, state history with its offset token, and tenancy.

Expected answers come from a small reference model in Python (``Seeded``) so the SQL is checked
against an independent implementation, including by hypothesis over random page sizes and orders.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nephoscope.alarms import queries
from nephoscope.alarms.definitions import SEVERITIES, DefinitionStore, validated_fields
from nephoscope.alarms.queries import AlarmFilter, AlarmQueryError
from nephoscope.alarms.repository import (
    AlarmDatabase,
    AlarmRecord,
    AlarmRepository,
    StateChange,
)
from nephoscope.tenancy import ALL_TENANTS

A, B = "tenant-a", "tenant-b"
STATE_RANK = {"OK": 0, "UNDETERMINED": 1, "ALARM": 2}
SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}


def metric(name: str, **dimensions: str) -> dict:
    return {"name": name, "dimensions": dimensions}


@dataclass
class Seeded:
    """A data dir with definitions, alarms and history, and what each alarm is (for expectations)."""

    database: AlarmDatabase
    definitions: dict[str, tuple[str, str, str]]  # label -> (id, name, severity)
    alarms: list[AlarmRecord]

    def definition_of(self, record: AlarmRecord) -> tuple[str, str, str]:
        return next(summary for summary in self.definitions.values() if summary[0] == record.definition_id)

    def ids(self, scope: str = A) -> list[str]:
        return sorted(record.id for record in self.alarms if scope in (ALL_TENANTS, record.tenant))


def define(store: DefinitionStore, tenant: str, name: str, severity: str) -> tuple[str, str, str]:
    fields = validated_fields({"name": name, "expression": "avg(cpu.idle) > 1", "severity": severity}, "create")
    definition = store.create(tenant, fields)
    return definition.id, definition.name, definition.severity


def metric_order(one: dict) -> tuple:
    """The order the repository reads an alarm's metrics back in (name, then canonical dimensions)."""
    return one["name"], sorted(one["dimensions"].items())


def seed_alarms(data_dir: Path, rows: list[tuple], definitions: dict[str, tuple[str, str, str]],
                history: list[StateChange] = ()) -> list[AlarmRecord]:
    """Each row: (id, definition label, tenant, state, lifecycle_state, link, created, updated,
    state_updated, metrics)."""
    records, new_metrics = [], []
    for alarm_id, label, tenant, state, lifecycle, link, created, updated, state_updated, metrics in rows:
        records.append(AlarmRecord(id=alarm_id, definition_id=definitions[label][0], tenant=tenant, instance=(),
                                   state=state, sub_states=[state], created_at=created, updated_at=updated,
                                   state_updated_at=state_updated, lifecycle_state=lifecycle, link=link,
                                   metrics=sorted(metrics, key=metric_order)))
        new_metrics += [(alarm_id, one) for one in metrics]
    AlarmRepository(AlarmDatabase(data_dir)).save(records, new_metrics, history)
    return records


def change(alarm_id: str, tenant: str, timestamp_ms: int, old: str, new: str) -> StateChange:
    return StateChange(alarm_id=alarm_id, tenant=tenant, timestamp_ms=timestamp_ms, old_state=old, new_state=new,
                       reason=f"{alarm_id} {old}->{new}", metrics=[metric("cpu.idle", hostname="h1")],
                       sub_alarms=[{"sub_alarm_expression": {"function": "AVG"}, "sub_alarm_state": new,
                                    "current_values": [1.5]}], reason_data={"at": timestamp_ms})


ALARM_ROWS = [
    ("a-01", "cpu", A, "ALARM", "OPEN", "http://x/1", 100.0, 500.0, 300.0,
     [metric("cpu.idle", hostname="h1", service="compute")]),
    ("a-02", "cpu", A, "OK", None, None, 101.0, 400.0, 200.0, [metric("cpu.idle", hostname="h2", service="compute")]),
    ("a-03", "disk", A, "UNDETERMINED", "ACKNOWLEDGED", None, 102.0, 300.0, 300.0,
     [metric("disk.used", hostname="h1", device="vda"), metric("disk.used", hostname="h1", device="vdb")]),
    ("a-04", "disk", A, "ALARM", "OPEN", "http://x/2", 103.0, 200.0, 100.0,
     [metric("disk.used", hostname="h2", device="vda")]),
    ("a-05", "mem", A, "OK", "RESOLVED", None, 104.0, 100.0, 400.0, [metric("mem.free", hostname="h3")]),
    ("a-06", "net", A, "ALARM", None, "http://x/1", 105.0, 600.0, 250.5,
     [metric("net.err", hostname="h1"), metric("cpu.idle", hostname="h3", service="compute")]),
    ("a-07", "mem", A, "UNDETERMINED", None, None, 106.0, 700.0, 50.0, []),
    # Tenant B shares a metric with a-01: it must still never show up for A, nor A's for B.
    ("b-01", "b", B, "ALARM", "OPEN", "http://x/1", 100.0, 500.0, 300.0,
     [metric("cpu.idle", hostname="h1", service="compute")]),
    ("b-02", "b", B, "OK", None, None, 101.0, 100.0, 100.0, [metric("b.secret", hostname="b-host")]),
]
HISTORY = [
    change("a-01", A, 1000, "UNDETERMINED", "OK"), change("a-03", A, 1000, "OK", "UNDETERMINED"),
    change("a-04", A, 1500, "UNDETERMINED", "OK"), change("a-01", A, 2000, "OK", "ALARM"),
    change("a-04", A, 2000, "OK", "ALARM"), change("a-gone", A, 2500, "OK", "ALARM"),
    change("a-06", A, 3000, "OK", "ALARM"), change("b-01", B, 1000, "UNDETERMINED", "OK"),
    change("b-01", B, 2000, "OK", "ALARM"),
]
A_HISTORY_ORDER = [("a-01", 1000), ("a-03", 1000), ("a-04", 1500), ("a-01", 2000), ("a-04", 2000),
                   ("a-gone", 2500), ("a-06", 3000)]


def build(data_dir: Path) -> Seeded:
    store = DefinitionStore(data_dir)
    definitions = {"cpu": define(store, A, "cpu high", "LOW"), "disk": define(store, A, "disk full", "CRITICAL"),
                   "mem": define(store, A, "mem low", "MEDIUM"), "net": define(store, A, "net errors", "HIGH"),
                   "unused": define(store, A, "never alarmed", "LOW"), "b": define(store, B, "b secret", "HIGH")}
    alarms = seed_alarms(data_dir, ALARM_ROWS, definitions, HISTORY)
    return Seeded(AlarmDatabase(data_dir), definitions, alarms)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return build(tmp_path_factory.mktemp("alarms"))


def listed(seeded: Seeded, alarm_filter: AlarmFilter | None = None, sort_by: list[tuple[str, bool]] = (),
           scope: str = A, offset: int = 0, limit: int = 1000) -> list[str]:
    found = queries.list_alarms(seeded.database, scope, alarm_filter or AlarmFilter(), list(sort_by), offset, limit)
    return [record.id for record, _ in found]


# -- list: shape, tenancy ------------------------------------------------------------------------------------

def test_list_returns_records_with_metrics_and_definition_summary(seeded: Seeded) -> None:
    found = queries.list_alarms(seeded.database, A, AlarmFilter(), [], 0, 100)
    by_id = {record.id: (record, summary) for record, summary in found}
    record, summary = by_id["a-03"]
    assert (summary.id, summary.name, summary.severity) == seeded.definitions["disk"]
    assert record.metrics == [metric("disk.used", device="vda", hostname="h1"),
                              metric("disk.used", device="vdb", hostname="h1")]
    assert record.lifecycle_state == "ACKNOWLEDGED" and record.link is None and record.state == "UNDETERMINED"
    assert by_id["a-07"][0].metrics == []


def test_default_order_is_alarm_id_and_each_tenant_sees_only_its_own(seeded: Seeded) -> None:
    assert listed(seeded) == seeded.ids(A)
    assert listed(seeded, scope=B) == ["b-01", "b-02"]
    assert listed(seeded, scope=ALL_TENANTS) == seeded.ids(ALL_TENANTS)
    assert listed(seeded, scope="nobody") == []
    # A filter that matches B's alarm exactly still shows nothing of B to A.
    same_metric = AlarmFilter(metric_name="cpu.idle", metric_dimensions=(("hostname", ("h1",)),))
    assert listed(seeded, same_metric) == ["a-01"]
    assert listed(seeded, same_metric, scope=B) == ["b-01"]
    assert listed(seeded, AlarmFilter(alarm_definition_id=seeded.definitions["b"][0])) == []


def test_get_alarm_is_scoped(seeded: Seeded) -> None:
    record, summary = queries.get_alarm(seeded.database, A, "a-01")
    assert record.id == "a-01" and summary.name == "cpu high"
    assert queries.get_alarm(seeded.database, B, "a-01") is None
    assert queries.get_alarm(seeded.database, ALL_TENANTS, "b-01")[0].tenant == B
    assert queries.get_alarm(seeded.database, A, "no-such-alarm") is None


# -- list: filters -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("alarm_filter, expected", [
    (AlarmFilter(state="ALARM"), ["a-01", "a-04", "a-06"]),
    (AlarmFilter(state="OK"), ["a-02", "a-05"]),
    (AlarmFilter(state="UNDETERMINED"), ["a-03", "a-07"]),
    (AlarmFilter(severities=["CRITICAL"]), ["a-03", "a-04"]),
    (AlarmFilter(severities=["LOW", "HIGH"]), ["a-01", "a-02", "a-06"]),
    (AlarmFilter(lifecycle_state="OPEN"), ["a-01", "a-04"]),
    (AlarmFilter(lifecycle_state="open"), []),  # exact
    (AlarmFilter(link="http://x/1"), ["a-01", "a-06"]),
    (AlarmFilter(metric_name="cpu.idle"), ["a-01", "a-02", "a-06"]),
    (AlarmFilter(metric_name="disk.used"), ["a-03", "a-04"]),
    (AlarmFilter(metric_name="nothing"), []),
    (AlarmFilter(metric_dimensions=(("hostname", ("h1",)),)), ["a-01", "a-03", "a-06"]),
    (AlarmFilter(metric_dimensions=(("hostname", ("h1", "h2")),)), ["a-01", "a-02", "a-03", "a-04", "a-06"]),
    (AlarmFilter(metric_dimensions=(("device", None),)), ["a-03", "a-04"]),
    (AlarmFilter(metric_dimensions=(("device", ("vdb",)), ("hostname", ("h1",)))), ["a-03"]),
    (AlarmFilter(metric_dimensions=(("service", None), ("hostname", ("h3",)))), ["a-06"]),
    # a-06 has hostname=h1 on net.err and service on cpu.idle: one metric must carry both.
    (AlarmFilter(metric_dimensions=(("service", None), ("hostname", ("h1",)))), ["a-01"]),
    (AlarmFilter(metric_name="net.err", metric_dimensions=(("service", None),)), []),
    (AlarmFilter(metric_name="cpu.idle", metric_dimensions=(("hostname", ("h3",)),)), ["a-06"]),
    (AlarmFilter(state_updated_start_time=250.5), ["a-01", "a-03", "a-05", "a-06"]),  # inclusive
    (AlarmFilter(state_updated_start_time=250.6), ["a-01", "a-03", "a-05"]),
    (AlarmFilter(state="ALARM", severities=["CRITICAL", "HIGH"], metric_dimensions=(("hostname", None),)),
     ["a-04", "a-06"]),
])
def test_each_filter(seeded: Seeded, alarm_filter: AlarmFilter, expected: list[str]) -> None:
    assert listed(seeded, alarm_filter) == expected


def test_definition_filter(seeded: Seeded) -> None:
    assert listed(seeded, AlarmFilter(alarm_definition_id=seeded.definitions["disk"][0])) == ["a-03", "a-04"]
    assert listed(seeded, AlarmFilter(alarm_definition_id=seeded.definitions["unused"][0])) == []


# -- list: sorting -------------------------------------------------------------------------------------------

def sort_value(seeded: Seeded, record: AlarmRecord, field: str) -> object:
    _, name, severity = seeded.definition_of(record)
    return {"alarm_id": record.id, "alarm_definition_id": record.definition_id, "alarm_definition_name": name,
            "state": STATE_RANK[record.state], "severity": SEVERITY_RANK[severity],
            "lifecycle_state": record.lifecycle_state, "link": record.link,
            "state_updated_timestamp": record.state_updated_at, "updated_timestamp": record.updated_at,
            "created_timestamp": record.created_at}[field]


def expected_order(seeded: Seeded, records: list[AlarmRecord], sort_by: list[tuple[str, bool]]) -> list[str]:
    """Python's stable sort, last key first; None sorts first ascending (as SQLite's NULL) and last descending."""
    ordered = sorted(records, key=lambda record: record.id)
    for field, descending in reversed(sort_by):
        def key(record: AlarmRecord, field: str = field) -> tuple:
            value = sort_value(seeded, record, field)
            return (False, 0) if value is None else (True, value)

        ordered.sort(key=key, reverse=descending)
    return [record.id for record in ordered]


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("field", queries.SORT_FIELDS)
def test_every_sort_field_both_ways_with_alarm_id_breaking_ties(seeded: Seeded, field: str, descending: bool) -> None:
    mine = [record for record in seeded.alarms if record.tenant == A]
    assert listed(seeded, sort_by=[(field, descending)]) == expected_order(seeded, mine, [(field, descending)])


def test_severity_and_state_sort_by_rank_not_by_name(seeded: Seeded) -> None:
    severities = [summary.severity for _, summary in
                  queries.list_alarms(seeded.database, A, AlarmFilter(), [("severity", False)], 0, 100)]
    assert severities == ["LOW", "LOW", "MEDIUM", "MEDIUM", "HIGH", "CRITICAL", "CRITICAL"]
    states = [record.state for record, _ in
              queries.list_alarms(seeded.database, A, AlarmFilter(), [("state", True)], 0, 100)]
    assert states == ["ALARM"] * 3 + ["UNDETERMINED"] * 2 + ["OK"] * 2
    # Ties inside a state keep alarm id order even when the state is sorted descending.
    assert listed(seeded, sort_by=[("state", True)]) == ["a-01", "a-04", "a-06", "a-03", "a-07", "a-02", "a-05"]


def test_several_sort_keys(seeded: Seeded) -> None:
    order = [("severity", True), ("state", False), ("created_timestamp", True)]
    mine = [record for record in seeded.alarms if record.tenant == A]
    assert listed(seeded, sort_by=order) == expected_order(seeded, mine, order)
    assert listed(seeded, sort_by=[("lifecycle_state", False), ("link", True)]) == \
        ["a-06", "a-02", "a-07", "a-03", "a-04", "a-01", "a-05"]


# -- list: paging --------------------------------------------------------------------------------------------

def test_offset_and_limit(seeded: Seeded) -> None:
    everything = listed(seeded, sort_by=[("severity", True)])
    assert listed(seeded, sort_by=[("severity", True)], offset=2, limit=3) == everything[2:5]
    assert listed(seeded, sort_by=[("severity", True)], offset=6, limit=3) == everything[6:]
    assert listed(seeded, offset=100, limit=3) == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(page_size=st.integers(1, 9),
       sort_by=st.lists(st.tuples(st.sampled_from(queries.SORT_FIELDS), st.booleans()), max_size=3),
       state=st.sampled_from([None, "OK", "ALARM", "UNDETERMINED"]))
def test_paging_through_any_order_yields_exactly_the_sorted_list(seeded: Seeded, page_size: int,
                                                                 sort_by: list[tuple[str, bool]],
                                                                 state: str | None) -> None:
    alarm_filter = AlarmFilter(state=state)
    pages, offset = [], 0
    while True:
        page = listed(seeded, alarm_filter, sort_by, offset=offset, limit=page_size)
        pages += page
        if len(page) < page_size:
            break
        offset += page_size
    mine = [record for record in seeded.alarms if record.tenant == A and state in (None, record.state)]
    assert pages == expected_order(seeded, mine, sort_by)
    assert len(set(pages)) == len(pages)


# -- count ---------------------------------------------------------------------------------------------------

def counted(seeded: Seeded, group_by: list[str], alarm_filter: AlarmFilter | None = None, scope: str = A,
            offset: int = 0, limit: int = 1000) -> tuple[list[str], list[list]]:
    return queries.count_alarms(seeded.database, scope, alarm_filter or AlarmFilter(), group_by, offset, limit)


def test_count_without_group_by(seeded: Seeded) -> None:
    assert counted(seeded, []) == (["count"], [[7]])
    assert counted(seeded, [], scope=B) == (["count"], [[2]])
    assert counted(seeded, [], scope=ALL_TENANTS) == (["count"], [[9]])
    assert counted(seeded, [], AlarmFilter(state="ALARM")) == (["count"], [[3]])


def test_count_with_no_match_is_one_row_of_zero_and_nulls(seeded: Seeded) -> None:
    assert counted(seeded, [], scope="nobody") == (["count"], [[0]])
    assert counted(seeded, ["state", "severity"], AlarmFilter(link="nowhere")) == \
        (["count", "state", "severity"], [[0, None, None]])
    assert counted(seeded, ["dimension_name"], AlarmFilter(metric_name="mem.free"), scope=B) == \
        (["count", "dimension_name"], [[0, None]])


@pytest.mark.parametrize("group_by, expected", [
    (["state"], [[3, "ALARM"], [2, "OK"], [2, "UNDETERMINED"]]),
    (["severity"], [[2, "CRITICAL"], [1, "HIGH"], [2, "LOW"], [2, "MEDIUM"]]),
    (["name"], [[2, "cpu high"], [2, "disk full"], [2, "mem low"], [1, "net errors"]]),
    (["lifecycle_state"], [[3, None], [1, "ACKNOWLEDGED"], [2, "OPEN"], [1, "RESOLVED"]]),
    (["link"], [[4, None], [2, "http://x/1"], [1, "http://x/2"]]),
    (["state", "lifecycle_state"], [[1, "ALARM", None], [2, "ALARM", "OPEN"], [1, "OK", None],
                                    [1, "OK", "RESOLVED"], [1, "UNDETERMINED", None],
                                    [1, "UNDETERMINED", "ACKNOWLEDGED"]]),
    # An alarm with metrics of two names is counted under each; one without metrics under none.
    (["metric_name"], [[3, "cpu.idle"], [2, "disk.used"], [1, "mem.free"], [1, "net.err"]]),
    # a-03's two metrics share hostname=h1: the alarm counts once for (hostname) and for (hostname, h1).
    (["dimension_name"], [[2, "device"], [6, "hostname"], [3, "service"]]),
    (["dimension_name", "dimension_value"], [[2, "device", "vda"], [1, "device", "vdb"], [3, "hostname", "h1"],
                                             [2, "hostname", "h2"], [2, "hostname", "h3"],
                                             [3, "service", "compute"]]),
    (["metric_name", "dimension_value"], [[3, "cpu.idle", "compute"], [1, "cpu.idle", "h1"],
                                          [1, "cpu.idle", "h2"], [1, "cpu.idle", "h3"], [1, "disk.used", "h1"],
                                          [1, "disk.used", "h2"], [2, "disk.used", "vda"], [1, "disk.used", "vdb"],
                                          [1, "mem.free", "h3"], [1, "net.err", "h1"]]),
])
def test_count_grouped_by(seeded: Seeded, group_by: list[str], expected: list[list]) -> None:
    assert counted(seeded, group_by) == (["count", *group_by], expected)


def test_count_grouped_by_definition_id(seeded: Seeded) -> None:
    columns, counts = counted(seeded, ["alarm_definition_id"])
    assert columns == ["count", "alarm_definition_id"]
    expected = {seeded.definitions[label][0]: n for label, n in (("cpu", 2), ("disk", 2), ("mem", 2), ("net", 1))}
    assert {row[1]: row[0] for row in counts} == expected
    assert [row[1] for row in counts] == sorted(expected)


def test_count_filters_and_pages_like_the_list(seeded: Seeded) -> None:
    assert counted(seeded, ["state"], AlarmFilter(metric_dimensions=(("hostname", ("h1",)),))) == \
        (["count", "state"], [[2, "ALARM"], [1, "UNDETERMINED"]])
    everything = counted(seeded, ["dimension_name", "dimension_value"])[1]
    assert counted(seeded, ["dimension_name", "dimension_value"], offset=2, limit=3)[1] == everything[2:5]
    assert counted(seeded, ["state"], scope=B) == (["count", "state"], [[1, "ALARM"], [1, "OK"]])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(group_by=st.lists(st.sampled_from(["alarm_definition_id", "name", "state", "severity", "link",
                                          "lifecycle_state"]), min_size=1, max_size=3, unique=True),
       severities=st.lists(st.sampled_from(SEVERITIES), max_size=2, unique=True))
def test_count_totals_equal_the_list_length(seeded: Seeded, group_by: list[str], severities: list[str]) -> None:
    alarm_filter = AlarmFilter(severities=severities)
    _, counts = counted(seeded, group_by, alarm_filter)
    total = len(listed(seeded, alarm_filter))
    assert sum(row[0] for row in counts) == total
    if total == 0:
        assert counts == [[0] + [None] * len(group_by)]


# -- validation ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, field", [
    (lambda: queries.parse_state("broken"), "state"),
    (lambda: queries.parse_severities("LOW|urgent"), "severity"),
    (lambda: queries.parse_sort_by(["severity sideways"]), "sort_by"),
    (lambda: queries.parse_sort_by(["name"]), "sort_by"),
    (lambda: queries.parse_sort_by(["state asc extra"]), "sort_by"),
    (lambda: queries.check_group_by(["state", "colour"]), "group_by"),
    (lambda: queries.parse_row_offset("-1"), "offset"),
    (lambda: queries.parse_row_offset("1e3"), "offset"),
    (lambda: queries.parse_row_offset("9" * 30), "offset"),
    (lambda: queries.parse_history_offset("yesterday"), "offset"),
    (lambda: queries.parse_history_offset("1000:"), "offset"),
    (lambda: queries.parse_history_offset("9" * 30), "offset"),
    (lambda: queries.parse_history_offset("9" * 5000), "offset"),  # beyond int()'s 4,300 digits
    (lambda: queries.parse_row_offset("9" * 5000), "offset"),
    (lambda: queries.parse_row_offset("9223372036854775808"), "offset"),  # 2**63
])
def test_bad_parameters_raise_naming_the_field(call, field: str) -> None:
    with pytest.raises(AlarmQueryError) as caught:
        call()
    assert caught.value.field == field and isinstance(caught.value, ValueError)
    assert field.split("_")[0] in str(caught.value)


def test_parsers_accept_monasca_forms() -> None:
    assert queries.parse_state("alarm") == "ALARM" and queries.parse_state("") is None
    assert queries.parse_severities("low| High") == ["LOW", "HIGH"] and queries.parse_severities(None) == []
    assert queries.parse_sort_by(["severity desc,alarm_id", "state ASC"]) == \
        [("severity", True), ("alarm_id", False), ("state", False)]
    assert queries.parse_row_offset("") == 0 and queries.parse_row_offset("20") == 20
    assert queries.parse_history_offset("1424451007002") == (1424451007002, None)
    assert queries.parse_history_offset("1424451007002:a:b") == (1424451007002, "a:b")


def test_queries_refuse_invalid_values_passed_directly(seeded: Seeded) -> None:
    with pytest.raises(AlarmQueryError, match="sort_by"):
        queries.list_alarms(seeded.database, A, AlarmFilter(), [("colour", False)], 0, 10)
    with pytest.raises(AlarmQueryError) as caught:
        queries.list_alarms(seeded.database, A, AlarmFilter(state="alarm"), [], 0, 10)
    assert caught.value.field == "state"
    with pytest.raises(AlarmQueryError):
        queries.count_alarms(seeded.database, A, AlarmFilter(), ["colour"], 0, 10)


# -- state history -------------------------------------------------------------------------------------------

def history(seeded: Seeded, scope: str = A, alarm_id: str | None = None, dimensions: queries.Dimensions = (),
            start_ms: int | None = None, end_ms: int | None = None, offset: str | None = None,
            limit: int = 1000) -> list[StateChange]:
    return queries.state_history(seeded.database, scope, alarm_id, dimensions, start_ms, end_ms, offset, limit)


def keys(changes: list[StateChange]) -> list[tuple[str, int]]:
    return [(one.alarm_id, one.timestamp_ms) for one in changes]


def test_history_in_timestamp_then_alarm_id_order_per_tenant(seeded: Seeded) -> None:
    assert keys(history(seeded)) == A_HISTORY_ORDER
    assert keys(history(seeded, scope=B)) == [("b-01", 1000), ("b-01", 2000)]
    assert len(history(seeded, scope=ALL_TENANTS)) == len(HISTORY)
    first = history(seeded)[0]
    assert first == HISTORY[0]  # every field round-trips: reason_data, metrics, sub_alarms


def test_history_of_one_alarm_including_a_deleted_one_and_never_another_tenants(seeded: Seeded) -> None:
    assert keys(history(seeded, alarm_id="a-01")) == [("a-01", 1000), ("a-01", 2000)]
    assert keys(history(seeded, alarm_id="a-gone")) == [("a-gone", 2500)]
    assert history(seeded, alarm_id="b-01") == []
    assert keys(history(seeded, scope=B, alarm_id="b-01")) == [("b-01", 1000), ("b-01", 2000)]
    assert keys(history(seeded, alarm_id="a-01", offset="1000")) == [("a-01", 2000)]


def test_history_time_range_is_inclusive(seeded: Seeded) -> None:
    assert keys(history(seeded, start_ms=1500, end_ms=2000)) == [("a-04", 1500), ("a-01", 2000), ("a-04", 2000)]
    assert keys(history(seeded, start_ms=2001)) == [("a-gone", 2500), ("a-06", 3000)]
    assert keys(history(seeded, end_ms=999)) == []


def test_history_dimensions_select_alarms_by_their_metrics(seeded: Seeded) -> None:
    assert keys(history(seeded, dimensions=(("device", None),))) == [("a-03", 1000), ("a-04", 1500), ("a-04", 2000)]
    assert keys(history(seeded, dimensions=(("hostname", ("h1",)),))) == \
        [("a-01", 1000), ("a-03", 1000), ("a-01", 2000), ("a-06", 3000)]
    assert keys(history(seeded, dimensions=(("hostname", ("h1",)), ("device", ("vdb",))))) == [("a-03", 1000)]
    # b-01 has the same metric as a-01, but A's scope never shows B's history.
    assert keys(history(seeded, dimensions=(("service", None),))) == [("a-01", 1000), ("a-01", 2000), ("a-06", 3000)]
    assert history(seeded, scope=B, dimensions=(("device", None),)) == []


def test_a_plain_epoch_ms_offset_means_strictly_after_that_millisecond(seeded: Seeded) -> None:
    assert keys(history(seeded, offset="1000")) == A_HISTORY_ORDER[2:]
    assert keys(history(seeded, offset="1999")) == A_HISTORY_ORDER[3:]
    assert keys(history(seeded, offset="1000:a-01")) == A_HISTORY_ORDER[1:]


def test_history_offset_token_only_carries_the_alarm_id_when_a_millisecond_is_shared(seeded: Seeded) -> None:
    changes = history(seeded)
    assert queries.history_offset(changes[0], changes[1]) == "1000:a-01"
    assert queries.history_offset(changes[1], changes[2]) == "1000"
    assert queries.history_offset(changes[-1], None) == "3000"


def page_through_history(seeded: Seeded, page_size: int, **arguments: object) -> list[StateChange]:
    """Like a client following ``next``: fetch page_size + 1 rows, continue from the token."""
    collected, offset = [], None
    while True:
        found = history(seeded, offset=offset, limit=page_size + 1, **arguments)
        page = found[:page_size]
        collected += page
        if len(found) <= page_size:
            return collected
        offset = queries.history_offset(page[-1], found[page_size])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(page_size=st.integers(1, 8), scope=st.sampled_from([A, B, ALL_TENANTS]))
def test_history_paging_never_skips_or_repeats(seeded: Seeded, page_size: int, scope: str) -> None:
    assert keys(page_through_history(seeded, page_size, scope=scope)) == keys(history(seeded, scope=scope))


@settings(max_examples=25, deadline=None)
@given(timestamps=st.lists(st.integers(0, 5), min_size=1, max_size=25), page_size=st.integers(1, 5))
def test_history_paging_with_many_alarms_in_the_same_millisecond(timestamps: list[int], page_size: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        data_dir = Path(directory)
        DefinitionStore(data_dir)
        changes = [change(f"alarm-{index:02d}", A, stamp, "OK", "ALARM") for index, stamp in enumerate(timestamps)]
        AlarmRepository(AlarmDatabase(data_dir)).save([], [], changes)
        world = Seeded(AlarmDatabase(data_dir), {}, [])
        expected = sorted(keys(changes), key=lambda key: (key[1], key[0]))
        assert keys(history(world)) == expected
        assert keys(page_through_history(world, page_size)) == expected


# -- a random world: the SQL against the reference model -------------------------------------------------------

alarm_rows = st.lists(st.tuples(
    st.sampled_from(["cpu", "disk", "mem"]), st.sampled_from(list(STATE_RANK)),
    st.sampled_from([None, "OPEN", "ACKNOWLEDGED"]), st.sampled_from([None, "http://l/1", "http://l/2"]),
    st.integers(0, 4), st.sampled_from(["h1", "h2"])), max_size=20)


@settings(max_examples=25, deadline=None)
@given(rows=alarm_rows, page_size=st.integers(1, 6),
       sort_by=st.lists(st.tuples(st.sampled_from(queries.SORT_FIELDS), st.booleans()), max_size=2))
def test_random_worlds_page_and_count_consistently(rows: list[tuple], page_size: int,
                                                   sort_by: list[tuple[str, bool]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        data_dir = Path(directory)
        store = DefinitionStore(data_dir)
        definitions = {"cpu": define(store, A, "cpu", "LOW"), "disk": define(store, A, "disk", "HIGH"),
                       "mem": define(store, A, "mem", "LOW")}
        records = seed_alarms(data_dir, [
            (f"r-{index:02d}", label, A, state, lifecycle, link, float(stamp), float(stamp), float(stamp),
             [metric("m", hostname=host)]) for index, (label, state, lifecycle, link, stamp, host) in enumerate(rows)],
            definitions)
        world = Seeded(AlarmDatabase(data_dir), definitions, records)
        pages, offset = [], 0
        while True:
            page = listed(world, sort_by=sort_by, offset=offset, limit=page_size)
            pages += page
            if len(page) < page_size:
                break
            offset += page_size
        assert pages == expected_order(world, records, sort_by)
        _, by_host = counted(world, ["dimension_value"])
        assert sum(row[0] for row in by_host) == len(records)  # exactly one hostname per alarm here
        _, by_state = counted(world, ["state", "severity"])
        assert sum(row[0] for row in by_state) == len(records)
