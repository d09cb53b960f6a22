"""Shared fixtures: a real server process on a free port with its own data dir.

``server`` is function-scoped (a fresh store per test); ``shared_server`` is one
server for a whole module, for read-mostly tests. Both expose the admin token and
helpers to create keys and to kill -9 / restart the process. ``broker`` and ``vhost``
give a test the real RabbitMQ (the events and audit tests); ``keystone`` is a real Keystone for
the whole session, ``keystone_server`` a server of the module that validates its tokens and is
registered in its catalog. ``nats_cluster`` and ``seaweed`` are the cluster stores' engines (a
three-node JetStream cluster, SeaweedFS's S3 gateway) for the whole session.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ADMIN_TOKEN = "test-admin-token"
ROOT = Path(__file__).resolve().parent.parent


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing(what: str, fix: str, module: bool = False) -> None:
    """Something a test needs is not here: skip on a developer's machine, fail loudly under CI=true
    (CI must run every test; a missing service or data set is a broken CI machine, not a pass)."""
    if under_ci():
        pytest.fail(f"{what}; CI must run this test ({fix})", pytrace=False)
    pytest.skip(f"{what} (skipped outside CI only; under CI=true this fails; {fix})", allow_module_level=module)


def shared_data(*parts: str) -> Path:
    """A file of the public data sets beside the project (``../shared/data``), wherever the
    checkout is: NEPHOSCOPE_SHARED_DATA, the checkout's sibling, or the machine's /work/shared."""
    candidates = [Path(os.environ["NEPHOSCOPE_SHARED_DATA"])] if os.environ.get("NEPHOSCOPE_SHARED_DATA") else []
    candidates += [ROOT.parent / "shared" / "data", Path("/work/shared/data")]
    for base in candidates:
        if (base / Path(*parts)).exists():
            return base / Path(*parts)
    return candidates[0] / Path(*parts)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(process: subprocess.Popen, url: str, timeout: float, name: str,
                       log: Callable[[], str], ready: Callable[[httpx.Response], bool] = lambda r: r.status_code == 200
                       ) -> None:
    """Poll ``url`` until ``ready`` says so; fail with the process's log if it exits or takes too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{log()}")
        try:
            if ready(httpx.get(url, timeout=1)):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{name} not ready after {timeout}s:\n{log()}")


def stop_process(process: subprocess.Popen | None, timeout: float = 30) -> None:
    """SIGTERM (a clean shutdown), then SIGKILL after ``timeout`` seconds; nothing if it is not running."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class ServerProcess:
    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)
    log_path: Path | None = None
    region: str = "RegionOne"  # the catalog region it is registered in (Keystone tests)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_token(self) -> str:
        return ADMIN_TOKEN

    def start(self, timeout: float = 60) -> "ServerProcess":
        env = {**os.environ, "NEPHOSCOPE_ADMIN_TOKEN": ADMIN_TOKEN, "NEPHOSCOPE_TELEMETRY_INTERVAL": "1",
               "NEPHOSCOPE_STORE_FLUSH_INTERVAL": "0.2", "PYTHONUNBUFFERED": "1", **self.extra_env}
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nephoscope", "serve", "--data-dir", str(self.data_dir), "--port", str(self.port),
             *self.extra_args],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        wait_until_serving(self.process, self.url + "/healthz", timeout, "server", self.log)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path and self.log_path.exists() else ""

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        stop_process(self.process, 60)

    def restart(self) -> "ServerProcess":
        self.stop()
        return self.start()

    def client(self, token: str | None = ADMIN_TOKEN) -> httpx.Client:
        headers = {"X-Auth-Token": token} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def create_key(self, project: str, *roles: str) -> str:
        """A new API key through the CLI (as an operator would, while the server runs)."""
        command = [sys.executable, "-m", "nephoscope", "keys", "create", "--data-dir", str(self.data_dir),
                   "--project", project]
        for role in roles:
            command += ["--role", role]
        # The operator's CLI reads the same configuration as the server (here: its environment).
        result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT,
                                env={**os.environ, **self.extra_env})
        return result.stdout.strip().splitlines()[-1]


@pytest.fixture
def server(tmp_path: Path):
    process = ServerProcess(tmp_path / "data").start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory):
    process = ServerProcess(tmp_path_factory.mktemp("shared") / "data").start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def keystone(tmp_path_factory: pytest.TempPathFactory):
    """A real Keystone (tests/support/keystone.py), bootstrapped once per test session."""
    from tests.support.keystone import Keystone

    running = Keystone.create(tmp_path_factory.mktemp("keystone"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def keystone_server(keystone, tmp_path_factory: pytest.TempPathFactory):
    """A server of the module validating Keystone tokens (API keys work too), registered in the
    catalog in a region of its own (``server.region``): clients find it as OpenStack clients do."""
    process = ServerProcess(tmp_path_factory.mktemp("keystone-server") / "data")
    process.extra_env = keystone.server_env()
    process.start()
    process.region = f"region-{process.port}"
    keystone.register_catalog(process.url, process.region)
    yield process
    process.stop()


def now_ms() -> int:
    return int(time.time() * 1000)


def wait_for(condition: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> object:
    """Poll ``condition`` until it returns something truthy (returned), or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def receiver():
    """A real HTTP receiver (tests/support/receivers.py) recording every POST."""
    from tests.support.receivers import Receiver

    running = Receiver().start()
    yield running
    running.stop()


# The real RabbitMQ broker (events and audit tests): skipped when absent, a failure under CI=true;
# a throw-away vhost per test, created with rabbitmqctl and deleted at teardown.

@pytest.fixture(scope="module")
def broker() -> None:
    from tests.support.rabbitmq import broker_problem

    problem = broker_problem()
    if problem:
        missing(problem, "make services starts RabbitMQ")


@pytest.fixture
def vhosts():
    import uuid

    from tests.support.rabbitmq import ctl, ensure_broker_running

    created: list[str] = []

    def make() -> str:
        name = f"nephoscope-test-{uuid.uuid4().hex[:10]}"
        ctl("add_vhost", name)
        created.append(name)
        ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        return name

    yield make
    ensure_broker_running()
    for name in created:
        ctl("delete_vhost", name)


@pytest.fixture
def vhost(vhosts) -> str:  # noqa: ANN001 - the fixture above
    return vhosts()


# The distributed engines of the cluster stores (metrics, events, logs): one three-node JetStream
# cluster and one SeaweedFS S3 gateway for the whole session, started on loopback by the suite.

@pytest.fixture(scope="session")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """Three JetStream nodes on loopback for the whole session (not the machine's NATS on 4222)."""
    from tests.support.cluster import NatsCluster

    cluster = NatsCluster(tmp_path_factory.mktemp("nats"))
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """SeaweedFS's S3 gateway on loopback with one bucket, for the whole session."""
    from tests.support.cluster import SeaweedS3

    s3 = SeaweedS3(tmp_path_factory.mktemp("seaweed"))
    try:
        yield s3.start()
    finally:
        s3.stop()
