"""A cluster of `nephoscope serve --role …` processes loses no acknowledged sample when nodes die.

Two API nodes, two ingesters and a querier on the module's own three-node JetStream cluster (one
of its nodes is killed) and the session's SeaweedFS. Two writers post Monasca JSON batches, each
through its own API node and through the other when that one is gone, and record every batch
acknowledged (204). Meanwhile an API node, an ingester and a JetStream node are killed -9 in turn.
How long after the ingester's death its partitions answer with the latest acknowledged samples is
measured (≤ 15 s). Afterwards every acknowledged sample is read back through the querier, exactly.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.support.cluster import NatsCluster, SeaweedS3
from tests.support.cluster_nodes import (
    HOSTS,
    WRITERS,
    Cluster,
    Writer,
    cluster_env,
    failover_seconds,
    latest_acknowledged,
    read_all,
    shows,
    start_nodes,
)

LEASE_SECONDS = 3
FAILOVER_BOUND = 15.0


@pytest.fixture(scope="module")
def cluster(seaweed: SeaweedS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("roles")
    nats = NatsCluster(root / "nats").start()  # the module's own: one of its nodes is killed
    env = cluster_env(nats, seaweed, f"roles{os.getpid()}{time.time_ns() % 10**9}", LEASE_SECONDS)
    nodes: list[ServerProcess] = []
    try:
        nodes = start_nodes(env, root, ["ingester", "ingester", "api", "api", "querier"])
        yield Cluster(nats, nodes[2:4], nodes[:2], nodes[4], nodes)
    finally:
        for node in nodes:
            node.stop()
        nats.stop()


def test_no_acknowledged_sample_is_lost_when_nodes_die(cluster: Cluster) -> None:
    start_ms = (int(time.time()) - 1800) * 1000
    writers = [Writer(name, [api.url for api in (cluster.api if i == 0 else cluster.api[::-1])],
                      start_ms + i * 600_000) for i, name in enumerate(WRITERS)]
    for writer in writers:
        writer.start()
    try:
        time.sleep(4)
        cluster.api[0].kill9()
        time.sleep(3)
        latest = latest_acknowledged(writers)
        killed_at = time.monotonic()
        cluster.ingesters[0].kill9()
        failover = failover_seconds(cluster.querier, writers, killed_at, latest)
        print(f"ingester failover: {failover:.2f}s")
        assert failover <= FAILOVER_BOUND
        time.sleep(2)
        cluster.nats.kill(2)
        time.sleep(5)
    finally:
        for writer in writers:
            writer.stop.set()
        for writer in writers:
            writer.join(timeout=30)
    assert all(len(w.acknowledged) > 50 for w in writers), [len(w.acknowledged) for w in writers]
    found = read_all(cluster.querier, start_ms, timeout=60)
    missing = [(w.writer, i) for w in writers for i in w.acknowledged if not shows(found, w, i)]
    assert missing == [], f"{len(missing)} acknowledged batches not read back, e.g. {missing[:5]}"
    # Nothing but what was written: one value per timestamp, each the index of its batch.
    for writer in writers:
        for host in HOSTS:
            points = found[(writer.writer, host)]
            assert all(value == (datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000
                                 - writer.start_ms) / 1000 for stamp, value in points.items())
