"""The events store clustered (a JetStream stream, Parquet files in S3) against the embedded one, on
the session's engines (tests/conftest.py: three JetStream nodes, SeaweedFS).

The contract tests run the same scenario over both and expect the same answers, whether the events
are in the tail or in Parquet files and when read by a node that did not write them. Then what only
the cluster has to do: notifications stored by two nodes at once, in the same or in overlapping
batches, are stored once (``Nats-Msg-Id`` for the same batch, the dedupe where the stream is applied
for the rest), and so is one resent after the duplicate window; a writer killed -9 loses nothing it
acknowledged, events or log lines; a JetStream node killed -9 neither.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import orjson
import pytest

from nephoscope.config import ClusterSettings
from nephoscope.events.batch import from_events
from nephoscope.events.store import EventQuery, EventStore
from nephoscope.logs.server.store import LogQuery, LogStore
from nephoscope.tenancy import ALL_TENANTS
from tests.support.cluster import cluster_settings
from tests.support.record_writer import EVENTS, T0, event, log_lines

pytestmark = pytest.mark.engines  # the distributed engines' lane (tests/lanes.py)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(nats_cluster, seaweed) -> ClusterSettings:  # noqa: ANN001 - the session's engines
    return cluster_settings(nats_cluster, seaweed, f"e{uuid.uuid4().hex[:10]}")


@pytest.fixture(params=["embedded", "cluster"])
def open_node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], EventStore]]:
    """``open_node(name)``: an events store on a node of its own (its own data directory; the first
    owns every partition, the others read); embedded, the one node opened again on its directory."""
    opened: list[EventStore] = []
    cluster = request.getfixturevalue("settings") if request.param == "cluster" else None

    def open_node(name: str = "a") -> EventStore:
        if cluster is None:
            for store in opened:
                store.close()
            opened.clear()
            store = EventStore(tmp_path / "node")
        else:
            store = EventStore(tmp_path / name, cluster=cluster, owned_partitions=None if not opened else tuple)
        opened.append(store)
        return store

    yield open_node
    for store in opened:
        store.close()


def reader(location: Path, settings: ClusterSettings) -> EventStore:
    """A node that stores and reads but owns no partition (writes no Parquet file)."""
    return EventStore(location, cluster=settings, owned_partitions=tuple)


def ids(store: EventStore, query: EventQuery = EventQuery(), scope: str = ALL_TENANTS) -> list[str]:
    return [e.message_id for e in store.query(scope, query, None, 10_000)]


def test_each_notification_once_and_the_same_answers_from_tail_files_and_another_node(
        open_node: Callable[[str], EventStore]) -> None:
    store = open_node("a")
    events = [event(f"m-{n}", T0 + n * 1000, project="p1" if n % 2 else "p2", resource=f"vm-{n % 3}",
                    request="req-x" if n == 7 else "req-1",
                    event_type="instance.create.end" if n < 10 else "instance.delete.end") for n in range(20)]
    assert store.add_batch(from_events(events[:12] + events[:3])) == 12  # copies in the batch itself
    store.table.flush()  # these in files (the cluster: S3), the rest in the tail
    assert store.add_batch(from_events(events[10:])) == 8  # two already held, in files

    def answers(node: EventStore) -> dict:
        page = node.query(ALL_TENANTS, EventQuery(), None, 7)
        return {"all": ids(node), "p1": ids(node, scope="p1"),
                "other project": ids(node, EventQuery(project_id="p1"), "p2"),
                "prefix": ids(node, EventQuery(event_type="instance.delete.*")),
                "request": ids(node, EventQuery(request_id="req-x")),
                "range": ids(node, EventQuery(start_ms=T0 + 5000, end_ms=T0 + 8000)),
                "resource": ids(node, EventQuery(resource_id="vm-2")),
                "next page": [e.message_id for e in node.query(ALL_TENANTS, EventQuery(), (page[-1].timestamp_ms,
                                                                                            page[-1].message_id), 5)],
                "count": node.count()}

    expected = {"all": [f"m-{n}" for n in range(19, -1, -1)], "p1": [f"m-{n}" for n in range(19, -1, -2)],
                "other project": [], "prefix": [f"m-{n}" for n in range(19, 9, -1)], "request": ["m-7"],
                "range": ["m-7", "m-6", "m-5"], "resource": [f"m-{n}" for n in range(19, -1, -1) if n % 3 == 2],
                "next page": ["m-12", "m-11", "m-10", "m-9", "m-8"], "count": 20}
    assert answers(store) == expected
    assert answers(open_node("b")) == expected  # another node: files from S3, the tail from the stream
    assert open_node("c").add_batch(from_events(events[5:15])) == 0


def test_two_nodes_storing_the_same_notifications_at_once_store_each_once(settings: ClusterSettings,
                                                                          tmp_path: Path) -> None:
    nodes = [EventStore(tmp_path / "a", cluster=settings), reader(tmp_path / "b", settings)]
    try:
        batches = [[event(f"m-{n}", T0 + n, resource=f"vm-{n % 5}") for n in range(start, start + 50)]
                   for start in range(0, 400, 40)]  # overlapping batches, as two consumers see redeliveries
        added = [0, 0]

        def store(node: int) -> None:
            for batch in batches:
                added[node] += nodes[node].add_batch(from_events(batch))

        threads = [threading.Thread(target=store, args=(node,)) for node in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for node in nodes:
            node.table.sync()
            assert node.table.stats()["tail_rows"] == 410  # every copy the two published, once
            assert sorted(ids(node)) == sorted(f"m-{n}" for n in range(410))
        assert sum(added) == 410
        nodes[0].table.flush()
        third = reader(tmp_path / "c", settings)
        assert sorted(ids(third)) == sorted(f"m-{n}" for n in range(410))
        third.close()
    finally:
        for node in nodes:
            node.close()


def test_after_the_duplicate_window_the_dedupe_memory_is_the_second_line(nats_cluster, seaweed,  # noqa: ANN001
                                                                        tmp_path: Path) -> None:
    settings = cluster_settings(nats_cluster, seaweed, f"w{uuid.uuid4().hex[:10]}", duplicate_window_seconds=1.0)
    a, b = EventStore(tmp_path / "a", cluster=settings), reader(tmp_path / "b", settings)
    try:
        assert a.add_batch(from_events([event("late-1", T0), event("late-2", T0 + 1)])) == 2
        time.sleep(1.5)  # JetStream has forgotten the ids; node b has followed the events
        assert b.add_batch(from_events([event("late-1", T0), event("late-3", T0 + 2)])) == 1
        a.table.flush()
        time.sleep(1.5)
        restarted = reader(tmp_path / "c", settings)  # its memory rebuilt from the S3 files
        assert restarted.add_batch(from_events([event("late-2", T0 + 1)])) == 0
        assert sorted(ids(restarted)) == ["late-1", "late-2", "late-3"]
        restarted.close()
    finally:
        a.close()
        b.close()


def test_a_writer_killed_after_acknowledgements_loses_no_event_and_no_log_line(settings: ClusterSettings,
                                                                                tmp_path: Path) -> None:
    writer = subprocess.Popen([sys.executable, "-m", "tests.support.record_writer", orjson.dumps(asdict(settings)),
                               str(tmp_path / "writer")], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    acknowledged = -1
    try:
        assert writer.stdout is not None
        while acknowledged < 24:  # past two flushes: some batches in S3 files, some only in the stream
            line = writer.stdout.readline()
            assert line, "the writer exited before acknowledging 25 batches"
            acknowledged = int(line)
    finally:
        writer.kill()  # kill -9
        writer.wait(10)
    events = reader(tmp_path / "reader-events", settings)
    logs = LogStore(tmp_path / "reader-logs", cluster=settings, owned_partitions=tuple)
    try:
        stored = set(ids(events))
        assert {f"w-{i}-{k}" for i in range(acknowledged + 1) for k in range(EVENTS)} <= stored
        assert len(stored) == len(set(stored))
        messages = logs.matching(ALL_TENANTS, LogQuery()).column("message").to_pylist()
        wanted = {line.rsplit("] ", 1)[1] for i in range(acknowledged + 1) for line in log_lines(i)}
        assert wanted <= set(messages)
        assert len(messages) == len(set(messages))  # none twice either
    finally:
        events.close()
        logs.close()


def test_a_jetstream_node_killed_loses_no_event(nats_cluster, settings: ClusterSettings,  # noqa: ANN001
                                                tmp_path: Path) -> None:
    store = EventStore(tmp_path / "a", cluster=settings)
    try:
        store.add_batch(from_events([event(f"k-{n}", T0 + n, resource=f"vm-{n}") for n in range(20)]))
        victim = int(store.table.log.stream_leader().removeprefix("n"))
        nats_cluster.kill(victim)
        try:
            for start in range(20, 100, 20):  # acknowledged by the two nodes left (a new leader)
                store.add_batch(from_events([event(f"k-{n}", T0 + n, resource=f"vm-{n}")
                                             for n in range(start, start + 20)]))
            store.table.flush()
            other = reader(tmp_path / "b", settings)
            assert sorted(ids(other)) == sorted(f"k-{n}" for n in range(100))
            other.close()
        finally:
            nats_cluster.start_node(victim)
    finally:
        store.close()


def test_a_node_that_lagged_behind_a_flush_reads_what_the_stream_forgot(settings: ClusterSettings,
                                                                         tmp_path: Path) -> None:
    owner, lagging = EventStore(tmp_path / "a", cluster=settings), reader(tmp_path / "b", settings)
    try:
        owner.add_batch(from_events([event(f"g-{n}", T0 + n, resource=f"vm-{n}") for n in range(10)]))
        lagging.table.sync()
        held = threading.Event()
        # Hold the lagging node's NATS thread (a long pause, a busy host) past its pending fetch.
        lagging.table.log._loop.loop.call_soon_threadsafe(held.wait, 30)
        time.sleep(1.5)
        owner.add_batch(from_events([event(f"g-{n}", T0 + n, resource=f"vm-{n}") for n in range(10, 30)]))
        owner.table.flush()  # into S3; the stream forgets them before the lagging node read them
        held.set()
        lagging.table.sync()
        assert sorted(ids(lagging)) == sorted(f"g-{n}" for n in range(30))
    finally:
        held.set()
        owner.close()
        lagging.close()


def test_partitions_are_written_by_their_owners_and_a_new_owner_keeps_the_old_files(settings: ClusterSettings,
                                                                                   tmp_path: Path) -> None:
    """What the ingester role relies on: ``owned_partitions()`` is asked at every flush."""
    owned = {"a": {0, 1}, "b": {2, 3}}
    a = EventStore(tmp_path / "a", cluster=settings, owned_partitions=lambda: owned["a"])
    b = EventStore(tmp_path / "b", cluster=settings, owned_partitions=lambda: owned["b"])
    try:
        a.add_batch(from_events([event(f"o-{n}", T0 + n, resource=f"vm-{n}") for n in range(0, 40)]))
        b.add_batch(from_events([event(f"o-{n}", T0 + n, resource=f"vm-{n}") for n in range(40, 80)]))
        b.table.sync()
        a.table.flush()
        assert {p: bool(c) for p, c in a.table.covered().items()} == {0: True, 1: True, 2: False, 3: False}
        b.table.flush()  # writes its own, reads a's manifests
        assert {p: bool(c) for p, c in b.table.covered().items()} == {0: True, 1: True, 2: True, 3: True}
        assert a.table.log.stream_state().messages == 0  # every partition written by its owner, then forgotten
        owned["a"], owned["b"] = {1}, {0, 2, 3}  # a's lease on partition 0 went to b
        a.add_batch(from_events([event(f"o-{n}", T0 + n, resource=f"vm-{n}") for n in range(80, 120)]))
        b.table.sync()
        b.table.flush()  # b's first flush of partition 0 starts from a's manifest
        a.table.flush()
        assert a.table.log.stream_state().messages == 0
        third = reader(tmp_path / "c", settings)
        assert sorted(ids(third)) == sorted(f"o-{n}" for n in range(120))
        assert third.table.stats()["tail_rows"] == 0  # all of it from the files
        third.close()
    finally:
        a.close()
        b.close()


def test_events_stamped_long_ago_are_kept_for_the_retention_from_their_arrival(
        open_node: Callable[[str], EventStore]) -> None:
    """Notifications stamped before the retention's cutoff (a backlog, an import) are kept once
    acknowledged: the whole-cluster test saw parts of them dropped at the next upkeep otherwise."""
    store = open_node("a")
    day = 86_400_000
    now = int(time.time() * 1000)
    old = [event(f"old-{n}", now - 200 * day + n, resource=f"vm-{n}") for n in range(6)]
    assert store.add_batch(from_events(old)) == 6
    store.table.flush()
    store.maintain(retention_ms=90 * day, now_ms=now)
    assert sorted(ids(store)) == sorted(e.message_id for e in old), "dropped at the upkeep after their arrival"
    store.maintain(retention_ms=90 * day, now_ms=now + 91 * day)  # the retention, counted from arrival
    assert ids(store) == []


def test_small_files_of_a_day_are_merged_and_read_the_same(open_node: Callable[[str], EventStore]) -> None:
    """One file per flush (and partition) would pile up: 8,640 a day at the cluster's 10 s. Beyond
    ``max_parts_per_day`` a day's small files are merged; every node reads the same events after."""
    store = open_node("a")
    store.table.max_parts_per_day = 2
    for flush in range(5):
        batch = [event(f"m-{flush}-{k}", T0 + flush * 1000 + k, resource=f"vm-{k}") for k in range(3)]
        assert store.add_batch(from_events(batch)) == 3
        store.table.flush()
    before = store.table.stats()["parts"]
    expected = sorted(f"m-{flush}-{k}" for flush in range(5) for k in range(3))
    assert store.table.merge_small_parts() >= 1
    after = store.table.stats()["parts"]
    assert after < before and sorted(ids(store)) == expected
    assert sorted(ids(open_node("b"))) == expected  # another node: the merged files, from S3


