"""An hour of a small cloud's log lines, written by oslo.log itself (``tests/support/log_samples.py``)
for nova, glance, neutron, cinder and keystone, and the failures the pages explain: a boot that
ends in NoValidHost, a failed volume attach, a request crossing services (``Process``,
``post_cloud_logs``, ``boot_failure``, ``attach_failure``, ``crossing``).
"""

from __future__ import annotations

import re
import time
import uuid

import httpx

from tests.support.log_samples import NoValidHost_Remote, OsloOutput, VolumeBackendAPIException, request_context
from tests.support.log_samples import request_id as req

_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}")


class MessagingTimeout(Exception):
    pass


# Named as the services' own exceptions are, so their tracebacks read as they would in a cloud.
NoValidHost_Remote.__module__ = "nova.exception"
VolumeBackendAPIException.__module__ = "cinder.exception"
MessagingTimeout.__module__ = "oslo_messaging.exceptions"


# ------------------------------------------------------------------ writing lines as services do

class Process:
    """One service process (``nova``/``nova-compute`` on ``compute-1``): its loggers write through
    oslo.log's own formatters, and each call's lines are stamped ``seconds_ago`` (oslo.log writes the
    time it runs at; a log set spread over an hour needs its lines restamped, as replaying would)."""

    def __init__(self, service: str, component: str, host: str) -> None:
        self.source = {"service": service, "component": component, "host": host}
        self.outputs: dict[str, tuple[OsloOutput, list[int]]] = {}
        self.entries: list[tuple[float, int, list[str]]] = []

    def log(self, logger: str, seconds_ago: float, level: str, message: str, *args, **kwargs) -> None:
        output, position = self.outputs.setdefault(logger, (OsloOutput(logger), [0]))
        getattr(output.log, level)(message, *args, **kwargs)
        text = output.stream.getvalue()
        lines = text[position[0]:].splitlines()
        position[0] = len(text)
        when = time.time() - seconds_ago
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(when)) + f".{int(when * 1000) % 1000:03d}"
        self.entries.append((seconds_ago, len(self.entries), [_STAMP.sub(stamp, line) for line in lines]))

    def fail(self, logger: str, seconds_ago: float, error: Exception, message: str, *args,
             where: tuple[str, str, str] = ("nova/compute/manager.py", "_run", "_call"), **kwargs) -> None:
        """An ``LOG.exception(...)`` inside the ``except`` of ``error``, raised two calls down in
        ``where`` (a service's source file, the function that catches, the one that raises), so
        the traceback reads as the service's would."""
        path, catcher, raiser = where
        source = (f"def {raiser}(error):\n    raise error\n\n\n"
                  f"def {catcher}(error, report):\n    try:\n        {raiser}(error)\n"
                  f"    except Exception:\n        report()\n")
        namespace: dict = {}
        exec(compile(source, f"/usr/lib/python3/dist-packages/{path}", "exec"), namespace)  # noqa: S102 - test data
        namespace[catcher](error, lambda: self.log(logger, seconds_ago, "exception", message, *args, **kwargs))

    def raw(self, seconds_ago: float, *lines: str) -> None:
        """Lines that are not oslo.log's (a container's start-up script, a library printing)."""
        self.entries.append((seconds_ago, len(self.entries), list(lines)))

    def lines(self) -> list[str]:
        return [line for _, _, lines in sorted(self.entries, key=lambda e: (-e[0], e[1])) for line in lines]

    def post(self, client: httpx.Client) -> None:
        response = client.post("/v1/logs", json={"source": self.source, "lines": self.lines()})
        assert response.status_code == 204, response.text


def post_all(client: httpx.Client, *processes: Process) -> None:
    for process in processes:
        process.post(client)


# ------------------------------------------------------------------ an hour of a small cloud

