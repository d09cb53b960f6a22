"""Per-instance metrics of the VMs on a compute host, read from libvirt, in the monasca-agent libvirt style.

One ``collect`` costs one libvirt call for the whole host: ``getAllDomainStats`` returns state, cpu time,
vcpus, balloon, block and interface counters of every domain at once. Drivers that don't fill a stats
group in bulk (the test driver fills only the state group) fall back to the per-domain calls (``info``,
``memoryStats``, ``blockStats``, ``interfaceStats``) for that group; drivers without the bulk call at all
fall back to ``listAllDomains`` plus those calls. The domain XML, where the Nova metadata and the device
list live, is read once per domain and then every ``IDENTITY_TTL_S`` seconds, not every interval.

Identity comes from the metadata Nova writes into every domain it defines::

    <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
      <nova:name>web-1</nova:name>
      <nova:flavor name="m1.small">...</nova:flavor>
      <nova:owner><nova:user uuid="...">alice</nova:user><nova:project uuid="...">demo</nova:project></nova:owner>
    </nova:instance>

Dimensions (every sample): ``service=compute``, ``component=vm``, ``resource_id`` (the instance uuid,
which Nova uses as the libvirt domain uuid), ``hostname`` (the instance's Nova display name),
``tenant_id`` and ``user_id`` (project and user uuids, when Nova metadata is present); ``device`` (the
target dev, e.g. ``vda``, or the host-side tap, e.g. ``tap3f1c2a4b-1e``) on disk and interface samples.
``hostname`` is the VM's name, not the compute host's, because that is what monasca-agent puts on the
metrics it sends to the VM's owner (it removes the hypervisor hostname from them), so alarm definitions
written against monasca (``match_by: hostname``) keep working. Without Nova metadata (a domain Nova
didn't define) ``resource_id`` is the domain uuid, ``hostname`` the domain name, and there is no
``tenant_id``/``user_id``. The flavor is parsed into ``InstanceIdentity`` but not made a dimension: a
resize would otherwise split every series of the instance.

Metrics (kinds as ``Sample.kind``; counters are raw cumulative totals, the aggregator makes rates):

- ``host_alive_status`` (gauge, every domain, running or not): monasca-agent's code, libvirt state - 1:
  -1 no state, 0 running, 1 blocked, 2 paused, 3 shutting down, 4 shut off (or Nova-suspended),
  5 crashed, 6 power-management suspended. ``health_status`` (gauge): 0 running, 1 anything else.
- running domains only:
  ``cpu.time_ns`` (counter), ``cpu.utilization_perc`` and ``cpu.utilization_norm_perc`` (gauges, from the
  second reading on; see ``_cpu_samples``), ``mem.total_mb`` (gauge), ``mem.free_mb``, ``mem.used_mb``,
  ``mem.free_perc`` (gauges, only when the guest's balloon driver reports ``available``/``unused``),
  per disk ``io.read_bytes_sec``, ``io.write_bytes_sec``, ``io.read_ops_sec``, ``io.write_ops_sec``, per
  interface ``net.in_bytes_sec``, ``net.out_bytes_sec``, ``net.in_packets_sec``, ``net.out_packets_sec``,
  ``net.in_errors_sec``, ``net.out_errors_sec``, ``net.in_dropped_sec``, ``net.out_dropped_sec`` (running
  totals sent as counters: the agent's aggregator makes them per-second rates, monasca-agent's names).

``libvirt`` (libvirt-python) is imported lazily: the agent runs on hosts without it, where this collector
reports ``available() == False`` and collects nothing.
"""

from __future__ import annotations

import importlib
import logging
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from nephoscope.agent.samples import Sample

log = logging.getLogger(__name__)

# Nova writes 1.1 since Mitaka; 1.0 is what older computes left in domains that were never redefined.
NOVA_NAMESPACES = ("http://openstack.org/xmlns/libvirt/nova/1.1", "http://openstack.org/xmlns/libvirt/nova/1.0")

# The domain XML (Nova metadata, device names) changes only on rename, resize or hot-plug; re-reading it
# every interval would be one more call per domain, so it is refreshed at most this often.
IDENTITY_TTL_S = 600.0

# virDomainState's VIR_DOMAIN_RUNNING, spelled out so the module imports without libvirt-python.
_VIR_DOMAIN_RUNNING = 1

# Monasca (and our ingest, nephoscope/ingest/rules.py) refuses a dimension value with any of these or
# longer than 255 characters, and refuses the whole request with it. The VM name is the owner's free
# text, so it is made valid here rather than letting one odd name lose a host's batch. Not imported from
# the server package: the agent ships to compute hosts without it.
_DIMENSION_FORBIDDEN = re.compile(r'[<>={},"\\;&]')
_DIMENSION_MAX = 255

