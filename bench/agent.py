"""The edge agent's cost on the host, and its bytes on the wire.

* cost - ``nephoscope agent`` runs as its own process for ``--seconds`` (default 180), sampling
  this host (psutil) and ``--domains`` instances through libvirt's test driver (a fake
  hypervisor defined in a file: Nova metadata, a disk, a port and a balloon each) every 10 s,
  pushing to a real server. Its CPU (share of one core) and RSS are sampled by psutil.
  Targets: CPU <= 1 % of a core and RSS <= 60 MB while collecting ~500 series every 10 s.
* wire - the same collectors, six collections per one-minute window (time simulated), encoded
  as the agent sends them (native summaries, msgpack + zstd) and as monasca-agent would post
  the same raw samples to ``/v2.0/metrics`` (JSON, one measurement per sample, uncompressed,
  and gzip for reference): bytes per sample, and the ratio.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import psutil  # noqa: E402
from common import Report, log  # noqa: E402

NOVA = "http://openstack.org/xmlns/libvirt/nova/1.1"


def parse_args(argv=None):
    ap = common.make_parser(__doc__, epilog="examples:\n  .venv/bin/python bench/agent.py\n"
                            "  .venv/bin/python bench/agent.py --seconds 600 --domains 60\n")
    common.add_common_args(ap, systems="nephoscope")
    ap.add_argument("--seconds", type=float, default=180.0, help="how long the agent process is measured")
    ap.add_argument("--domains", type=int, default=20, help="fake instances on the libvirt test driver")
    ap.add_argument("--interval", type=float, default=10.0, help="agent sampling interval (s)")
    return ap.parse_args(argv)


def host_xml(domains: int) -> str:
    parts = ["<node>"]
    for index in range(domains):
        uuid = f"00000000-0000-4000-8000-{index:012d}"
        parts.append(f"""<domain type='test'><name>instance-{index:08x}</name><uuid>{uuid}</uuid>
  <metadata><nova:instance xmlns:nova="{NOVA}"><nova:name>vm-{index}</nova:name>
    <nova:flavor name="m1.small"/><nova:owner><nova:user uuid="u{index % 7:031d}">u</nova:user>
    <nova:project uuid="p{index % 5:031d}">p</nova:project></nova:owner></nova:instance></metadata>
  <memory unit='KiB'>2097152</memory><currentMemory unit='KiB'>1048576</currentMemory><vcpu>2</vcpu>
  <os><type>hvm</type></os>
  <devices><disk type='file' device='disk'><source file='/var/lib/nova/{index}/disk'/>
    <target dev='vda' bus='virtio'/></disk>
    <interface type='bridge'><source bridge='br-int'/><target dev='tap{index:08x}-00'/></interface>
    <memballoon model='virtio'/></devices></domain>""")
    parts.append("</node>")
    return "\n".join(parts)


def write_config(work: Path, url: str, token: str, domains: int, interval: float) -> Path:
    (work / "host.xml").write_text(host_xml(domains))
    config = work / "agent.toml"
    config.write_text(f"""[agent]
