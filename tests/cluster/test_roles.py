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
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN, ServerProcess
from tests.support.cluster import NatsCluster, SeaweedS3

HOSTS = [f"h{i}" for i in range(8)]
WRITERS = ("a", "b")
LEASE_SECONDS = 3
FAILOVER_BOUND = 15.0


def cluster_env(nats: NatsCluster, s3: SeaweedS3, name: str) -> dict[str, str]:
    """The [cluster] section every node reads, as NEPHOSCOPE_CLUSTER_* variables."""
    return {"NEPHOSCOPE_CLUSTER_SERVERS": ",".join(nats.urls), "NEPHOSCOPE_CLUSTER_STREAM": f"METRICS_{name}",
            "NEPHOSCOPE_CLUSTER_SUBJECT_PREFIX": f"{name}.metrics", "NEPHOSCOPE_CLUSTER_PARTITIONS": "4",
            "NEPHOSCOPE_CLUSTER_S3_ENDPOINT": s3.endpoint, "NEPHOSCOPE_CLUSTER_S3_ACCESS_KEY": s3.access_key,
            "NEPHOSCOPE_CLUSTER_S3_SECRET_KEY": s3.secret_key, "NEPHOSCOPE_CLUSTER_BUCKET": s3.bucket,
            "NEPHOSCOPE_CLUSTER_PREFIX": f"{name}/metrics", "NEPHOSCOPE_CLUSTER_FLUSH_INTERVAL": "2",
            "NEPHOSCOPE_CLUSTER_LEASE_SECONDS": str(LEASE_SECONDS),
            "NEPHOSCOPE_CLUSTER_STREAM_MAX_BYTES": str(64 * 2**20), "NEPHOSCOPE_TELEMETRY_ENABLED": "false"}


@dataclass
class Cluster:
    nats: NatsCluster
    api: list[ServerProcess]
    ingesters: list[ServerProcess]
    querier: ServerProcess
    processes: list[ServerProcess] = field(default_factory=list)


def start_nodes(env: dict[str, str], root: Path, roles: list[str]) -> list[ServerProcess]:
    """Nodes of these roles, started at once (each waits for /healthz)."""
    nodes = [ServerProcess(root / f"{role}-{i}" / "data", extra_env=env, extra_args=["--role", role])
             for i, role in enumerate(roles)]
    for node in nodes:
        node.data_dir.parent.mkdir(parents=True)
    errors: list[BaseException] = []

    def start(node: ServerProcess) -> None:
        try:
            node.start(timeout=120)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=start, args=(node,)) for node in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        for node in nodes:
            node.stop()
        raise errors[0]
    return nodes


@pytest.fixture(scope="module")
def cluster(seaweed: SeaweedS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("roles")
    nats = NatsCluster(root / "nats").start()  # the module's own: one of its nodes is killed
    env = cluster_env(nats, seaweed, f"roles{os.getpid()}{time.time_ns() % 10**9}")
    nodes: list[ServerProcess] = []
    try:
        nodes = start_nodes(env, root, ["ingester", "ingester", "api", "api", "querier"])
        yield Cluster(nats, nodes[2:4], nodes[:2], nodes[4], nodes)
    finally:
        for node in nodes:
            node.stop()
        nats.stop()


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Writer(threading.Thread):
    """Posts batch after batch (one sample per host, value = batch index) until stopped, through its
    API node, or the other when that one does not answer; remembers each acknowledged batch."""

    def __init__(self, name: str, urls: list[str], start_ms: int) -> None:
        super().__init__(name=f"writer-{name}", daemon=True)
        self.writer = name
        self.urls = urls
        self.start_ms = start_ms
        self.acknowledged: list[int] = []
        self.refused = 0
        self.stop = threading.Event()

    def batch(self, index: int) -> list[dict]:
        return [{"name": "load.value", "dimensions": {"writer": self.writer, "hostname": host},
                 "timestamp": self.start_ms + index * 1000, "value": float(index)} for host in HOSTS]

    def run(self) -> None:
        clients = [httpx.Client(base_url=url, headers={"X-Auth-Token": ADMIN_TOKEN}, timeout=15) for url in self.urls]
        index, node = 0, 0
        while not self.stop.is_set():
            try:
                response = clients[node].post("/v2.0/metrics", json=self.batch(index))
            except httpx.HTTPError:
                node = 1 - node  # that API node is gone: the other one
                continue
            if response.status_code == 204:
                self.acknowledged.append(index)
                index += 1
                time.sleep(0.05)
            else:
                self.refused += 1  # 503 while JetStream elects a leader: the same batch again
                time.sleep(0.2)
        for client in clients:
            client.close()


def read_all(querier: ServerProcess, start_ms: int, timeout: float = 30) -> dict[tuple[str, str], dict[str, float]]:
    """Every point of ``load.value`` through the querier: (writer, host) -> {timestamp: value}."""
    with querier.client() as client:
        response = client.get("/v2.0/metrics/measurements", params={
            "name": "load.value", "start_time": iso(start_ms - 1000), "group_by": "*", "limit": 10000},
            timeout=timeout)
    assert response.status_code == 200, response.text
    found: dict[tuple[str, str], dict[str, float]] = {}
    for element in response.json()["elements"]:
        key = (element["dimensions"]["writer"], element["dimensions"]["hostname"])
        found.setdefault(key, {}).update({row[0]: row[1] for row in element["measurements"]})
    return found


def shows(found: dict, writer: Writer, index: int) -> bool:
    stamp = iso(writer.start_ms + index * 1000)
    return all(found.get((writer.writer, host), {}).get(stamp) == float(index) for host in HOSTS)


def failover_seconds(cluster: Cluster, writers: list[Writer], killed_at: float, latest: dict[str, int]) -> float:
    """Seconds from the kill until the querier answers with the samples acknowledged before it."""
    while True:
        try:
            found = read_all(cluster.querier, min(w.start_ms for w in writers), timeout=30)
        except (AssertionError, httpx.HTTPError):
            found = {}  # 503: a partition between two owners
        if all(shows(found, w, latest[w.writer]) for w in writers if latest[w.writer] >= 0):
            return time.monotonic() - killed_at
        assert time.monotonic() - killed_at < 60, "the dead ingester's partitions never came back"
        time.sleep(0.1)


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
        latest = {w.writer: (w.acknowledged[-1] if w.acknowledged else -1) for w in writers}
        killed_at = time.monotonic()
        cluster.ingesters[0].kill9()
        failover = failover_seconds(cluster, writers, killed_at, latest)
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
