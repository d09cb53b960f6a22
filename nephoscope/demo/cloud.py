"""The simulated OpenStack cloud: its inventory and the metrics monasca-agent would post for it.

Inventory: hypervisors ``compute-01``... each hosting instances (uuid resource ids,
readable names, flavors) spread over a few projects. Metrics follow monasca-agent's
names and dimensions: the system plugins' ``cpu.*``, ``load.*``, ``mem.*``, ``disk.*``,
``io.*``, ``net.*`` for each hypervisor (posted to the operator's project), and the
libvirt plugin's per-VM metrics (posted to the VM owner's project, plus a few
``vm.*`` copies for the operator).

Every series is one column of a single NumPy computation per step, so a step of the
default cloud (~2,500 series) costs a few hundred microseconds. Values are a diurnal
curve plus correlated noise, with two kinds of events on top:

* sustained load episodes: an instance and its hypervisor stay above 90 % CPU for
  4 to 10 minutes, long enough for ``avg(cpu.utilization_perc, 60) > 90 times 3``;
* lone spikes: one sample above 90 %, which such windowed alarms must not fire on.

Output is deterministic for a given seed and sequence of step timestamps.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field

import numpy as np

from nephoscope.demo.config import DemoPlan

EPISODE_MIN_SECONDS = 240.0
"""Episodes last at least 4 minutes so that 3 whole aligned 60 s periods lie inside one."""
EPISODE_MAX_SECONDS = 600.0
NORMAL_CPU_CEILING = 85.0
"""Ordinary load stays below this, so anything above 90 % is an episode or a spike."""


@dataclass(frozen=True, slots=True)
class Flavor:
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int


FLAVORS: tuple[Flavor, ...] = (
    Flavor("m1.small", 1, 2048, 20),
    Flavor("m1.medium", 2, 4096, 40),
    Flavor("m1.large", 4, 8192, 80),
    Flavor("m1.xlarge", 8, 16384, 160),
)
_FLAVOR_WEIGHTS = (0.35, 0.35, 0.2, 0.1)


@dataclass(frozen=True, slots=True)
class Hypervisor:
    hostname: str
    vcpus: int
    memory_mb: int
    zone: str


@dataclass(frozen=True, slots=True)
class Instance:
    resource_id: str
    name: str
    project_id: str
    flavor: Flavor
    hypervisor: str
    zone: str
    role: str
    port_id: str

    @property
    def net_device(self) -> str:
        # libvirt names the host side of a Neutron port "tap" + the first 11 chars of its id.
        return "tap" + self.port_id[:11]


@dataclass(frozen=True, slots=True)
class Series:
    """One simulated series. ``tenant_id`` None means the pushing token's own (operator) project."""

    name: str
    dimensions: dict[str, str]
    tenant_id: str | None
    decimals: int
    kind: str  # "hypervisor", "instance" (owner-facing) or "vm" (operator copy of a VM metric)
    owner: int  # index into DemoCloud.hypervisors or DemoCloud.instances


@dataclass(frozen=True, slots=True)
class _Role:
    """Workload profile: ranges that per-instance parameters are drawn from."""

    name: str
    weight: float
    cpu_base: tuple[float, float]
    diurnal: tuple[float, float]
    noise: tuple[float, float]
    peak_hour: tuple[float, float]
    io_ops: tuple[float, float]
    io_size_kb: tuple[float, float]
    net_bytes: tuple[float, float]
    mem_used: tuple[float, float]


_ROLES: tuple[_Role, ...] = (
    _Role("web", 0.30, (8, 20), (20, 40), (2, 4), (13, 16), (5, 30), (8, 32), (2e5, 2e6), (0.35, 0.6)),
    _Role("api", 0.20, (6, 15), (15, 30), (2, 4), (10, 15), (5, 20), (4, 16), (1e5, 8e5), (0.3, 0.55)),
    _Role("db", 0.15, (15, 30), (10, 20), (1.5, 3), (11, 15), (80, 400), (8, 64), (5e4, 5e5), (0.6, 0.85)),
    _Role("worker", 0.20, (5, 35), (0, 15), (4, 8), (0, 24), (10, 80), (32, 256), (1e4, 2e5), (0.3, 0.7)),
    _Role("cache", 0.15, (3, 10), (3, 10), (1, 2), (13, 16), (1, 5), (4, 8), (3e5, 3e6), (0.7, 0.9)),
)

