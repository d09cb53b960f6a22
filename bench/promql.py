"""PromQL ``query_range`` latency of a Grafana-like dashboard: nephoscope vs Prometheus on the same data.

A day of samples (``--interval`` apart, ending a few minutes ago) is generated once, with NumPy,
for node-exporter-like hosts (``node_cpu_seconds_total`` per cpu and mode, memory, load, network
and filesystem gauges and counters, a request-latency classic histogram) and Ceilometer-like
instances (``ceilometer_cpu`` counters, ``ceilometer_memory_usage`` gauges, in projects and server
groups). Debian's Prometheus gets them as TSDB blocks (``promtool tsdb create-blocks-from
openmetrics``); nephoscope through its native API, then compacted as a day of data would be.

A dashboard load is ten panels (rate, sum by, avg_over_time, histogram_quantile, topk, quantile,
ratios of two selectors, ...), each a ``query_range`` over the last 24 h at Grafana's step for a
day on a full-width panel (``--step``), sent ``--concurrency`` at a time as Grafana does. Loads
alternate between the two systems (ABBA), so both see the same state of this shared machine; the
p50 of the dashboard's wall time per system and their ratio are printed. Before timing, every
panel's answer is compared point by point (relative 1e-6) between the two. ``--profile`` records
the nephoscope server with py-spy during its loads and lists where its time goes.

Goal: nephoscope p50 <= 1.0 x Prometheus p50.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections import Counter
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402
import orjson  # noqa: E402
from common import Report, log, pct  # noqa: E402

from tests.support.prometheus import Prometheus, backfill, differences  # noqa: E402

TARGET_RATIO = 1.0
DAY_S = 86_400

PANELS = {
    "cpu by mode": "sum by (mode) (rate(node_cpu_seconds_total[5m]))",
    "cpu busy % per host": "100 - avg by (instance) (rate(node_cpu_seconds_total{mode=\"idle\"}[5m])) * 100",
    "memory available %": "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes * 100",
    "network in per host": "sum by (instance) (rate(node_network_receive_bytes_total[5m]))",
    "load (5m average)": "avg_over_time(node_load1[5m])",
    "request latency p95": "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    "top 5 instances cpu": "topk(5, rate(ceilometer_cpu[5m]))",
    "memory per project": "sum by (project) (ceilometer_memory_usage)",
    "filesystem free min": "min by (instance) (node_filesystem_avail_bytes)",
    "instance cpu p90 per group": "quantile by (server_group) (0.9, rate(ceilometer_cpu[5m]) / 1e9 * 100)",
}


def parse_args(argv=None):
    ap = common.make_parser(
        __doc__,
        epilog="examples:\n"
        "  .venv/bin/python bench/promql.py\n"
        "  .venv/bin/python bench/promql.py --step 300 --loads 10\n"
        "  .venv/bin/python bench/promql.py --profile\n",
    )
    ap.add_argument("--hosts", type=int, default=50, help="node-exporter-like hosts (29 series each)")
    ap.add_argument("--instances", type=int, default=500, help="Ceilometer-like instances (2 series each)")
    ap.add_argument("--interval", type=int, default=60, help="seconds between samples (scrape interval)")
    ap.add_argument("--step", type=float, default=60.0, help="query_range step in seconds (Grafana's for 24 h)")
    ap.add_argument("--hours", type=float, default=24.0, help="dashboard time range")
    ap.add_argument("--loads", type=int, default=8, help="timed dashboard loads per system")
    ap.add_argument("--warmup", type=int, default=2, help="untimed loads per system first (the first one compared)")
    ap.add_argument("--concurrency", type=int, default=6, help="panels in flight at once (a browser's 6)")
    ap.add_argument("--profile", action="store_true", help="py-spy the nephoscope server during its loads")
    common.add_common_args(ap, systems="nephoscope,prometheus")
    return ap.parse_args(argv)


# -- the data ---------------------------------------------------------------------------------------
@dataclass
class Data:
    start_s: int
    interval: int
    points: int
    series: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)

    @property
    def times_s(self) -> np.ndarray:
        return self.start_s + np.arange(self.points, dtype=np.int64) * self.interval

    @property
    def end_s(self) -> int:
        return self.start_s + (self.points - 1) * self.interval

    @property
    def samples(self) -> int:
        return len(self.series) * self.points

    def add(self, name: str, labels: dict[str, str], values: np.ndarray) -> None:
        self.series.append((name, labels))
        self.values.append(np.asarray(values, np.float64))


def generate(hosts: int, instances: int, interval: int, end_s: int, seed: int = 20) -> Data:
    """Node-exporter-like and Ceilometer-like series over the day before ``end_s``, with diurnal
    load, noise and counter increments (values rounded as exporters print them)."""
    rng = np.random.default_rng(seed)
    points = (DAY_S - 15 * 60) // interval  # inside a 24 h raw retention while the bench runs
    data = Data(end_s - (points - 1) * interval, interval, points)
    hour = (data.times_s % DAY_S) / 3600.0
    diurnal = 0.5 + 0.4 * np.sin((hour - 9) / 24 * 2 * np.pi)

    def counter(rate: np.ndarray) -> np.ndarray:
        return np.round(np.cumsum(np.maximum(rate, 0) * interval), 3)

    for h in range(hosts):
        instance, fqdn = f"10.0.{h // 250}.{h % 250}:9100", f"compute-{h:04d}.example.com"
        base = {"job": "node", "instance": instance, "fqdn": fqdn}
        busy = np.clip(diurnal * rng.uniform(0.3, 1.2) + rng.normal(0, 0.05, points), 0.01, 0.97)
        for cpu in range(4):
            for mode, share in (("idle", 1 - busy), ("user", busy * 0.7), ("system", busy * 0.25),
                                ("iowait", busy * 0.05)):
                data.add("node_cpu_seconds_total", {**base, "cpu": str(cpu), "mode": mode},
                         counter(share * rng.uniform(0.9, 1.1, points)))
        total = float(2 ** rng.integers(34, 38))
        data.add("node_memory_MemTotal_bytes", base, np.full(points, total))
        data.add("node_memory_MemAvailable_bytes", base,
                 np.round(total * np.clip(0.7 - 0.4 * busy + rng.normal(0, 0.02, points), 0.05, 0.95) / 4096) * 4096)
        data.add("node_load1", base, np.round(busy * 8 + rng.exponential(0.3, points), 2))
        for device in ("eth0", "eth1"):
            data.add("node_network_receive_bytes_total", {**base, "device": device},
                     counter(diurnal * rng.uniform(1e5, 5e6) * rng.lognormal(0, 0.2, points)).round())
        data.add("node_filesystem_avail_bytes", {**base, "device": "/dev/vda1", "mountpoint": "/"},
                 np.round((5e10 - np.cumsum(rng.exponential(1e5, points))) / 4096) * 4096)
        observations = rng.exponential(0.2 + 0.3 * diurnal[:, None], (points, 20))
        for le in ("0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"):
            seen = np.cumsum((observations <= float(le)).sum(axis=1)).astype(np.float64)
            data.add("http_request_duration_seconds_bucket", {"job": "api", "instance": instance, "le": le}, seen)
    for i in range(instances):
        labels = {"resource": f"vm-{i:05d}", "project": f"project-{i % 20:02d}", "server_group": f"sg-{i % 8}"}
        vcpus = float(rng.choice([1, 2, 4, 8]))
        use = np.clip(diurnal * rng.uniform(0.1, 0.9) + rng.normal(0, 0.05, points), 0, 1)
        data.add("ceilometer_cpu", labels, counter(use * vcpus * 1e9).round())
        data.add("ceilometer_memory_usage", labels,
                 np.round(512 * vcpus * np.clip(0.5 + 0.3 * use + rng.normal(0, 0.02, points), 0.1, 1)))
    return data


def openmetrics(data: Data) -> str:
    """The samples as OpenMetrics text for promtool (values printed exactly: Python's repr round-trips)."""
    stamps = [str(t) for t in data.times_s.tolist()]
    lines = []
    for (name, labels), values in zip(data.series, data.values):
        selector = name + "{" + ",".join(f'{key}="{value}"' for key, value in sorted(labels.items())) + "} "
        lines.extend(selector + repr(v) + " " + t for v, t in zip(values.tolist(), stamps))
    return "\n".join(lines) + "\n# EOF\n"


def native_bodies(data: Data, per_request: int = 40):
    """``POST /v1/points`` JSON bodies (the native columnar form) of ``per_request`` series each."""
    stamps = data.times_s * 1000
    for first in range(0, len(data.series), per_request):
        chunk = range(first, min(first + per_request, len(data.series)))
        body = {"series": [{"name": data.series[i][0], "dimensions": data.series[i][1]} for i in chunk],
                "series_index": np.repeat(np.arange(len(chunk)), data.points),
                "timestamp": np.tile(stamps, len(chunk)),
                "value": np.concatenate([data.values[i] for i in chunk])}
        yield orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), len(chunk) * data.points


