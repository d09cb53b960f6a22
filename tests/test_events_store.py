"""The events store: durable batches, each message once (across restarts), tenant-scoped reads,
paging, and unknown types counted with a sample."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from nephoscope.events.model import Event, Notification
from nephoscope.events.store import EventQuery, EventStore
from nephoscope.model import ALL_TENANTS

T0 = 1_800_000_000_000


def event(number: int, project: str = "p1", event_type: str = "instance.create.end", known: bool = True,
          resource: str = "vm-1", request: str = "req-1", at: int | None = None) -> Event:
    timestamp = T0 + number * 1000 if at is None else at
    raw = Notification(message_id=f"m-{number}", event_type=event_type, publisher_id="nova-compute:host1",
                       priority="INFO", timestamp_ms=timestamp, payload={"n": number}, data={"n": number},
                       exchange="nova")
    return Event(message_id=f"m-{number}", event_type=event_type, timestamp_ms=timestamp, service="nova", host="host1",
                 priority="INFO", project_id=project, user_id="u1", request_id=request, global_request_id="",
                 resource_id=resource, resource_type="instance", traits={"n": number}, known=known, raw=raw)


def test_each_message_is_stored_once_across_restarts(tmp_path: Path) -> None:
    store = EventStore(tmp_path)
    assert store.add([event(1), event(2), event(2)]) == 2
    assert store.add([event(2), event(3)]) == 1
    store.close()
    again = EventStore(tmp_path)
    assert again.add([event(1), event(3), event(4)]) == 1
    assert again.count() == 4


def test_reads_are_tenant_scoped_filtered_and_paged(tmp_path: Path) -> None:
    store = EventStore(tmp_path)
    store.add([event(n, project="p1" if n % 2 else "p2", resource=f"vm-{n % 3}",
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
        store.add([event(n, at=T0 + s * 1000) for n, s in enumerate(seconds)])
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
    store.add([event(1, event_type="acme.widget.frobbed", known=False), event(2, event_type="acme.widget.frobbed",
                                                                             known=False), event(3)])
    store.add([event(4, event_type="acme.widget.frobbed", known=False)])
    (unknown,) = store.unknown_types()
    assert unknown["event_type"] == "acme.widget.frobbed" and unknown["count"] == 3
    assert unknown["sample"]["publisher_id"] == "nova-compute:host1"
    assert (unknown["first_seen_ms"], unknown["last_seen_ms"]) == (T0 + 1000, T0 + 4000)