def post_cloud_logs(client: httpx.Client, project: str, minutes: int = 50) -> dict[str, Process]:
    """What a small cloud logs in ``minutes``: nova's periodic tasks and resource tracker (noise,
    telemetry), API access lines (telemetry), glance, neutron's agent loop (noise), keystone's
    authentication (audit), cinder losing its message bus (true errors with tracebacks), a few
    lines that are no known format; the users' requests carry ``project``."""
    compute = {host: Process("nova", "nova-compute", host) for host in ("compute-1", "compute-2")}
    api = Process("nova", "nova-api", "ctl-1")
    glance = Process("glance", "glance-api", "ctl-3")
    agent = Process("neutron", "neutron-openvswitch-agent", "compute-1")
    neutron = Process("neutron", "neutron-server", "ctl-4")
    keystone = Process("keystone", "keystone", "ctl-1")
    cinder = Process("cinder", "cinder-volume", "storage-1")
    for minute in range(minutes, 0, -1):
        at = minute * 60
        for number, (host, process) in enumerate(compute.items()):
            for task in ("_poll_rebooting_instances", "_heal_instance_info_cache", "_poll_volume_usage"):
                process.log("oslo_service.periodic_task", at - number - 1, "debug", "Running periodic task %s",
                            f"ComputeManager.{task}")
            process.log("nova.compute.resource_tracker", at - number - 2, "info",
                        "Final resource view: name=%s phys_ram=65536MB used_ram=%dMB phys_disk=500GB used_disk=%dGB "
                        "total_vcpus=16 used_vcpus=%d pci_stats=[]", host, 2048 + 512 * (minute % 4),
                        40 + minute % 3, 2 + minute % 4)
            if minute % 10 == 0:
                process.log("nova.virt.libvirt.imagecache", at - 5, "warning", "Unknown base file: %s",
                            f"/var/lib/nova/instances/_base/{uuid.uuid4().hex[:40]}")
                process.log("nova.compute.manager", at - 6, "warning",
                            "While synchronizing instance power states, found %d instances in the database and "
                            "%d instances on the hypervisor.", 3, 2)
        user = request_context(request_id=req(), project=project, user="alice")
        for path, status, size in (("GET /v2.1/servers/detail", 200, 1893), ("GET /v2.1/flavors/detail", 200, 2210)):
            api.log("nova.osapi_compute.wsgi.server", at - 10, "info",
                    '10.1.0.5 "%s HTTP/1.1" status: %d len: %d time: %.7f', path, status, size,
                    0.05 + (minute % 7) / 40, context=user)
        glance.log("eventlet.wsgi.server", at - 12, "info", '10.1.0.5 "GET /v2/images?limit=20 HTTP/1.1" status: 200 '
                   'len: 4820 time: %.7f', 0.04 + (minute % 5) / 100, context=user)
        agent.log("neutron.plugins.ml2.drivers.openvswitch.agent.ovs_neutron_agent", at - 20, "debug",
                  "Agent rpc_loop - iteration:%d started", 4000 + minute)
        agent.log("neutron.plugins.ml2.drivers.openvswitch.agent.ovs_neutron_agent", at - 18, "debug",
                  "Agent rpc_loop - iteration:%d completed. Processed ports statistics: {'regular': {'added': 0, "
                  "'updated': 0, 'removed': 0}}. Elapsed:%.3f", 4000 + minute, 0.02)
        if minute % 5 == 0:
            neutron.log("neutron.wsgi", at - 25, "info", '10.1.0.7 "GET /v2.0/ports?device_id=%s HTTP/1.1" status: 200 '
                        'len: 1024 time: 0.0321000', str(uuid.uuid4()), context=user)
            keystone.log("keystone.server.flask.request_processing.req_logging", at - 30, "info",
                         "POST http://ctl-1:5000/v3/auth/tokens", context=user)
        if minute % 12 == 0:
            keystone.log("keystone.server.flask.application", at - 31, "warning",
                         "Authorization failed. The request you have made requires authentication. from 10.1.0.9")
    for minute in (42, 17):
        cinder.fail("cinder.volume.manager", minute * 60, MessagingTimeout(
            "Timed out waiting for a reply to message ID 4c2a9f1e3b8d4f7aa51e2b0c9d8e7f61"),
                    "Failed to report the volume service state to the scheduler",
                    where=("cinder/volume/manager.py", "_report_driver_status", "update_service_capabilities"))
    api.raw(minutes * 60 + 30, "+ sudo -E kolla_set_configs", "INFO:__main__:Loading config file at "
            "/var/lib/kolla/config_files/config.json", "Running command: 'nova-api'")
    processes = {"compute-1": compute["compute-1"], "compute-2": compute["compute-2"], "api": api, "glance": glance,
                 "agent": agent, "neutron": neutron, "keystone": keystone, "cinder": cinder}
    post_all(client, *processes.values())
    return processes


# ------------------------------------------------------------------ three requests to follow

