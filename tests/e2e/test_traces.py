"""Requests followed across services, scheduling failures explained, failures from logs, and what
a project may read — on multi-service log sets written by oslo.log itself, through a real server:

* a boot that fails in scheduling (nova-api, -conductor, -scheduler; RamFilter removes the last
  hosts; NoValidHost in the conductor);
* a volume attach failing in cinder (nova-compute calls cinder; cinder logs nova's id as its global
  request id; keystoneauth's "used request id" line maps the two);
* a request crossing nova -> glance -> neutron with global request ids.

Every endpoint is checked for tenant isolation: another project sees nothing of it.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import ServerProcess, wait_for
from tests.support.log_samples import NoValidHost_Remote, OsloOutput, VolumeBackendAPIException, request_context
from tests.support.log_samples import request_id as req

OWNER, OTHER = "project-owner", "project-other"


def post(client: httpx.Client, service: str, component: str, host: str, lines: list[str]) -> None:
    response = client.post("/v1/logs", json={"source": {"service": service, "component": component, "host": host},
                                             "lines": lines})
    assert response.status_code == 204, response.text


@pytest.fixture(scope="module")
def clients(shared_server: ServerProcess) -> dict[str, httpx.Client]:
    return {"admin": shared_server.client(shared_server.admin_token),
            "owner": shared_server.client(shared_server.create_key(OWNER, "monasca-user")),
            "other": shared_server.client(shared_server.create_key(OTHER, "monasca-user")),
            "agent": shared_server.client(shared_server.create_key("operators", "monasca-agent"))}


@pytest.fixture(scope="module")
def boot_failure(clients: dict[str, httpx.Client]) -> dict[str, str]:
    """nova-api accepts a boot; the scheduler's filters leave no host; the conductor gives up."""
    request, instance = req(), str(uuid.uuid4())
    context = request_context(request_id=request, project=OWNER, user="alice")
    api = OsloOutput("nova.osapi_compute.wsgi.server")
    api.log.info('10.1.0.5 "POST /v2.1/servers HTTP/1.1" status: 202 len: 416 time: 0.4312001', context=context)
    filters = OsloOutput("nova.filters")
    filters.log.debug("Starting with %d host(s)", 3, context=context)
    for name in ("AvailabilityZoneFilter", "ComputeFilter"):
        filters.log.debug("Filter %(cls_name)s returned %(obj_len)d host(s)", {"cls_name": name, "obj_len": 3},
                          context=context)
    filters.log.info("Filter %s returned 0 hosts", "RamFilter", context=context)
    passed = [("compute-1", "compute-1"), ("compute-2", "compute-2"), ("compute-3", "compute-3")]
    filters.log.debug("Filtering removed all hosts for the request with instance ID '%s'. Filter results: %s",
                      instance, [("AvailabilityZoneFilter", passed), ("ComputeFilter", passed), ("RamFilter", None)],
                      context=context)
    filters.log.info("Filtering removed all hosts for the request with instance ID '%s'. Filter results: %s",
                     instance, ["AvailabilityZoneFilter: (start: 3, end: 3)", "ComputeFilter: (start: 3, end: 3)",
                                "RamFilter: (start: 3, end: 0)"], context=context)
    conductor = OsloOutput("nova.conductor.manager")
    try:
        raise NoValidHost_Remote("No valid host was found. There are not enough hosts available.")
    except NoValidHost_Remote:
        conductor.log.exception("Failed to schedule instances", context=context)
    utils = OsloOutput("nova.scheduler.utils")
    utils.log.warning("Failed to compute_task_build_instances: No valid host was found. There are not enough "
                      "hosts available.", context=context)
    utils.log.warning("Setting instance to ERROR state.", context=context, instance={"uuid": instance})
    post(clients["agent"], "nova", "nova-api", "ctl-1", api.lines)
    post(clients["agent"], "nova", "nova-scheduler", "ctl-1", filters.lines)
    post(clients["agent"], "nova", "nova-conductor", "ctl-2", conductor.lines + utils.lines)
    return {"request": request, "instance": instance}


