"""What the simulated cloud's services do, as a function of time: their log lines and notifications.

The cloud of ``cloud.DemoCloud`` is run by nova (api, scheduler, conductor on ``controller-01``,
nova-compute on each hypervisor), neutron (server on ``controller-02``, the openvswitch agent on each
hypervisor), cinder (api and scheduler on ``controller-02``, volume on ``storage-01``), glance and
keystone (``controller-01``). They write oslo.log lines (``oslo``) and send notifications
(``notifications``) about what the projects' users do:

* chatter: periodic tasks, the resource tracker, locks, the agent's RPC loop (DEBUG noise);
* API traffic: access lines of nova, glance, neutron, cinder and keystone, with the users' requests;
* warnings: the image cache's unknown base files, power state sync mismatches, failed logins;
* boots: nova-api to the scheduler's filters to a compute host, which fetches the image from glance
  and creates the port in neutron (each service's own request id, the boot's as their global one,
  keystoneauth's "used request id" lines); instances deleted again later;
* failures: boots that end in NoValidHost (every filter's result logged), builds that fail to
  spawn (libvirt), volume attachments that fail in cinder's driver — with their tracebacks and
  error notifications;
* resizes and volumes created, attached, detached and deleted.

Each kind of happening recurs on its own period and phase: occurrence ``k`` happens at ``phase +
k * period`` and draws its details from a generator seeded by (seed, kind, k). So ``between(start,
end)`` gives the same lines and notifications however time is cut into steps — the backfill and the
live steps join exactly, and a restarted demo goes on with the same story.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from nephoscope.demo import notifications as notify
from nephoscope.demo import oslo
from nephoscope.demo.cloud import FLAVORS, DemoCloud, Instance
from nephoscope.demo.notifications import Caller, Outbox, Server, Volume

_NAMESPACE = uuid.UUID("0b6c1f1e-5a7e-4b64-9e0f-4bb1c4c6d1a2")
_PACKAGES = "/usr/lib/python3/dist-packages"
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")
IMAGES = (("ubuntu-22.04", "2e4f5a1c-6b7d-4c8e-9f0a-1b2c3d4e5f60"),
          ("cirros-0.6.2", "7c8d9e0f-1a2b-4c3d-8e4f-5a6b7c8d9e0f"),
          ("centos-stream-9", "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"))
FLAVOR_IDS = {"m1.small": "2", "m1.medium": "3", "m1.large": "4", "m1.xlarge": "5"}
BIRTH = 1_767_225_600.0  # 2026-01-01T00:00:00Z: the inventory was created in the weeks before
# (period, phase) in seconds of the happenings whose later steps refer back to them
BOOT, NO_VALID_HOST, SPAWN_FAILURE, VOLUME = (240.0, 30.0), (420.0, 95.0), (1500.0, 610.0), (300.0, 140.0)
BOOT_LIFETIME = 720.0  # three boot periods: the delete of boot k is delete occurrence k + 3


@dataclass(frozen=True, slots=True, order=True)
class Process:
    """One service process whose log file the agent ships (``/var/log/<service>/<component>.log``)."""

    service: str
    component: str
    host: str

    @property
    def path(self) -> str:
        return f"/var/log/{self.service}/{self.component}.log"

    @property
    def pid(self) -> int:
        digest = hashlib.blake2b(f"{self.component}@{self.host}".encode(), digest_size=4).digest()
        return 1000 + int.from_bytes(digest, "big") % 60000


@dataclass
class Happenings:
    """What the services wrote and sent in a span of time: records per process (time, text) and the
    notifications, each in time order once ``sorted()``."""

    records: dict[Process, list[tuple[float, str]]] = field(default_factory=dict)
    outbox: Outbox = field(default_factory=Outbox)
    _times: list[float] = field(default_factory=list)

    @property
    def lines(self) -> int:
        return sum(len(records) for records in self.records.values())

    def sorted(self) -> Happenings:
        for records in self.records.values():
            records.sort(key=lambda item: item[0])
        order = sorted(range(len(self._times)), key=self._times.__getitem__)
        self.outbox.envelopes = [self.outbox.envelopes[i] for i in order]
        self._times = [self._times[i] for i in order]
        return self


@dataclass(frozen=True, slots=True)
class _Kind:
    name: str
    period: float
    phase: float
    span: float  # how long after its start an occurrence still writes
    run: Callable[[_Writer, float, int, random.Random], None]


class _Writer:
    """Writes one span's happenings, keeping only what falls inside it."""

    def __init__(self, story: CloudStory, start: float, end: float) -> None:
        self.story, self.start, self.end = story, start, end
        self.happenings = Happenings()

    def inside(self, when: float) -> bool:
        return self.start <= when < self.end

    def log(self, process: Process, when: float, level: str, logger: str, message: str, *,
            context: oslo.Context | None = None, instance: str | None = None, raised: oslo.Raised | None = None,
            where: oslo.Frame | None = None) -> None:
        if not self.inside(when):
            return
        physical = oslo.lines(when, process.pid, level, logger, message, context=context, instance=instance,
                              raised=raised, where=where or _WHERE.get(logger))
        self.happenings.records.setdefault(process, []).append((when, oslo.record(physical)))

    def notify(self, when: float, send: Callable[..., None], *args: object, **kwargs: object) -> None:
        if self.inside(when):
            send(self.happenings.outbox, *args, **kwargs)
            self.happenings._times.append(when)


# Where DEBUG lines come from (oslo.log appends "function path:line" to them).
_WHERE = {
    "oslo_service.periodic_task": oslo.Frame(f"{_PACKAGES}/oslo_service/periodic_task.py", 210, "run_periodic_tasks"),
    "oslo_concurrency.lockutils": oslo.Frame(f"{_PACKAGES}/oslo_concurrency/lockutils.py", 404, "inner"),
    "nova.filters": oslo.Frame(f"{_PACKAGES}/nova/filters.py", 104, "get_filtered_objects"),
    "keystoneauth.session": oslo.Frame(f"{_PACKAGES}/keystoneauth1/session.py", 568, "_send_request"),
    "neutron.plugins.ml2.drivers.openvswitch.agent.ovs_neutron_agent": oslo.Frame(
        f"{_PACKAGES}/neutron/plugins/ml2/drivers/openvswitch/agent/ovs_neutron_agent.py", 2738, "rpc_loop"),
}