def boot_failure(client: httpx.Client, project: str, seconds_ago: float = 240, request: str | None = None,
                 instance: str | None = None) -> dict[str, str]:
    """nova-api accepts a boot; the scheduler's filters leave no host (RamFilter); the conductor
    gives up with NoValidHost and sets the instance to ERROR."""
    request, instance = request or req(), instance or str(uuid.uuid4())
    context = request_context(request_id=request, project=project, user="alice")
    api = Process("nova", "nova-api", "ctl-1")
    scheduler = Process("nova", "nova-scheduler", "ctl-1")
    conductor = Process("nova", "nova-conductor", "ctl-2")
    at = seconds_ago
    api.log("nova.osapi_compute.wsgi.server", at, "info",
            '10.1.0.5 "POST /v2.1/servers HTTP/1.1" status: 202 len: 416 time: 0.4312001', context=context)
    scheduler.log("nova.filters", at - 0.35, "debug", "Starting with %d host(s)", 3, context=context)
    for offset, name in ((0.36, "AvailabilityZoneFilter"), (0.37, "ComputeFilter")):
        scheduler.log("nova.filters", at - offset, "debug", "Filter %(cls_name)s returned %(obj_len)d host(s)",
                      {"cls_name": name, "obj_len": 3}, context=context)
    scheduler.log("nova.filters", at - 0.38, "info", "Filter %s returned 0 hosts", "RamFilter", context=context)
    passed = [(f"compute-{n}", f"compute-{n}") for n in (1, 2, 3)]
    scheduler.log("nova.filters", at - 0.39, "debug",
                  "Filtering removed all hosts for the request with instance ID '%s'. Filter results: %s", instance,
                  [("AvailabilityZoneFilter", passed), ("ComputeFilter", passed), ("RamFilter", None)], context=context)
    scheduler.log("nova.filters", at - 0.39, "info",
                  "Filtering removed all hosts for the request with instance ID '%s'. Filter results: %s", instance,
                  ["AvailabilityZoneFilter: (start: 3, end: 3)", "ComputeFilter: (start: 3, end: 3)",
                   "RamFilter: (start: 3, end: 0)"], context=context)
    conductor.fail("nova.conductor.manager", at - 0.52, NoValidHost_Remote(
        "No valid host was found. There are not enough hosts available."), "Failed to schedule instances",
                   where=("nova/conductor/manager.py", "schedule_and_build_instances", "_schedule_instances"),
                   context=context)
    conductor.log("nova.scheduler.utils", at - 0.55, "warning", "Failed to compute_task_build_instances: No valid host "
                  "was found. There are not enough hosts available.", context=context)
    conductor.log("nova.scheduler.utils", at - 0.56, "warning", "Setting instance to ERROR state.", context=context,
                  instance={"uuid": instance})
    post_all(client, api, scheduler, conductor)
    return {"request": request, "instance": instance}


def attach_failure(client: httpx.Client, project: str, seconds_ago: float = 180) -> dict[str, str]:
    """nova-compute attaches a volume; cinder's backend fails; keystoneauth logged the id mapping."""
    nova_request, cinder_request = req(), req()
    instance, volume = str(uuid.uuid4()), str(uuid.uuid4())
    nova_context = request_context(request_id=nova_request, project=project, user="alice")
    compute = Process("nova", "nova-compute", "compute-2")
    cinder = Process("cinder", "cinder-volume", "storage-1")
    at = seconds_ago
    compute.log("nova.compute.manager", at, "info", "Attaching volume %s to /dev/vdb", volume, context=nova_context,
                instance={"uuid": instance})
    compute.log("keystoneauth.session", at - 0.02, "debug", "POST call to volumev3 for "
                "http://cinder.example:8776/v3/%s/attachments used request id %s", project, cinder_request,
                context=nova_context)
    cinder_context = request_context(request_id=cinder_request, project=project, user="alice",
                                     global_request_id=nova_request)
    cinder.fail("cinder.volume.manager", at - 1.4, VolumeBackendAPIException(
        "Bad or unexpected response from the storage volume backend API"), "Unable to attach volume %s", volume,
                where=("cinder/volume/manager.py", "attach_volume", "_connection_create"), context=cinder_context)
    compute.fail("nova.compute.manager", at - 1.6, RuntimeError("attach failed in cinder"),
                 "Failed to attach volume %s at /dev/vdb", volume, where=("nova/compute/manager.py",
                                                                            "_attach_volume", "attach"),
                 context=nova_context, instance={"uuid": instance})
    post_all(client, compute, cinder)
    return {"nova": nova_request, "cinder": cinder_request, "instance": instance, "volume": volume}


def crossing(client: httpx.Client, project: str, seconds_ago: float = 120) -> dict[str, str]:
    """A boot that reads its image from glance and creates its port in neutron (global request ids)."""
    nova, glance, neutron = req(), req(), req()
    image, instance = str(uuid.uuid4()), str(uuid.uuid4())
    nova_context = request_context(request_id=nova, project=project, user="alice")
    compute = Process("nova", "nova-compute", "compute-1")
    glance_api = Process("glance", "glance-api", "ctl-3")
    neutron_api = Process("neutron", "neutron-server", "ctl-4")
    at = seconds_ago
    compute.log("nova.compute.manager", at, "info", "Fetching image %s", image, context=nova_context,
                instance={"uuid": instance})
    glance_api.log("glance.api.v2.images", at - 0.8, "info", "Image %s downloaded", image, context=request_context(
        request_id=glance, project=project, user="alice", global_request_id=nova))
    neutron_api.log("neutron.wsgi", at - 2.1, "info",
                    '10.1.0.7 "POST /v2.0/ports HTTP/1.1" status: 201 len: 1024 time: 0.0921000',
                    context=request_context(request_id=neutron, project=project, user="alice", global_request_id=nova))
    compute.log("nova.compute.manager", at - 11.3, "info", "Took %.2f seconds to spawn the instance on the hypervisor.",
                9.2, context=nova_context, instance={"uuid": instance})
    post_all(client, compute, glance_api, neutron_api)
    return {"nova": nova, "glance": glance, "neutron": neutron, "instance": instance}


# ------------------------------------------------------------------ the pages