_KIB_PER_MB = 1024.0

# Bulk-stats keys -> metric names. They are running totals sent as counters, which the agent's
# aggregator turns into per-second rates: hence monasca-agent's rate names (``io.read_bytes_sec``).
# Disk keys are relative to "block.<n>.", interface keys to "net.<n>.".
_BLOCK_COUNTERS = (("rd.bytes", "io.read_bytes_sec"), ("wr.bytes", "io.write_bytes_sec"),
                   ("rd.reqs", "io.read_ops_sec"), ("wr.reqs", "io.write_ops_sec"))
_NET_COUNTERS = (("rx.bytes", "net.in_bytes_sec"), ("tx.bytes", "net.out_bytes_sec"),
                 ("rx.pkts", "net.in_packets_sec"), ("tx.pkts", "net.out_packets_sec"),
                 ("rx.errs", "net.in_errors_sec"), ("tx.errs", "net.out_errors_sec"),
                 ("rx.drop", "net.in_dropped_sec"), ("tx.drop", "net.out_dropped_sec"))
# Positions of the same values in the per-domain calls' tuples:
# blockStats -> (rd_req, rd_bytes, wr_req, wr_bytes, errs);
# interfaceStats -> (rx_bytes, rx_packets, rx_errs, rx_drop, tx_bytes, tx_packets, tx_errs, tx_drop).
_BLOCK_TUPLE = {"rd.reqs": 0, "rd.bytes": 1, "wr.reqs": 2, "wr.bytes": 3}
_NET_TUPLE = {"rx.bytes": 0, "rx.pkts": 1, "rx.errs": 2, "rx.drop": 3,
              "tx.bytes": 4, "tx.pkts": 5, "tx.errs": 6, "tx.drop": 7}


def sanitize_dimension(value: str) -> str:
    """``value`` made acceptable as a Monasca dimension value (forbidden characters become ``_``)."""
    return _DIMENSION_FORBIDDEN.sub("_", value.strip())[:_DIMENSION_MAX]


@dataclass(frozen=True, slots=True)
class InstanceIdentity:
    """Who a domain is: from Nova's metadata, or from libvirt alone when there is none."""

    resource_id: str
    hostname: str
    tenant_id: str | None = None
    user_id: str | None = None
    flavor: str | None = None
    from_nova: bool = False

    def dimensions(self) -> dict[str, str]:
        dims = {"service": "compute", "component": "vm", "resource_id": self.resource_id,
                "hostname": self.hostname}
        # Absent rather than empty: Monasca refuses empty dimension values.
        if self.tenant_id:
            dims["tenant_id"] = self.tenant_id
        if self.user_id:
            dims["user_id"] = self.user_id
        return dims


@dataclass(frozen=True, slots=True)
class DomainDescription:
    """What the domain XML tells: identity and the device names the per-domain fallback calls need."""

    identity: InstanceIdentity
    disks: tuple[str, ...] = ()
    interfaces: tuple[str, ...] = ()


def parse_domain_xml(xml: str, uuid: str, name: str) -> DomainDescription:
    """Identity and devices from a domain's XML; ``uuid``/``name`` are the fallback identity."""
    fallback = InstanceIdentity(resource_id=uuid, hostname=sanitize_dimension(name) or uuid)
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        log.debug("unparsable XML for domain %s", name)
        return DomainDescription(fallback)
    disks = tuple(dev for dev in (t.get("dev") for t in root.iterfind("devices/disk/target")) if dev)
    interfaces = tuple(dev for dev in (t.get("dev") for t in root.iterfind("devices/interface/target")) if dev)
    return DomainDescription(_nova_identity(root, uuid) or fallback, disks, interfaces)


def _nova_identity(root: ET.Element, uuid: str) -> InstanceIdentity | None:
    metadata = root.find("metadata")
    if metadata is None:
        return None
    for ns in NOVA_NAMESPACES:
        instance = metadata.find(f"{{{ns}}}instance")
        if instance is None:
            continue
        q = f"{{{ns}}}"
        display_name = sanitize_dimension(instance.findtext(q + "name") or "")
        user = instance.find(f"{q}owner/{q}user")
        project = instance.find(f"{q}owner/{q}project")
        flavor = instance.find(q + "flavor")
        return InstanceIdentity(
            resource_id=uuid,
            # A Nova instance always has a name; if this one somehow hasn't, the uuid still identifies it.
            hostname=display_name or uuid,
            tenant_id=sanitize_dimension(project.get("uuid", "")) if project is not None else None,
            user_id=sanitize_dimension(user.get("uuid", "")) if user is not None else None,
            flavor=flavor.get("name") if flavor is not None else None,
            from_nova=True)
    return None


