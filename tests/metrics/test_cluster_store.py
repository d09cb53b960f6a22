"""What the cluster store must do beyond the contract, on real engines started by the suite.

A retried batch is stored once (``Nats-Msg-Id``); everything acknowledged by a process killed -9
is readable from a new store on the same stream and bucket, whether it had reached a block or was
only in the stream; with one of the three JetStream nodes killed -9, appends and reads go on. The
pure parts (partitioning, the block format) are property-tested without engines.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nephoscope.config import ArchivePolicy, Config
from nephoscope.metrics.series import IngestBatch, PointBatch, ValueMeta, define_series
from nephoscope.metrics.store import EmbeddedStore, Overloaded, SeriesFilter
from nephoscope.metrics.store.cluster import ClusterSettings, ClusterStore
from nephoscope.metrics.store.cluster.blocks import decode_head, encode_block, series_table, value_meta_table
from nephoscope.metrics.store.cluster.partitions import message_id, split
from nephoscope.metrics.store.duckdb.compaction import points_from_chunks
from nephoscope.metrics.store.wal import encode_record
from nephoscope.metrics.summary import Points, ordered, rollup
from tests.support.cluster import cluster_settings
from tests.support.cluster import NatsCluster, SeaweedS3
from tests.support.cluster_writer import batch_points
from tests.support.cluster_writer import series as writer_series

pytestmark = pytest.mark.engines  # the distributed engines' lane (tests/lanes.py)

ROOT = Path(__file__).resolve().parents[2]
HOUR = 3_600_000


def recent_hour() -> int:
    return (int(time.time() * 1000) // HOUR) * HOUR - 2 * HOUR


def raw_batch(tenant: str, hosts: list[str], start: int, count: int, value: float = 1.0) -> IngestBatch:
    definitions = [define_series(tenant, "cpu.utilization_perc", {"hostname": h}) for h in hosts]
    ids = np.repeat([d.id for d in definitions], count).astype(np.int64)
    timestamps = np.tile(start + np.arange(count, dtype=np.int64) * 1000, len(hosts))
    return IngestBatch(definitions, PointBatch(ids, timestamps, value=np.full(len(ids), value)), ValueMeta(), tenant)


def open_store(location: Path, cluster: ClusterSettings) -> ClusterStore:
    config = Config()
    config.server.data_dir = str(location)
    store = ClusterStore(config, cluster)
    store.open()
    return store


# -- pure parts --------------------------------------------------------------------------------

@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**63 - 1), st.integers(0, 10**12), st.floats(allow_nan=False)),
                min_size=1, max_size=200), st.integers(1, 16))
def test_a_batch_splits_into_partitions_that_hold_it_exactly(rows: list, partitions: int) -> None:
    series = np.array([r[0] for r in rows], np.int64)
    timestamps = np.array([r[1] for r in rows], np.int64)
    values = np.array([r[2] for r in rows], np.float64)
    batch = IngestBatch([], PointBatch(series, timestamps, value=values), ValueMeta())
    parts = split(batch, partitions)
    assert sorted(p for p, _ in parts) == sorted(set((series % partitions).tolist()))
    for partition, part in parts:
        assert (part.points.series % partitions == partition).all()
    rejoined = sorted(zip(*(np.concatenate([getattr(part.points, c) for _, part in parts]).tolist()
                            for c in ("series", "timestamp", "value"))))
    assert rejoined == sorted(zip(series.tolist(), timestamps.tolist(), values.tolist()))
    # The same batch split again gives the same message ids: a retry is recognised.
    again = split(batch, partitions)
    assert [message_id(p, encode_record(0, b)) for p, b in parts] == [
        message_id(p, encode_record(0, b)) for p, b in again]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 7199), st.floats(-1e9, 1e9, allow_nan=False)),
                min_size=1, max_size=300, unique_by=lambda r: (r[0], r[1])))
def test_a_block_keeps_raw_points_and_exact_rollups(rows: list) -> None:
    definitions = [define_series("t", "m", {"i": str(i)}) for i in range(4)]
    ids = np.array([definitions[r[0]].id for r in rows], np.int64)
    timestamps = 1_700_000_000_000 - 1_700_000_000_000 % 7_200_000 + np.array([r[1] for r in rows], np.int64) * 1000
    values = np.array([r[2] for r in rows])
    points = ordered(Points(ids, timestamps, np.ones(len(ids), np.int64), values, values, values, values))
    data = encode_block(points, int(timestamps.min() // 7_200_000 * 7_200_000), (0, 60, 3600),
                        series_table(definitions), value_meta_table([], [], []))
    head = decode_head(data)
    for resolution in (0, 60, 3600):
        chosen = head.index.filter(head.index.column("resolution").to_numpy() == resolution)
        positions = chosen.column("offset").to_numpy() + head.payload_start
        payloads = [data[p:p + n] for p, n in zip(positions.tolist(), chosen.column("length").to_numpy().tolist())]
        decoded = ordered(points_from_chunks(chosen.column("series_id").to_numpy(), payloads))
        expected = points if resolution == 0 else rollup(points, resolution * 1000)
        for name in ("series", "timestamp", "count", "min", "max", "last"):
            assert getattr(decoded, name).tolist() == getattr(expected, name).tolist(), (resolution, name)
        assert np.allclose(decoded.sum, expected.sum, rtol=1e-12, atol=1e-6)
    assert sorted(head.series.column("id").to_pylist()) == sorted(d.id for d in definitions)


# -- on the engines ---------------------------------------------------------------------------

def test_a_retried_batch_is_stored_once(nats_cluster: NatsCluster, seaweed: SeaweedS3, tmp_path: Path) -> None:
    store = open_store(tmp_path, cluster_settings(nats_cluster, seaweed, f"retry{os.getpid()}{time.time_ns()}"))
    try:
        start = recent_hour()
        batch = raw_batch("project-a", ["h1", "h2", "h3"], start, 20)
        first = store.write_now(batch)
        messages = store.log.stream_state().messages
        accepted = store.stats().points_accepted
        # The client did not hear the acknowledgement and sends the same batch again.
        assert store.write_now(batch) == first
        assert store.log.stream_state().messages == messages
        assert store.stats().points_accepted == accepted == 60
        ids = [d.id for d in batch.tenant_series]
        assert len(store.read(ids, start, start + HOUR, 0)) == 60
        # A different batch is not mistaken for a retry.
        store.write_now(raw_batch("project-a", ["h1"], start, 20, value=2.0))
        assert store.stats().points_accepted == 80
    finally:
        store.close()


def test_everything_acknowledged_before_a_kill_9_is_readable(nats_cluster: NatsCluster, seaweed: SeaweedS3,
                                                           tmp_path: Path) -> None:
    cluster = cluster_settings(nats_cluster, seaweed, f"crash{os.getpid()}{time.time_ns()}", flush_interval=0.5)
    start = recent_hour()
    command = [sys.executable, "-m", "tests.support.cluster_writer", orjson.dumps(cluster.__dict__).decode(),
               str(tmp_path / "writer"), str(start)]
    writer = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    acknowledged = -1
    try:
        deadline = time.monotonic() + 120
        while acknowledged < 60 and time.monotonic() < deadline:
            line = writer.stdout.readline()
            if not line:
                pytest.fail(f"the writer stopped: {writer.stderr.read()[-3000:]}")
            acknowledged = int(line)
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
    assert acknowledged >= 60
    store = open_store(tmp_path / "reader", cluster)
    try:
        blocks = sum(len(m.blocks) for m in store.flusher.manifests.values())
        assert blocks > 0, "the writer flushed nothing: this test would not cover replay on top of blocks"
        found = {info.dimensions["hostname"]: info.id for info in store.find(SeriesFilter("project-a", "writer.value"))}
        assert len(found) == 5
        for index in range(acknowledged + 1):
            identifier = writer_series(index).id
            timestamps, values = batch_points(index, start)
            points = ordered(store.read([identifier], int(timestamps[0]), int(timestamps[-1]) + 1, 0))
            assert points.timestamp.tolist() == timestamps.tolist(), index
            assert points.sum.tolist() == values.tolist(), index
    finally:
        store.close()


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[NatsCluster]:
    """A three-node cluster of this test's own: it kills one of them."""
    cluster = NatsCluster(tmp_path / "nats").start()
    yield cluster
    cluster.stop()