def test_merged_and_expired_files_leave_object_storage_after_a_grace(settings: ClusterSettings,
                                                                     tmp_path: Path) -> None:
    store = EventStore(tmp_path / "a", cluster=settings)
    try:
        table = store.table
        table.max_parts_per_day = 1
        for flush in range(3):
            store.add_batch(from_events([event(f"g-{flush}", T0 + flush, resource="vm-1")]))
            table.flush()
        [partition] = [p for p, m in table._manifests.items() if m.parts]
        old = [part.key for part in table._manifests[partition].parts]
        assert table.merge_small_parts() == 1
        assert all(table.objects.exists(key) for key in old), "kept for readers holding the old manifest"
        table.retired_seconds = 0
        table.merge_small_parts()  # the next upkeep deletes what is due
        assert sorted(ids(store)) == ["g-0", "g-1", "g-2"]
        assert not any(table.objects.exists(key) for key in old)
    finally:
        store.close()


def test_files_no_manifest_lists_are_swept_once_old(settings: ClusterSettings, tmp_path: Path) -> None:
    store = EventStore(tmp_path / "a", cluster=settings)
    try:
        table = store.table
        store.add_batch(from_events([event("s-1", T0, resource="vm-1")]))
        table.flush()
        orphan = "p0/parts/0-00000000000000000009-1.parquet"
        table.objects.put(orphan, b"written, never listed")
        listed = [part.key for manifest in table._manifests.values() for part in manifest.parts]
        table.orphan_seconds, table.sweep_interval = 3600, 0
        table.merge_small_parts()
        assert table.objects.exists(orphan), "too young: perhaps a flush being committed"
        table.orphan_seconds = 0
        table.merge_small_parts()
        assert not table.objects.exists(orphan)
        assert all(table.objects.exists(key) for key in listed) and ids(store) == ["s-1"]
    finally:
        store.close()


def test_a_writer_that_did_not_read_the_latest_manifest_cannot_replace_it(settings: ClusterSettings,
                                                                         tmp_path: Path) -> None:
    """A previous owner still flushing after its successor (a stalled process, a lease it lost
    without knowing): its manifest is refused, the successor's stands, nothing is lost."""
    from nephoscope.engines.pointers import Moved
    from nephoscope.tables.cluster import TableManifest

    old, new = (EventStore(tmp_path / name, cluster=settings) for name in ("old", "new"))
    try:
        old.add_batch(from_events([event("f-1", T0, resource="vm-1")]))
        old.table.flush()
        [partition] = [p for p, m in old.table._manifests.items() if m.parts]
        stale = old.table._read_for_write(partition)  # read, then stalled
        new.add_batch(from_events([event("f-2", T0 + 1, resource="vm-1")]))
        new.table.flush()  # the successor flushes first
        with pytest.raises(Moved):
            old.table._commit(partition, TableManifest(partition, stale.document.covered, []), stale)
        reader = EventStore(tmp_path / "reader", cluster=settings, owned_partitions=tuple)
        try:
            assert sorted(ids(reader)) == ["f-1", "f-2"]
        finally:
            reader.close()
    finally:
        new.close()
        old.close()