# Hours added to UTC to get each project's local time: the tenants' users live in
# different places, so the cloud's busy hours are spread and never all coincide.
_PROJECT_UTC_OFFSETS = (0.0, -5.0, 1.0, 8.0, -8.0, 5.5, 9.0, 3.0)

# name, decimals, extra dimensions (device names as monasca-agent reports them).
_HYPERVISOR_METRICS: tuple[tuple[str, int, dict[str, str]], ...] = (
    ("cpu.idle_perc", 1, {}),
    ("cpu.user_perc", 1, {}),
    ("cpu.system_perc", 1, {}),
    ("cpu.wait_perc", 1, {}),
    ("cpu.percent", 1, {}),
    ("load.avg_1_min", 2, {}),
    ("mem.total_mb", 0, {}),
    ("mem.usable_mb", 0, {}),
    ("mem.usable_perc", 1, {}),
    ("disk.space_used_perc", 1, {"device": "sda1", "mount_point": "/"}),
    ("io.read_kbytes_sec", 1, {"device": "sda1", "mount_point": "/"}),
    ("io.write_kbytes_sec", 1, {"device": "sda1", "mount_point": "/"}),
    ("net.in_bytes_sec", 0, {"device": "eth0"}),
    ("net.out_bytes_sec", 0, {"device": "eth0"}),
)
_INSTANCE_METRICS: tuple[tuple[str, int, str | None], ...] = (  # name, decimals, device kind
    ("cpu.utilization_perc", 1, None),
    ("mem.free_perc", 1, None),
    ("io.read_ops_sec", 1, "disk"),
    ("io.write_ops_sec", 1, "disk"),
    ("io.read_bytes_sec", 0, "disk"),
    ("io.write_bytes_sec", 0, "disk"),
    ("net.in_bytes_sec", 0, "net"),
    ("net.out_bytes_sec", 0, "net"),
    ("host_alive_status", 0, None),
)
_VM_METRICS: tuple[tuple[str, int], ...] = (("vm.cpu.utilization_perc", 1), ("vm.host_alive_status", 0))

HYPERVISOR_METRIC_NAMES = tuple(m[0] for m in _HYPERVISOR_METRICS)
INSTANCE_METRIC_NAMES = tuple(m[0] for m in _INSTANCE_METRICS)
VM_METRIC_NAMES = tuple(m[0] for m in _VM_METRICS)


def _uniform(rng: np.random.Generator, bounds: np.ndarray) -> np.ndarray:
    """One draw per row of an (n, 2) array of [low, high) bounds."""
    return bounds[:, 0] + rng.random(bounds.shape[0]) * (bounds[:, 1] - bounds[:, 0])


def _uuid(rng: np.random.Generator) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


@dataclass
class _State:
    """What carries from one step to the next; everything else is a function of time."""

    last_ms: int | None = None
    z_cpu: np.ndarray = field(default_factory=lambda: np.zeros(0))
    z_mem: np.ndarray = field(default_factory=lambda: np.zeros(0))
    z_host: np.ndarray = field(default_factory=lambda: np.zeros(0))
    load: np.ndarray | None = None
    episode_end_ms: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    episode_level: np.ndarray = field(default_factory=lambda: np.zeros(0))