def test_appends_and_reads_go_on_with_one_jetstream_node_killed(own_nats: NatsCluster, seaweed: SeaweedS3,
                                                                  tmp_path: Path) -> None:
    store = open_store(tmp_path / "store", cluster_settings(own_nats, seaweed, f"kill{os.getpid()}{time.time_ns()}"))
    try:
        start = recent_hour()
        hosts = [f"h{i}" for i in range(8)]
        ids = [define_series("project-a", "cpu.utilization_perc", {"hostname": h}).id for h in hosts]
        store.write_now(raw_batch("project-a", hosts, start, 100))
        store.flush_now()  # some in blocks, the rest in the stream when the node dies
        store.write_now(raw_batch("project-a", hosts, start + 100_000, 100))
        # Kill the stream's leader: the worst case (a new leader must be elected before the next ack).
        victim = int(store.log.stream_leader().removeprefix("n"))
        own_nats.kill(victim)
        killed = time.monotonic()
        store.write_now(raw_batch("project-a", hosts, start + 200_000, 100))
        assert time.monotonic() - killed < 15, "failover took longer than issue 21's goal"
        assert store.log.stream_leader() not in (None, f"n{victim}")
        written = 300
        for round_ in range(5):
            store.write_now(raw_batch("project-a", hosts, start + (3 + round_) * 100_000, 100))
            written += 100
            assert len(store.read(ids, start, start + HOUR, 0)) == written * len(hosts)
        store.flush_now()
        assert len(store.read(ids, start, start + HOUR, 0)) == written * len(hosts)
        minutes = store.read(ids, start, start + HOUR, 60)
        assert int(minutes.count.sum()) == written * len(hosts)
    finally:
        store.close()
    # A new store (the two nodes left) opens and reads it all; the dead node comes back and catches up.
    reopened = open_store(tmp_path / "again", store.settings)
    try:
        assert len(reopened.read(ids, start, start + HOUR, 0)) == written * len(hosts)
        own_nats.start_node(victim)
        reopened.write_now(raw_batch("project-a", hosts, start + 900_000, 100))
        assert len(reopened.read(ids, start, start + HOUR, 0)) == (written + 100) * len(hosts)
    finally:
        reopened.close()


