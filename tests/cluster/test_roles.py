"""A cluster of `nephoscope serve --role …` processes loses no acknowledged sample when nodes die.

Two API nodes, two ingesters and a querier on the module's own three-node JetStream cluster (one
of its nodes is killed) and the session's SeaweedFS. First, the same writes to the cluster and to
the single process give the same answers to every kind of metric read. Two writers post Monasca JSON batches, each
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
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ServerProcess
from tests.support.cluster import NatsCluster, SeaweedS3
from tests.support.monasca_reads import measurements
from tests.support.cluster_nodes import (
    HOSTS,
    WRITERS,
    Cluster,
    Writer,
    cluster_env,
    failover_seconds,
    iso,
    latest_acknowledged,
    read_all,
    shows,
    start_nodes,
)

pytestmark = pytest.mark.engines  # the distributed engines' lane (tests/lanes.py)

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


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The single process, for the same writes."""
    node = ServerProcess(tmp_path_factory.mktemp("single") / "data",
                         extra_env={"NEPHOSCOPE_TELEMETRY_ENABLED": "false"}).start()
    yield node
    node.stop()


def without_links(value: object) -> object:
    if isinstance(value, dict):
        return {k: without_links(v) for k, v in value.items() if k != "links"}
    if isinstance(value, list):
        return [without_links(v) for v in value]
    return value


def test_the_querier_answers_as_the_single_process(cluster: Cluster, embedded: ServerProcess) -> None:
    """The same Monasca writes (resent points and value_meta among them) to an API node and to the
    single process; some flushed into blocks, some only in the ingesters' heads: every read the
    querier answers equals the single process's answer."""
    rng = np.random.default_rng(21)
    start = (int(time.time()) // 3600 - 4) * 3_600_000
    batches = []
    for round_ in range(6):
        rows = []
        for _ in range(40):
            host, second = int(rng.integers(0, 6)), int(rng.integers(0, 3 * 3600))
            row = {"name": "same.value", "dimensions": {"hostname": f"s{host}", "zone": f"z{host % 2}"},
                   "timestamp": start + second * 1000, "value": round(float(rng.normal(50, 20)), 3)}
            if second % 7 == 0:
                row["value_meta"] = {"note": f"round {round_}"}
            rows.append(row)
        batches.append(rows)
    with cluster.api[1].client() as api, embedded.client() as single:
        for number, rows in enumerate(batches):
            for client in (api, single):
                assert client.post("/v2.0/metrics", json=rows).status_code == 204
            if number == 2:
                time.sleep(2.5)  # a flush interval: the first batches into blocks, the rest in heads
    begin = iso(start - 1000)
    queries = [("/v2.0/metrics", {"name": "same.value"}),
               ("/v2.0/metrics/names", {}),
               ("/v2.0/metrics/dimensions/names/values", {"dimension_name": "hostname"}),
               ("/v2.0/metrics/measurements", {"name": "same.value", "start_time": begin, "group_by": "*"}),
               ("/v2.0/metrics/measurements", {"name": "same.value", "start_time": begin, "merge_metrics": "true",
                                              "dimensions": "zone:z1"}),
               ("/v2.0/metrics/statistics", {"name": "same.value", "start_time": begin, "period": "300",
                                            "statistics": "avg,min,max,sum,count", "group_by": "*"}),
               ("/v2.0/metrics/statistics", {"name": "same.value", "start_time": begin, "period": "3600",
                                            "statistics": "avg,count", "merge_metrics": "true"})]
    with cluster.querier.client() as querier, embedded.client() as single:
        expected = [without_links(single.get(path, params=params).json()) for path, params in queries]
        deadline = time.monotonic() + 20  # the ingesters apply what the API node published within moments
        while True:
            answers = [without_links(querier.get(path, params=params).json()) for path, params in queries]
            if answers == expected or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    for (path, params), answer, wanted in zip(queries, answers, expected):
        assert answer == wanted, (path, params)
    assert len(expected[3]["elements"]) == 6
    # Everything flushed into blocks (and retention applied) by each ingester: the same answers still.
    for ingester in cluster.ingesters:
        with ingester.client() as client:
            compacted = client.post("/v1/admin/compact")
        assert compacted.status_code == 200 and compacted.json()["dropped_chunks"] == 0, compacted.text
    with cluster.querier.client() as querier:
        for (path, params), wanted in zip(queries, expected):
            assert without_links(querier.get(path, params=params).json()) == wanted, (path, params)
        report = querier.get("/v1/admin/storage").json()
    assert report["roles"] == ["querier"] and set(report["covered"]) == {"0", "1", "2", "3"}, report


def test_all_roles_in_one_process_on_the_cluster_engines(cluster: Cluster, seaweed: SeaweedS3,
                                                        tmp_path: Path) -> None:
    """`serve` without --role on a [cluster]: the cluster store playing every role in one process."""
    env = cluster_env(cluster.nats, seaweed, f"single{os.getpid()}{time.time_ns() % 10**9}", LEASE_SECONDS)
    node = ServerProcess(tmp_path / "data", extra_env=env).start()
    try:
        start = (int(time.time()) - 600) * 1000
        rows = [{"name": "single.value", "dimensions": {"hostname": "h1"}, "timestamp": start + i * 1000,
                 "value": float(i)} for i in range(20)]
        with node.client() as client:
            assert client.post("/v2.0/metrics", json=rows).status_code == 204
            assert [value for _, value in measurements(client, "single.value")] == [float(i) for i in range(20)]
            report = client.get("/v1/admin/storage").json()
        assert report.get("stream_bytes", 0) > 0, report  # the JetStream log, not the embedded WAL
    finally:
        node.stop()


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
