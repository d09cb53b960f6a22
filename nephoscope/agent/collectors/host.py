"""The host: cpu, memory, swap, disk space and I/O, network, load, processes (psutil).

Names follow monasca-agent's system plugins, so existing dashboards and alarm definitions keep
working. Running totals (bytes, operations, packets) are emitted as counters: the aggregator
turns them into per-second rates, hence the ``_sec`` names.
"""

from __future__ import annotations

import os

import psutil

from nephoscope.agent.samples import Sample


class HostCollector:
    name = "host"

    def __init__(self, ignore_filesystems: list[str] | tuple[str, ...] = ()) -> None:
        self.ignore_filesystems = set(ignore_filesystems)
        self.prime()

    def prime(self) -> None:
        """Set the base the next CPU shares are measured from (psutil compares with the previous call)."""
        psutil.cpu_times_percent(interval=None)

    def collect(self) -> list[Sample]:
        return [*self._cpu(), *self._memory(), *self._disks(), *self._network(), *self._load(), *self._processes()]

    def _cpu(self) -> list[Sample]:
        times = psutil.cpu_times_percent(interval=None)
        idle = times.idle
        samples = [Sample("cpu.idle_perc", idle), Sample("cpu.user_perc", times.user + getattr(times, "nice", 0.0)),
                   Sample("cpu.system_perc", times.system), Sample("cpu.percent", 100.0 - idle)]
        if hasattr(times, "iowait"):
            samples.append(Sample("cpu.wait_perc", times.iowait))
        if hasattr(times, "steal"):
            samples.append(Sample("cpu.stolen_perc", times.steal))
        return samples

    def _memory(self) -> list[Sample]:
        memory, swap = psutil.virtual_memory(), psutil.swap_memory()
        mb = 1024 * 1024
        samples = [Sample("mem.total_mb", memory.total / mb), Sample("mem.usable_mb", memory.available / mb),
                   Sample("mem.usable_perc", memory.available / memory.total * 100 if memory.total else 0.0),
                   Sample("mem.used_mb", (memory.total - memory.available) / mb),
                   Sample("mem.swap_total_mb", swap.total / mb), Sample("mem.swap_used_mb", swap.used / mb)]
        if swap.total:
            samples.append(Sample("mem.swap_free_perc", swap.free / swap.total * 100))
        return samples

    def _disks(self) -> list[Sample]:
        samples = []
        seen = set()
        for partition in psutil.disk_partitions(all=False):
            if partition.fstype in self.ignore_filesystems or partition.device in seen:
                continue
            seen.add(partition.device)
            try:
                usage = psutil.disk_usage(partition.mountpoint)
            except OSError:  # a mount that went away or is not readable
                continue
            dimensions = {"device": os.path.basename(partition.device) or partition.device,
                          "mount_point": partition.mountpoint}
            samples += [Sample("disk.space_used_perc", usage.percent, dimensions),
                        Sample("disk.total_space_mb", usage.total / 1024 / 1024, dimensions),
                        Sample("disk.total_used_space_mb", usage.used / 1024 / 1024, dimensions)]
        for device, counters in (psutil.disk_io_counters(perdisk=True) or {}).items():
            if device.startswith(("loop", "ram")):
                continue
            dimensions = {"device": device}
            samples += [Sample("io.read_kbytes_sec", counters.read_bytes / 1024, dimensions, "counter"),
                        Sample("io.write_kbytes_sec", counters.write_bytes / 1024, dimensions, "counter"),
                        Sample("io.read_req_sec", counters.read_count, dimensions, "counter"),
                        Sample("io.write_req_sec", counters.write_count, dimensions, "counter")]
        return samples

    def _network(self) -> list[Sample]:
        samples = []
        for device, counters in psutil.net_io_counters(pernic=True).items():
            if device == "lo":
                continue
            dimensions = {"device": device}
            samples += [Sample("net.in_bytes_sec", counters.bytes_recv, dimensions, "counter"),
                        Sample("net.out_bytes_sec", counters.bytes_sent, dimensions, "counter"),
                        Sample("net.in_packets_sec", counters.packets_recv, dimensions, "counter"),
                        Sample("net.out_packets_sec", counters.packets_sent, dimensions, "counter"),
                        Sample("net.in_errors_sec", counters.errin, dimensions, "counter"),
                        Sample("net.out_errors_sec", counters.errout, dimensions, "counter"),
                        Sample("net.in_packets_dropped_sec", counters.dropin, dimensions, "counter"),
                        Sample("net.out_packets_dropped_sec", counters.dropout, dimensions, "counter")]
        return samples

    def _load(self) -> list[Sample]:
        one, five, fifteen = os.getloadavg()
        cpus = psutil.cpu_count() or 1
        return [Sample("load.avg_1_min", one), Sample("load.avg_5_min", five), Sample("load.avg_15_min", fifteen),
                Sample("load.avg_1_min_per_cpu", one / cpus)]

    def _processes(self) -> list[Sample]:
        # /proc/loadavg's fourth field is running/total scheduling entities: no per-process scan needed.
        try:
            with open("/proc/loadavg") as handle:
                running, total = handle.read().split()[3].split("/")
            return [Sample("proc.total_count", float(total)), Sample("proc.running_count", float(running))]
        except (OSError, ValueError, IndexError):
            return [Sample("proc.total_count", float(len(psutil.pids())))]
