"""The ``--demo`` simulated cloud: realistic shapes, and a push loop against a real HTTP receiver.

No HTTP mocks: the push tests run a small ``http.server`` on 127.0.0.1 that records
every request and answers 204 (or 503/429 with ``Retry-After`` when told to); they push metrics
only (``logs_and_events=False``). The services' lines and notifications through a real server,
and restarts: ``test_demo_cloud.py``.
"""

from __future__ import annotations

import asyncio
import http.server
import logging
import socket
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import numpy as np
import orjson
import pytest

from nephoscope.demo import MAX_BATCH, DemoCloud, DemoPlan, DemoPusher, run_demo
from nephoscope.demo.cloud import FLAVORS, HYPERVISOR_METRIC_NAMES, INSTANCE_METRIC_NAMES, VM_METRIC_NAMES
from nephoscope.demo.pusher import retry_after_seconds

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a fixed start for the pure-simulation tests


# -- a real HTTP receiver --------------------------------------------------------------


@dataclass
class Request:
    path: str
    tenant_id: str | None
    headers: dict[str, str]
    body: bytes
    status: int
    at: float


@dataclass
class Receiver:
    """Records POSTs; answers ``fail_status`` with Retry-After to the first ``fail_first`` requests."""

    fail_first: int = 0
    fail_status: int = 503
    retry_after: str = "1"
    requests: list[Request] = field(default_factory=list)
    definition_bodies: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> str:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:
                    return  # the client hung up mid-request (stopped): nothing was delivered
                url = urlsplit(self.path)
                tenant = parse_qs(url.query).get("tenant_id", [None])[0]
                if url.path == "/v2.0/alarm-definitions":  # the demo's alarms, created once at start
                    with receiver.lock:
                        receiver.definition_bodies.append(orjson.loads(body))
                    self.send_response(201)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with receiver.lock:
                    failing = len(receiver.requests) < receiver.fail_first
                    status = receiver.fail_status if failing else 204
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.requests.append(Request(url.path, tenant, headers, body, status, time.monotonic()))
                self.send_response(status)
                if failing:
                    payload = b'{"title":"Service Unavailable"}'
                    self.send_header("Retry-After", receiver.retry_after)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                else:
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that hangs up when stopped mid-request is expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def accepted(self) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.status == 204]

    def definitions(self) -> list[dict]:
        with self.lock:
            return list(self.definition_bodies)

    def metrics(self) -> list[tuple[str | None, dict]]:
        return [(r.tenant_id, m) for r in self.accepted() for m in orjson.loads(r.body)]


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(**kwargs: object) -> tuple[Receiver, str]:
        rec = Receiver(**kwargs)  # type: ignore[arg-type]
        made.append(rec)
        return rec, rec.start()

    yield make
    for rec in made:
        rec.close()


async def _wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def _stop_and_time(stop: asyncio.Event, task: asyncio.Task) -> float:
    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, timeout=5.0)
    return time.monotonic() - started


def _complete_steps(rec: Receiver, tenants: set[str | None]) -> dict[int, int]:
    """Metrics received per timestamp, for the steps every tenant had been sent when stopped.

    Tenants are posted one after the other, so stopping mid-flush leaves the last
    steps delivered to some tenants only; those are left out.
    """
    latest: dict[str | None, int] = defaultdict(int)
    counts: dict[int, int] = defaultdict(int)
    for tenant, metric in rec.metrics():
        latest[tenant] = max(latest[tenant], metric["timestamp"])
        counts[metric["timestamp"]] += 1
    if set(latest) != tenants:
        return {}
    cutoff = min(latest.values())
    return {ts: n for ts, n in counts.items() if ts <= cutoff}


def _check_monasca_metric(metric: dict) -> None:
    assert set(metric) == {"name", "dimensions", "timestamp", "value", "value_meta"}
    assert isinstance(metric["name"], str) and metric["name"]
    assert isinstance(metric["dimensions"], dict) and metric["dimensions"]
    assert all(isinstance(k, str) and isinstance(v, str) and v for k, v in metric["dimensions"].items())
    assert isinstance(metric["timestamp"], int) and metric["timestamp"] > 1_600_000_000_000
    assert isinstance(metric["value"], (int, float)) and np.isfinite(metric["value"])
    assert metric["value_meta"] is None


