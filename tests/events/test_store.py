"""The events store: durable batches, each message once (across restarts, flushes and torn
writes), tenant-scoped reads across the in-memory tail and Parquet parts, paging, retention,
unknown types counted with a sample, and the lifecycle state behind the derived metrics."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nephoscope.events.batch import from_events
from nephoscope.events.records import Event, Notification
from nephoscope.events.store import EventQuery, EventStore
from nephoscope.tenancy import ALL_TENANTS

T0 = 1_800_000_000_000


def event(number: int, project: str = "p1", event_type: str = "instance.create.end", known: bool = True,
          resource: str = "vm-1", request: str = "req-1", at: int | None = None, traits: dict | None = None,
          resource_type: str = "instance") -> Event:
    timestamp = T0 + number * 1000 if at is None else at
    raw = Notification(message_id=f"m-{number}", event_type=event_type, publisher_id="nova-compute:host1",
                       priority="INFO", timestamp_ms=timestamp, payload={"n": number}, top={"n": number},
                       exchange="nova")
    return Event(message_id=f"m-{number}", event_type=event_type, timestamp_ms=timestamp, service="nova", host="host1",
                 priority="INFO", project_id=project, user_id="u1", request_id=request, global_request_id="",
                 resource_id=resource, resource_type=resource_type, traits=traits or {"n": number}, known=known,
                 raw=raw)


def add(store: EventStore, events: list[Event]) -> int:
    added = store.add_batch(from_events(events))
    store.apply_now()  # the derived tables follow within apply_seconds; tests read them at once
    return added


def test_each_message_is_stored_once_across_restarts(tmp_path: Path) -> None:
    store = EventStore(tmp_path)
    assert add(store, [event(1), event(2), event(2)]) == 2
    assert add(store, [event(2), event(3)]) == 1
    store.close()
    again = EventStore(tmp_path)
    assert add(again, [event(1), event(3), event(4)]) == 1
    assert again.count() == 4


def test_reads_are_tenant_scoped_filtered_and_paged(tmp_path: Path) -> None:
    store = EventStore(tmp_path)
    add(store, [event(n, project="p1" if n % 2 else "p2", resource=f"vm-{n % 3}",
                     event_type="instance.create.end" if n < 10 else "instance.delete.end",
                     request="req-x" if n == 7 else "req-1") for n in range(20)])
    own = store.query("p1", EventQuery(), None, 100)
    assert {e.project_id for e in own} == {"p1"} and len(own) == 10
    assert [e.timestamp_ms for e in own] == sorted((e.timestamp_ms for e in own), reverse=True)
    assert len(store.query(ALL_TENANTS, EventQuery(), None, 100)) == 20
    assert store.query("p2", EventQuery(project_id="p1"), None, 100) == []
    assert {e.event_type for e in store.query(ALL_TENANTS, EventQuery(event_type="instance.delete.*"), None, 100)} == {
        "instance.delete.end"}
    assert [e.message_id for e in store.query(ALL_TENANTS, EventQuery(request_id="req-x"), None, 10)] == ["m-7"]
    ranged = store.query(ALL_TENANTS, EventQuery(start_ms=T0 + 5000, end_ms=T0 + 8000), None, 10)
    assert [e.message_id for e in ranged] == ["m-7", "m-6", "m-5"]
    assert {e.resource_id for e in store.query(ALL_TENANTS, EventQuery(resource_id="vm-2"), None, 100)} == {"vm-2"}


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 7), st.lists(st.integers(0, 5), min_size=1, max_size=40))
def test_pages_cover_everything_once_even_with_equal_timestamps(page, seconds) -> None:  # noqa: ANN001
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        store = EventStore(Path(directory))
        add(store, [event(n, at=T0 + s * 1000) for n, s in enumerate(seconds)])
        seen, after = [], None
        while True:
            chunk = store.query(ALL_TENANTS, EventQuery(), after, page)
            seen += [e.message_id for e in chunk]
            if len(chunk) < page:
                break
            after = (chunk[-1].timestamp_ms, chunk[-1].message_id)
        assert sorted(seen) == sorted(f"m-{n}" for n in range(len(seconds))) and len(seen) == len(set(seen))
        store.close()


def test_unknown_types_are_counted_with_a_sample(tmp_path: Path) -> None:
    store = EventStore(tmp_path)
    add(store, [event(1, event_type="acme.widget.frobbed", known=False), event(2, event_type="acme.widget.frobbed",
                                                                             known=False), event(3)])
    add(store, [event(4, event_type="acme.widget.frobbed", known=False)])
    (unknown,) = store.unknown_types()
    assert unknown["event_type"] == "acme.widget.frobbed" and unknown["count"] == 3
    assert unknown["sample"]["publisher_id"] == "nova-compute:host1"
    assert (unknown["first_seen_ms"], unknown["last_seen_ms"]) == (T0 + 1000, T0 + 4000)


def ids(store: EventStore) -> list[str]:
    return sorted(e.message_id for e in store.query(ALL_TENANTS, EventQuery(), None, 100_000))


def test_flushed_parts_and_the_tail_read_as_one_table_across_restarts(tmp_path: Path) -> None:
    store = EventStore(tmp_path, flush_rows=5)
    add(store, [event(n) for n in range(4)])
    assert store.table.stats()["parts"] == 0 and store.table.flush_due() is False
    add(store, [event(n) for n in range(4, 9)])
    assert store.table.flush_due()
    store.maintain(None, T0)
    assert store.table.stats() == {**store.table.stats(), "parts": 1, "tail_rows": 0}
    add(store, [event(n) for n in range(9, 12)])  # in the tail, beside one part
    assert ids(store) == sorted(f"m-{n}" for n in range(12))
    assert [e.message_id for e in store.query(ALL_TENANTS, EventQuery(start_ms=T0 + 7000, end_ms=T0 + 10_000),
                                               None, 10)] == ["m-9", "m-8", "m-7"]
    store.close()
    again = EventStore(tmp_path, flush_rows=5)
    assert ids(again) == sorted(f"m-{n}" for n in range(12))
    # Every id is remembered after the restart, whether it was in a part or in the log.
    assert add(again, [event(n) for n in range(12)]) == 0 and again.count() == 12


def test_the_tail_is_flushed_when_its_memory_reaches_the_bound(tmp_path: Path) -> None:
    store = EventStore(tmp_path, flush_rows=10**6)  # rows never decide here: bytes do
    add(store, [event(n) for n in range(3)])
    held = sum(table.get_total_buffer_size() for table in store.table._tail)
    assert held > 0
    store.table.flush_bytes = held + 1
    assert store.table.flush_due() is False
    add(store, [event(3)])
    assert store.table.flush_due()
    store._lock.acquire()  # simulate a crash: nothing is flushed or closed
    again = EventStore(tmp_path, flush_rows=10**6)  # the tail read back from the log counts the same
    assert again.table.stats()["tail_rows"] == 4 and again.table.stats()["parts"] == 0
    again.table.flush_bytes = held + 1
    assert again.table.flush_due()
    again.table.flush_bytes = 64 * 2**20
    assert again.table.flush_due() is False


def test_a_torn_log_write_is_cut_and_the_rest_kept(tmp_path: Path) -> None:
    store = EventStore(tmp_path)
    add(store, [event(1), event(2)])
    add(store, [event(3)])
    store._lock.acquire()  # simulate a crash: nothing is flushed or closed
    (log_file,) = sorted((tmp_path / "events" / "log").glob("*.arrow"))
    with open(log_file, "ab") as handle:
        handle.write(b"\xff\xff\xff\xff partial batch")
    again = EventStore(tmp_path)
    assert ids(again) == ["m-1", "m-2", "m-3"]
    assert add(again, [event(3), event(4)]) == 1


def test_a_hash_collision_never_drops_a_new_event(tmp_path: Path) -> None:
    store = EventStore(tmp_path)
    add(store, [event(1)])
    # Make the memory claim every id may be held: only the table itself may decide.
    store._recent.maybe_held = lambda hashes: np.ones(len(hashes), bool)  # type: ignore[method-assign]
    assert add(store, [event(1), event(2), event(3)]) == 2
    assert ids(store) == ["m-1", "m-2", "m-3"]


def test_retention_drops_whole_old_parts_and_small_parts_are_merged(tmp_path: Path) -> None:
    day = 86_400_000
    store = EventStore(tmp_path, flush_rows=2)
    store.table.max_parts_per_day = 2
    for n in range(6):  # three flushes on the first day, one on the third
        add(store, [event(2 * n, at=T0 + 2 * n), event(2 * n + 1, at=T0 + 2 * n + 1)])
        store.maintain(None, T0)
    add(store, [event(100, at=T0 + 2 * day), event(101, at=T0 + 2 * day + 1)])
    store.maintain(None, T0)
    parts = store.table.stats()["parts"]
    assert parts <= 3, "the first day's parts were merged"
    assert len(ids(store)) == 14
    store.maintain(retention_ms=day, now_ms=T0 + 2 * day + 10)
    assert ids(store) == ["m-100", "m-101"]


def test_a_full_part_is_never_merged_again(tmp_path: Path) -> None:
    """A busy day is not rewritten at every merge: only the parts below ``full_part_bytes`` are."""
    store = EventStore(tmp_path, flush_rows=2)
    table = store.table
    table.max_parts_per_day = 2
    number = 0

    def flush_one() -> None:
        nonlocal number
        add(store, [event(number, at=T0 + number), event(number + 1, at=T0 + number + 1)])
        number += 2
        store.maintain(None, T0)

    for _ in range(3):
        flush_one()
    [first_merge] = table._parts
    table.full_part_bytes = first_merge.size  # that merge is full from now on
    for _ in range(3):
        flush_one()
    paths = {part.path for part in table._parts}
    assert first_merge.path in paths and first_merge.path.exists(), "the full part was left as it was"
    assert len(paths) == 2, "the three new parts were merged into one beside it"
    assert ids(store) == sorted(f"m-{n}" for n in range(number))
    again = EventStore(tmp_path)  # and both are found again after a restart
    assert ids(again) == sorted(f"m-{n}" for n in range(number))


def test_lifecycle_keeps_the_newest_state_of_each_resource(tmp_path: Path) -> None:
    store = EventStore(tmp_path)
    instance = {"state": "building", "flavor_name": "m1.small", "vcpus": 1, "memory_mb": 512}
    add(store, [event(1, resource="vm-1", traits=instance),
                event(2, resource="vm-2", project="p2", traits={**instance, "state": "active"}),
                event(3, resource="vm-1", traits={**instance, "state": "active"}),
                event(4, resource="vol-1", resource_type="volume", event_type="volume.create.end",
                      traits={"status": "available", "size": 10})])
    add(store, [event(0, resource="vm-1", traits={**instance, "state": "deleted"}, at=T0)])  # older: ignored
    counts = {(c.project_id, c.resource_type, c.state): c for c in store.resource_counts()}
    assert counts[("p1", "instance", "active")].count == 1 and counts[("p1", "instance", "active")].vcpus == 1
    assert counts[("p2", "instance", "active")].memory_mb == 512
    assert counts[("p1", "volume", "available")].size_gb == 10
    add(store, [event(5, resource="vm-1", event_type="instance.delete.end", traits={"state": "deleted"})])
    assert ("p1", "instance", "active") not in {(c.project_id, c.resource_type, c.state) for c in store.resource_counts()}
    assert store.forget_deleted(T0 + 10_000) == 1


def test_derived_records_are_applied_exactly_once_across_crashes(tmp_path: Path) -> None:
    store = EventStore(tmp_path, apply_seconds=3600)  # the applier never runs on its own here
    store.add_batch(from_events([
        event(1, event_type="instance.create.error", resource="vm-9", traits={"state": "error"}),
        event(2, event_type="acme.widget.frobbed", known=False)]))
    assert store.failures(ALL_TENANTS) == [] and store.unknown_types() == []  # durable in the log only
    # crash: nothing closed, nothing applied
    again = EventStore(tmp_path, apply_seconds=3600)
    assert [f.resource_id for f in again.failures(ALL_TENANTS)] == ["vm-9"]
    assert [u["count"] for u in again.unknown_types()] == [1]
    assert ("instance", "error") in {(c.resource_type, c.state) for c in again.resource_counts()}
    # crash again after applying: the log still holds the records, the position says they are in
    third = EventStore(tmp_path, apply_seconds=3600)
    assert [u["count"] for u in third.unknown_types()] == [1]
    assert len(third.failures(ALL_TENANTS)) == 1
    third.close()
    assert [u["count"] for u in EventStore(tmp_path).unknown_types()] == [1]


def test_merging_parts_keeps_when_their_rows_arrived(tmp_path: Path) -> None:
    """Retention counts from arrival for rows stamped long ago; a merge is not an arrival."""
    store = EventStore(tmp_path, flush_rows=2)
    for n in range(3):
        add(store, [event(2 * n, at=T0 + 2 * n), event(2 * n + 1, at=T0 + 2 * n + 1)])
        store.maintain(None, T0)
    store.close()
    week_ago_ms = int(time.time() * 1000) - 7 * 86_400_000
    for number, path in enumerate(sorted(tmp_path.rglob("*.parquet"))):
        arrived_ns = (week_ago_ms + number) * 1_000_000
        os.utime(path, ns=(arrived_ns, arrived_ns))
    store = EventStore(tmp_path, flush_rows=2)
    assert len(store.table._parts) == 3
    store.table.max_parts_per_day = 2
    store.maintain(None, T0)
    [merged] = store.table._parts
    assert merged.written_ms == week_ago_ms + 2, "the newest arrival among the merged parts"
    assert ids(store) == [f"m-{n}" for n in range(6)]
    store.maintain(retention_ms=3 * 86_400_000, now_ms=T0 + 4 * 86_400_000)  # arrived and stamped before
    assert ids(store) == []
