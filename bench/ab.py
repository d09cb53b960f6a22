#!/usr/bin/env python3
"""Compare two source trees of nephoscope on the same minutes: interleaved A/B.

This host's speed drifts more than most code changes move a figure, so two runs one after the
other compare the host, not the code. Here both servers run at once, one from each tree, on
copies of the same data, and the work alternates between them in small blocks (ABBA order):
whatever the host does, it does to both. Two figures:

* ingest: server CPU (from /proc, user + system) per Monasca JSON sample, the same bodies posted
  to each in turn;
* query: wall latency of ``/v2.0/metrics/statistics`` (one series, and series merged), the same
  requests alternating, on a data dir made by ``bench/query.py --keep-data`` (``--query-data``).

    .venv/bin/python bench/ab.py --old /work/baseline --new . [--query-data DIR]

Prints a table and one JSON line. Nothing is written unless ``--output`` is given.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

TOKEN = "ab-admin-token"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Tree:
    """A server started from one source tree, on its own copy of the data."""

    def __init__(self, label: str, root: Path, data: Path) -> None:
        self.label, self.root, self.data = label, root, data
        self.port = common.free_port()
        self.process = None

    def start(self) -> None:
        import subprocess

        env = {**os.environ, "NEPHOSCOPE_ADMIN_TOKEN": TOKEN, "NEPHOSCOPE_TELEMETRY_ENABLED": "false",
               "PYTHONPATH": str(self.root)}
        self.process = subprocess.Popen([sys.executable, "-m", "nephoscope", "serve", "--data-dir", str(self.data),
                                         "--port", str(self.port)], cwd=self.root, env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.label} did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=60)


def _order(index: int, trees: list[Tree]) -> list[Tree]:
    return trees if index % 2 else list(reversed(trees))


def ingest(trees: list[Tree], rounds: int, bodies: int) -> dict:
    rng = random.Random(1)
    now = int(time.time() * 1000)
    payloads = [orjson.dumps([{"name": f"ab.metric{j % 8}", "timestamp": now - 600_000 + b * 1000,
                               "dimensions": {"hostname": f"host-{j:05d}", "service": "compute", "region": "r1"},
                               "value": round(rng.random() * 100, 2)} for j in range(1000)]) for b in range(bodies)]
    clients = {t.label: httpx.Client(base_url=t.url, headers={"X-Auth-Token": TOKEN,
                                                                "Content-Type": "application/json"}, timeout=60)
               for t in trees}
    for tree in trees:  # the series exist in both before anything is timed
        for body in payloads[:3]:
            clients[tree.label].post("/v2.0/metrics", content=body).raise_for_status()
    per_sample: dict[str, list[float]] = {t.label: [] for t in trees}
    for index in range(rounds):
        for tree in _order(index, trees):
            before = _cpu_seconds(tree.process.pid)
            for body in payloads:
                clients[tree.label].post("/v2.0/metrics", content=body).raise_for_status()
            per_sample[tree.label].append((_cpu_seconds(tree.process.pid) - before) / (len(payloads) * 1000) * 1e6)
    return {label: {"cpu_us_per_sample_median": statistics.median(values), "rounds": values}
            for label, values in per_sample.items()}


def query(trees: list[Tree], repeats: int) -> dict:
    clients = {t.label: httpx.Client(base_url=t.url, headers={"X-Auth-Token": TOKEN}, timeout=120) for t in trees}
    probe = clients[trees[0].label].get("/v2.0/metrics", params={"name": "cpu.percent", "limit": 1}).json()
    series = probe["elements"][0]
    end = int(time.time() * 1000)
    iso = lambda ms: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))  # noqa: E731
    start = (end - 86_400_000) // 300_000 * 300_000
    kinds = {
        "single": {"name": "cpu.percent", "dimensions": f"hostname:{series['dimensions']['hostname']}",
                   "start_time": iso(start), "end_time": iso(end), "statistics": "avg", "period": "300"},
        "merged": {"name": "cpu.percent", "dimensions": "service:compute", "merge_metrics": "true",
                   "start_time": iso(start), "end_time": iso(end), "statistics": "avg", "period": "300"},
    }
    answer: dict = {}
    for kind, params in kinds.items():
        latency: dict[str, list[float]] = {t.label: [] for t in trees}
        count = repeats if kind == "single" else max(6, repeats // 3)
        for index in range(count + 3):
            for tree in _order(index, trees):
                started = time.perf_counter()
                clients[tree.label].get("/v2.0/metrics/statistics", params=params).raise_for_status()
                if index >= 3:
                    latency[tree.label].append((time.perf_counter() - started) * 1000)
        answer[kind] = {label: {"p50_ms": statistics.median(values)} for label, values in latency.items()}
    return answer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--old", required=True, type=Path, help="the tree to compare against (a worktree)")
    parser.add_argument("--new", default=Path("."), type=Path, help="the tree under test (default: this one)")
    parser.add_argument("--rounds", type=int, default=6, help="ingest rounds per tree (ABBA); 0: no ingest A/B")
    parser.add_argument("--bodies", type=int, default=60, help="requests of 1,000 metrics per ingest round")
    parser.add_argument("--query-data", type=Path, help="a data dir from bench/query.py --keep-data: run the query A/B")
    parser.add_argument("--old-query-data", type=Path,
                        help="the old tree's own data dir (default: a copy of --query-data), for changes to the "
                             "on-disk layout: each tree then answers from what it wrote itself")
    parser.add_argument("--repeats", type=int, default=40, help="single-series queries per tree")
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    results: dict = {"old": str(args.old.resolve()), "new": str(args.new.resolve())}
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as work:
        trees = [Tree("old", args.old.resolve(), Path(work) / "old"), Tree("new", args.new.resolve(), Path(work) / "new")]
        try:
            for tree in trees if args.rounds else []:  # --rounds 0: the query A/B only
                tree.start()
            if args.rounds:
                results["ingest"] = ingest(trees, args.rounds, args.bodies)
        finally:
            for tree in trees:
                tree.stop()
        if args.query_data:
            trees = [Tree("old", args.old.resolve(), Path(work) / "qold"), Tree("new", args.new.resolve(), Path(work) / "qnew")]
            for tree, source in zip(trees, (args.old_query_data or args.query_data, args.query_data), strict=True):
                shutil.copytree(source, tree.data)
            try:
                for tree in trees:
                    tree.start()
                results["query"] = query(trees, args.repeats)
            finally:
                for tree in trees:
                    tree.stop()
    if "ingest" in results:
        ingest_result = results["ingest"]
        print(f"ingest, server CPU per sample (median of {args.rounds} rounds): "
              f"old {ingest_result['old']['cpu_us_per_sample_median']:.2f} µs, "
              f"new {ingest_result['new']['cpu_us_per_sample_median']:.2f} µs")
    if "query" in results:
        for kind in ("single", "merged"):
            print(f"query {kind}, p50: old {results['query'][kind]['old']['p50_ms']:.1f} ms, "
                  f"new {results['query'][kind]['new']['p50_ms']:.1f} ms")
    line = orjson.dumps(results).decode()
    print(line)
    if args.output:
        args.output.write_text(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
