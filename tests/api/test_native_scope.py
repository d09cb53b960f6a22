"""What an admin's unscoped read means: the whole cloud on the native ``/v1`` API (an operator asking
for error lines, failures or a trace means the cloud's), the admin's own project on Monasca's
``/v2.0`` (as Monasca, whose clients rely on it); ``tenant_id`` narrows either. A project's key is
unchanged: its own project only. The API, ``nephoscope trace`` and the dashboard agree."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import httpx
import pytest

from tests.conftest import ROOT, ServerProcess, now_ms
from tests.support.log_samples import OsloOutput, request_context
from tests.support.notifications import nova_notification, nova_samples

PROJECTS = ("scope-project-a", "scope-project-b")


@pytest.fixture(scope="module")
def cloud(shared_server: ServerProcess) -> dict:
    """In each project: an instance whose creation failed (a notification) and a request's log lines."""
    samples = nova_samples()
    made: dict = {"admin": shared_server.client(), "instances": {}, "requests": {}, "keys": {}}
    agent = shared_server.client(shared_server.create_key("operators", "monasca-agent"))
    for project in PROJECTS:
        instance, request = str(uuid.uuid4()), f"req-{uuid.uuid4()}"
        made["instances"][project], made["requests"][project] = instance, request
        made["keys"][project] = shared_server.client(shared_server.create_key(project, "monasca-user"))
        body = [nova_notification(samples["instance-create-error"], project, request, instance, seconds_ago=60)]
        assert made["admin"].post("/v1/events", json=body).status_code == 200
        output = OsloOutput("nova.compute.manager")
        context = request_context(request_id=request, project=project)
        try:
            raise RuntimeError("libvirt went away")
        except RuntimeError:
            output.log.exception("Instance failed to spawn", context=context, instance={"uuid": instance})
        answer = agent.post("/v1/logs", json={"source": {"service": "nova", "component": "nova-compute",
                                                         "host": "compute-1"}, "lines": output.lines})
        assert answer.status_code == 204, answer.text
    # a metric in each project and one in the admin's own
    for project in (*PROJECTS, None):
        params = {"tenant_id": project} if project else None
        assert made["admin"].post("/v2.0/metrics", params=params, json={
            "name": "scope.metric", "dimensions": {"owner": project or "admin"}, "timestamp": now_ms() - 1000,
            "value": 1.0}).status_code == 204
    yield made
    for client in (made["admin"], agent, *made["keys"].values()):
        client.close()


def _resources(answer: httpx.Response, key: str = "resource_id") -> set[str]:
    assert answer.status_code == 200, answer.text
    return {element[key] for element in answer.json()["elements"]}


def test_an_admins_unscoped_native_reads_cover_the_cloud(cloud: dict) -> None:
    admin, instances = cloud["admin"], set(cloud["instances"].values())
    assert instances <= _resources(admin.get("/v1/events", params={"event_type": "instance.create.*"}))
    assert instances <= _resources(admin.get("/v1/failures"))
    assert instances <= _resources(admin.get("/v1/logs", params={"category": "error"}), "instance_id")
    for project, request in cloud["requests"].items():
        trace = admin.get(f"/v1/traces/{request}")
        assert trace.status_code == 200, trace.text
        failures = admin.get(f"/v1/resources/{cloud['instances'][project]}/failures")
        assert len(failures.json()["elements"]) == 1


def test_tenant_id_narrows_a_native_read_to_one_project(cloud: dict) -> None:
    admin = cloud["admin"]
    a, b = (cloud["instances"][p] for p in PROJECTS)
    narrowed = _resources(admin.get("/v1/failures", params={"tenant_id": PROJECTS[0]}))
    assert a in narrowed and b not in narrowed
    assert _resources(admin.get("/v1/events", params={"tenant_id": PROJECTS[1]})) == {b}
    logs = _resources(admin.get("/v1/logs", params={"tenant_id": PROJECTS[0], "category": "error"}), "instance_id")
    assert a in logs and b not in logs
    assert admin.get(f"/v1/traces/{cloud['requests'][PROJECTS[1]]}",
                     params={"tenant_id": PROJECTS[0]}).status_code == 404
    # tenant_id=* still means every project, as before
    assert {a, b} <= _resources(admin.get("/v1/failures", params={"tenant_id": "*"}))


def test_monasca_reads_keep_monascas_meaning(cloud: dict) -> None:
    admin = cloud["admin"]
    own = admin.get("/v2.0/metrics", params={"name": "scope.metric"}).json()["elements"]
    assert [m["dimensions"]["owner"] for m in own] == ["admin"]
    every = admin.get("/v2.0/metrics", params={"name": "scope.metric", "tenant_id": "*"}).json()["elements"]
    assert {m["dimensions"]["owner"] for m in every} == {"admin", *PROJECTS}


def test_a_projects_key_still_reads_its_own_project_only(cloud: dict) -> None:
    a, b = PROJECTS
    key = cloud["keys"][a]
    assert _resources(key.get("/v1/failures")) == {cloud["instances"][a]}
    assert _resources(key.get("/v1/events")) == {cloud["instances"][a]}
    assert key.get(f"/v1/traces/{cloud['requests'][b]}").status_code == 404
    refused = key.get("/v1/failures", params={"tenant_id": b})
    assert refused.status_code == 403 and refused.json()["rule"] == "api:delegate"


def test_nephoscope_trace_follows_any_projects_request_with_an_admin_token(cloud: dict,
                                                                          shared_server: ServerProcess) -> None:
    request = cloud["requests"][PROJECTS[1]]
    done = subprocess.run([sys.executable, "-m", "nephoscope", "trace", request, "--url", shared_server.url,
                           "--token", shared_server.admin_token], capture_output=True, text=True, cwd=ROOT,
                          timeout=60, env={**os.environ, "COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    assert "Instance failed to spawn" in done.stdout and "failed" in done.stdout
    table = done.stdout.splitlines()[1:-1]  # the table between the summary and the verdict lines
    assert max(len(line) for line in table) <= 80, done.stdout
    assert "spawn" in done.stdout.split()  # wrapped between words
