"""A JetStream node cut off by a network partition (not killed) rejoins without loss.

The stream's leader is moved to the node in the network namespace, then its link is taken down
while a writer keeps writing: the two nodes left elect a new leader and acknowledge again within
issue 21's 15 s; the writer's client, which may have been talking to the cut-off node over a
connection that now hangs rather than closes, finds another server. When the link comes back the
node rejoins and catches up: its replica holds every message the others hold, and every
acknowledged point is readable.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from nephoscope.config import Config
from nephoscope.metrics.series import define_series
from nephoscope.metrics.store import Overloaded
from nephoscope.metrics.store.cluster import ClusterSettings, ClusterStore
from tests.metrics.test_cluster_store import HOUR, raw_batch, recent_hour
from tests.support.cluster import SeaweedS3
from tests.support.netns import PartitionableNats

pytestmark = pytest.mark.engines  # the distributed engines' lane (tests/lanes.py)


@pytest.fixture
def partitionable(tmp_path: Path) -> Iterator[PartitionableNats]:
    cluster = PartitionableNats(tmp_path / "nats")
    try:
        yield cluster.start()
    finally:
        cluster.stop()


async def _move_leader(urls: list[str], stream: str, to: str) -> None:
    """Ask the stream's leader to step down until ``to`` leads (each election picks among the others)."""
    connection = await nats.connect(servers=urls, connect_timeout=5)
    try:
        js = connection.jetstream(timeout=5)
        for _ in range(30):
            try:
                if (await js.stream_info(stream)).cluster.leader == to:
                    return
                await connection.request(f"$JS.API.STREAM.LEADER.STEPDOWN.{stream}", b"", timeout=5)
            except (nats.errors.TimeoutError, nats.js.errors.APIError):
                pass
            await asyncio.sleep(1.0)
        raise AssertionError(f"{to} never became the leader of {stream}")
    finally:
        await connection.close()


def test_a_partitioned_jetstream_leader_rejoins_without_loss(partitionable: PartitionableNats, seaweed: SeaweedS3,
                                                            tmp_path: Path) -> None:
    name = f"cut{time.time_ns()}"
    settings = ClusterSettings(servers=partitionable.urls, stream=f"METRICS_{name}", subject_prefix=f"{name}.metrics",
                               partitions=4, s3_endpoint=seaweed.endpoint, s3_access_key=seaweed.access_key,
                               s3_secret_key=seaweed.secret_key, bucket=seaweed.bucket, prefix=f"{name}/metrics",
                               stream_max_bytes=64 * 2**20, flush_interval=3600, publish_timeout_seconds=3.0)
    config = Config()
    config.server.data_dir = str(tmp_path / "store")
    store = ClusterStore(config, settings)
    store.open()
    start = recent_hour()
    hosts = [f"h{i}" for i in range(6)]
    ids = [define_series("project-a", "cpu.utilization_perc", {"hostname": h}).id for h in hosts]
    acknowledged: list[float] = []  # when each batch was acknowledged
    stop = threading.Event()
    refused = []

    def write() -> None:
        batch_number = 0
        while not stop.is_set():
            batch = raw_batch("project-a", hosts, start + batch_number * 10_000, 10, float(batch_number))
            try:
                store.write_now(batch)
            except Overloaded:
                refused.append(time.monotonic())
                continue  # the same batch again: a retry is stored once
            acknowledged.append(time.monotonic())
            batch_number += 1
            time.sleep(0.05)

    try:
        asyncio.run(_move_leader(partitionable.urls, settings.stream, "n2"))
        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(2)
        assert acknowledged, "nothing was acknowledged before the partition"
        partitionable.cut()
        cut_at = time.monotonic()
        time.sleep(12)
        after_cut = [at for at in acknowledged if at > cut_at]
        assert after_cut, f"no write acknowledged within 12 s of the leader's partition ({len(refused)} refused)"
        print(f"partition: first ack {after_cut[0] - cut_at:.1f} s after the cut, {len(refused)} refused meanwhile")
        assert after_cut[0] - cut_at < 15, "failover took longer than issue 21's goal"
        partitionable.heal()
        healed_at = time.monotonic()
        time.sleep(2)
        stop.set()
        writer.join(timeout=30)
        written = len(acknowledged)
        assert written > 20
        # Every acknowledged point, once each (the refused batches' retries were stored once).
        points = store.read(ids, start, start + HOUR, 0)
        assert len(points) == written * 10 * len(hosts)
        assert sorted(set(points.last.tolist())) == [float(n) for n in range(written)]
        # The cut-off node rejoined and holds what the others hold.
        deadline = time.monotonic() + 30
        while True:
            states = [partitionable.stream_state(node, settings.stream) for node in range(3)]
            if all(states) and len({(s["messages"], s["last_seq"]) for s in states}) == 1:
                break
            assert time.monotonic() < deadline, f"node 2 did not catch up: {states}"
            time.sleep(0.5)
        assert time.monotonic() - healed_at < 60
    finally:
        stop.set()
        store.close()
    # A new store reads everything back from the stream (nothing was flushed to blocks).
    reopened_config = Config()
    reopened_config.server.data_dir = str(tmp_path / "again")
    reopened = ClusterStore(reopened_config, settings)
    reopened.open()
    try:
        assert len(reopened.read(ids, start, start + HOUR, 0)) == written * 10 * len(hosts)
    finally:
        reopened.close()