@pytest.fixture(scope="module")
def attach_failure(clients: dict[str, httpx.Client]) -> dict[str, str]:
    """nova-compute attaches a volume; cinder fails; keystoneauth logged the id mapping."""
    nova_request, cinder_request = req(), req()
    instance, volume = str(uuid.uuid4()), str(uuid.uuid4())
    nova_context = request_context(request_id=nova_request, project=OWNER, user="alice")
    compute = OsloOutput("nova.compute.manager")
    compute.log.info("Attaching volume %s to /dev/vdb", volume, context=nova_context, instance={"uuid": instance})
    session = OsloOutput("keystoneauth.session")
    session.log.debug("POST call to volumev3 for http://cinder.example:8776/v3/%s/attachments used request id %s",
                      OWNER, cinder_request, context=nova_context)
    cinder = OsloOutput("cinder.volume.manager")
    cinder_context = request_context(request_id=cinder_request, project=OWNER, user="alice",
                                     global_request_id=nova_request)
    try:
        raise VolumeBackendAPIException("Bad or unexpected response from the storage volume backend API")
    except VolumeBackendAPIException:
        cinder.log.exception("Unable to attach volume %s", volume, context=cinder_context)
    try:
        raise RuntimeError("attach failed in cinder")
    except RuntimeError:
        compute.log.exception("Failed to attach volume %s at /dev/vdb", volume, context=nova_context,
                              instance={"uuid": instance})
    post(clients["agent"], "nova", "nova-compute", "compute-4", compute.lines[:1] + session.lines)
    post(clients["agent"], "cinder", "cinder-volume", "storage-1", cinder.lines)
    post(clients["agent"], "nova", "nova-compute", "compute-4", compute.lines[1:])
    return {"nova": nova_request, "cinder": cinder_request, "instance": instance, "volume": volume}


@pytest.fixture(scope="module")
def crossing(clients: dict[str, httpx.Client]) -> dict[str, str]:
    """A boot that reads its image from glance and creates its port in neutron."""
    nova, glance, neutron = req(), req(), req()
    image, instance = str(uuid.uuid4()), str(uuid.uuid4())
    nova_context = request_context(request_id=nova, project=OWNER, user="alice")
    compute = OsloOutput("nova.compute.manager")
    compute.log.info("Fetching image %s", image, context=nova_context, instance={"uuid": instance})
    glance_api = OsloOutput("glance.api.v2.images")
    glance_api.log.info("Image %s downloaded", image,
                        context=request_context(request_id=glance, project=OWNER, user="alice", global_request_id=nova))
    neutron_api = OsloOutput("neutron.wsgi")
    neutron_api.log.info('10.1.0.7 "POST /v2.0/ports HTTP/1.1" status: 201 len: 1024 time: 0.0921000',
                         context=request_context(request_id=neutron, project=OWNER, user="alice",
                                                 global_request_id=nova))
    compute.log.info("Took %.2f seconds to spawn the instance on the hypervisor.", 9.2, context=nova_context,
                     instance={"uuid": instance})
    post(clients["agent"], "nova", "nova-compute", "compute-5", compute.lines[:1])
    post(clients["agent"], "glance", "glance-api", "ctl-3", glance_api.lines)
    post(clients["agent"], "neutron", "neutron-server", "ctl-4", neutron_api.lines)
    post(clients["agent"], "nova", "nova-compute", "compute-5", compute.lines[1:])
    return {"nova": nova, "glance": glance, "neutron": neutron, "instance": instance}


def test_scheduling_failure_is_explained_filter_by_filter(clients: dict[str, httpx.Client],
                                                           boot_failure: dict[str, str]) -> None:
    admin = clients["admin"].get(f"/v1/scheduling/{boot_failure['instance']}", params={"tenant_id": "*"})
    assert admin.status_code == 200, admin.text
    body = admin.json()
    assert body["result"] == "failed" and body["request_ids"] == [boot_failure["request"]]
    assert "RamFilter" in body["reason"] and "removed every remaining host" in body["reason"]
    assert [(f["name"], f["start"], f["end"]) for f in body["filters"]] == [
        ("AvailabilityZoneFilter", 3, 3), ("ComputeFilter", 3, 3), ("RamFilter", 3, 0)]
    assert body["filters"][2]["removed_hosts"] == ["compute-1", "compute-2", "compute-3"]
    assert any("Failed to schedule instances" in line["message"] for line in body["lines"])
    # The owner learns why, without the operator's host names; another project learns nothing.
    owner = clients["owner"].get(f"/v1/scheduling/{boot_failure['instance']}").json()
    assert owner["reason"] == body["reason"] and owner["filters"][2]["removed_hosts"] == [] and owner["lines"] == []
    assert not any(host in owner["reason"] for host in ("compute-1", "compute-2", "compute-3"))
    # the instance's failure, learnt from the logs, carries the request's NoValidHost
    failure = wait_for(lambda: clients["owner"].get(f"/v1/resources/{boot_failure['instance']}/failures").json()[
        "elements"], 10, "the boot failure")[0]
    assert failure["exception"] == "NoValidHost" and "no compute host could take it" in failure["summary"]
    assert clients["other"].get(f"/v1/scheduling/{boot_failure['instance']}").status_code == 404