@pytest.fixture
def own_s3(tmp_path: Path) -> Iterator[SeaweedS3]:
    """An object store of this test's own: it stops it for a while."""
    s3 = SeaweedS3(tmp_path / "s3").start()
    yield s3
    s3.stop()


def test_nothing_is_lost_while_object_storage_is_away(nats_cluster: NatsCluster, own_s3: SeaweedS3,
                                                      tmp_path: Path) -> None:
    cluster = cluster_settings(nats_cluster, own_s3, f"s3away{os.getpid()}{time.time_ns()}")
    store = open_store(tmp_path / "store", cluster)
    start = recent_hour()
    hosts = ["h1", "h2", "h3"]
    ids = [define_series("project-a", "cpu.utilization_perc", {"hostname": h}).id for h in hosts]
    try:
        store.write_now(raw_batch("project-a", hosts, start, 100))
        store.flush_now()
        own_s3.stop()
        store.write_now(raw_batch("project-a", hosts, start + 100_000, 100))
        with pytest.raises(OSError):
            store.flush_now()  # the stream keeps the points; the head keeps them readable
        store.write_now(raw_batch("project-a", hosts, start + 200_000, 100))
        assert len(store.read(ids, start, start + HOUR, 0)) == 300 * len(hosts)
        own_s3.start_again()
        store.flush_now()
        assert len(store.read(ids, start, start + HOUR, 0)) == 300 * len(hosts)
    finally:
        store.close()
    reopened = open_store(tmp_path / "again", cluster)
    try:
        points = ordered(reopened.read(ids, start, start + HOUR, 0))
        assert len(points) == 300 * len(hosts)
        assert points.timestamp.tolist() == np.tile(start + np.arange(300) * 1000, len(hosts)).tolist() or \
            sorted(points.timestamp.tolist()) == sorted(np.tile(start + np.arange(300) * 1000, len(hosts)).tolist())
    finally:
        reopened.close()


@pytest.fixture
def both_stores(nats_cluster: NatsCluster, seaweed: SeaweedS3,
                tmp_path: Path) -> Iterator[tuple[EmbeddedStore, ClusterStore]]:
    """An embedded and a cluster store side by side, for the same writes."""
    config = Config()
    config.server.data_dir = str(tmp_path / "embedded")
    config.store.compaction_interval = 3600
    embedded = EmbeddedStore(config)
    embedded.open()
    cluster = open_store(tmp_path / "cluster", cluster_settings(nats_cluster, seaweed, f"same{time.time_ns()}"))
    yield embedded, cluster
    embedded.close()
    cluster.close()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3 * 3600 - 1),
                                             st.floats(-1e6, 1e6, allow_nan=False)), min_size=1, max_size=40),
                          st.booleans()), min_size=1, max_size=6))
