"""``serve --demo`` through the real path: within its first minute the simulated cloud has fed every
pipeline — metrics, the services' log lines (POST /v3.0/logs), their notifications (POST /v1/events)
— and every reading the dashboard makes has data; a restarted demo writes none of its history twice
and adds no key."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from nephoscope.demo import DemoCloud, DemoPlan
from nephoscope.demo.story import CloudStory
from tests.conftest import ROOT, ServerProcess, wait_for

CLOUD = {"NEPHOSCOPE_DEMO_HYPERVISORS": "4", "NEPHOSCOPE_DEMO_INSTANCES_PER_HYPERVISOR": "3",
         "NEPHOSCOPE_DEMO_BACKFILL_MINUTES": "40", "NEPHOSCOPE_DEMO_INTERVAL": "5"}
EVERYWHERE = {"tenant_id": "*"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    started = time.monotonic()
    process = ServerProcess(tmp_path_factory.mktemp("democloud") / "data", extra_args=["--demo"],
                            extra_env=CLOUD).start()
    process.started = started  # type: ignore[attr-defined]
    yield process
    process.stop()


def _missing(admin: httpx.Client) -> list[str]:
    """What the dashboard's pages would still show empty."""
    missing = []
    types = {e["event_type"] for e in admin.get("/v1/events", params={"limit": 1000}).json()["elements"]}
    for prefix in ("instance.", "compute.instance.", "compute_task.", "volume.", "port.", "identity."):
        if not any(t.startswith(prefix) for t in types):
            missing.append(f"events {prefix}*")
    actions = {f["action"] for f in admin.get("/v1/failures", params={"limit": 200}).json()["elements"]}
    for action in ("compute_task.build_instances", "instance.volume_attach"):
        if action not in actions:
            missing.append(f"failure {action}")
    if not actions & {"instance.create", "compute.instance.create"}:
        missing.append("failure instance.create")
    facets = admin.get("/v1/logs", params={"limit": 1}).json()["facets"]
    if {f["value"] for f in facets["service"]} != {"nova", "neutron", "cinder", "glance", "keystone"}:
        missing.append(f"logs of every service ({facets['service']})")
    if "error" not in {f["value"] for f in facets["category"]}:
        missing.append("error lines")
    if not admin.get("/v1/logs/templates", params={"limit": 5}).json()["elements"]:
        missing.append("templates")
    if len(admin.get("/v1/logs/hygiene").json()["elements"]) != 5:
        missing.append("hygiene of every service")
    names = {e["name"] for e in admin.get("/v2.0/metrics/names", params=EVERYWHERE).json()["elements"]}
    for name in ("cpu.idle_perc", "cpu.utilization_perc", "openstack.instances", "openstack.volumes.gb",
                 "log.records", "log.http.requests"):
        if name not in names:
            missing.append(f"metric {name}")
    return missing


def test_every_pipeline_has_data_within_the_first_minute(demo: ServerProcess) -> None:
    left = 60 - (time.monotonic() - demo.started)  # type: ignore[attr-defined]
    with demo.client() as admin:
        try:
            wait_for(lambda: not _missing(admin), timeout=max(left, 1), what="every page's data")
        except AssertionError:
            raise AssertionError(f"a minute after start, still missing: {_missing(admin)}") from None


def test_every_failure_says_why_in_the_services_words(demo: ServerProcess) -> None:
    """The demo's failures (nova versioned and legacy, the conductor's, cinder's) keep the reason
    the service sent: none reads 'without a reason'."""
    with demo.client() as admin:
        failures = wait_for(lambda: admin.get("/v1/failures", params={"limit": 200}).json()["elements"], 60,
                            "failures")
        assert isinstance(failures, list)
        for failure in failures:
            assert failure["message"] and "without a reason" not in failure["summary"], failure
            assert failure["message"].rstrip(". ") in failure["summary"] or failure["exception"], failure


