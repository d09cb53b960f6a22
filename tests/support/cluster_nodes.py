"""Nodes of a cluster as `nephoscope serve --role …` processes, and a load to run through them.

``cluster_env``: the ``[cluster]`` section as NEPHOSCOPE_CLUSTER_* variables; ``start_nodes``: nodes
of the given roles started at once; ``Writer``: a thread posting Monasca JSON batches through an API
node (the other one when it is gone) and recording each acknowledged batch; ``read_all``: every
point back through a querier; ``failover_seconds``: from a kill until the querier shows samples
acknowledged before it. Used by tests/cluster/test_roles.py and bench/cluster_failover.py.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import httpx

from tests.conftest import ADMIN_TOKEN, ServerProcess
from tests.support.cluster import NatsCluster, SeaweedS3

HOSTS = [f"h{i}" for i in range(8)]
WRITERS = ("a", "b")


def cluster_env(nats: NatsCluster, s3: SeaweedS3, name: str, lease_seconds: float = 3,
                partitions: int = 4) -> dict[str, str]:
    """The [cluster] section every node reads, as NEPHOSCOPE_CLUSTER_* variables."""
    return {"NEPHOSCOPE_CLUSTER_SERVERS": ",".join(nats.urls), "NEPHOSCOPE_CLUSTER_STREAM": f"METRICS_{name}",
            "NEPHOSCOPE_CLUSTER_SUBJECT_PREFIX": f"{name}.metrics", "NEPHOSCOPE_CLUSTER_PARTITIONS": str(partitions),
            "NEPHOSCOPE_CLUSTER_S3_ENDPOINT": s3.endpoint, "NEPHOSCOPE_CLUSTER_S3_ACCESS_KEY": s3.access_key,
            "NEPHOSCOPE_CLUSTER_S3_SECRET_KEY": s3.secret_key, "NEPHOSCOPE_CLUSTER_BUCKET": s3.bucket,
            "NEPHOSCOPE_CLUSTER_PREFIX": f"{name}/metrics", "NEPHOSCOPE_CLUSTER_FLUSH_INTERVAL": "2",
            "NEPHOSCOPE_CLUSTER_LEASE_SECONDS": str(lease_seconds),
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


def owned_partitions(ingester: ServerProcess) -> list[int]:
    """The partitions an ingester holds now (its storage report)."""
    with ingester.client() as client:
        return client.get("/v1/admin/storage").json().get("owned_partitions", [])


def latest_acknowledged(writers: list[Writer]) -> dict[str, int]:
    return {w.writer: (w.acknowledged[-1] if w.acknowledged else -1) for w in writers}


def shows(found: dict, writer: Writer, index: int) -> bool:
    stamp = iso(writer.start_ms + index * 1000)
    return all(found.get((writer.writer, host), {}).get(stamp) == float(index) for host in HOSTS)


def failover_seconds(querier: ServerProcess, writers: list[Writer], killed_at: float, latest: dict[str, int]) -> float:
    """Seconds from the kill until the querier answers with the samples acknowledged before it."""
    while True:
        try:
            found = read_all(querier, min(w.start_ms for w in writers), timeout=30)
        except (AssertionError, httpx.HTTPError):
            found = {}  # 503: a partition between two owners
        if all(shows(found, w, latest[w.writer]) for w in writers if latest[w.writer] >= 0):
            return time.monotonic() - killed_at
        assert time.monotonic() - killed_at < 60, "the dead ingester's partitions never came back"
        time.sleep(0.1)
