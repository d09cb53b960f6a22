"""The metadata repositories' contract, the same on SQLite, PostgreSQL and MariaDB: create, read,
update, delete; uniqueness enforced by the database (two stores on one database stand for two
nodes); pagination order; the alarm queries' JSON filters and groups."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nephoscope.alarms import queries
from nephoscope.alarms.definitions import DefinitionError, DefinitionStore, validated_fields
from nephoscope.alarms.queries import AlarmFilter
from nephoscope.alarms.repository import AlarmDatabase, AlarmRecord, AlarmRepository, StateChange
from nephoscope.auth import keys as key_module
from nephoscope.auth.keys import KeyStore
from nephoscope.metrics.metadata import FamilyMetadata, MetadataStore
from nephoscope.notify.model import AlarmTransition
from nephoscope.notify.outbox import idempotency_key
from nephoscope.notify.repository import Database, DeliveryRepository, DuplicateName, MethodRepository
from nephoscope.tenancy import ALL_TENANTS

pytestmark = pytest.mark.engines  # the distributed engines' lane (tests/lanes.py)


def test_keys_create_list_revoke_and_a_second_node_sees_the_revocation(metadata_dir: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(key_module, "CLUSTER_CACHE_SECONDS", 0.0)  # the cluster's cache bound, made nil
    one, two = KeyStore(metadata_dir), KeyStore(metadata_dir)
    try:
        record, token = one.create("p1", ["monasca-user"], "first")
        other, _ = one.create("p2", ["admin", "monasca-user"])
        assert [k.id for k in two.list()] == [record.id, other.id]
        assert two.get(record.id) == record
        principal = two.lookup(token)
        assert principal is not None and principal.project == "p1" and principal.roles == {"monasca-user"}
        assert two.lookup(token + "x") is None
        assert one.revoke(record.id) and not one.revoke(record.id)
        assert two.lookup(token) is None  # the other node's cached answer is gone
        assert [k.id for k in two.list()] == [other.id]
        assert [k.id for k in two.list(include_revoked=True)] == [record.id, other.id]
        assert two.get(record.id).revoked_at is not None
    finally:
        one.close()
        two.close()


def test_metric_metadata_upserts_and_survives_a_restart(metadata_dir: Path) -> None:
    store = MetadataStore(metadata_dir)
    first = FamilyMetadata("http_requests", "counter", "Requests.", "")
    store.record("p1", [first, FamilyMetadata("temp", "gauge", "Temperature.", "celsius")])
    changed = FamilyMetadata("http_requests", "counter", "All requests.", "")
    assert store.changes("p1", [first, changed]) == [changed]
    store.record("p1", [changed])
    store.record(ALL_TENANTS, [FamilyMetadata("up", "gauge", "Up.", "")])
    store.close()
    again = MetadataStore(metadata_dir)
    try:
        assert again.families("p1") == {"http_requests": [changed], "temp": [again.families("p1")["temp"][0]],
                                         "up": [FamilyMetadata("up", "gauge", "Up.", "")]}
        assert again.families("p2") == {"up": [FamilyMetadata("up", "gauge", "Up.", "")]}
    finally:
        again.close()


def _fields(name: str, expression: str = "avg(cpu.idle_perc{service=compute}) < 10") -> dict:
    return validated_fields({"name": name, "expression": expression, "match_by": ["hostname"]}, "create")


def test_definitions_crud_and_the_unique_name_is_the_databases(metadata_dir: Path) -> None:
    node_one, node_two = DefinitionStore(metadata_dir), DefinitionStore(metadata_dir)
    try:
        created = node_one.create("t1", _fields("Web"))
        assert node_two.get("t1", created.id) == created
        with pytest.raises(DefinitionError) as conflict:
            node_two.create("t1", _fields("Web"))  # the other node's row: the database's unique key says no
        assert conflict.value.status == 409
        lower = node_two.create("t1", _fields("web"))  # names are case-sensitive on every database
        node_two.create("t2", _fields("Web"))
        updated = node_one.update("t1", created.id, {"severity": "HIGH", "description": "d"})
        assert node_two.get("t1", created.id).severity == "HIGH" and updated.description == "d"
        with pytest.raises(DefinitionError) as renamed:
            node_one.update("t1", lower.id, {"name": "Web"})
        assert renamed.value.status == 409
        assert [d.name for d in node_two.list("t1", sort_by=[("name", False)])] == ["Web", "web"]
        assert [d.name for d in node_two.list("t1", severities=["HIGH"])] == ["Web"]
        assert len(node_two.list(ALL_TENANTS)) == 3
        node_one.delete("t1", created.id)
        with pytest.raises(DefinitionError) as gone:
            node_two.get("t1", created.id)
        assert gone.value.status == 404
        with pytest.raises(DefinitionError):
            node_two.get("t2", lower.id)  # another tenant's
    finally:
        node_one.database.close()
        node_two.database.close()


def test_notification_methods_crud_pagination_and_duplicate_names(metadata_dir: Path) -> None:
    database, other = Database(metadata_dir), Database(metadata_dir)
    methods, methods_elsewhere = MethodRepository(database), MethodRepository(other)
    try:
        made = [methods.create("t1", f"m{i}", "WEBHOOK", f"http://h/{i % 3}", 0) for i in range(7)]
        with pytest.raises(DuplicateName):
            methods_elsewhere.create("t1", "m3", "EMAIL", "a@b", 0)
        methods_elsewhere.create("t2", "m3", "EMAIL", "a@b", 0)
        by_name = [m.name for m in methods.list("t1", [("name", "asc")], 0, 100)]
        assert by_name == [f"m{i}" for i in range(7)]
        pages = [methods.list("t1", [("address", "desc")], offset, 3) for offset in (0, 3, 6)]
        seen = [m.id for page in pages for m in page]
        assert sorted(seen) == sorted(m.id for m in made) and len(set(seen)) == 7
        expected = sorted(made, key=lambda m: m.id)
        expected = sorted(expected, key=lambda m: m.address, reverse=True)
        assert seen == [m.id for m in expected]  # address descending, then id: a total order
        with pytest.raises(DuplicateName):
            methods.update("t1", made[0].id, "m1", "EMAIL", "x@y", 0)
        renamed = methods_elsewhere.update("t1", made[0].id, "zero", "EMAIL", "x@y", 60)
        assert renamed is not None and methods.get("t1", made[0].id) == renamed
        assert methods.update("t2", made[0].id, "zero", "EMAIL", "x@y", 60) is None  # another tenant's
        assert [m.id for m in methods.get_many("t1", [made[2].id, made[1].id])] == [made[2].id, made[1].id]
        assert methods.delete("t1", made[0].id) and not methods.delete("t1", made[0].id)
        assert methods.get(ALL_TENANTS, made[0].id) is None
    finally:
        database.close()
        other.close()


def _transition(alarm_id: str, timestamp_ms: int, tenant: str = "t1") -> AlarmTransition:
    return AlarmTransition(alarm_id, "def", "name", "", tenant, "OK", "ALARM", "r", "LOW", "", "", timestamp_ms)


def test_deliveries_are_stored_once_per_key_and_claimed_once_across_nodes(metadata_dir: Path,
                                                                          sql_url: str) -> None:
    database, other = Database(metadata_dir), Database(metadata_dir)
    try:
        method = MethodRepository(database).create("t1", "hook", "WEBHOOK", "http://h", 60)
        here, there = DeliveryRepository(database), DeliveryRepository(other)
        now = time.time()
        rows = [(idempotency_key(_transition(f"a{i}", 1000), method.id), method, _transition(f"a{i}", 1000), False)
                for i in range(6)]
        created = here.insert(rows, now)
        assert len(created) == 6
        assert there.insert(rows, now) == []  # the same transitions enqueued by another node: no new row
        assert there.depth() == 6
        first, second = here.claim_due(now, 4, 30), there.claim_due(now, 4, 30)
        assert len(first) == 4 and len(second) == 2
        assert not {d.id for d in first} & {d.id for d in second}
        assert here.claim_due(now, 10, 30) == []
        here.mark_delivered([d.id for d in first], now)
        there.mark_failed(second[0].id, "boom", None, now)
        there.mark_failed(second[1].id, "later", now + 5, now)
        assert here.get("t1", second[0].id).status == "dead" and here.get("t2", second[0].id) is None
        assert [d.id for d in here.list("t1", "delivered", 0, 10)] == sorted((d.id for d in first), reverse=True)
        assert here.retry("t1", second[0].id, now) and not here.retry("t1", second[0].id, now)
        assert here.depth() == 2
        assert here.next_due() == pytest.approx(now)
        claimed = here.claim_due(now + 10, 10, 30)  # the dead letter sent again, and the failed one's retry
        assert sorted(d.id for d in claimed) == sorted(d.id for d in second)
        # Embedded, the one process owns the outbox: a start releases what a crash left claimed.
        # On a cluster's database another notifier's claim is live: it stays until its lease ends.
        assert here.release_claims() == (2 if not sql_url else 0)
        transition = _transition("p1", 2000)
        here.schedule_periodic(transition, "k1", method, now - 1)
        there.schedule_periodic(transition, "k1", method, now - 1)  # kept: one schedule
        assert here.periodic_count("p1") == 1
        fired = here.fire_periodic(now, idempotency_key) + there.fire_periodic(now, idempotency_key)
        assert len(fired) == 1
        assert here.cancel_periodic("p1", keep_transition_key="k1") == 0 and here.cancel_periodic("p1") == 1
    finally:
        database.close()
        other.close()


def _metric(name: str, **dimensions: str) -> dict:
    return {"name": name, "dimensions": dimensions}


def test_alarms_save_load_and_the_queries_json_filters(metadata_dir: Path) -> None:
    definitions = DefinitionStore(metadata_dir)
    database = AlarmDatabase(metadata_dir)
    repository = AlarmRepository(database)
    try:
        definition = definitions.create("t1", _fields("cpu"))
        now = time.time()
        records = [AlarmRecord(f"alarm-{i}", definition.id, "t1", (f"h{i}",), "ALARM" if i % 2 else "OK", ["OK"],
                               now, now, now + i) for i in range(5)]
        metrics = [(f"alarm-{i}", _metric("cpu.idle_perc", hostname=f"h{i}", service="compute")) for i in range(5)]
        metrics.append(("alarm-0", _metric("cpu.idle_perc", hostname="h0", service="compute", extra="x y")))
        history = [StateChange(f"alarm-{i}", "t1", 1000 + i // 2, "OK", "ALARM", "r", [metrics[i][1]], []) for i in
                   range(5)]
        repository.save(records, metrics, history)
        repository.save(records[:1], metrics[:2], history[:1])  # again: an upsert, metrics and history once
        loaded = {r.id: r for r in repository.load_all()}
        assert sorted(loaded) == [f"alarm-{i}" for i in range(5)] and len(loaded["alarm-0"].metrics) == 2
        assert repository.get("t2", "alarm-1") is None and repository.get("t1", "alarm-1").instance == ("h1",)
        assert [c.timestamp_ms for c in repository.history("alarm-0")] == [1000]
        assert sorted(repository.ids_for_definition(definition.id)) == sorted(loaded)

        def listed(alarm_filter: AlarmFilter, **kwargs: object) -> list[str]:
            found = queries.list_alarms(database, "t1", alarm_filter, kwargs.get("sort", []), 0, 100)
            return [record.id for record, _ in found]

        assert listed(AlarmFilter()) == [f"alarm-{i}" for i in range(5)]
        assert listed(AlarmFilter(metric_dimensions=(("hostname", ("h1", "h3")),))) == ["alarm-1", "alarm-3"]
        assert listed(AlarmFilter(metric_dimensions=(("extra", None),))) == ["alarm-0"]
        assert listed(AlarmFilter(metric_dimensions=(("extra", ("x y",)),), state="OK")) == ["alarm-0"]
        assert listed(AlarmFilter(), sort=[("state", True), ("alarm_id", True)]) == [
            "alarm-3", "alarm-1", "alarm-4", "alarm-2", "alarm-0"]
        record, summary = queries.get_alarm(database, "t1", "alarm-0")
        assert summary.name == "cpu" and len(record.metrics) == 2
        columns, counts = queries.count_alarms(database, "t1", AlarmFilter(), ["dimension_name"], 0, 100)
        assert columns == ["count", "dimension_name"] and counts == [[1, "extra"], [5, "hostname"], [5, "service"]]
        _, by_value = queries.count_alarms(database, "t1", AlarmFilter(), ["state", "dimension_value"], 0, 100)
        assert [3, "OK", "compute"] in by_value and [1, "OK", "x y"] in by_value
        page = queries.state_history(database, "t1", None, (("service", ("compute",)),), None, None, None, 3)
        assert [(c.timestamp_ms, c.alarm_id) for c in page] == [(1000, "alarm-0"), (1000, "alarm-1"),
                                                                 (1001, "alarm-2")]
        after = queries.history_offset(page[-1], None)
        rest = queries.state_history(database, "t1", None, (), None, None, f"{after}:alarm-2", 10)
        assert [c.alarm_id for c in rest] == ["alarm-3", "alarm-4"]
        repository.delete(["alarm-0"])
        assert repository.get("t1", "alarm-0") is None and len(repository.history("alarm-0")) == 1
    finally:
        database.close()
        definitions.database.close()
