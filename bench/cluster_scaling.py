"""Ingest with one and with two cluster ingesters, each held to the same CPU quota.

This machine has two cores, so "twice the machines" is shown as twice the quota-bound processes:
each ingester (`nephoscope serve --role ingester`) runs in a cgroup of its own limited to ``--cpu``
cores (cgroup v1 ``cpu.cfs_quota_us``, or ``cpu.max`` on cgroup v2), while JetStream (three nodes)
and SeaweedFS run unrestricted. For each count the ingesters start on an empty stream and share its
partitions; they are then stopped (SIGSTOP), the stream is filled with ``--points`` samples (native
batches of ``--batch`` points, ``--series`` series sampled every ``--step`` seconds up to now, as
API nodes publish them), and they are continued (SIGCONT): the time until every sample is applied (the ingesters'
``/v1/admin/storage``) and then flushed into S3 blocks (``POST /v1/admin/compact`` on each, at once)
gives points/s.
Goal: two ingesters ≥ 1.8 × one.

Needs root (a cgroup is created per ingester under the cpu controller).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402
from common import Report, log  # noqa: E402

from nephoscope.config import ClusterSettings  # noqa: E402
from nephoscope.metrics.series import IngestBatch, PointBatch, ValueMeta, define_series  # noqa: E402
from nephoscope.metrics.store.cluster.log import MetricLog  # noqa: E402
from nephoscope.metrics.store.cluster.partitions import split  # noqa: E402
from tests.conftest import ADMIN_TOKEN, free_port, wait_until_serving  # noqa: E402
from tests.support.cluster import NatsCluster, SeaweedS3  # noqa: E402
from tests.support.cluster_nodes import cluster_env, owned_partitions  # noqa: E402

GOAL = 1.8
LEASE_SECONDS = 20.0
"""Long enough for the ingesters to sit stopped while the stream fills."""
CGROUP_V1 = Path("/sys/fs/cgroup/cpu")
CPUACCT_V1 = Path("/sys/fs/cgroup/cpuacct")
CGROUP_V2 = Path("/sys/fs/cgroup")


def parse_args(argv=None):
    ap = common.make_parser(__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=2_000_000, help="samples in the stream per run")
    ap.add_argument("--batch", type=int, default=1000, help="samples per published batch")
    ap.add_argument("--series", type=int, default=4000, help="distinct series")
    ap.add_argument("--cpu", type=float, default=0.5, help="cores each ingester may use (its cgroup's quota)")
    ap.add_argument("--partitions", type=int, default=8, help="[cluster] partitions")
    ap.add_argument("--counts", default="1,2", help="ingester counts to run, in order")
    ap.add_argument("--step", type=int, default=10, help="seconds between a series' samples (an agent's interval)")
    ap.add_argument("--flush-interval", type=float, default=10.0, help="[cluster] flush_interval (the default's)")
    return ap.parse_args(argv)


class CpuGroup:
    """A cgroup limited to ``cores`` of CPU (v1 cpu controller, or v2 cpu.max)."""

    def __init__(self, name: str, cores: float) -> None:
        period = 100_000
        self.accounting: Path | None = None
        if (CGROUP_V1 / "cpu.cfs_quota_us").exists():
            if (CPUACCT_V1 / "cpuacct.usage").exists():  # a controller of its own here: CPU used
                self.accounting = CPUACCT_V1 / name
                self.accounting.mkdir(exist_ok=True)
            self.path = CGROUP_V1 / name
            self.path.mkdir(exist_ok=True)
            (self.path / "cpu.cfs_period_us").write_text(str(period))
            (self.path / "cpu.cfs_quota_us").write_text(str(int(cores * period)))
        else:
            self.path = CGROUP_V2 / name
            self.path.mkdir(exist_ok=True)
            (self.path / "cpu.max").write_text(f"{int(cores * period)} {period}")

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))
        if self.accounting is not None:
            (self.accounting / "cgroup.procs").write_text(str(pid))

    def usage_seconds(self) -> float:
        for path in (self.accounting, self.path):
            if path is not None and (path / "cpuacct.usage").exists():
                return int((path / "cpuacct.usage").read_text()) / 1e9
        stat = self.path / "cpu.stat"
        if stat.exists():
            fields = dict(line.split() for line in stat.read_text().splitlines())
            if "usage_usec" in fields:
                return int(fields["usage_usec"]) / 1e6
        return float("nan")

    def remove(self) -> None:
        for path in (self.path, self.accounting):
            try:
                if path is not None:
                    path.rmdir()
            except OSError:
                pass


class Ingester:
    def __init__(self, root: Path, env: dict[str, str], group: CpuGroup) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        data = root / f"ingester-{self.port}"
        data.mkdir(parents=True)
        self.log_path = data / "server.log"
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "nephoscope", "serve", "--role", "ingester", "--data-dir", str(data / "data"),
                 "--port", str(self.port)], cwd=common.REPO_DIR, stdout=out, stderr=subprocess.STDOUT,
                env={**os.environ, **env, "NEPHOSCOPE_ADMIN_TOKEN": ADMIN_TOKEN, "PYTHONUNBUFFERED": "1"})
        group.add(self.process.pid)  # before it does anything: its whole life under the quota

    def wait(self) -> None:
        wait_until_serving(self.process, self.url + "/healthz", 180, "ingester",
                           lambda: self.log_path.read_text(errors="replace")[-3000:])

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-Auth-Token": ADMIN_TOKEN}, timeout=30)

    def storage(self) -> dict:
        with self.client() as client:
            return client.get("/v1/admin/storage").json()

    def flush(self) -> None:
        with self.client() as client:
            response = client.post("/v1/admin/compact", timeout=600)
            response.raise_for_status()

    def signal(self, number: int) -> None:
        os.kill(self.process.pid, number)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def _together(coroutines: list) -> list:
    return await asyncio.gather(*coroutines)


def fill(settings: ClusterSettings, points: int, batch: int, series: int, args_step_ms: int) -> float:
    """Publish the samples; seconds it took."""
    definitions = [define_series("bench", "scale.value", {"hostname": f"host-{i:05d}"}) for i in range(series)]
    ids = np.array([d.id for d in definitions], np.int64)
    batches = points // batch
    rounds = max(1, points // series)
    step = args_step_ms
    start = (int(time.time() * 1000) - rounds * step - 600_000) // 1000 * 1000
    stream = MetricLog(settings)
    stream.open()
    started = time.perf_counter()
    try:
        pending = []
        for k in range(batches):
            first = (k * batch) % series
            chosen = ids[first:first + batch]
            timestamp = start + ((k * batch) // series) * step
            batch_ = IngestBatch(definitions[first:first + batch] if k * batch < series else [],
                                 PointBatch(chosen, np.full(len(chosen), timestamp, np.int64),
                                            value=np.random.default_rng(k).random(len(chosen))), ValueMeta(), "bench")
            pending.append(stream.publish(split(batch_, settings.partitions)))
            if len(pending) == 32 or k == batches - 1:
                stream.call(_together(pending))
                pending = []
    finally:
        stream.close()
    return time.perf_counter() - started


def run(count: int, args, nats: NatsCluster, s3: SeaweedS3, root: Path) -> dict:
    name = f"scale{count}x{os.getpid()}{time.time_ns() % 10**6}"
    env = cluster_env(nats, s3, name, LEASE_SECONDS, args.partitions)
    env.update({"NEPHOSCOPE_CLUSTER_FLUSH_INTERVAL": str(args.flush_interval),
                "NEPHOSCOPE_CLUSTER_STREAM_MAX_BYTES": str(2 * 2**30)})
    settings = ClusterSettings(servers=nats.urls, stream=env["NEPHOSCOPE_CLUSTER_STREAM"],
                               subject_prefix=env["NEPHOSCOPE_CLUSTER_SUBJECT_PREFIX"], partitions=args.partitions,
                               stream_max_bytes=2 * 2**30, s3_endpoint=s3.endpoint)
    groups = [CpuGroup(f"nephoscope-bench-{name}-{i}", args.cpu) for i in range(count)]
    ingesters = [Ingester(root / name, env, group) for group in groups]
    try:
        for ingester in ingesters:
            ingester.wait()
        deadline = time.monotonic() + 120
        while sum(len(owned_partitions(i)) for i in ingesters) != args.partitions or \
                not all(owned_partitions(i) for i in ingesters):
            if time.monotonic() > deadline:
                raise TimeoutError("the ingesters did not share the partitions")
            time.sleep(0.5)
        # A partition gained less than a lease ago is not flushed: let the lease pass first.
        time.sleep(LEASE_SECONDS)
        for ingester in ingesters:
            ingester.signal(signal.SIGSTOP)
        filled = fill(settings, args.points, args.batch, args.series, args.step * 1000)
        total = (args.points // args.batch) * args.batch
        log(f"{count} ingester(s): stream filled with {total:,} samples in {filled:.1f}s; continuing them")
        cpu_before = [g.usage_seconds() for g in groups]
        started = time.monotonic()
        for ingester in ingesters:
            ingester.signal(signal.SIGCONT)
        while sum(i.storage().get("points_applied", 0) for i in ingesters) < total:
            if time.monotonic() - started > 1800:
                raise TimeoutError("the samples were not applied within 30 min")
            time.sleep(0.2)
        applied = time.monotonic() - started
        # Then what the heads hold into blocks at once (POST /v1/admin/compact: flush now), rather
        # than waiting for the next flush tick: the figure is the work, not the timer.
        with ThreadPoolExecutor(len(ingesters)) as pool:
            list(pool.map(lambda i: i.flush(), ingesters))
        assert sum(i.storage().get("head_points", 0) for i in ingesters) == 0
        seconds = time.monotonic() - started
        cpu = sum(g.usage_seconds() - before for g, before in zip(groups, cpu_before))
        result = {"ingesters": count, "samples": total, "seconds": round(seconds, 2),
                  "applied_seconds": round(applied, 2),
                  "samples_per_s": round(total / seconds), "ingester_cpu_s": round(cpu, 1),
                  "fill_seconds": round(filled, 1)}
        log(f"{count} ingester(s): {result}")
        return result
    finally:
        for ingester in ingesters:
            ingester.stop()
        for group in groups:
            group.remove()


def main(argv=None) -> int:
    args = parse_args(argv)
    report = Report("cluster_scaling", vars(args))
    with tempfile.TemporaryDirectory(prefix="nephoscope-scaling-") as tmp:
        root = Path(tmp)
        nats = NatsCluster(root / "nats").start()
        s3 = SeaweedS3(root / "s3").start()
        try:
            results = {}
            for count in [int(c) for c in args.counts.split(",")]:
                results[count] = run(count, args, nats, s3, root)
                report.add(f"ingest_{count}_ingesters", results[count]["samples_per_s"], "samples/s",
                           note=f"{args.cpu:g} core each")
            report.detail("runs", list(results.values()))
            if 1 in results and 2 in results:
                report.add("scaling_2_over_1", round(results[2]["samples_per_s"] / results[1]["samples_per_s"], 2),
                           "x", target=GOAL, op=">=")
        except Exception as error:  # noqa: BLE001 - reported
            report.error("scaling", error)
        finally:
            s3.stop()
            nats.stop()
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
