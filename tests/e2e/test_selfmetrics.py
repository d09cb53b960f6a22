"""The server's own metrics, and the demo cloud pushing through the real HTTP path."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import ServerProcess, now_ms


def wait_for(predicate, timeout: float = 30, interval: float = 0.3):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def iso(minutes_ago: int) -> str:
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_self_metrics_are_admin_metrics(server: ServerProcess) -> None:
    user = server.create_key("project-x", "monasca-user")
    with server.client(user) as client:
        body = [{"name": "cpu.idle_perc", "dimensions": {"hostname": "h1"}, "timestamp": now_ms(), "value": 50.0}]
        assert client.post("/v2.0/metrics", json=body).status_code == 204
        assert client.post("/v2.0/metrics", content=b"{", headers={"Content-Type": "application/json"}).status_code == 400
    with server.client() as admin:
        names = wait_for(lambda: {e["name"] for e in admin.get("/v2.0/metrics/names").json()["elements"]}
                         >= {"nephoscope.ingest.points_per_sec", "nephoscope.api.request_latency_ms",
                             "nephoscope.api.rejected_requests", "nephoscope.store.size_bytes",
                             "nephoscope.wal.pending_points", "nephoscope.head.points",
                             "nephoscope.notify.queue_depth", "nephoscope.notify.dead_letters"} or None)
        assert names
        latency = admin.get("/v2.0/metrics/statistics", params={
            "name": "nephoscope.api.request_latency_ms", "start_time": iso(5), "statistics": "count,max",
            "merge_metrics": "true", "period": "3600"}).json()["elements"][0]["statistics"]
        assert sum(row[1] for row in latency) >= 2 and max(row[2] for row in latency) > 0
        rejected = admin.get("/v2.0/metrics", params={"name": "nephoscope.api.rejected_requests"}).json()["elements"]
        assert any(e["dimensions"].get("status") == "400" for e in rejected)
    with server.client(user) as client:
        own = {e["name"] for e in client.get("/v2.0/metrics/names").json()["elements"]}
        assert own == {"cpu.idle_perc"}, "self-metrics belong to project admin only"


@pytest.fixture
def demo_server(tmp_path):  # noqa: ANN001, ANN201
    process = ServerProcess(tmp_path / "data", extra_args=["--demo"], extra_env={
        "NEPHOSCOPE_DEMO_HYPERVISORS": "2", "NEPHOSCOPE_DEMO_INSTANCES_PER_HYPERVISOR": "3",
        "NEPHOSCOPE_DEMO_BACKFILL_MINUTES": "10", "NEPHOSCOPE_DEMO_INTERVAL": "1"}).start()
    yield process
    process.stop()


def test_demo_cloud_pushes_live_data_through_http(demo_server: ServerProcess) -> None:
    with demo_server.client() as admin:
        hosts = wait_for(lambda: admin.get("/v2.0/metrics/dimensions/names/values", params={
            "dimension_name": "hostname", "metric_name": "cpu.idle_perc"}).json()["elements"] or None)
        assert len(hosts) == 2
        # Instance metrics land in the owners' projects, readable by admin with tenant_id.
        projects = set()
        for project in ("demo-project-a", "demo-project-b", "demo-project-c", "demo-project-d"):
            names = admin.get("/v2.0/metrics/names", params={"tenant_id": project}).json()["elements"]
            if {"name": "cpu.utilization_perc"} in names:
                projects.add(project)
        assert projects, "no instance metrics reached any project"
        # Backfilled history and live points: the last 10 minutes have data.
        stats = wait_for(lambda: admin.get("/v2.0/metrics/statistics", params={
            "name": "cpu.idle_perc", "start_time": iso(11), "statistics": "count,min,max", "merge_metrics": "true",
            "period": "60"}).json()["elements"])
        rows = stats[0]["statistics"]
        assert len(rows) >= 8
        assert all(0 <= row[2] <= row[3] <= 100 for row in rows)
        # The demo brings alarm definitions, and their alarms appear per hypervisor as metrics arrive.
        expected = {"demo: hypervisor CPU busy", "demo: hypervisor disk filling"}
        wait_for(lambda: expected <= {d["name"] for d in admin.get("/v2.0/alarm-definitions").json()["elements"]})
        alarms = wait_for(lambda: len(admin.get("/v2.0/alarms").json()["elements"]) >= 4 and
                          admin.get("/v2.0/alarms").json()["elements"])
        assert {a["metrics"][0]["dimensions"]["hostname"] for a in alarms} == {h["dimension_value"] for h in hosts}