# -- the dashboard -----------------------------------------------------------------------------------
class Dashboard:
    """The ten panels of one system, loaded ``concurrency`` at a time on kept-alive connections."""

    def __init__(self, url: str, headers: dict, window: dict, concurrency: int) -> None:
        self.client = httpx.Client(base_url=url, headers=headers, timeout=300,
                                   limits=httpx.Limits(max_connections=concurrency))
        self.window = window
        self.pool = ThreadPoolExecutor(concurrency)

    def panel(self, query: str) -> dict:
        # Grafana posts its panels as forms.
        response = self.client.post("/api/v1/query_range", data={"query": query, **self.window})
        if response.status_code != 200:
            raise RuntimeError(f"{query}: {response.status_code} {response.text[:300]}")
        return response.json()

    def load(self) -> tuple[float, list[dict]]:
        started = time.perf_counter()
        answers = list(self.pool.map(self.panel, PANELS.values()))
        return (time.perf_counter() - started) * 1000, answers

    def close(self) -> None:
        self.pool.shutdown()
        self.client.close()


def compare(reference: list[dict], ours: list[dict]) -> tuple[int, list[str]]:
    """Points compared and the differences (Prometheus's answers first)."""
    problems, points = [], 0
    for (title, query), expected, actual in zip(PANELS.items(), reference, ours):
        points += sum(len(item["values"]) for item in expected["data"]["result"])
        problems += differences(f"{title}: {query}", expected, actual)
    return points, problems