def test_every_answer_equals_the_embedded_stores(both_stores: tuple, writes: list) -> None:
    """Batches (resent points among them) written to both stores, the cluster flushing between some
    of them: every read, at every resolution, gives the same points."""
    embedded, cluster = both_stores
    tag = f"{time.time_ns()}"
    definitions = [define_series("project-a", f"same.{tag}", {"hostname": f"h{i}"}) for i in range(6)]
    start = recent_hour() - HOUR
    written: list[tuple[int, int]] = []
    for rows, flush in writes:
        rows = list({(r[0], r[1]): r for r in rows}.values())  # one value per series and second in a batch
        ids = np.array([definitions[r[0]].id for r in rows], np.int64)
        timestamps = start + np.array([r[1] for r in rows], np.int64) * 1000
        values = np.array([r[2] for r in rows])
        written += list(zip(ids.tolist(), timestamps.tolist()))
        for store in (embedded, cluster):
            store.write_now(IngestBatch(store.new_series(definitions), PointBatch(ids, timestamps, value=values),
                                        ValueMeta(), "project-a"))
        if flush:
            cluster.flush_now()
            embedded.flush_now()
    ids = [d.id for d in definitions]

    def same_answers() -> None:
        for resolution in (0, 60, 3600, 86_400):
            for low, high in ((start, start + 3 * HOUR), (start + 1234, start + HOUR + 56_789)):
                mine, theirs = (ordered(s.read(ids, low, high, resolution)) for s in (cluster, embedded))
                for name in ("series", "timestamp", "count", "min", "max", "last"):
                    assert getattr(mine, name).tolist() == getattr(theirs, name).tolist(), (resolution, low, name)
                assert np.allclose(mine.sum, theirs.sum, rtol=1e-12, atol=1e-6)
        for low, high in ((start, start + HOUR), (start + 2 * HOUR, start + 3 * HOUR)):
            scope = SeriesFilter("project-a", f"same.{tag}", (), low, high)
            with_points = {i for i, t in written if low <= t < high}
            found = [s.id for s in cluster.find(scope)]
            assert set(found) == with_points, (low, [s.id for s in embedded.find(scope)])
            # The same order as the embedded store's (name, dimensions, id); its own time-bounded find
            # also lists series whose only unflushed points lie outside the range, hence the filter.
            assert found == [s.id for s in embedded.find(scope) if s.id in with_points]

    same_answers()
    embedded.compact(force=True)
    cluster.compact(force=True)
    same_answers()


def test_concurrent_writes_from_request_handlers_are_all_stored(nats_cluster: NatsCluster, seaweed: SeaweedS3,
                                                                tmp_path: Path) -> None:
    """Many ``write`` calls at once on one event loop (as request handlers make them), a flush thread
    running meanwhile: each returns durable, and every point is read back once."""
    store = open_store(tmp_path, cluster_settings(nats_cluster, seaweed, f"many{time.time_ns()}", flush_interval=0.3))
    start = recent_hour()
    hosts = [f"h{i}" for i in range(16)]

    async def write_all() -> list[int]:
        return await asyncio.gather(*(store.write(raw_batch("project-a", [host], start + round_ * 60_000, 60))
                                      for round_ in range(10) for host in hosts))

    try:
        sequences = asyncio.run(write_all())
        assert len(set(sequences)) == len(sequences) == 160
        ids = [define_series("project-a", "cpu.utilization_perc", {"hostname": h}).id for h in hosts]
        points = store.read(ids, start, start + HOUR, 0)
        assert len(points) == 160 * 60
        assert store.stats().points_accepted == 160 * 60
        assert store.find(SeriesFilter("project-a", "cpu.utilization_perc"))[0].name == "cpu.utilization_perc"
        assert len(store.find(SeriesFilter("project-a", "cpu.utilization_perc"))) == 16
    finally:
        store.close()


def test_a_write_the_log_cannot_acknowledge_is_refused_not_lost(own_nats: NatsCluster, seaweed: SeaweedS3,
                                                                 tmp_path: Path) -> None:
    """Two of three JetStream nodes dead: no quorum, so no acknowledgement: the write is refused
    (Overloaded: 503 + Retry-After), and its retry once the quorum is back is stored once."""
    store = open_store(tmp_path, cluster_settings(own_nats, seaweed, f"quorum{time.time_ns()}",
                                                  publish_timeout_seconds=3.0))
    start = recent_hour()
    batch = raw_batch("project-a", ["h1", "h2"], start, 50)
    ids = [d.id for d in batch.tenant_series]
    try:
        store.write_now(raw_batch("project-a", ["h1", "h2"], start - 60_000, 10))
        own_nats.kill(1)
        own_nats.kill(2)
        with pytest.raises(Overloaded) as refused:
            store.write_now(batch)
        assert refused.value.backlog
        own_nats.start_node(1)
        own_nats.start_node(2)
        deadline = time.monotonic() + 30
        while True:
            try:
                store.write_now(batch)
                break
            except Overloaded:
                if time.monotonic() > deadline:
                    raise
        store.write_now(batch)
        assert len(store.read(ids, start - HOUR, start + HOUR, 0)) == 120
        assert store.stats().points_accepted == 120
    finally:
        store.close()