interval = {interval}
window = 60.0
spool_dir = "{work / 'spool'}"
dimensions = {{ region = "RegionOne" }}
[push]
url = "{url}"
token = "{token}"
[libvirt]
enabled = "true"
uri = "test://{work / 'host.xml'}"
""")
    return config


def wire(rep: Report, config_path: Path) -> int:
    """Bytes per sample, native summaries vs raw Monasca JSON; returns the series count."""
    from nephoscope.agent.config import load_agent_config
    from nephoscope.agent.runner import Agent

    config = load_agent_config(config_path, {})
    agent = Agent(config)
    start = (time.time() // 60) * 60 - 120
    raw_metrics = []
    for step in range(7):  # a base reading for the counters, then six samples in one window
        samples = agent.collect_once()
        at = start + 5 + step * 10 - (10 if step == 0 else 0)
        agent.aggregator.add(samples, at)
        if step:
            raw_metrics += [{"name": s.name, "dimensions": dict(s.dimensions), "timestamp": int(at * 1000),
                             "value": s.value} for s in samples]
    summaries = [s for s in agent.aggregator.flush() if s.timestamp_ms == int(start * 1000)]
    native = agent.encode(summaries)
    monasca = json.dumps(raw_metrics).encode()
    samples = len(raw_metrics)
    series = len(summaries)
    rep.add("wire.series", series, "series", note="host + libvirt test driver instances")
    rep.add("wire.samples_per_window", samples, "samples")
    rep.add("wire.native_bytes_per_sample", len(native.body) / samples, "B",
            note="summary points, msgpack + zstd, incl. the series table")
    rep.add("wire.monasca_raw_bytes_per_sample", len(monasca) / samples, "B", note="JSON as monasca-agent posts it")
    rep.add("wire.monasca_raw_gzip_bytes_per_sample", len(gzip.compress(monasca)) / samples, "B")
    rep.add("wire.reduction", len(monasca) / len(native.body), "x", note="raw Monasca JSON / native summaries")
    return series


def cost(rep: Report, args, config_path: Path, work: Path) -> None:
    python = common.default_python()
    log(f"running the agent for {args.seconds:.0f} s")
    process = subprocess.Popen([python, "-m", "nephoscope", "agent", "--config", str(config_path)],
                               stdout=open(work / "agent.log", "wb"), stderr=subprocess.STDOUT, cwd=common.REPO_DIR)
    try:
        watched = psutil.Process(process.pid)
        time.sleep(min(30.0, args.seconds / 4))  # imports and the first collections are a one-off
        cpu_start = sum(watched.cpu_times()[:2])
        wall_start = time.monotonic()
        peak = 0
        with common.progress() as bar:
            task = bar.add_task("agent running", total=args.seconds, info="")
            while time.monotonic() - wall_start < args.seconds:
                time.sleep(1.0)
                rss = watched.memory_info().rss
                peak = max(peak, rss)
                bar.update(task, completed=time.monotonic() - wall_start, info=f"RSS {rss / 2**20:.1f} MB")
        cpu = sum(watched.cpu_times()[:2]) - cpu_start
        wall = time.monotonic() - wall_start
    finally:
        process.terminate()
        process.wait(30)
    rep.add("cost.cpu_percent_of_one_core", cpu / wall * 100, "%", target=1.0, op="<=")
    rep.add("cost.rss_peak_mb", peak / 2**20, "MB", target=60.0, op="<=")
    spooled = list((work / "spool" / "metrics").glob("*.batch"))
    rep.add("cost.batches_left_in_spool", len(spooled), "batches", note="0: everything acknowledged")


def main(argv=None) -> int:
    args = parse_args(argv)
    rep = Report("agent", common.params_of(args))
    with tempfile.TemporaryDirectory(prefix="bench-agent-") as directory:
        work = Path(directory)
        with common.nephoscope_session(rep, args) as server:
            config_path = write_config(work, server.url, args.token, args.domains, args.interval)
            try:
                wire(rep, config_path)
                cost(rep, args, config_path, work)
                stored = server_series(server)
                rep.add("cost.series_on_server", stored, "series", note="what the agent's pushes created")
            except Exception as error:  # noqa: BLE001 - reported, not raised
                rep.error("agent", error)
    return rep.finish(write=not args.no_write, results_dir=args.results_dir, strict=args.strict)


def server_series(server) -> int:
    import httpx

    with httpx.Client(base_url=server.url, headers=server.headers, timeout=30) as client:
        elements, offset = [], None
        while True:
            params = {"limit": 10000, **({"offset": offset} if offset else {})}
            page = client.get("/v2.0/metrics", params=params).json()
            elements += [e for e in page["elements"] if e["dimensions"].get("region") == "RegionOne"]
            following = [link for link in page["links"] if link["rel"] == "next"]
            if not following or not page["elements"]:
                return len(elements)
            offset = page["elements"][-1]["id"]


if __name__ == "__main__":
    sys.exit(main())