# -- the cloud model ---------------------------------------------------------------------


def test_inventory_has_openstack_shape() -> None:
    cloud = DemoCloud(DemoPlan())
    assert [h.hostname for h in cloud.hypervisors] == [f"compute-{i:02d}" for i in range(1, 21)]
    assert len(cloud.instances) == 200
    assert {i.project_id for i in cloud.instances} == {f"demo-project-{x}" for x in "abcd"}
    assert len({i.resource_id for i in cloud.instances}) == 200
    for vm in cloud.instances:
        assert str(uuid.UUID(vm.resource_id)) == vm.resource_id
        assert vm.flavor in FLAVORS
        assert vm.hypervisor.startswith("compute-")
    per_host = defaultdict(int)
    for vm in cloud.instances:
        per_host[vm.hypervisor] += 1
    assert set(per_host.values()) == {10}

    names = {s.name for s in cloud.series}
    assert set(HYPERVISOR_METRIC_NAMES) | set(INSTANCE_METRIC_NAMES) | set(VM_METRIC_NAMES) == names
    for s in cloud.series:
        assert s.dimensions["region"] == "RegionOne"
        assert s.dimensions["service"] == "compute"
        if s.kind == "hypervisor":
            assert s.tenant_id is None
            assert {"hostname", "component"} <= set(s.dimensions)
            if s.name == "disk.space_used_perc":
                assert s.dimensions["mount_point"] == "/" and s.dimensions["device"]
        elif s.kind == "instance":
            vm = cloud.instances[s.owner]
            assert s.tenant_id == vm.project_id
            assert s.dimensions["resource_id"] == vm.resource_id
            assert s.dimensions["hostname"] == vm.name
            assert s.dimensions["component"] == "vm" and s.dimensions["zone"] == "nova"
        else:
            vm = cloud.instances[s.owner]
            assert s.tenant_id is None and s.name.startswith("vm.")
            assert s.dimensions["hostname"] == vm.hypervisor and s.dimensions["tenant_id"] == vm.project_id
    # Same seed, same inventory; another seed, another one.
    assert DemoCloud(DemoPlan()).instances == cloud.instances
    assert DemoCloud(DemoPlan(seed=7)).instances != cloud.instances


def test_step_returns_monasca_metrics() -> None:
    cloud = DemoCloud(DemoPlan(hypervisors=2, instances_per_hypervisor=3))
    metrics = cloud.step(T0)
    assert len(metrics) == len(cloud.series) == 2 * 14 + 6 * (len(INSTANCE_METRIC_NAMES) + len(VM_METRIC_NAMES))
    for metric, series in zip(metrics, cloud.series):
        _check_monasca_metric(metric)
        assert metric["name"] == series.name and metric["dimensions"] == series.dimensions
        assert metric["timestamp"] == T0
    with pytest.raises(ValueError):
        cloud.step(T0 - 1)


@pytest.fixture(scope="module")
def three_hours() -> tuple[DemoCloud, np.ndarray, np.ndarray]:
    """Default cloud, 3 simulated hours at 10 s: (cloud, timestamps, values[step, series])."""
    cloud = DemoCloud(DemoPlan())
    stamps = T0 + np.arange(3 * 360) * 10_000
    values = np.stack([cloud.advance(int(ts)) for ts in stamps])
    return cloud, stamps, values