def test_retention_runs_on_its_own_on_the_compaction_interval(nats_cluster: NatsCluster, seaweed: SeaweedS3,
                                                              tmp_path: Path) -> None:
    """Nobody calls compact: the flush thread drops what the policy no longer keeps raw."""
    config = Config()
    config.server.data_dir = str(tmp_path)
    config.store.policies = [ArchivePolicy(raw=3600)]
    config.store.compaction_interval = 0.5
    store = ClusterStore(config, cluster_settings(nats_cluster, seaweed, f"retain{time.time_ns()}",
                                                  flush_interval=0.3))
    store.open()
    try:
        old = (int(time.time() * 1000) // HOUR) * HOUR - 6 * HOUR
        batch = raw_batch("project-a", ["h1"], old, 60)
        ids = [d.id for d in batch.tenant_series]
        store.write_now(batch)
        deadline = time.monotonic() + 20
        while len(store.read(ids, old, old + HOUR, 0)):
            assert time.monotonic() < deadline, "raw points past their retention were never dropped"
            time.sleep(0.2)
        assert int(store.read(ids, old, old + HOUR, 60).count.sum()) == 60  # the roll-ups stay
    finally:
        store.close()


def test_blocks_no_manifest_lists_are_swept_once_old(nats_cluster: NatsCluster, seaweed: SeaweedS3,
                                                     tmp_path: Path) -> None:
    """A crash between a block's upload and its manifest's leaves an object nothing reads: swept once
    older than ``orphan_seconds``, the listed blocks kept and read as before."""
    store = open_store(tmp_path, cluster_settings(nats_cluster, seaweed, f"sweep{time.time_ns()}", partitions=2))
    try:
        start = recent_hour()
        batch = raw_batch("project-a", ["h1", "h2"], start, 30)
        ids = [d.id for d in batch.tenant_series]
        store.write_now(batch)
        store.compact()
        objects = store.flusher.objects
        orphans = ["p0/blocks/0/00000000000000000007-1.blk", "p1/blocks/7200000/00000000000000000003-2.blk"]
        for key in orphans:
            objects.put(key, b"never listed")
        listed = sorted(key for key, _ in objects.list("") if "/blocks/" in key and key not in orphans)
        assert listed
        store.flusher.orphan_seconds = 3600
        assert store.flusher.sweep_orphans(due=True) == 0, "too young: perhaps a flush being committed"
        store.flusher.orphan_seconds = 0
        assert store.flusher.sweep_orphans(due=True) == 2
        assert sorted(key for key, _ in objects.list("") if "/blocks/" in key) == listed
        assert int(store.read(ids, start, start + HOUR, 0).count.sum()) == 60
    finally:
        store.close()


def test_a_flusher_that_did_not_read_the_latest_manifest_cannot_replace_it(
        nats_cluster: NatsCluster, seaweed: SeaweedS3, tmp_path: Path) -> None:
    """Two writers of one partition (a previous owner stalled past its lease): the one whose manifest
    read is older loses the compare-and-set of the manifest pointer; the other's blocks stand."""
    from nephoscope.metrics.store.cluster.flush import LeaseLost

    settings = cluster_settings(nats_cluster, seaweed, f"fence{time.time_ns()}", partitions=1)
    first, second = (open_store(tmp_path / name, settings) for name in ("first", "second"))
    try:
        start = recent_hour()
        early = raw_batch("project-a", ["h1"], start, 10)
        first.write_now(early)
        first.compact()
        second.flusher.refresh(0)  # second reads the manifest, then stalls
        late = raw_batch("project-a", ["h1"], start + 10_000, 10, value=2.0)
        first.write_now(late)
        first.compact()  # first writes again meanwhile
        with pytest.raises(LeaseLost):
            second.flusher.flush([(10**6, raw_batch("project-a", ["h1"], start + 20_000, 5, value=3.0))])
        reader = open_store(tmp_path / "reader", settings)
        try:
            ids = [d.id for d in early.tenant_series]
            assert int(reader.read(ids, start, start + HOUR, 0).count.sum()) >= 20
        finally:
            reader.close()
    finally:
        second.close()
        first.close()