def test_the_boot_trace_crosses_api_scheduler_and_conductor(clients: dict[str, httpx.Client],
                                                             boot_failure: dict[str, str]) -> None:
    trace = clients["admin"].get(f"/v1/traces/{boot_failure['request']}", params={"tenant_id": "*"}).json()
    components = [step["component"] for step in trace["steps"]]
    assert components[0] == "nova-api" and "nova-scheduler" in components and components[-1] == "nova-conductor"
    assert trace["hosts"] == ["ctl-1", "ctl-2"]
    assert trace["failed_at"]["message"] == "Failed to schedule instances"
    assert "NoValidHost_Remote: No valid host was found" in trace["failed_at"]["exception"]
    assert all(step["since_previous_ms"] >= 0 for step in trace["steps"])
    assert trace["duration_ms"] == trace["steps"][-1]["time_ms"] - trace["steps"][0]["time_ms"]
    assert clients["other"].get(f"/v1/traces/{boot_failure['request']}").status_code == 404


def test_a_trace_found_from_the_callee_id_follows_the_mapping_back(clients: dict[str, httpx.Client],
                                                                    attach_failure: dict[str, str]) -> None:
    for start in (attach_failure["cinder"], attach_failure["nova"]):
        trace = clients["admin"].get(f"/v1/traces/{start}", params={"tenant_id": "*"}).json()
        assert set(trace["request_ids"]) == {attach_failure["nova"], attach_failure["cinder"]}
        assert trace["services"] == ["nova", "cinder"]
        assert trace["failed_at"]["service"] == "cinder"
        assert "VolumeBackendAPIException" in trace["failed_at"]["exception"]


def test_failures_from_logs_are_one_per_resource_and_visible_to_the_owner(
        clients: dict[str, httpx.Client], attach_failure: dict[str, str]) -> None:
    volume = wait_for(lambda: clients["owner"].get(f"/v1/resources/{attach_failure['volume']}/failures").json()[
        "elements"], 10, "the volume's failure")
    assert len(volume) == 1 and volume[0]["resource_type"] == "volume" and volume[0]["sources"] == ["logs"]
    assert "Unable to attach volume" in volume[0]["summary"] and "storage-1" in volume[0]["summary"]
    assert volume[0]["request_id"] == attach_failure["cinder"]
    instance = clients["owner"].get(f"/v1/resources/{attach_failure['instance']}/failures").json()["elements"]
    assert len(instance) == 1 and instance[0]["exception"] == "RuntimeError"
    mine = {f["resource_id"] for f in clients["owner"].get("/v1/failures").json()["elements"]}
    assert {attach_failure["volume"], attach_failure["instance"]} <= mine
    theirs = {f["resource_id"] for f in clients["other"].get("/v1/failures").json()["elements"]}
    assert not theirs & {attach_failure["volume"], attach_failure["instance"]}
    assert clients["other"].get(f"/v1/resources/{attach_failure['volume']}/failures").json()["elements"] == []


def test_global_request_ids_join_nova_glance_and_neutron(clients: dict[str, httpx.Client],
                                                         crossing: dict[str, str]) -> None:
    for start in (crossing["glance"], crossing["neutron"], crossing["nova"]):
        trace = clients["admin"].get(f"/v1/traces/{start}", params={"tenant_id": "*"}).json()
        assert set(trace["request_ids"]) == {crossing["nova"], crossing["glance"], crossing["neutron"]}
        assert trace["services"] == ["nova", "glance", "neutron"]
        assert trace["failed_at"] is None and len(trace["steps"]) == 4
    owner = clients["owner"].get(f"/v1/traces/{crossing['glance']}").json()
    visible = [step["message"] for step in trace["steps"] if step["category"] in ("error", "info", "audit")]
    assert [step["message"] for step in owner["steps"]] == visible, "the owner follows its own request"
    assert len(visible) == 3, "but not the neutron access line (telemetry is the operator's)"