def test_a_boot_is_followed_across_nova_glance_and_neutron(demo: ServerProcess) -> None:
    with demo.client() as admin:
        boots = admin.get("/v1/logs", params={"q": '"POST /v2.1/servers HTTP/1.1" status: 202', "service": "nova",
                                              "limit": 50, "facets": "false"}).json()["elements"]
        followed = []
        for boot in boots:
            trace = admin.get(f"/v1/traces/{boot['request_id']}").json()
            if {"glance", "neutron"} <= set(trace["services"]):
                followed.append(trace)
        assert followed, "no boot crossed services"
        trace = followed[0]
        assert len(trace["request_ids"]) == 3 and trace["failed_at"] is None
        assert {e["event_type"].rsplit(".", 1)[-1] for e in trace["events"]} >= {"start", "end"}


def test_no_valid_host_is_explained_filter_by_filter(demo: ServerProcess) -> None:
    with demo.client() as admin:
        failures = admin.get("/v1/failures", params={"limit": 200}).json()["elements"]
        unscheduled = [f for f in failures if f["action"] == "compute_task.build_instances"]
        assert unscheduled
        explanation = admin.get(f"/v1/scheduling/{unscheduled[0]['resource_id']}").json()
        assert explanation["result"] == "failed"
        last = explanation["filters"][-1]
        assert last["end"] == 0 and last["removed"] == last["start"] and last["name"].endswith("Filter")
        assert "removed every remaining host" in explanation["reason"]
        # the owner sees why, without the operator's host names
        owner = explanation.get("project_id") or unscheduled[0]["project_id"]
        assert owner.startswith("demo-project-")


def _keys(data_dir: Path) -> list[dict]:
    done = subprocess.run([sys.executable, "-m", "nephoscope", "keys", "list", "--all", "--json", "--data-dir",
                           str(data_dir)], capture_output=True, text=True, cwd=ROOT, timeout=60, check=True)
    return json.loads(done.stdout)


def _log(process: ServerProcess) -> str:
    return process.log_path.read_text(errors="replace") if process.log_path else ""


def _count(client: httpx.Client, text: str, start: float, end: float) -> int:
    facets = client.get("/v1/logs", params={"q": text, "limit": 1, "start_time": _iso(start),
                                            "end_time": _iso(end)}).json()["facets"]["category"]
    return sum(facet["count"] for facet in facets)


def _iso(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + f".{int(round(when * 1000)) % 1000:03d}Z"


@pytest.mark.parametrize("admin_token", [True, False], ids=["with an admin token", "without one"])
def test_a_restart_writes_no_history_twice_and_adds_no_key(tmp_path: Path, admin_token: bool) -> None:
    """Stopped and started again, the demo asks the server what it holds and goes on from there: the
    lines up to that point are exactly the story's (none twice), and no key is added."""
    env = {**CLOUD, "NEPHOSCOPE_DEMO_BACKFILL_MINUTES": "20"}
    if not admin_token:
        env["NEPHOSCOPE_ADMIN_TOKEN"] = ""  # serve creates the first admin key, the demo a key of its own
    process = ServerProcess(tmp_path / "data", extra_args=["--demo"], extra_env=env).start()
    story = CloudStory(DemoCloud(DemoPlan(hypervisors=4, instances_per_hypervisor=3)))
    try:
        wait_for(lambda: "demo: backfill done" in _log(process), timeout=90, what="the backfill")
        reader = process.admin_token if admin_token else process.create_key("admin", "admin")
        keys = _keys(process.data_dir)
        assert len(keys) == (0 if admin_token else 3)  # the first admin key, the demo's, the reader's
        time.sleep(6)  # a live step or two
        process.stop()
        process.start()
        resumed = wait_for(lambda: re.search(r"holds this cloud's history up to (\S+); going on from there",
                                             _log(process)), timeout=60, what="the demo to resume")
        until = datetime.strptime(resumed.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
        since = until - 15 * 60
        expected = sum(1 for items in story.between(since, until).records.values() for _, text in items
                       if "Running periodic task" in text)
        with process.client(reader) as client:
            wait_for(lambda: _count(client, "Running periodic task", until, until + 60) > 0, timeout=60,
                     what="the resumed demo's first lines")
            assert _count(client, "Running periodic task", since, until) == expected > 0, "history written twice"
        assert _keys(process.data_dir) == keys, "a restart added a key"
        assert _log(process).count("a cloud new to this server") == 1
    finally:
        process.stop()