_FRAME = re.compile(r'^  File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<function>\S+)\n    (?P<code>.+)$', re.M)


def _frames(text: str) -> tuple[oslo.Frame, ...]:
    """A traceback's frames, written as Python prints them (paths below dist-packages)."""
    return tuple(oslo.Frame(f"{_PACKAGES}/{m['path']}", int(m["line"]), m["function"], m["code"])
                 for m in _FRAME.finditer(text))


_NO_VALID_HOST = oslo.Raised("nova.exception_Remote.NoValidHost_Remote",
                             "No valid host was found. There are not enough hosts available.", _frames("""
  File "nova/conductor/manager.py", line 1654, in schedule_and_build_instances
    host_lists = self._schedule_instances(context, request_specs[0],
  File "nova/conductor/manager.py", line 942, in _schedule_instances
    host_lists = self.query_client.select_destinations(
  File "nova/scheduler/client/query.py", line 41, in select_destinations
    return self.scheduler_rpcapi.select_destinations(context, spec_obj,
  File "nova/scheduler/rpcapi.py", line 160, in select_destinations
    return cctxt.call(ctxt, 'select_destinations', **msg_args)
  File "oslo_messaging/rpc/client.py", line 190, in call
    result = self.transport._send(
  File "oslo_messaging/transport.py", line 123, in _send
    return self._driver.send(target, ctxt, message,
  File "oslo_messaging/_drivers/amqpdriver.py", line 689, in send
    return self._send(target, ctxt, message, wait_for_reply,
  File "oslo_messaging/_drivers/amqpdriver.py", line 681, in _send
    raise result
"""))
_LIBVIRT = _frames("""
  File "nova/compute/manager.py", line 2743, in _build_resources
    yield resources
  File "nova/compute/manager.py", line 2503, in _build_and_run_instance
    self.driver.spawn(context, instance, image_meta,
  File "nova/virt/libvirt/driver.py", line 4433, in spawn
    self._create_guest_with_network(
  File "nova/virt/libvirt/driver.py", line 7525, in _create_guest_with_network
    guest = self._create_guest(
  File "nova/virt/libvirt/guest.py", line 165, in launch
    return self._domain.createWithFlags(flags)
  File "libvirt.py", line 1409, in createWithFlags
    raise libvirtError('virDomainCreateWithFlags() failed')
""")
_DRIVER = _frames("""
  File "cinder/volume/manager.py", line 4823, in _connection_create
    conn_info = self.driver.initialize_connection(volume,
  File "cinder/volume/drivers/lvm.py", line 853, in initialize_connection
    return self.target_driver.initialize_connection(
  File "cinder/volume/targets/iscsi.py", line 241, in initialize_connection
    iscsi_properties = self._get_iscsi_properties(
  File "cinder/volume/targets/iscsi.py", line 126, in _get_iscsi_properties
    raise exception.InvalidISCSITarget(target=target)
""")
_CINDERCLIENT = _frames("""
  File "nova/compute/manager.py", line 7315, in _attach_volume
    bdm.attach(context, instance, self.volume_api, self.driver,
  File "nova/virt/block_device.py", line 46, in wrapped
    ret_val = method(obj, context, *args, **kwargs)
  File "nova/virt/block_device.py", line 679, in attach
    self._do_attach(context, instance, volume, volume_api,
  File "nova/virt/block_device.py", line 625, in _do_attach
    connection_info = volume_api.attachment_update(
  File "nova/volume/cinder.py", line 397, in wrapper
    res = method(self, ctx, *args, **kwargs)
  File "cinderclient/client.py", line 227, in request
    raise exceptions.from_response(resp, body)
""")