def test_values_are_realistic(three_hours) -> None:
    cloud, _, values = three_hours

    def block(name: str, kind: str) -> np.ndarray:
        return values[:, cloud.indices(name, kind)]

    cpu_series = [("cpu.utilization_perc", "instance"), ("cpu.percent", "hypervisor"), ("cpu.idle_perc", "hypervisor")]
    for name, kind in cpu_series:
        cpu = block(name, kind)
        assert cpu.min() >= 0.0 and cpu.max() <= 100.0
        assert np.allclose(cpu, np.round(cpu, 1), rtol=0, atol=1e-9)  # one decimal
    parts = sum(block(n, "hypervisor") for n in ("cpu.idle_perc", "cpu.user_perc", "cpu.system_perc", "cpu.wait_perc"))
    assert np.allclose(parts, 100.0, atol=0.15)
    assert np.allclose(block("cpu.percent", "hypervisor"), 100.0 - block("cpu.idle_perc", "hypervisor"), atol=0.05)

    total, usable = block("mem.total_mb", "hypervisor"), block("mem.usable_mb", "hypervisor")
    assert np.all(total == np.round(total)) and np.all(usable == np.round(usable))  # whole MB
    assert set(np.unique(total)) <= {131072.0, 262144.0, 393216.0}
    assert np.all((usable > 0) & (usable < total))
    assert np.allclose(block("mem.usable_perc", "hypervisor"), 100 * usable / total, atol=0.06)

    disk = block("disk.space_used_perc", "hypervisor")
    assert disk.min() > 0 and disk.max() < 100
    growth = np.diff(disk, axis=0)
    assert np.median(growth) >= 0 and np.abs(growth).max() <= 0.2  # slowly filling, no jumps in 3 h

    free = block("mem.free_perc", "instance")
    assert free.min() > 0 and free.max() < 100
    for name in ("io.read_ops_sec", "io.write_bytes_sec", "net.in_bytes_sec", "net.out_bytes_sec"):
        assert block(name, "instance").min() >= 0 and block(name, "instance").std() > 0
    for name in ("io.read_kbytes_sec", "io.write_kbytes_sec", "net.in_bytes_sec", "net.out_bytes_sec"):
        assert block(name, "hypervisor").min() > 0
    assert block("load.avg_1_min", "hypervisor").min() > 0
    assert np.all(block("host_alive_status", "instance") == 0)
    # The operator's copy carries the same cpu value as the owner's.
    assert np.array_equal(block("vm.cpu.utilization_perc", "vm"), block("cpu.utilization_perc", "instance"))


