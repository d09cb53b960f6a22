"""VictoriaMetrics as the reference peer for the nephoscope benchmarks.

Starts single-node VictoriaMetrics on 127.0.0.1:<free port> with
``-storageDataPath`` in a temp dir and a long ``-retentionPeriod``; helpers to
import data (JSON lines, Prometheus text), force flush / force merge, measure
the on-disk size and query.  Installs the Debian package ``victoria-metrics``
with apt-get when the binary is missing.

``python bench/victoria.py`` runs a small smoke test (start, import, flush,
merge, export, size, stop).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import httpx  # noqa: E402
from common import ManagedProcess, du_sb, make_parser  # noqa: E402

BINARY_CANDIDATES = ("/usr/bin/victoria-metrics", "victoria-metrics", "victoria-metrics-prod")


def find_binary() -> str | None:
    for c in BINARY_CANDIDATES:
        p = shutil.which(c) if not os.path.isabs(c) else (c if os.access(c, os.X_OK) else None)
        if p:
            return p
    return None


def ensure_installed() -> str:
    """Return the VictoriaMetrics binary, installing the Debian package if needed."""
    b = find_binary()
    if b:
        return b
    print("victoria-metrics not found: installing it with `apt-get install -y victoria-metrics`", file=sys.stderr,
          flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "victoria-metrics"], check=True, env=env, stdout=subprocess.DEVNULL)
    b = find_binary()
    if not b:
        raise RuntimeError("victoria-metrics still missing after apt-get install")
    return b


def version(binary: str | None = None) -> str:
    b = binary or find_binary()
    if not b:
        return "missing"
    try:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "victoria-metrics"], capture_output=True, text=True,
                           timeout=10)
        if r.returncode == 0 and r.stdout:
            return r.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return "unknown"


class VictoriaMetrics(ManagedProcess):
    """Single-node VictoriaMetrics.  Acks inserts once buffered in memory (not fsynced)."""

    name = "victoria"
    health_path = "/health"

    def __init__(self, retention: str = "100y", extra_flags: list[str] | None = None, **kw):
        super().__init__(**kw)
        self.binary = ensure_installed()
        self.retention = retention
        self.extra_flags = list(extra_flags or [])
        self._client: httpx.Client | None = None

    def command(self) -> list[str]:
        return [
            self.binary,
            f"-storageDataPath={self.data_dir}",
            f"-httpListenAddr=127.0.0.1:{self.port}",
            f"-retentionPeriod={self.retention}",
            "-loggerLevel=WARN",
            "-search.latencyOffset=0s",
            "-search.maxSamplesPerQuery=10000000000",
            "-import.maxLineLen=1GB",
            "-maxInsertRequestSize=1GB",
            *self.extra_flags,
        ]

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(base_url=self.url, timeout=600.0)
        return self._client

    def stop(self, timeout: float = 30.0) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        super().stop(timeout)

    # ---- ingest -----------------------------------------------------------
    IMPORT_PATHS = {
        "vm-json": "/api/v1/import",
        "vm-rows": "/api/v1/import",
        "prom": "/api/v1/import/prometheus",
    }

    def import_json(self, body: bytes) -> None:
        r = self.client.post("/api/v1/import", content=body)
        if r.status_code >= 300:
            raise RuntimeError(f"/api/v1/import answered {r.status_code}: {r.text[:300]}")

    def import_prometheus(self, body: bytes) -> None:
        r = self.client.post("/api/v1/import/prometheus", content=body)
        if r.status_code >= 300:
            raise RuntimeError(f"/api/v1/import/prometheus answered {r.status_code}: {r.text[:300]}")

    # ---- maintenance --------------------------------------------------------
    def force_flush(self) -> None:
        r = self.client.get("/internal/force_flush")
        if r.status_code >= 300:
            raise RuntimeError(f"/internal/force_flush answered {r.status_code}")

    def metrics(self) -> dict[str, float]:
        """Parse the Prometheus /metrics page into {'name{labels}': value}."""
        out = {}
        for line in self.client.get("/metrics").text.splitlines():
            if not line or line[0] == "#":
                continue
            k, _, v = line.rpartition(" ")
            try:
                out[k] = float(v)
            except ValueError:
                pass
        return out

    def force_merge(self, wait: bool = True, timeout: float = 900.0) -> float:
        """Trigger /internal/force_merge (async in VM) and wait until no forced merge is active."""
        t = time.monotonic()
        self.force_flush()
        r = self.client.get("/internal/force_merge")
        if r.status_code >= 300:
            raise RuntimeError(f"/internal/force_merge answered {r.status_code}")
        if wait:
            time.sleep(0.5)
            t_end = time.monotonic() + timeout
            while time.monotonic() < t_end:
                m = self.metrics()
                active = m.get("vm_active_force_merges", 0) + sum(
                    v for k, v in m.items() if k.startswith("vm_active_merges{"))
                if active == 0:
                    break
                time.sleep(0.5)
        return time.monotonic() - t

    def rows_stored(self) -> int:
        """Samples in storage parts (after force_flush) per vm_rows{type=storage/*}."""
        m = self.metrics()
        return int(sum(v for k, v in m.items() if re.match(r'vm_rows\{type="storage/', k)))

    def series_count(self) -> int:
        r = self.client.get("/api/v1/series/count")
        return int(r.json()["data"][0])

    def sizes(self) -> dict:
        """On-disk bytes: total (du -sb of the data dir) and the parts VictoriaMetrics reports."""
        d = {"total_bytes": du_sb(self.data_dir)}
        for sub in ("data", "indexdb", "cache"):
            p = os.path.join(self.data_dir, sub)
            if os.path.exists(p):
                d[f"{sub}_bytes"] = du_sb(p)
        m = self.metrics()
        d["vm_data_size_bytes"] = {k.split('"')[1]: int(v) for k, v in m.items() if k.startswith("vm_data_size_bytes{")}
        return d

    def settle(self, timeout: float = 120.0) -> dict:
        """flush + force merge + wait for the directory to stop changing; returns sizes()."""
        from common import wait_size_stable

        self.force_flush()
        merge_s = self.force_merge(wait=True, timeout=timeout)
        wait_size_stable(self.data_dir, settle_s=2.0, timeout_s=timeout)
        s = self.sizes()
        s["merge_s"] = round(merge_s, 3)
        return s

    # ---- queries ------------------------------------------------------------
    def query_range(self, query: str, start_s: float, end_s: float, step_s: int, nocache: bool = True) -> dict:
        params = {"query": query, "start": f"{start_s:.3f}", "end": f"{end_s:.3f}", "step": f"{step_s}s"}
        if nocache:
            params["nocache"] = "1"
        r = self.client.get("/api/v1/query_range", params=params)
        if r.status_code != 200:
            raise RuntimeError(f"query_range answered {r.status_code}: {r.text[:300]}")
        return r.json()


def _smoke(argv=None) -> int:
    ap = make_parser("Smoke-test the VictoriaMetrics helpers: start on a free loopback port, import JSON lines and "
                     "Prometheus text, flush, force merge, export, on-disk size, stop.")
    ap.add_argument("--keep-data", action="store_true")
    args = ap.parse_args(argv)
    now = int(time.time() // 10 * 10 * 1000) - 600_000
    with VictoriaMetrics(keep_data=args.keep_data) as vm:
        vm.import_json(b'{"metric":{"__name__":"cpu.percent","hostname":"h1"},"values":[1.5,2.5],"timestamps":[%d,%d]}\n'
                       % (now, now + 10_000))
        vm.import_prometheus(b'mem.used_bytes{hostname="h1"} 4096 %d\n' % now)
        vm.force_flush()
        vm.force_merge()
        exp = vm.client.get("/api/v1/export", params={"match[]": '{__name__=~".+"}'}).text
        print(exp.strip())
        print("rows stored:", vm.rows_stored(), "series:", vm.series_count(), "sizes:", vm.sizes())
        q = vm.query_range('avg_over_time({__name__="cpu.percent"}[20s])', now / 1000 + 10, now / 1000 + 10, 10)
        print("query:", q["data"]["result"])
    print("version:", version())
    return 0


if __name__ == "__main__":
    sys.exit(_smoke())