def test_a_project_reads_the_lines_about_its_resources_not_operator_lines(
        clients: dict[str, httpx.Client], attach_failure: dict[str, str], boot_failure: dict[str, str]) -> None:
    mine = clients["owner"].get("/v1/logs", params={"resource_id": attach_failure["volume"]}).json()["elements"]
    assert mine and {line["project"] for line in mine} == {OWNER}
    assert clients["other"].get("/v1/logs", params={"resource_id": attach_failure["volume"]}).json()["elements"] == []
    # operator-only: the scheduler's DEBUG filter chatter and keystoneauth's lines stay with the operator
    owner_lines = clients["owner"].get("/v1/logs", params={"request_id": boot_failure["request"]}).json()["elements"]
    admin_lines = clients["admin"].get("/v1/logs", params={"request_id": boot_failure["request"],
                                                           "tenant_id": "*"}).json()["elements"]
    assert len(owner_lines) < len(admin_lines)
    assert not any(line["logger"].startswith("keystoneauth") for line in clients["owner"].get(
        "/v1/logs", params={"request_id": attach_failure["nova"]}).json()["elements"])


def test_trace_command_offline_from_files_and_from_the_server(tmp_path, clients: dict[str, httpx.Client],  # noqa: ANN001
                                                              shared_server: ServerProcess,
                                                              crossing: dict[str, str]) -> None:
    from typer.testing import CliRunner

    from nephoscope.cli import app

    nova, glance = req(), req()
    compute = OsloOutput("nova.compute.manager")
    compute.log.info("Fetching image", context=request_context(request_id=nova, project=OWNER))
    glance_api = OsloOutput("glance.api.v2.images")
    try:
        raise OSError("store unreachable")
    except OSError:
        glance_api.log.exception("Image download failed", context=request_context(
            request_id=glance, project=OWNER, global_request_id=nova))
    (tmp_path / "nova-compute.log").write_text("\n".join(compute.lines) + "\n")
    (tmp_path / "glance-api.log").write_text("\n".join(glance_api.lines) + "\n")
    runner = CliRunner()
    result = runner.invoke(app, ["trace", glance, "-f", str(tmp_path / "nova-compute.log"),
                                 "-f", str(tmp_path / "glance-api.log"), "--json"])
    assert result.exit_code == 0, result.output
    import json

    document = json.loads(result.output)
    assert document["services"] == ["nova", "glance"] and set(document["request_ids"]) == {nova, glance}
    assert document["failed_at"]["message"] == "Image download failed"
    table = runner.invoke(app, ["trace", crossing["neutron"], "--url", shared_server.url, "--token",
                                shared_server.admin_token], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "nova -> glance -> neutron" in table.output and "no error on the way" in table.output
    refused = runner.invoke(app, ["trace", crossing["neutron"], "--url", shared_server.url, "--token", "wrong"])
    assert refused.exit_code == 1 and "refused the token" in refused.output and "Traceback" not in refused.output


def test_scheduling_from_the_notifications_alone(clients: dict[str, httpx.Client]) -> None:
    """A cloud without scheduler log lines: the conductor's versioned notification explains it."""
    from tests.support.notifications import load_samples, notification

    samples = {name.removesuffix(".json"): sample for name, sample in load_samples().items()}
    sample = samples["compute_task-build_instances-error"]
    body = notification(sample, project=OWNER, request_id=req())
    instance = body["payload"]["nova_object.data"]["instance_uuid"] = str(uuid.uuid4())
    body["payload"]["nova_object.data"]["request_spec"]["nova_object.data"]["project_id"] = OWNER
    assert clients["admin"].post("/v1/events", json=[body]).status_code == 200
    explained = clients["owner"].get(f"/v1/scheduling/{instance}")
    assert explained.status_code == 200, explained.text
    document = explained.json()
    assert document["result"] == "failed" and "no compute host could take it" in document["reason"]
    assert [event["event_type"] for event in document["events"]] == ["compute_task.build_instances.error"]
    assert clients["other"].get(f"/v1/scheduling/{instance}").status_code == 404