def profile(pid: int, work_dir: str, rep: Report) -> subprocess.Popen | None:
    spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    if not os.path.exists(spy):
        rep.error("profile", "py-spy is not installed (pip install py-spy)")
        return None
    handle, out = tempfile.mkstemp(prefix="promql-", suffix=".txt", dir=work_dir)
    os.close(handle)
    rep.detail("profile_file", out)
    # Not --gil: NumPy's and DuckDB's work outside the GIL is the query's work too (idle threads are
    # left out, as py-spy does without --idle).
    return subprocess.Popen([spy, "record", "-p", str(pid), "-d", "3600", "-r", "100", "-f", "raw", "-o", out],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


_WAITING = ("threading.py", "queue.py", "selectors.py", "thread.py", "base_events.py", "runners.py")
"""Where an idle thread's stack ends (py-spy's own idle detection does not work in this container)."""


def summarize_profile(path: str, rep: Report, top: int = 20) -> None:
    """Self and inclusive (nephoscope functions) shares of the busy samples of py-spy's raw stacks."""
    own, inclusive, total = Counter(), Counter(), 0
    with open(path) as handle:
        for line in handle:
            stack, _, count = line.rstrip().rpartition(" ")
            frames = stack.split(";") if stack else []
            if not frames or frames[-1].rpartition("(")[2].split(":")[0].endswith(_WAITING):
                continue
            n = int(count)
            total += n
            own[frames[-1]] += n
            for frame in set(frames):
                if "nephoscope/" in frame:
                    inclusive[frame.split(" (")[0] + " " + frame.rpartition("/")[2]] += n
    if not total:
        rep.note("profile: no busy samples")
        return
    for title, counted in (("self", own), ("inclusive, nephoscope functions", inclusive)):
        rep.detail(f"profile_{title.split(',')[0]}", [(name, round(100 * n / total, 1))
                                                      for name, n in counted.most_common(top)])
        log(f"py-spy, share of the server's busy samples ({title}):")
        for name, n in counted.most_common(top):
            log(f"  {100 * n / total:5.1f}%  {name}")


def main(argv=None) -> int:
    args = parse_args(argv)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if set(systems) - {"nephoscope", "prometheus"}:
        raise SystemExit(f"unknown system(s): {set(systems) - {'nephoscope', 'prometheus'}}")
    rep = Report("promql", common.params_of(args))
    now_s = int(time.time()) // 60 * 60 - 120
    log("generating the data")
    data = generate(args.hosts, args.instances, args.interval, now_s)
    rep.add("series", len(data.series), "series", note=f"{args.hosts} hosts, {args.instances} instances")
    rep.add("samples", data.samples, "samples", note=f"{data.points} points per series, {args.interval} s apart")
    step = args.step
    end = data.end_s // int(step) * int(step) if step >= 1 else data.end_s
    window = {"start": str(end - int(args.hours * 3600)), "end": str(end), "step": f"{step:g}"}
    rep.detail("window", window)
    rep.detail("panels", PANELS)
    root = Path(tempfile.mkdtemp(prefix="bench-promql-", dir=args.work_dir))
    prometheus, dashboards = None, {}
    try:
        if "prometheus" in systems:
            log("backfilling Prometheus (promtool tsdb create-blocks-from openmetrics)")
            started = time.monotonic()
            backfill(openmetrics(data), root / "prometheus" / "data")
            rep.add("prometheus.backfill_s", time.monotonic() - started, "s")
            prometheus = Prometheus(root / "prometheus", scrape_interval="1m")
            prometheus.start()
            rep.detail("prometheus_version", prometheus.api("status/buildinfo")["version"])
            dashboards["prometheus"] = (Dashboard(prometheus.url, {}, window, args.concurrency),
                                        prometheus.process.pid)
        with common.nephoscope_session(rep, args) if "nephoscope" in systems else _nothing() as server:
            if server is not None:
                log("loading nephoscope (POST /v1/points) and compacting")
                stats = common.post_stream(server.url + "/v1/points", native_bodies(data), headers=server.headers,
                                           concurrency=2, total_samples=data.samples, label="nephoscope load")
                rep.add("nephoscope.load_samples_per_s", stats["samples_per_s"], "samples/s")
                rep.detail("nephoscope.compact", server.compact())
                dashboards["nephoscope"] = (Dashboard(server.url, server.headers, window, args.concurrency),
                                            server.pid)
            measure(args, rep, dashboards)
    finally:
        for dashboard, _ in dashboards.values():
            dashboard.close()
        if prometheus is not None:
            prometheus.stop()
        if not args.keep_data:
            shutil.rmtree(root, ignore_errors=True)
    return rep.finish(write=not args.no_write, results_dir=args.results_dir, strict=args.strict)


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def measure(args, rep: Report, dashboards: dict) -> None:
    first = {name: dashboard.load()[1] for name, (dashboard, _) in dashboards.items()}
    if len(first) == 2:
        points, problems = compare(first["prometheus"], first["nephoscope"])
        rep.add("answers.points_compared", points, "points")
        rep.add("answers.differences", len(problems), "", target=0, op="<=")
        for problem in problems[:10]:
            rep.note(problem)
    for _ in range(args.warmup - 1):
        for dashboard, _ in dashboards.values():
            dashboard.load()
    names = list(dashboards)
    spy = None
    if args.profile and "nephoscope" in dashboards and dashboards["nephoscope"][1]:
        spy = profile(dashboards["nephoscope"][1], args.work_dir, rep)
    times: dict[str, list[float]] = {name: [] for name in names}
    for index in range(args.loads):
        order = names if index % 2 == 0 else names[::-1]  # ABBA: neither system always goes first
        for name in order:
            elapsed, _ = dashboards[name][0].load()
            times[name].append(elapsed)
        log(f"load {index + 1}/{args.loads}: " + ", ".join(f"{n} {times[n][-1]:.0f} ms" for n in names))
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=120)
        summarize_profile(rep.details["profile_file"], rep, top=20)
    for name in names:
        rep.add(f"{name}.dashboard_p50", pct(times[name], 50), "ms", note=f"{len(PANELS)} panels, {args.loads} loads")
        rep.add(f"{name}.dashboard_min", min(times[name]), "ms")
        rep.add(f"{name}.dashboard_max", max(times[name]), "ms")
    if len(names) == 2:
        ratio = pct(times["nephoscope"], 50) / pct(times["prometheus"], 50)
        rep.add("ratio.nephoscope_vs_prometheus", ratio, "x", target=TARGET_RATIO, op="<=",
                note="dashboard p50, same data, loads alternating")
        per_panel = {}
        for title, query in PANELS.items():
            taken = {}
            for name in names:
                dashboard = dashboards[name][0]
                samples = []
                for _ in range(3):
                    started = time.perf_counter()
                    dashboard.panel(query)
                    samples.append((time.perf_counter() - started) * 1000)
                taken[name] = sorted(samples)[1]
            per_panel[title] = {**{n: round(t, 1) for n, t in taken.items()},
                                "ratio": round(taken["nephoscope"] / taken["prometheus"], 2)}
            log(f"  {title:28s} nephoscope {taken['nephoscope']:7.1f} ms  prometheus {taken['prometheus']:7.1f} ms")
        rep.detail("per_panel_median_of_3_ms", per_panel)


if __name__ == "__main__":
    sys.exit(main())