def _minute_averages(samples: np.ndarray) -> np.ndarray:
    """avg(x, 60) per aligned minute for 10 s samples starting on a minute: shape (minutes, series)."""
    steps = samples.shape[0] // 6 * 6
    return samples[:steps].reshape(steps // 6, 6, -1).mean(axis=1)


def test_sustained_episodes_fire_windowed_alarms_and_spikes_do_not(three_hours) -> None:
    cloud, _, values = three_hours
    cpu = values[:, cloud.indices("cpu.utilization_perc", "instance")]
    host_cpu = values[:, cloud.indices("cpu.percent", "hypervisor")]
    minutes = _minute_averages(cpu) > 90.0

    # avg(cpu.utilization_perc, 60) > 90 times 3 fires: three consecutive minutes above 90.
    fired = minutes[:-2] & minutes[1:-1] & minutes[2:]
    firing_instances = np.flatnonzero(fired.any(axis=0))
    assert len(firing_instances) >= 1
    # ... and the hypervisor of such an instance is above 90 % during those minutes too.
    host_index = {h.hostname: k for k, h in enumerate(cloud.hypervisors)}
    instance = int(firing_instances[0])
    minute = int(np.flatnonzero(fired[:, instance])[0])
    host = host_index[cloud.instances[instance].hypervisor]
    assert np.all(host_cpu[minute * 6 : (minute + 3) * 6, host] > 90.0)
    assert np.all(cpu[minute * 6 : (minute + 3) * 6, instance] > 90.0)

    # Lone spikes: one sample above 90 between samples at or below 90.
    above = cpu > 90.0
    lone = above[1:-1] & ~above[:-2] & ~above[2:]
    spike_steps, spike_instances = np.nonzero(lone)
    spike_steps = spike_steps + 1
    assert len(spike_steps) >= 3
    # A spike alone never makes its minute's average exceed 90.
    averages = _minute_averages(cpu)
    for step, inst in zip(spike_steps, spike_instances):
        if step // 6 < averages.shape[0] and (above[(step // 6) * 6 : (step // 6) * 6 + 6, inst].sum() == 1):
            assert averages[step // 6, inst] < 90.0
    # Ordinary load never crosses 90: every run above 90 is a lone spike or an episode of
    # at least 4 minutes (24 samples), unless the simulated window cuts it short.
    for i in range(cpu.shape[1]):
        for start, length in _runs(above[:, i]):
            truncated = start == 0 or start + length == cpu.shape[0]
            assert length == 1 or length >= 24 or truncated, (i, start, length)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each run of True."""
    edges = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), (ends - starts).tolist()))


def test_diurnal_pattern_and_determinism() -> None:
    quiet = {"episodes_per_instance_day": 0.0, "spikes_per_instance_hour": 0.0}
    config = DemoPlan(hypervisors=4, instances_per_hypervisor=10, **quiet)
    cloud = DemoCloud(config)
    cpu_index = cloud.indices("cpu.utilization_perc", "instance")
    day = np.stack([cloud.advance(T0 + k * 300_000) for k in range(288)])[:, cpu_index]  # 24 h at 5 min
    assert day.max() <= 85.0  # no events configured: nothing above the ordinary ceiling
    hourly = day.reshape(24, 12, -1).mean(axis=1)  # per instance, per hour
    swing = hourly.max(axis=0) - hourly.min(axis=0)
    assert np.median(swing) > 10.0  # busy hours and quiet hours

    first = [DemoCloud(DemoPlan(seed=3)).advance(T0 + k * 10_000) for k in range(3)]
    again = [DemoCloud(DemoPlan(seed=3)).advance(T0 + k * 10_000) for k in range(3)]
    other = DemoCloud(DemoPlan(seed=4)).advance(T0)
    assert np.array_equal(first[0], again[0])
    a, b = DemoCloud(DemoPlan(seed=3)), DemoCloud(DemoPlan(seed=3))
    assert all(np.array_equal(a.advance(T0 + k * 10_000), b.advance(T0 + k * 10_000)) for k in range(50))
    assert not np.array_equal(first[0], other)


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("1", 5.0) == 1.0
    assert retry_after_seconds(None, 5.0) == 5.0
    assert retry_after_seconds("soon", 5.0) == 5.0
    assert retry_after_seconds("100000", 5.0) == 60.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", 5.0) == 0.0  # a date in the past


# -- the push loop against a real HTTP server --------------------------------------------


def test_push_backfills_groups_by_tenant_and_batches(receiver) -> None:
    rec, url = receiver()
    config = DemoPlan(hypervisors=4, instances_per_hypervisor=10, interval=0.2, backfill_minutes=30, logs_and_events=False)
    cloud = DemoCloud(config)  # same seed: the same inventory the pusher simulates
    project_of = {vm.resource_id: vm.project_id for vm in cloud.instances}
    hosts = {h.hostname for h in cloud.hypervisors}

    async def scenario() -> tuple[int, float]:
        start_ms = int(time.time() * 1000)
        stop = asyncio.Event()
        task = asyncio.create_task(run_demo(url, "demo-token", config, stop))

        def live_steps() -> int:
            # Counted on the series checked below: tenants are posted one after the
            # other, so a step seen for one tenant may not have reached this one yet.
            return len(
                {
                    m["timestamp"]
                    for _, m in rec.metrics()
                    if m["timestamp"] >= start_ms
                    and m["name"] == "cpu.utilization_perc"
                    and m["dimensions"].get("resource_id") == cloud.instances[0].resource_id
                }
            )

        await _wait_for(lambda: live_steps() >= 3)
        return start_ms, await _stop_and_time(stop, task)

    start_ms, stop_seconds = asyncio.run(scenario())
    assert stop_seconds < 1.0
    assert [d["name"] for d in rec.definitions()] == ["demo: hypervisor CPU busy", "demo: hypervisor disk filling"]

    requests = rec.accepted()
    assert requests
    sizes = []
    for request in requests:
        assert request.path == "/v2.0/metrics"
        assert request.headers["x-auth-token"] == "demo-token"
        assert request.headers["content-type"] == "application/json"
        body = orjson.loads(request.body)
        assert isinstance(body, list) and 1 <= len(body) <= MAX_BATCH
        sizes.append(len(body))
        for metric in body:
            _check_monasca_metric(metric)
            dims = metric["dimensions"]
            if request.tenant_id is None:
                # Operator project: hypervisors and the vm.* copies, nothing owner-facing.
                assert metric["name"] in HYPERVISOR_METRIC_NAMES or metric["name"] in VM_METRIC_NAMES
                assert dims["hostname"] in hosts
            else:
                assert metric["name"] in INSTANCE_METRIC_NAMES
                assert project_of[dims["resource_id"]] == request.tenant_id
    assert max(sizes) == MAX_BATCH  # the backfill really was split into full batches
    assert {r.tenant_id for r in requests} == {None, *config.projects}

    # Backfill covers the whole window, at most backfill_interval apart, then live steps follow.
    name = "cpu.utilization_perc"
    resource = cloud.instances[0].resource_id
    stamps = sorted(
        m["timestamp"] for _, m in rec.metrics() if m["name"] == name and m["dimensions"]["resource_id"] == resource
    )
    assert stamps[0] <= start_ms - 30 * 60_000 + 200
    assert stamps[0] >= start_ms - 30 * 60_000 - 1000
    assert np.diff(stamps).max() <= 60_000 and np.diff(stamps).min() > 0
    assert sum(1 for s in stamps if s >= start_ms) >= 3
    # Every series got every step exactly once: the metric count is steps x series.
    assert set(_complete_steps(rec, {None, *config.projects}).values()) == {len(cloud.series)}


@pytest.mark.parametrize("status", [503, 429])
def test_push_honours_retry_after(receiver, status: int) -> None:
    rec, url = receiver(fail_first=2, fail_status=status, retry_after="1")
    config = DemoPlan(hypervisors=2, instances_per_hypervisor=4, interval=0.2, backfill_minutes=3, logs_and_events=False)
    pusher = DemoPusher(url, "demo-token", config)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(pusher.run(stop))
        await _wait_for(lambda: len(_complete_steps(rec, set(pusher.cloud.tenants))) >= 5)
        await _stop_and_time(stop, task)

    asyncio.run(scenario())
    with rec.lock:
        requests = list(rec.requests)
    assert [r.status for r in requests[:3]] == [status, status, 204]
    assert requests[0].body == requests[1].body == requests[2].body  # the same batch, resent
    assert requests[1].at - requests[0].at >= 0.9 and requests[2].at - requests[1].at >= 0.9
    assert pusher.stats.retries == 2 and pusher.stats.metrics_dropped == 0
    # Nothing lost: every backfill step of every series arrived exactly once.
    seen = _complete_steps(rec, set(pusher.cloud.tenants))
    assert set(seen.values()) == {len(pusher.cloud.series)}
    assert len(seen) >= 5  # 3 backfill minutes plus live steps


def test_stop_ends_the_loop_promptly(receiver) -> None:
    # The server keeps answering 503 with a long Retry-After: stop must not wait it out.
    rec, url = receiver(fail_first=10**9, retry_after="30")
    idle_rec, idle_url = receiver()

    async def scenario() -> tuple[float, float]:
        stop = asyncio.Event()
        task = asyncio.create_task(run_demo(url, "t", DemoPlan(hypervisors=1, instances_per_hypervisor=2, logs_and_events=False), stop))
        await _wait_for(lambda: len(rec.requests) >= 1)
        during_retry = await _stop_and_time(stop, task)
        # Caught up and sleeping towards the next 30 s step: stop must not wait for it either.
        stop = asyncio.Event()
        config = DemoPlan(hypervisors=1, instances_per_hypervisor=2, interval=30.0, backfill_minutes=0, logs_and_events=False)
        task = asyncio.create_task(run_demo(idle_url, "t", config, stop))
        await asyncio.sleep(0.3)
        return during_retry, await _stop_and_time(stop, task)

    during_retry, while_idle = asyncio.run(scenario())
    assert during_retry < 0.5 and while_idle < 0.5


def test_unreachable_server_is_logged_not_raised(caplog) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = DemoPlan(hypervisors=1, instances_per_hypervisor=2, interval=0.1, backfill_minutes=1, max_attempts=1, logs_and_events=False)

    async def scenario():
        stop = asyncio.Event()
        task = asyncio.create_task(run_demo(f"http://127.0.0.1:{port}", "t", config, stop))
        await asyncio.sleep(0.6)
        assert not task.done()  # still going despite every request failing
        await _stop_and_time(stop, task)
        return task.result()

    with caplog.at_level(logging.INFO, logger="nephoscope.demo"):
        stats = asyncio.run(scenario())
    assert stats.failures > 0 and stats.metrics_sent == 0 and stats.steps > 2
    warnings = [r for r in caplog.records if r.name == "nephoscope.demo" and r.levelno == logging.WARNING]
    assert len(warnings) == 1  # one warning per outage, not one per batch
    assert "cannot reach" in warnings[0].getMessage()  # it could not even ask what the server holds