class CloudStory:
    """The services of ``cloud`` writing and sending, deterministically in time."""

    def __init__(self, cloud: DemoCloud) -> None:
        self.cloud = cloud
        self.seed = cloud.config.seed
        self.hosts = [h.hostname for h in cloud.hypervisors]
        self.projects = list(cloud.config.projects)
        self.api = Process("nova", "nova-api", "controller-01")
        self.scheduler = Process("nova", "nova-scheduler", "controller-01")
        self.conductor = Process("nova", "nova-conductor", "controller-01")
        self.glance = Process("glance", "glance-api", "controller-01")
        self.keystone = Process("keystone", "keystone", "controller-01")
        self.neutron = Process("neutron", "neutron-server", "controller-02")
        self.cinder_api = Process("cinder", "cinder-api", "controller-02")
        self.cinder_volume = Process("cinder", "cinder-volume", "storage-01")
        self.guests = {host: [vm for vm in cloud.instances if vm.hypervisor == host] for host in self.hosts}
        self.kinds = (
            _Kind("chatter", 60.0, 0.0, 60.0, self._chatter),
            _Kind("agent-loop", 30.0, 7.0, 30.0, self._agent_loop),
            _Kind("api", 20.0, 3.0, 2.0, self._api_reads),
            _Kind("warnings", 600.0, 45.0, 600.0, self._warnings),
            _Kind("logins", 900.0, 400.0, 1.0, self._failed_login),
            _Kind("boot", *BOOT, 20.0, self._boot),
            _Kind("boot-delete", BOOT[0], BOOT[1] + BOOT_LIFETIME, 5.0, self._boot_delete),
            _Kind("no-valid-host", *NO_VALID_HOST, 2.0, self._no_valid_host),
            _Kind("no-valid-host-delete", NO_VALID_HOST[0], NO_VALID_HOST[1] + 600.0, 1.0, self._unscheduled_delete),
            _Kind("spawn-failure", *SPAWN_FAILURE, 12.0, self._spawn_failure),
            _Kind("spawn-failure-delete", SPAWN_FAILURE[0], SPAWN_FAILURE[1] + 900.0, 3.0, self._failed_delete),
            _Kind("resize", 660.0, 200.0, 40.0, self._resize),
            _Kind("volume", *VOLUME, 25.0, self._volume),
            _Kind("volume-delete", VOLUME[0], VOLUME[1] + 1800.0, 6.0, self._volume_delete),
        )

    # -- the one entry point --------------------------------------------------------------------
    def between(self, start: float, end: float) -> Happenings:
        """Every line written and notification sent from ``start`` (included) to ``end`` (excluded),
        in seconds since the epoch."""
        writer = _Writer(self, start, end)
        for kind in self.kinds:
            first = math.ceil((start - kind.span - kind.phase) / kind.period)
            last = math.ceil((end - kind.phase) / kind.period)
            for k in range(first, last):
                kind.run(writer, kind.phase + k * kind.period, k, self._random(kind.name, k))
        return writer.happenings.sorted()

    def inventory(self, when: float) -> Outbox:
        """The notifications that made the long-lived inventory: every instance created, a third of
        them with a data volume — sent once, when the demo starts with no history."""
        outbox = Outbox()
        for index, vm in enumerate(self.cloud.instances):
            server = self._server(vm)
            caller = self._caller(vm.project_id, self._random("inventory", index), when)
            self._instance_notification(outbox, "create.end", when, server, caller, f"inventory:{vm.resource_id}")
            if index % 3 == 0:
                disk = self._volume_of(f"inventory:{vm.resource_id}", vm.project_id, caller.user_id, when, 50)
                notify.volume(outbox, "volume.create.end", when, disk, caller, f"inventory-volume:{disk.uuid}")
                notify.volume(outbox, "volume.attach.end", when + 1, disk, caller, f"inventory-attach:{disk.uuid}",
                              status="in-use", attached_to=vm.resource_id)
        return outbox

    # -- the cast ---------------------------------------------------------------------------------
    def _random(self, kind: str, k: int) -> random.Random:
        digest = hashlib.blake2b(f"{self.seed}:{kind}:{k}".encode(), digest_size=8).digest()
        return random.Random(int.from_bytes(digest, "big"))

    @staticmethod
    def _uuid(*parts: object) -> str:
        return str(uuid.uuid5(_NAMESPACE, ":".join(map(str, parts))))

    def _request_id(self, *parts: object) -> str:
        return "req-" + self._uuid("request", *parts)

    def _user(self, project: str) -> tuple[str, str]:
        index = self.projects.index(project) if project in self.projects else 0
        name = USERS[index % len(USERS)]
        return uuid.uuid5(_NAMESPACE, f"user:{project}").hex, name

    def _caller(self, project: str, rng: random.Random, when: float, request: str | None = None,
                global_request: str | None = None) -> Caller:
        user_id, user_name = self._user(project)
        return Caller(request or "req-" + str(uuid.UUID(int=rng.getrandbits(128), version=4)), user_id, user_name,
                      project, global_request, f"10.1.{self._project_index(project)}.{10 + rng.randrange(40)}")

    def _project_index(self, project: str) -> int:
        return self.projects.index(project) if project in self.projects else 0

    def _context(self, caller: Caller, request_id: str | None = None, global_id: str | None = None) -> oslo.Context:
        return oslo.Context(request_id or caller.request_id, global_id or caller.global_request_id, caller.user_id,
                            caller.project_id, None, None, "default", "default")

    def _server(self, vm: Instance) -> Server:
        rng = self._random("server", int(vm.resource_id[:8], 16))
        created = BIRTH - rng.uniform(2, 40) * 86_400
        image = IMAGES[int(vm.resource_id[:2], 16) % len(IMAGES)][1]
        return Server(vm.resource_id, vm.name, vm.project_id, self._user(vm.project_id)[0], vm.hypervisor,
                      vm.flavor.name, FLAVOR_IDS.get(vm.flavor.name, "1"), vm.flavor.vcpus, vm.flavor.ram_mb,
                      vm.flavor.disk_gb, image, created, self._address(vm.project_id, vm.resource_id), vm.port_id,
                      vm.zone, created + 40)

    def _address(self, project: str, key: str) -> str:
        return f"10.0.{self._project_index(project)}.{2 + int(key[:4], 16) % 250}"

    def _ephemeral(self, kind: str, k: int, when: float, host: str | None) -> Server:
        """The short-lived instance of occurrence ``k`` of a kind (the same for its later deletion)."""
        rng = self._random(f"{kind}-server", k)
        project = self.projects[k % len(self.projects)]
        flavor = FLAVORS[rng.randrange(len(FLAVORS))]
        instance = self._uuid(kind, k)
        return Server(instance, f"{kind.split('-')[0]}-{k % 1000:03d}", project, self._user(project)[0], host or "",
                      flavor.name, FLAVOR_IDS.get(flavor.name, "1"), flavor.vcpus, flavor.ram_mb, flavor.disk_gb,
                      IMAGES[k % len(IMAGES)][1], when, self._address(project, instance), self._uuid("port", kind, k),
                      self.cloud.config.zone, None)

    def _compute(self, host: str) -> Process:
        return Process("nova", "nova-compute", host)

    def _versioned(self, host: str) -> bool:
        """Half the hosts' nova sends versioned notifications (an upgraded cell), half the legacy ones;
        the controllers' nova sends versioned ones."""
        return host not in self.hosts or self.hosts.index(host) % 2 == 1

    def _instance_notification(self, outbox: Outbox, phase: str, when: float, server: Server, caller: Caller,
                               key: str, **details: object) -> None:
        """instance.<phase> (versioned) or compute.instance.<phase> (legacy), as the host's nova sends them."""
        action, _, stage = phase.partition(".")
        if self._versioned(server.host):
            sample = f"instance-{action}-{stage}"
            notify.versioned(outbox, sample, when, server, caller, key, **details)  # type: ignore[arg-type]
            return
        legacy_type = {"resize_prep": "compute.instance.resize.prep", "resize_finish": "compute.instance.finish_resize",
                       "resize_confirm": "compute.instance.resize.confirm"}.get(action, f"compute.instance.{action}")
        state = str(details.get("state", "active"))
        error = None
        if "fault" in details and details["fault"]:
            fault = details["fault"]
            error = (str(fault[0]), str(fault[1]), 500)  # type: ignore[index]
        notify.legacy(outbox, f"{legacy_type}.{stage}", when, server, caller, key, state=state, error=error)

    # -- chatter --------------------------------------------------------------------------------
    def _chatter(self, w: _Writer, at: float, k: int, rng: random.Random) -> None:
        for index, host in enumerate(self.hosts):
            compute = self._compute(host)
            t = at + (index * 2.7) % 57
            for offset, task in enumerate(("_poll_rebooting_instances", "_heal_instance_info_cache",
                                           "_poll_volume_usage", "_instance_usage_audit")):
                w.log(compute, t + offset * 0.011, "DEBUG", "oslo_service.periodic_task", "Running periodic task "
                      f"ComputeManager.{task}")
            vms = self.guests[host]
            used_ram = 512 + sum(vm.flavor.ram_mb for vm in vms)
            held = rng.uniform(0.02, 0.2)
            w.log(compute, t + 0.4, "DEBUG", "oslo_concurrency.lockutils", 'Lock "compute_resources" acquired by '
                  '"nova.compute.resource_tracker.ResourceTracker._update_available_resource" :: waited 0.000s')
            w.log(compute, t + 0.4 + held, "INFO", "nova.compute.resource_tracker",
                  f"Final resource view: name={host} phys_ram={self.cloud.hypervisors[index].memory_mb}MB "
                  f"used_ram={used_ram}MB phys_disk=3722GB used_disk={sum(vm.flavor.disk_gb for vm in vms)}GB "
                  f"total_vcpus={self.cloud.hypervisors[index].vcpus} "
                  f"used_vcpus={sum(vm.flavor.vcpus for vm in vms)} pci_stats=[]")
            w.log(compute, t + 0.41 + held, "DEBUG", "oslo_concurrency.lockutils",
                  'Lock "compute_resources" "released" '
                  'by "nova.compute.resource_tracker.ResourceTracker._update_available_resource" :: '
                  f"held {held:.3f}s")
        for process, task in ((self.scheduler, "SchedulerManager._discover_hosts_in_cells"),
                              (self.conductor, "ConductorManager._cleanup_running_deleted_instances"),
                              (self.cinder_volume, "VolumeManager.publish_service_capabilities")):
            w.log(process, at + 31.5, "DEBUG", "oslo_service.periodic_task", f"Running periodic task {task}")

    def _agent_loop(self, w: _Writer, at: float, k: int, rng: random.Random) -> None:
        logger = "neutron.plugins.ml2.drivers.openvswitch.agent.ovs_neutron_agent"
        for index, host in enumerate(self.hosts):
            agent = Process("neutron", "neutron-openvswitch-agent", host)
            t = at + (index * 1.3) % 29
            iteration = int(at // 30) % 100_000 + index * 7
            w.log(agent, t, "DEBUG", logger, f"Agent rpc_loop - iteration:{iteration} started")
            w.log(agent, t + 0.02, "DEBUG", logger, f"Agent rpc_loop - iteration:{iteration} completed. Processed "
                  "ports statistics: {'regular': {'added': 0, 'updated': 0, 'removed': 0}}. "
                  f"Elapsed:{rng.uniform(0.008, 0.06):.3f}")

    def _api_reads(self, w: _Writer, at: float, k: int, rng: random.Random) -> None:
        project = self.projects[k % len(self.projects)]
        caller = self._caller(project, rng, at)
        context = self._context(caller)
        token = self._caller(project, rng, at)
        w.log(self.keystone, at, "INFO", "keystone.server.flask.request_processing.req_logging",
              "POST http://controller-01:5000/v3/auth/tokens", context=self._context(token))
        w.log(self.api, at + 0.1, "INFO", "nova.osapi_compute.wsgi.server",
              f'{caller.remote_address} "GET /v2.1/servers/detail HTTP/1.1" status: 200 '
              f"len: {1400 + 480 * rng.randrange(1, 12)} time: {rng.uniform(0.03, 0.4):.7f}", context=context)
        if k % 2 == 0:
            w.log(self.glance, at + 0.3, "INFO", "eventlet.wsgi.server", f'{caller.remote_address} "GET '
                  f'/v2/images?limit=20 HTTP/1.1" status: 200 len: 4820 time: {rng.uniform(0.02, 0.09):.7f}',
                  context=self._context(caller, self._request_id("glance-list", k)))
        if k % 3 == 0:
            w.log(self.neutron, at + 0.5, "INFO", "neutron.wsgi", f'{caller.remote_address} "GET '
                  f'/v2.0/ports?device_owner=compute%3Anova HTTP/1.1" status: 200 len: {900 + rng.randrange(4000)} '
                  f"time: {rng.uniform(0.02, 0.2):.7f}", context=self._context(caller, self._request_id("ports", k)))
        if k % 4 == 1:
            w.log(self.cinder_api, at + 0.7, "INFO", "cinder.api.openstack.wsgi",
                  f"http://controller-02:8776/v3/{project}/volumes/detail returned with HTTP 200",
                  context=self._context(caller, self._request_id("volumes", k)))
        if rng.random() < 0.05:  # a slow one now and then: latency has a tail
            w.log(self.api, at + 1.2, "INFO", "nova.osapi_compute.wsgi.server",
                  f'{caller.remote_address} "GET /v2.1/os-hypervisors/detail HTTP/1.1" status: 200 len: 21344 '
                  f"time: {rng.uniform(2.5, 6):.7f}", context=context)

    def _warnings(self, w: _Writer, at: float, k: int, rng: random.Random) -> None:
        for index, host in enumerate(self.hosts):
            compute = self._compute(host)
            t = at + (index * 29.3) % 590
            w.log(compute, t, "WARNING", "nova.virt.libvirt.imagecache", "Unknown base file: "
                  f"/var/lib/nova/instances/_base/{hashlib.sha1(f'{host}{k}'.encode()).hexdigest()}")
            if (index + k) % 3 == 0:
                running = len(self.guests[host])
                w.log(compute, t + 4.2, "WARNING", "nova.compute.manager", "While synchronizing instance power "
                      f"states, found {running + 1} instances in the database and {running} instances on the "
                      "hypervisor.")

    def _failed_login(self, w: _Writer, at: float, k: int, rng: random.Random) -> None:
        address = f"10.1.9.{20 + k % 50}"
        w.log(self.keystone, at, "WARNING", "keystone.server.flask.application", "Authorization failed. The request "
              f"you have made requires authentication. from {address}")
        project = self.projects[k % len(self.projects)]
        w.notify(at + 0.01, notify.authenticate, at + 0.01, self._user(project)[0], address, False, f"login:{k}")

    # -- a boot crossing services, and its deletion ------------------------------------------------
    def _server_request(self, w: _Writer, at: float, kind: str, k: int, host: str | None, rng: random.Random, *,
                        last: str | None = None, flavor: str | None = None) -> tuple[Server, Caller, oslo.Context]:
        """A user asks nova-api for a server: the API's access line, then the scheduler's filters
        (``last`` removes every remaining host)."""
        server = self._ephemeral(kind, k, at, host)
        if flavor is not None:
            server = dataclasses.replace(server, flavor_name=flavor, flavor_id=f"9{k % 3}")
        caller = self._caller(server.project_id, rng, at, self._request_id(kind, k))
        context = self._context(caller)
        w.log(self.api, at, "INFO", "nova.osapi_compute.wsgi.server", f'{caller.remote_address} "POST /v2.1/servers '
              f'HTTP/1.1" status: 202 len: 416 time: {rng.uniform(0.3, 0.9):.7f}', context=context)
        self._filters(w, at + 0.3, context, server.uuid, keep=len(self.hosts) - 1, last=last)
        return server, caller, context

    def _boot(self, w: _Writer, at: float, k: int, rng: random.Random) -> None:
        host = self.hosts[(k * 7) % len(self.hosts)]
        server, caller, context = self._server_request(w, at, "boot", k, host, rng)
        compute = self._compute(host)
        t = at + 0.9
        w.notify(t, self._instance_notification, "create.start", t, server, caller, f"boot:{k}", state="building",
                 task_state=None, power="pending")
        w.log(compute, t + 0.05, "INFO", "nova.compute.claims", f"Claim successful on node {host}", context=context,
              instance=server.uuid)
        glance_id, neutron_id = self._request_id("boot-glance", k), self._request_id("boot-neutron", k)
        w.log(compute, t + 0.2, "DEBUG", "keystoneauth.session", "GET call to image for "
              f"http://controller-01:9292/v2/images/{server.image_id}/file used request id {glance_id}",
              context=context)
        w.log(self.glance, t + 0.18, "INFO", "eventlet.wsgi.server", f'{compute_address(host)} "GET '
              f'/v2/images/{server.image_id}/file HTTP/1.1" status: 200 len: 2147483648 time: '
              f"{rng.uniform(1.5, 4):.7f}", context=self._context(caller, glance_id, caller.request_id))
        w.log(compute, t + 4.3, "INFO", "nova.virt.libvirt.driver", "Creating image(s)", context=context,
              instance=server.uuid)
        w.log(self.neutron, t + 4.5, "INFO", "neutron.wsgi", f'{compute_address(host)} "POST /v2.0/ports HTTP/1.1" '
              f"status: 201 len: 1104 time: {rng.uniform(0.2, 0.8):.7f}",
              context=self._context(caller, neutron_id, caller.request_id))
        w.log(compute, t + 4.6, "DEBUG", "keystoneauth.session", "POST call to network for "
              f"http://controller-02:9696/v2.0/ports used request id {neutron_id}", context=context)
        w.notify(t + 4.55, notify.port, "port.create.end", t + 4.55, server, caller, f"boot:{k}",
                 self._uuid("network", server.project_id))
        spawned = t + 4.6 + rng.uniform(6, 12)
        w.log(compute, spawned, "INFO", "nova.compute.manager", f"Took {spawned - t - 4.3:.2f} seconds to spawn the "
              "instance on the hypervisor.", context=context, instance=server.uuid)
        w.log(compute, spawned + 0.2, "INFO", "nova.compute.manager", f"Took {spawned + 0.2 - at:.2f} seconds to "
              "build instance.", context=context, instance=server.uuid)
        launched = dataclasses.replace(server, launched=spawned)
        w.notify(spawned + 0.1, self._instance_notification, "create.end", spawned + 0.1, launched, caller,
                 f"boot:{k}")

    def _boot_delete(self, w: _Writer, at: float, k: int, rng: random.Random) -> None:
        boot = k - int(BOOT_LIFETIME // BOOT[0])
        created = BOOT[1] + boot * BOOT[0]
        host = self.hosts[(boot * 7) % len(self.hosts)]
        server = dataclasses.replace(self._ephemeral("boot", boot, created, host), launched=created + 12)
        caller = self._caller(server.project_id, rng, at, self._request_id("delete", k))
        context = self._context(caller)
        compute = self._compute(host)
        w.log(self.api, at, "INFO", "nova.osapi_compute.wsgi.server", f'{caller.remote_address} "DELETE '
              f'/v2.1/servers/{server.uuid} HTTP/1.1" status: 204 len: 0 time: {rng.uniform(0.1, 0.3):.7f}',
              context=context)
        w.notify(at + 0.3, self._instance_notification, "delete.start", at + 0.3, server, caller, f"boot-delete:{k}",
                 state="active", task_state="deleting")
        w.log(compute, at + 0.35, "INFO", "nova.compute.manager", "Terminating instance", context=context,
              instance=server.uuid)
        w.log(compute, at + 1.6, "INFO", "nova.compute.manager", f"Took {rng.uniform(0.6, 1.4):.2f} seconds to "
              "destroy the instance on the hypervisor.", context=context, instance=server.uuid)
        w.notify(at + 1.9, notify.port, "port.delete.end", at + 1.9, server, caller, f"boot-delete:{k}",
                 self._uuid("network", server.project_id))
        w.log(compute, at + 2.1, "INFO", "nova.compute.manager", f"Took {rng.uniform(0.3, 0.9):.2f} seconds to "
              "deallocate network for instance.", context=context, instance=server.uuid)
        w.notify(at + 2.4, self._instance_notification, "delete.end", at + 2.4, server, caller, f"boot-delete:{k}",
                 state="deleted", power="pending")

    # -- failures ---------------------------------------------------------------------------------
    def _filters(self, w: _Writer, at: float, context: oslo.Context, instance: str, keep: int,
                 last: str | None = None) -> None:
        """The scheduler's filter lines: every host through the usual filters; ``last`` removes them all."""
        hosts = len(self.hosts)
        w.log(self.scheduler, at, "DEBUG", "nova.filters", f"Starting with {hosts} host(s)", context=context)
        counts = [("AvailabilityZoneFilter", hosts), ("ComputeFilter", keep), ("ComputeCapabilitiesFilter", keep),
                  ("ImagePropertiesFilter", keep), ("ServerGroupAntiAffinityFilter", keep),
                  ("ServerGroupAffinityFilter", keep)]
        for offset, (name, count) in enumerate(counts):
            w.log(self.scheduler, at + 0.001 * (offset + 1), "DEBUG", "nova.filters",
                  f"Filter {name} returned {count} host(s)", context=context)
        if last is None:
            return
        w.log(self.scheduler, at + 0.01, "INFO", "nova.filters", f"Filter {last} returned 0 hosts", context=context)
        passing = [(host, host) for host in self.hosts[:keep]]
        every = [(host, host) for host in self.hosts]
        debug = [(name, every if count == hosts else passing) for name, count in counts] + [(last, None)]
        w.log(self.scheduler, at + 0.011, "DEBUG", "nova.filters", "Filtering removed all hosts for the request "
              f"with instance ID '{instance}'. Filter results: {debug!r}", context=context)
        info = [f"{name}: (start: {hosts if i == 0 else keep if i > 1 else hosts}, end: {count})"
                for i, (name, count) in enumerate(counts)] + [f"{last}: (start: {keep}, end: 0)"]
        w.log(self.scheduler, at + 0.012, "INFO", "nova.filters", "Filtering removed all hosts for the request with "
              f"instance ID '{instance}'. Filter results: {info!r}", context=context)

    def _no_valid_host(self, w: _Writer, at: float, k: int, rng: random.Random) -> None:
        last, flavor = (("PciPassthroughFilter", "g1.large.gpu"), ("NUMATopologyFilter", "c1.pinned"),
                        ("AggregateInstanceExtraSpecsFilter", "m1.xlarge.ssd"))[k % 3]
        server, caller, context = self._server_request(w, at, "no-valid-host", k, None, rng, last=last, flavor=flavor)
        raised = oslo.Raised(_NO_VALID_HOST.kind, _NO_VALID_HOST.message, _NO_VALID_HOST.frames)
        w.log(self.conductor, at + 0.52, "ERROR", "nova.conductor.manager", "Failed to schedule instances",
              context=context, raised=raised)
        implicit = oslo.Raised(raised.kind, raised.message, shown=False)
        w.log(self.conductor, at + 0.55, "WARNING", "nova.scheduler.utils", "Failed to compute_task_build_instances: "
              "No valid host was found. There are not enough hosts available.", context=context, raised=implicit)
        w.log(self.conductor, at + 0.56, "WARNING", "nova.scheduler.utils", "Setting instance to ERROR state.",
              context=context, instance=server.uuid, raised=implicit)
        fault = ("NoValidHost", "No valid host was found. There are not enough hosts available.",
                 "_schedule_instances", "nova.conductor.manager", "\n".join(raised.traceback()))
        if k % 2:
            w.notify(at + 0.55, notify.versioned, "compute_task-build_instances-error", at + 0.55, server, caller,
                     f"no-valid-host:{k}", state="error", fault=fault)
        else:  # nova's legacy compute_task.build_instances, ERROR priority, from set_vm_state_and_notify
            w.notify(at + 0.55, _legacy_compute_task, at + 0.55, server, caller, f"no-valid-host:{k}")

    def _unscheduled_delete(self, w: _Writer, at: float, k: int, rng: random.Random) -> None:
        server = self._ephemeral("no-valid-host", k, NO_VALID_HOST[1] + k * NO_VALID_HOST[0], None)
        caller = self._caller(server.project_id, rng, at, self._request_id("delete-unscheduled", k))
        w.log(self.api, at, "INFO", "nova.osapi_compute.wsgi.server", f'{caller.remote_address} "DELETE '
              f'/v2.1/servers/{server.uuid} HTTP/1.1" status: 204 len: 0 time: {rng.uniform(0.05, 0.2):.7f}',
              context=self._context(caller))
        for phase, state in (("start", "error"), ("end", "deleted")):
            w.notify(at + 0.1, notify.versioned, f"instance-delete-{phase}_not_scheduled", at + 0.1, server, caller,
                     f"no-valid-host-delete:{k}", state=state, power="pending")

    def _spawn_failure(self, w: _Writer, at: float, k: int, rng: random.Random) -> None:
        host = self.hosts[(k * 11 + 3) % len(self.hosts)]
        server, caller, context = self._server_request(w, at, "spawn", k, host, rng)
        compute = self._compute(host)
        w.notify(at + 0.9, self._instance_notification, "create.start", at + 0.9, server, caller, f"spawn:{k}",
                 state="building", power="pending")
        w.log(compute, at + 0.95, "INFO", "nova.compute.claims", f"Claim successful on node {host}", context=context,
              instance=server.uuid)
        disk = f"/var/lib/nova/instances/{server.uuid}/disk"
        message = ("internal error: qemu unexpectedly closed the monitor: qemu-system-x86_64: -blockdev "
                   f'{{"driver":"file","filename":"{disk}"}}: Could not open \'{disk}\': Permission denied')
        raised = oslo.Raised("libvirt.libvirtError", message, _LIBVIRT)
        w.log(compute, at + 9.5, "ERROR", "nova.compute.manager", "Instance failed to spawn", context=context,
              instance=server.uuid, raised=raised)
        w.log(compute, at + 10.2, "INFO", "nova.compute.manager", f"Took {rng.uniform(0.4, 0.9):.2f} seconds to "
              "destroy the instance on the hypervisor.", context=context, instance=server.uuid)
        fault = ("libvirtError", message, "_build_and_run_instance", "nova.compute.manager",
                 "\n".join(raised.traceback()))
        w.notify(at + 10.5, self._instance_notification, "create.error", at + 10.5, server, caller, f"spawn:{k}",
                 state="building", power="pending", fault=fault)

    def _failed_delete(self, w: _Writer, at: float, k: int, rng: random.Random) -> None:
        host = self.hosts[(k * 11 + 3) % len(self.hosts)]
        server = self._ephemeral("spawn", k, SPAWN_FAILURE[1] + k * SPAWN_FAILURE[0], host)
        caller = self._caller(server.project_id, rng, at, self._request_id("delete-failed", k))
        w.log(self.api, at, "INFO", "nova.osapi_compute.wsgi.server", f'{caller.remote_address} "DELETE '
              f'/v2.1/servers/{server.uuid} HTTP/1.1" status: 204 len: 0 time: {rng.uniform(0.05, 0.2):.7f}',
              context=self._context(caller))
        w.notify(at + 0.5, self._instance_notification, "delete.start", at + 0.5, server, caller,
                 f"spawn-delete:{k}", state="error", task_state="deleting", power="pending")
        w.notify(at + 1.5, self._instance_notification, "delete.end", at + 1.5, server, caller, f"spawn-delete:{k}",
                 state="deleted", power="pending")

    # -- resizes -------------------------------------------------------------------------------------
    def _resize(self, w: _Writer, at: float, k: int, rng: random.Random) -> None:
        """Pairs: occurrence 2j resizes an instance up a flavor, 2j+1 back down."""
        if not self.cloud.instances:
            return
        vm = self.cloud.instances[(k // 2 * 37) % len(self.cloud.instances)]
        base = self._server(vm)
        bigger = _next_flavor(vm.flavor.name)
        if bigger is None:
            return
        big = dataclasses.replace(base, flavor_name=bigger[0], flavor_id=FLAVOR_IDS[bigger[0]], vcpus=bigger[1],
                                  memory_mb=bigger[2], root_gb=bigger[3])
        old, new = (base, big) if k % 2 == 0 else (big, base)
        caller = self._caller(vm.project_id, rng, at, self._request_id("resize", k))
        context = self._context(caller)
        compute = self._compute(vm.hypervisor)
        w.log(self.api, at, "INFO", "nova.osapi_compute.wsgi.server", f'{caller.remote_address} "POST '
              f'/v2.1/servers/{vm.resource_id}/action HTTP/1.1" status: 202 len: 0 time: {rng.uniform(0.2, 0.6):.7f}',
              context=context)
        self._filters(w, at + 0.3, context, vm.resource_id, keep=len(self.hosts) - 1)
        key = f"resize:{k}"
        steps = [("resize_prep.start", 0.8), ("resize_prep.end", 1.0), ("resize.start", 1.4), ("resize.end", 14.0),
                 ("resize_finish.start", 14.5), ("resize_finish.end", 22.0)]
        for phase, offset in steps:
            server = old if phase.startswith(("resize_prep", "resize.")) else new
            task = {"resize_prep.start": "resize_prep", "resize.start": "resize_migrating",
                    "resize_finish.start": "resize_finish"}.get(phase)
            w.notify(at + offset, self._instance_notification, phase, at + offset, server, caller, key,
                     state="resized" if phase == "resize_finish.end" else "active", task_state=task,
                     **({"new_flavor": new} if phase.startswith("resize_prep") and self._versioned(vm.hypervisor)
                        else {}))
        w.log(compute, at + 1.5, "INFO", "nova.virt.libvirt.driver", "Instance shutdown successfully after "
              f"{rng.randrange(3, 12)} seconds.", context=context, instance=vm.resource_id)
        w.log(compute, at + 21.8, "INFO", "nova.virt.libvirt.driver", "Instance running successfully.",
              context=context, instance=vm.resource_id)
        confirm = self._caller(vm.project_id, rng, at + 35, self._request_id("resize-confirm", k))
        w.log(self.api, at + 35, "INFO", "nova.osapi_compute.wsgi.server", f'{confirm.remote_address} "POST '
              f'/v2.1/servers/{vm.resource_id}/action HTTP/1.1" status: 204 len: 0 time: {rng.uniform(0.1, 0.4):.7f}',
              context=self._context(confirm))
        for phase, offset in (("resize_confirm.start", 35.5), ("resize_confirm.end", 37.0)):
            w.notify(at + offset, self._instance_notification, phase, at + offset, new, confirm, f"{key}:confirm")

    # -- volumes -------------------------------------------------------------------------------------
    def _volume_of(self, key: str, project: str, user: str, when: float, size: int) -> Volume:
        return Volume(self._uuid("volume", key), f"data-{self._uuid('volume-name', key)[:6]}", project, user, size,
                      when)

    def _volume(self, w: _Writer, at: float, k: int, rng: random.Random) -> None:
        """A volume created, then attached to one of the project's instances; every third attach fails in
        cinder's driver."""
        project = self.projects[(k + 1) % len(self.projects)]
        caller = self._caller(project, rng, at, self._request_id("volume", k))
        disk = self._volume_of(f"volume:{k}", project, caller.user_id, at, (10, 20, 50, 100)[k % 4])
        w.log(self.cinder_api, at, "INFO", "cinder.api.openstack.wsgi", f"http://controller-02:8776/v3/{project}/"
              "volumes returned with HTTP 202", context=self._context(caller))
        w.notify(at + 0.2, notify.volume, "volume.create.start", at + 0.2, disk, caller, f"volume:{k}",
                 status="creating")
        w.log(self.cinder_volume, at + 2.4, "INFO", "cinder.volume.flows.manager.create_volume",
              f"Volume {disk.uuid} (volume-{disk.uuid}): created successfully", context=self._context(caller))
        w.notify(at + 2.5, notify.volume, "volume.create.end", at + 2.5, disk, caller, f"volume:{k}")
        owned = [vm for vm in self.cloud.instances if vm.project_id == project]
        if not owned:
            return
        vm = owned[rng.randrange(len(owned))]
        server = self._server(vm)
        t = at + 20
        attach = self._caller(project, rng, t, self._request_id("attach", k))
        context = self._context(attach)
        compute = self._compute(vm.hypervisor)
        cinder_id = self._request_id("attach-cinder", k)
        w.log(self.api, t, "INFO", "nova.osapi_compute.wsgi.server", f'{attach.remote_address} "POST '
              f'/v2.1/servers/{vm.resource_id}/os-volume_attachments HTTP/1.1" status: 200 len: 194 '
              f"time: {rng.uniform(0.3, 0.7):.7f}", context=context)
        w.notify(t + 0.4, notify.versioned, "instance-volume_attach-start", t + 0.4, server, attach, f"attach:{k}",
                 volume_id=disk.uuid)
        w.notify(t + 0.45, notify.volume, "volume.attach.start", t + 0.45, disk, attach, f"attach:{k}",
                 status="attaching")
        w.log(compute, t + 0.5, "INFO", "nova.compute.manager", f"Attaching volume {disk.uuid} to /dev/vdb",
              context=context, instance=vm.resource_id)
        w.log(compute, t + 0.6, "DEBUG", "keystoneauth.session", "PUT call to volumev3 for "
              f"http://controller-02:8776/v3/{project}/attachments/{self._uuid('attachment', k)} used request id "
              f"{cinder_id}", context=context)
        cinder_context = self._context(attach, cinder_id, attach.request_id)
        if k % 3 != 2:
            w.log(self.cinder_volume, t + 1.2, "INFO", "cinder.volume.manager", "attachment_update completed "
                  "successfully.", context=cinder_context)
            w.notify(t + 1.3, notify.volume, "volume.attach.end", t + 1.3, disk, attach, f"attach:{k}", status="in-use",
                     attached_to=vm.resource_id)
            w.notify(t + 2.0, notify.versioned, "instance-volume_attach-end", t + 2.0, server, attach, f"attach:{k}",
                     volume_id=disk.uuid)
            return
        target = f"iqn.2010-10.org.openstack:volume-{disk.uuid}"
        raised = oslo.Raised("cinder.exception.InvalidISCSITarget", f"Target {target} is not valid.", _DRIVER)
        w.log(self.cinder_volume, t + 1.2, "ERROR", "cinder.volume.manager", "Driver initialize connection failed "
              f"(error: Target {target} is not valid.).", context=cinder_context, raised=raised)
        message = (f"Unable to update attachment.(Bad or unexpected response from the storage volume backend API: "
                   f"Driver initialize connection failed (error: Target {target} is not valid.).). (HTTP 500) "
                   f"(Request-ID: {cinder_id})")
        client = oslo.Raised("cinderclient.exceptions.ClientException", message, _CINDERCLIENT)
        w.log(compute, t + 1.4, "ERROR", "nova.compute.manager", f"Failed to attach {disk.uuid} at /dev/vdb",
              context=context, instance=vm.resource_id, raised=client)
        fault = ("ClientException", message, "_attach_volume", "nova.compute.manager", "\n".join(client.traceback()))
        w.notify(t + 1.5, notify.versioned, "instance-volume_attach-error", t + 1.5, server, attach, f"attach:{k}",
                 volume_id=disk.uuid, fault=fault)

    def _volume_delete(self, w: _Writer, at: float, k: int, rng: random.Random) -> None:
        project = self.projects[(k + 1) % len(self.projects)]
        created = VOLUME[1] + k * VOLUME[0]
        user = self._user(project)[0]
        disk = self._volume_of(f"volume:{k}", project, user, created, (10, 20, 50, 100)[k % 4])
        caller = self._caller(project, rng, at, self._request_id("volume-delete", k))
        owned = [vm for vm in self.cloud.instances if vm.project_id == project]
        attached = k % 3 != 2 and owned
        if attached:
            vm = owned[self._random("volume", k).randrange(len(owned))]  # the same draw as the attach
            w.notify(at, notify.volume, "volume.detach.start", at, disk, caller, f"volume-delete:{k}",
                     status="detaching", attached_to=vm.resource_id)
            w.notify(at + 1.5, notify.volume, "volume.detach.end", at + 1.5, disk, caller, f"volume-delete:{k}")
        w.log(self.cinder_api, at + 2, "INFO", "cinder.api.openstack.wsgi", f"http://controller-02:8776/v3/{project}/"
              f"volumes/{disk.uuid} returned with HTTP 202", context=self._context(caller))
        w.notify(at + 2.2, notify.volume, "volume.delete.start", at + 2.2, disk, caller, f"volume-delete:{k}",
                 status="deleting")
        w.log(self.cinder_volume, at + 4.0, "INFO", "cinder.volume.manager", "Deleted volume successfully.",
              context=self._context(caller))
        w.notify(at + 4.1, notify.volume, "volume.delete.end", at + 4.1, disk, caller, f"volume-delete:{k}",
                 status="deleted")


def compute_address(host: str) -> str:
    return f"10.2.0.{int(host.rsplit('-', 1)[-1]) if host.rsplit('-', 1)[-1].isdigit() else 1}"


def _next_flavor(name: str) -> tuple[str, int, int, int] | None:
    names = [flavor.name for flavor in FLAVORS]
    if name not in names or names.index(name) + 1 >= len(names):
        return None
    flavor = FLAVORS[names.index(name) + 1]
    return flavor.name, flavor.vcpus, flavor.ram_mb, flavor.disk_gb


def _legacy_compute_task(outbox: Outbox, when: float, server: Server, caller: Caller, key: str) -> None:
    """nova.scheduler.utils.set_vm_state_and_notify: ``compute_task.build_instances`` at ERROR priority
    from the conductor's ``compute_task`` notifier; ``reason`` is the exception object, which
    oslo.messaging's JsonPayloadSerializer writes as its repr."""
    payload = {"instance_id": server.uuid, "state": "error", "method": "build_instances",
               "reason": "NoValidHost('No valid host was found. There are not enough hosts available.')",
               "request_spec": {"instance_properties": {"uuid": server.uuid, "project_id": server.project_id,
                                                        "user_id": server.user_id, "memory_mb": server.memory_mb,
                                                        "vcpus": server.vcpus, "root_gb": server.root_gb,
                                                        "availability_zone": server.zone},
                                "instance_type": {"name": server.flavor_name, "flavorid": server.flavor_id,
                                                  "memory_mb": server.memory_mb, "vcpus": server.vcpus,
                                                  "root_gb": server.root_gb},
                                "num_instances": 1, "image": {"id": server.image_id}},
               "instance_properties": {"uuid": server.uuid, "project_id": server.project_id,
                                       "user_id": server.user_id}}
    outbox.send(when, "compute_task.controller-01", "compute_task.build_instances", payload, caller, key, "ERROR")


def iter_processes(story: CloudStory) -> Iterator[Process]:
    """Every process of the story (for tests and documentation)."""
    yield from (story.api, story.scheduler, story.conductor, story.glance, story.keystone, story.neutron,
                story.cinder_api, story.cinder_volume)
    for host in story.hosts:
        yield story._compute(host)
        yield Process("neutron", "neutron-openvswitch-agent", host)