@dataclass(frozen=True, slots=True)
class _Described:
    description: DomainDescription
    read_at: float


@dataclass(frozen=True, slots=True)
class _CpuReading:
    domain_id: int  # a domain restarted under the same uuid gets a new id and a cpu time from zero
    cpu_time_ns: int
    at: float


class LibvirtCollector:
    """Samples for every domain of one libvirt connection (see the module docstring for what)."""

    name = "libvirt"

    def __init__(self, uri: str = "qemu:///system", clock: Callable[[], float] = time.monotonic) -> None:
        self.uri = uri
        self._clock = clock
        self._libvirt: ModuleType | None = None
        self._missing_reported = False
        self._conn: Any = None
        self._failing = False  # inside an outage: its warning has been logged
        self._bulk = True  # cleared once the driver says it has no getAllDomainStats
        # Stats groups this connection has filled in bulk. Once a group has been seen, a domain missing
        # it is skipped for the interval (qemu's NOWAIT leaves out busy domains) instead of falling back
        # to a per-domain call that would block on the very monitor NOWAIT avoided.
        self._bulk_groups: set[str] = set()
        self._described: dict[str, _Described] = {}
        self._cpu: dict[str, _CpuReading] = {}

    @staticmethod
    def available() -> bool:
        """Whether libvirt-python can be imported on this host."""
        try:
            importlib.import_module("libvirt")
        except ImportError:
            return False
        return True

    @property
    def tracked_domains(self) -> frozenset[str]:
        """Uuids of the domains this collector keeps state for (bounded by the domains on the host)."""
        return frozenset(self._described) | frozenset(self._cpu)

    def close(self) -> None:
        if self._conn is not None:
            self._drop_connection()

    # -- connection -----------------------------------------------------------------------------------

    def _module(self) -> ModuleType | None:
        if self._libvirt is None:
            try:
                module = importlib.import_module("libvirt")
            except ImportError:
                if not self._missing_reported:
                    log.warning("libvirt-python is not installed; the libvirt collector collects nothing")
                    self._missing_reported = True
                return None
            # Without a handler libvirt prints every error to stderr as well as raising it; we log the
            # ones that matter ourselves (once per outage), so silence the printing. Process-wide, which
            # is what the agent wants.
            module.registerErrorHandler(lambda _ctx, _err: None, None)
            self._libvirt = module
        return self._libvirt

    def _connect(self, lv: ModuleType) -> Any:
        try:
            # Read-only: a monitoring agent needs no power over the VMs, and the read-only socket is
            # open to unprivileged users, so the agent needn't be in the libvirt group.
            conn = lv.openReadOnly(self.uri)
        except lv.libvirtError as exc:
            self._outage(f"cannot connect to libvirt at {self.uri}: {exc}")
            return None
        if conn is None:  # very old bindings returned None instead of raising
            self._outage(f"cannot connect to libvirt at {self.uri}")
            return None
        self._conn = conn
        return conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        self._bulk_groups.clear()
        try:
            conn.close()
        except Exception as exc:
            log.debug("closing the libvirt connection failed: %s", exc)

    def _outage(self, message: str) -> None:
        # One warning per outage: the agent retries every interval and a libvirtd that is down for an hour
        # must not fill the log.
        if not self._failing:
            log.warning("%s; retrying every interval, no libvirt samples until then", message)
            self._failing = True

    def _fetch(self, lv: ModuleType, conn: Any) -> list[tuple[Any, Mapping[str, Any]]]:
        if self._bulk:
            stats = (lv.VIR_DOMAIN_STATS_STATE | lv.VIR_DOMAIN_STATS_CPU_TOTAL | lv.VIR_DOMAIN_STATS_VCPU
                     | lv.VIR_DOMAIN_STATS_BALLOON | lv.VIR_DOMAIN_STATS_BLOCK | lv.VIR_DOMAIN_STATS_INTERFACE)
            # NOWAIT (libvirt >= 4.5): a domain whose qemu monitor is busy (a migration, a stuck storage
            # backend) is reported without its monitor-bound stats instead of stalling the whole call.
            flags = getattr(lv, "VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT", 0)
            try:
                return conn.getAllDomainStats(stats, flags)
            except lv.libvirtError as exc:
                if exc.get_error_code() != lv.VIR_ERR_NO_SUPPORT:
                    raise
                log.info("libvirt at %s has no bulk domain stats; using per-domain calls", self.uri)
                self._bulk = False
        return [(dom, {}) for dom in conn.listAllDomains(0)]

    # -- collect --------------------------------------------------------------------------------------

    def collect(self) -> list[Sample]:
        lv = self._module()
        if lv is None:
            return []
        records = None
        for attempt in range(2):
            reused = self._conn is not None
            conn = self._conn if reused else self._connect(lv)
            if conn is None:
                return []
            try:
                records = self._fetch(lv, conn)
                break
            except lv.libvirtError as exc:
                self._drop_connection()
                # A connection from before a libvirtd restart fails on first use; one fresh attempt in
                # the same interval means a quick restart costs no samples.
                if not reused or attempt == 1:
                    self._outage(f"libvirt at {self.uri} failed: {exc}")
                    return []
        if records is None:
            return []
        if self._failing:
            log.info("libvirt at %s is reachable again", self.uri)
            self._failing = False
        # One instant for the whole host: the bulk call read every domain at (about) this moment.
        now = self._clock()
        samples: list[Sample] = []
        present: set[str] = set()
        for dom, stats in records:
            uuid = dom.UUIDString()
            present.add(uuid)
            try:
                samples.extend(self._domain_samples(lv, dom, uuid, stats, now))
            except lv.libvirtError as exc:
                # Typically the domain went away between the listing and a per-domain call; the other
                # domains' samples stand. A dead connection shows up on the next interval's bulk call.
                log.debug("skipping domain %s this interval: %s", uuid, exc)
        self._forget_absent(present)
        return samples

    def _forget_absent(self, present: set[str]) -> None:
        # Instances come and go all day on a compute host; state of the gone ones must not accumulate.
        for table in (self._described, self._cpu):
            for uuid in [uuid for uuid in table if uuid not in present]:
                del table[uuid]

    def _describe(self, lv: ModuleType, dom: Any, uuid: str, now: float) -> DomainDescription:
        cached = self._described.get(uuid)
        if cached is not None and now - cached.read_at < IDENTITY_TTL_S:
            return cached.description
        try:
            xml = dom.XMLDesc(0)
        except lv.libvirtError:
            if cached is not None:  # keep the known identity rather than drop the domain's samples
                return cached.description
            raise
        description = parse_domain_xml(xml, uuid, dom.name())
        self._described[uuid] = _Described(description, now)
        return description

    def _domain_samples(self, lv: ModuleType, dom: Any, uuid: str, stats: Mapping[str, Any],
                        now: float) -> list[Sample]:
        description = self._describe(lv, dom, uuid, now)
        dims = description.identity.dimensions()
        self._note_groups(stats)
        state = stats.get("state.state")
        if state is None:
            state = dom.state(0)[0]
        samples = [Sample("host_alive_status", float(state - 1), dims),
                   Sample("health_status", 0.0 if state == _VIR_DOMAIN_RUNNING else 1.0, dims)]
        if state != _VIR_DOMAIN_RUNNING:
            # Not running: no resource usage to report, and the next start begins a new cpu baseline.
            self._cpu.pop(uuid, None)
            return samples

        info: list[Any] | None = None

        def domain_info() -> list[Any]:  # dom.info(), at most once per domain and only when needed
            nonlocal info
            if info is None:
                info = dom.info()
            return info

        cpu_time = stats.get("cpu.time")
        if cpu_time is None and "cpu" not in self._bulk_groups:
            cpu_time = domain_info()[4]
        vcpus = stats.get("vcpu.current")
        if vcpus is None and "vcpu" not in self._bulk_groups:
            vcpus = domain_info()[3]
        if cpu_time is not None:
            samples.extend(self._cpu_samples(dom, uuid, int(cpu_time), vcpus, now, dims))
        samples.extend(self._memory_samples(dom, stats, domain_info, dims))
        samples.extend(self._device_samples(
            lv, stats, "block", _BLOCK_COUNTERS, description.disks, dom.blockStats, _BLOCK_TUPLE, dims))
        samples.extend(self._device_samples(
            lv, stats, "net", _NET_COUNTERS, description.interfaces, dom.interfaceStats, _NET_TUPLE, dims))
        return samples

    def _note_groups(self, stats: Mapping[str, Any]) -> None:
        # Keys that every driver filling a group sets for a running domain, even under NOWAIT.
        for group, anchor in (("cpu", "cpu.time"), ("vcpu", "vcpu.current"), ("balloon", "balloon.current"),
                              ("block", "block.count"), ("net", "net.count")):
            if anchor in stats:
                self._bulk_groups.add(group)

    def _cpu_samples(self, dom: Any, uuid: str, cpu_time: int, vcpus: Any, now: float,
                     dims: dict[str, str]) -> list[Sample]:
        """``cpu.time_ns`` always; the utilizations from the previous reading of the same domain run.

        Like monasca-agent, ``cpu.utilization_perc`` is cores used × 100 (a busy 4-vcpu VM shows 400) and
        ``cpu.utilization_norm_perc`` is that divided by the vcpus (0-100). A gauge, not a counter,
        because the division by vcpus needs the domain's vcpu count, which the aggregator doesn't know.
        """
        samples = [Sample("cpu.time_ns", cpu_time, dims, "counter")]
        domain_id = dom.ID()
        previous = self._cpu.get(uuid)
        self._cpu[uuid] = _CpuReading(domain_id, cpu_time, now)
        if previous is None or previous.domain_id != domain_id:
            return samples  # first reading of this run: nothing to compare with
        elapsed = now - previous.at
        used = cpu_time - previous.cpu_time_ns
        if elapsed <= 0 or used < 0:
            return samples  # a clock that didn't advance or a reset counter: no honest value this time
        cores = used / (elapsed * 1e9)
        samples.append(Sample("cpu.utilization_perc", cores * 100.0, dims))
        if vcpus:
            samples.append(Sample("cpu.utilization_norm_perc", cores / int(vcpus) * 100.0, dims))
        return samples

    def _memory_samples(self, dom: Any, stats: Mapping[str, Any], domain_info: Callable[[], list[Any]],
                        dims: dict[str, str]) -> list[Sample]:
        """Balloon figures (KiB) as MB, the way monasca-agent reads them.

        ``available`` is the memory the guest sees and ``unused`` what it leaves completely unused (page
        cache counts as used, as in monasca-agent). Both need the guest's balloon driver and qemu's stats
        polling (Nova's ``mem_stats_period_seconds``); without them only ``mem.total_mb`` is reported, from
        the balloon size (what the guest was given).
        """
        balloon = {key[8:]: value for key, value in stats.items() if key.startswith("balloon.")}
        if "current" not in balloon and "balloon" not in self._bulk_groups:
            fetched = dom.memoryStats()
            balloon = dict(fetched)
            current = fetched.get("actual")
            balloon["current"] = current if current is not None else domain_info()[2]
        available, unused = balloon.get("available"), balloon.get("unused")
        total = available if available else balloon.get("current")
        samples = []
        if total:
            samples.append(Sample("mem.total_mb", total / _KIB_PER_MB, dims))
        if available and unused is not None:
            samples += [Sample("mem.free_mb", unused / _KIB_PER_MB, dims),
                        Sample("mem.used_mb", (available - unused) / _KIB_PER_MB, dims),
                        Sample("mem.free_perc", unused / available * 100.0, dims)]
        return samples

    def _device_samples(self, lv: ModuleType, stats: Mapping[str, Any], group: str,
                        counters: tuple[tuple[str, str], ...], devices: Iterable[str],
                        per_device_call: Callable[[str], Any], positions: Mapping[str, int],
                        dims: dict[str, str]) -> list[Sample]:
        """Counters per disk (``group="block"``) or interface (``"net"``), from bulk stats or per device."""
        readings: list[tuple[str, Mapping[str, Any]]] = []
        count = stats.get(f"{group}.count")
        if count is not None:
            for index in range(int(count)):
                prefix = f"{group}.{index}."
                device = stats.get(prefix + "name")
                if device:
                    # Keys missing under NOWAIT are simply not reported this interval.
                    readings.append((device, {key: stats[prefix + key] for key, _ in counters
                                              if prefix + key in stats}))
        elif group not in self._bulk_groups:
            for device in devices:
                try:
                    values = per_device_call(device)
                except lv.libvirtError as exc:
                    # e.g. a cdrom without media, or a device unplugged since the XML was read
                    log.debug("no %s stats for %s: %s", group, device, exc)
                    continue
                readings.append((device, {key: values[pos] for key, pos in positions.items()}))
        samples = []
        for device, values in readings:
            device_dims = {**dims, "device": sanitize_dimension(device)}
            for key, metric in counters:
                value = values.get(key)
                if value is not None and value >= 0:  # some drivers report -1 for "not supported"
                    samples.append(Sample(metric, int(value), device_dims, "counter"))
        return samples