class DemoCloud:
    """A seeded cloud whose :meth:`advance` computes every series' next sample at once."""

    def __init__(self, config: DemoPlan | None = None) -> None:
        self.config = config or DemoPlan()
        cfg = self.config
        # Inventory and dynamics use separate streams: the same seed gives the same
        # inventory however many steps are taken, and vice versa.
        topo = np.random.default_rng([cfg.seed, 0])
        self._rng = np.random.default_rng([cfg.seed, 1])

        width = max(2, len(str(cfg.hypervisors)))
        h_count = cfg.hypervisors
        h_vcpus = topo.choice(np.array([32, 48, 64]), h_count)
        h_mem = topo.choice(np.array([131072, 262144, 393216]), h_count, p=[0.25, 0.5, 0.25])
        self.hypervisors: tuple[Hypervisor, ...] = tuple(
            Hypervisor(f"compute-{i + 1:0{width}d}", int(h_vcpus[i]), int(h_mem[i]), cfg.zone) for i in range(h_count)
        )

        n = h_count * cfg.instances_per_hypervisor
        host_of = np.repeat(np.arange(h_count), cfg.instances_per_hypervisor)
        # Round-robin then shuffle: every project gets instances even in a tiny cloud.
        project_of = topo.permutation(np.arange(n) % len(cfg.projects))
        flavor_of = topo.choice(len(FLAVORS), n, p=_FLAVOR_WEIGHTS)
        weights = np.array([r.weight for r in _ROLES])
        role_of = topo.choice(len(_ROLES), n, p=weights / weights.sum())
        counters: dict[tuple[int, int], int] = {}
        instances = []
        for i in range(n):
            key = (int(project_of[i]), int(role_of[i]))
            counters[key] = counters.get(key, 0) + 1
            instances.append(
                Instance(
                    resource_id=_uuid(topo),
                    name=f"{_ROLES[role_of[i]].name}-{counters[key]:02d}",
                    project_id=cfg.projects[project_of[i]],
                    flavor=FLAVORS[flavor_of[i]],
                    hypervisor=self.hypervisors[host_of[i]].hostname,
                    zone=cfg.zone,
                    role=_ROLES[role_of[i]].name,
                    port_id=_uuid(topo),
                )
            )
        self.instances: tuple[Instance, ...] = tuple(instances)

        # Per-instance workload parameters, drawn from the instance's role.
        def param(attr: str) -> np.ndarray:
            bounds = np.array([getattr(_ROLES[r], attr) for r in role_of], dtype=float).reshape(n, 2)
            return _uniform(topo, bounds)

        self._host_of = host_of
        self._vcpus = np.array([FLAVORS[f].vcpus for f in flavor_of], dtype=float)
        self._ram = np.array([FLAVORS[f].ram_mb for f in flavor_of], dtype=float)
        self._cpu_base = param("cpu_base")
        self._cpu_amp = param("diurnal")
        self._cpu_noise = param("noise")
        self._peak = param("peak_hour")
        self._utc_offset = np.array([_PROJECT_UTC_OFFSETS[p % len(_PROJECT_UTC_OFFSETS)] for p in project_of])
        self._cpu_tau = topo.uniform(60.0, 300.0, n)
        self._io_ops = param("io_ops")
        self._io_size = param("io_size_kb") * 1024.0
        self._write_ratio = topo.uniform(0.3, 1.5, n)
        self._net = param("net_bytes")
        self._out_ratio = topo.uniform(0.4, 2.5, n)
        self._mem_base = param("mem_used")

        self._h_vcpus = h_vcpus.astype(float)
        self._h_mem = h_mem.astype(float)
        self._h_overhead = topo.uniform(1.5, 4.0, h_count)
        self._h_user_share = topo.uniform(0.70, 0.80, h_count)
        self._h_system_share = topo.uniform(0.14, 0.20, h_count)
        self._h_mem_reserved = topo.uniform(4096.0, 8192.0, h_count)
        self._disk_low, self._disk_high = 25.0, 92.0
        self._disk_phase = topo.uniform(0.0, self._disk_high - self._disk_low, h_count)
        self._disk_rate = topo.uniform(0.3, 2.0, h_count)  # percent of the disk per day
        self._h_io_base = topo.uniform(50.0, 400.0, h_count)  # KB/s of the host's own activity
        self._h_net_base = topo.uniform(2e4, 2e5, h_count)  # bytes/s: storage, control plane

        self._ep_rate = cfg.episodes_per_instance_day / 86_400.0
        self._spike_rate = cfg.spikes_per_instance_hour / 3600.0
        self._state = _State(
            z_cpu=topo.standard_normal(n),
            z_mem=topo.standard_normal(n),
            z_host=topo.standard_normal(h_count),
            episode_end_ms=np.zeros(n, np.int64),
            episode_level=np.zeros(n),
        )
        self.series: tuple[Series, ...] = self._build_series()
        self._decimals = [m[1] for m in (*_HYPERVISOR_METRICS, *_INSTANCE_METRICS, *_VM_METRICS)]

    # -- inventory -----------------------------------------------------------------

    def _build_series(self) -> tuple[Series, ...]:
        region = self.config.region
        out: list[Series] = []
        for name, decimals, extra in _HYPERVISOR_METRICS:
            for h, hv in enumerate(self.hypervisors):
                dims = {"hostname": hv.hostname, "service": "compute", "component": "nova-compute", "region": region}
                out.append(Series(name, {**dims, **extra}, None, decimals, "hypervisor", h))
        for name, decimals, device in _INSTANCE_METRICS:
            for i, vm in enumerate(self.instances):
                # Owner-facing copy: libvirt puts the VM's own name in "hostname".
                dims = {
                    "hostname": vm.name,
                    "resource_id": vm.resource_id,
                    "zone": vm.zone,
                    "service": "compute",
                    "component": "vm",
                    "region": region,
                }
                if device == "disk":
                    dims["device"] = "vda"
                elif device == "net":
                    dims["device"] = vm.net_device
                    dims["port_id"] = vm.port_id
                out.append(Series(name, dims, vm.project_id, decimals, "instance", i))
        for name, decimals in _VM_METRICS:
            for i, vm in enumerate(self.instances):
                # Operator copy: hostname is the hypervisor, the owner moves to tenant_id.
                dims = {
                    "hostname": vm.hypervisor,
                    "resource_id": vm.resource_id,
                    "zone": vm.zone,
                    "service": "compute",
                    "component": "vm",
                    "tenant_id": vm.project_id,
                    "region": region,
                }
                out.append(Series(name, dims, None, decimals, "vm", i))
        return tuple(out)

    @property
    def tenants(self) -> tuple[str | None, ...]:
        """Distinct tenants of the series: None (the operator) first, then the projects."""
        return (None, *self.config.projects)

    def indices(self, name: str, kind: str | None = None) -> np.ndarray:
        """Positions in :attr:`series` (and in :meth:`advance`'s result) of metric ``name``."""
        positions = [i for i, s in enumerate(self.series) if s.name == name and (kind is None or s.kind == kind)]
        return np.array(positions, dtype=np.int64)

    # -- dynamics ------------------------------------------------------------------

    def advance(self, timestamp_ms: int) -> np.ndarray:
        """Values of every series at ``timestamp_ms``, aligned with :attr:`series`.

        Timestamps must not go backwards: noise and episodes evolve from the previous step.
        """
        st, rng = self._state, self._rng
        ts = int(timestamp_ms)
        if st.last_ms is not None and ts < st.last_ms:
            raise ValueError(f"demo cloud steps must not go back in time ({ts} < {st.last_ms})")
        # The first step has no predecessor; treat it as one nominal interval after one.
        dt = self.config.interval if st.last_ms is None else (ts - st.last_ms) / 1000.0
        dt = min(dt, 6 * 3600.0)
        st.last_ms = ts
        n, h_count = len(self.instances), len(self.hypervisors)
        t = ts / 1000.0

        # Fixed draw counts per step keep the stream aligned whatever the state is.
        eps_cpu = rng.standard_normal(n)
        eps_mem = rng.standard_normal(n)
        eps_host = rng.standard_normal(h_count)
        u_episode = rng.random(n)
        episode_len = rng.uniform(EPISODE_MIN_SECONDS, EPISODE_MAX_SECONDS, n)
        episode_level = rng.uniform(93.0, 98.0, n)
        eps_episode = rng.standard_normal(n)
        u_spike = rng.random(n)
        spike_level = rng.uniform(92.0, 100.0, n)
        io_noise = np.exp(0.35 * rng.standard_normal((4, n)) - 0.06)
        host_hot_drop = rng.uniform(0.0, 2.0, h_count)
        host_noise = np.exp(0.25 * rng.standard_normal((4, h_count)) - 0.03)

        # Ornstein-Uhlenbeck noise: smooth at any step size, so 10 s live samples and
        # 60 s backfill samples look like the same process.
        rho = np.exp(-dt / self._cpu_tau)
        st.z_cpu = rho * st.z_cpu + np.sqrt(1.0 - rho * rho) * eps_cpu
        rho_slow = math.exp(-dt / 900.0)
        st.z_mem = rho_slow * st.z_mem + math.sqrt(1.0 - rho_slow**2) * eps_mem
        rho_host = math.exp(-dt / 120.0)
        st.z_host = rho_host * st.z_host + math.sqrt(1.0 - rho_host**2) * eps_host

        local_hour = (t / 3600.0 + self._utc_offset) % 24.0
        daily = 0.5 - 0.5 * np.cos(2.0 * np.pi * (local_hour - self._peak + 12.0) / 24.0)
        cpu = np.clip(self._cpu_base + self._cpu_amp * daily + self._cpu_noise * st.z_cpu, 0.5, NORMAL_CPU_CEILING)

        # Episodes start as a Poisson process per instance (probability scaled by dt).
        running = ts < st.episode_end_ms
        starts = ~running & (u_episode < -math.expm1(-self._ep_rate * dt))
        st.episode_end_ms = np.where(starts, ts + (episode_len * 1000.0).astype(np.int64), st.episode_end_ms)
        st.episode_level = np.where(starts, episode_level, st.episode_level)
        active = ts < st.episode_end_ms
        spike = ~active & (u_spike < -math.expm1(-self._spike_rate * dt))
        cpu = np.where(active, np.clip(st.episode_level + 1.2 * eps_episode, 90.5, 100.0), cpu)
        cpu = np.where(spike, spike_level, cpu)
        cpu = np.round(cpu, 1)
        load = cpu / 100.0

        mem_used = np.clip(self._mem_base + 0.04 * st.z_mem + 0.1 * active, 0.05, 0.98)
        read_ops = self._io_ops * (0.25 + load) * io_noise[0]
        write_ops = self._io_ops * self._write_ratio * (0.3 + 0.9 * load) * io_noise[1]
        read_bytes = read_ops * self._io_size
        write_bytes = write_ops * self._io_size
        net_in = self._net * (0.2 + 1.2 * load) * io_noise[2]
        net_out = self._net * self._out_ratio * (0.2 + 1.2 * load) * io_noise[3]
        alive = np.zeros(n)

        # Hypervisors: the sum of their guests plus their own overhead.
        def per_host(values: np.ndarray) -> np.ndarray:
            return np.bincount(self._host_of, weights=values, minlength=h_count)

        used_cores = per_host(load * self._vcpus)
        busy = np.clip(self._h_overhead + 100.0 * used_cores / self._h_vcpus + 1.5 * st.z_host, 0.5, NORMAL_CPU_CEILING)
        # An episode is a runaway workload that saturates its whole host (a hot spot the
        # scheduler packed together), so VM and hypervisor alarms fire in the same window.
        hot = np.zeros(h_count)
        np.maximum.at(hot, self._host_of[active], cpu[active])
        busy = np.where(hot > 0, np.maximum(busy, np.clip(hot - host_hot_drop, 90.5, 100.0)), busy)
        user = np.round(busy * self._h_user_share, 1)
        system = np.round(busy * self._h_system_share, 1)
        wait = np.round(np.maximum(busy - user - system, 0.0), 1)
        idle = np.round(np.maximum(100.0 - user - system - wait, 0.0), 1)
        percent = np.round(100.0 - idle, 1)

        target_load = busy / 100.0 * self._h_vcpus * host_noise[0]
        if st.load is None:
            st.load = target_load
        else:
            st.load = st.load + (-math.expm1(-dt / 60.0)) * (target_load - st.load)

        resident = per_host(self._ram * (0.35 + 0.6 * mem_used))
        used_mb = self._h_mem_reserved + resident + 0.01 * self._h_mem * st.z_host
        usable_mb = np.clip(self._h_mem - used_mb, 0.0, self._h_mem)
        usable_perc = 100.0 * usable_mb / self._h_mem

        # Sawtooth in absolute time: disks fill slowly, a cleanup drops them back. Being a
        # function of the timestamp alone, it is continuous between backfill and live data.
        span = self._disk_high - self._disk_low
        disk = self._disk_low + (self._disk_phase + self._disk_rate * t / 86_400.0) % span

        h_read_kb = per_host(read_bytes) / 1024.0 + self._h_io_base * host_noise[1]
        h_write_kb = per_host(write_bytes) / 1024.0 + self._h_io_base * 1.5 * host_noise[2]
        h_net_in = 1.04 * per_host(net_in) + self._h_net_base * host_noise[3]
        h_net_out = 1.04 * per_host(net_out) + self._h_net_base * host_noise[3]

        blocks = (
            idle, user, system, wait, percent, st.load, self._h_mem, usable_mb, usable_perc, disk,
            h_read_kb, h_write_kb, h_net_in, h_net_out,
            cpu, 100.0 * (1.0 - mem_used), read_ops, write_ops, read_bytes, write_bytes, net_in, net_out, alive,
            cpu, alive,
        )  # fmt: skip
        return np.concatenate([np.round(b, d) for b, d in zip(blocks, self._decimals, strict=True)])

    def step(self, timestamp_ms: int) -> list[dict]:
        """Monasca metric objects for ``timestamp_ms``, aligned with :attr:`series`.

        Convenient for inspection; the push loop uses :meth:`advance` and pre-encoded JSON.
        """
        values = self.advance(timestamp_ms).tolist()
        ts = int(timestamp_ms)
        return [
            {"name": s.name, "dimensions": dict(s.dimensions), "timestamp": ts, "value": v, "value_meta": None}
            for s, v in zip(self.series, values)
        ]
