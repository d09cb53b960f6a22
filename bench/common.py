"""Shared plumbing for the nephoscope benchmarks.

* :class:`Report`   - rich table on stdout, then the results as ONE JSON object on
  the last stdout line; also written to ``bench/results/<bench>.json``.
* :class:`NephoscopeServer` / :class:`ExternalServer` - start/stop the product
  server on a free loopback port with a temp data dir, wait for ``/healthz``.
* :class:`ProcMonitor` - RSS / CPU of a process tree (psutil), sampled in a thread.
* :func:`run_load`  - multi-process closed-loop HTTP load generator with
  pre-encoded bodies, keep-alive connections and per-process CPU accounting.
* :func:`post_stream` - simple concurrent uploader for bulk loading.

Progress bars and logs go to stderr so stdout stays table + JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing as mp
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator
from urllib.parse import urlsplit

import httpx
import numpy as np
import orjson
import psutil
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_TOKEN = "bench-admin-token"
GB = 1024**3
MB = 1024**2

err = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
out = Console(width=None if sys.stdout.isatty() else 140)


def log(msg: str) -> None:
    err.log(msg, _stack_offset=2)


def progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=err,
        transient=False,
        refresh_per_second=4,
    )


def default_python() -> str:
    venv = REPO_DIR / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def fmt_num(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v != v:
            return "nan"
        a = abs(v)
        if a >= 1e5:
            return f"{v:,.0f}"
        if a >= 100:
            return f"{v:,.1f}"
        if a >= 1:
            return f"{v:.3g}" if a < 10 else f"{v:.1f}"
        return f"{v:.3g}"
    return str(v)


def pct(values, q: float) -> float | None:
    if not len(values):
        return None
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


# --------------------------------------------------------------------------
# reporting
# --------------------------------------------------------------------------
@dataclass
class _Metric:
    key: str
    value: object
    unit: str = ""
    target: float | None = None
    op: str = ">="
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.target is None or not isinstance(self.value, (int, float)) or self.value is None:
            return None
        return self.value >= self.target if self.op == ">=" else self.value <= self.target


class Report:
    """Collects metrics; ``finish()`` prints the table + final JSON line and writes the result file."""

    def __init__(self, bench: str, params: dict | None = None):
        self.bench = bench
        self.params = dict(params or {})
        self.started = datetime.now(timezone.utc)
        self.metrics: list[_Metric] = []
        self.details: dict = {}
        self.errors: list[str] = []
        self.notes: list[str] = []

    def add(self, key: str, value, unit: str = "", *, target: float | None = None, op: str = ">=", note: str = ""):
        if isinstance(value, np.generic):
            value = value.item()
        self.metrics = [m for m in self.metrics if m.key != key]
        self.metrics.append(_Metric(key, value, unit, target, op, note))
        return value

    def detail(self, key: str, value) -> None:
        self.details[key] = value

    def error(self, where: str, exc: BaseException | str) -> None:
        msg = f"{where}: {exc if isinstance(exc, str) else f'{type(exc).__name__}: {exc}'}"
        self.errors.append(msg)
        err.print(f"[red]ERROR[/red] {msg}")

    def note(self, msg: str) -> None:
        self.notes.append(msg)

    def to_dict(self) -> dict:
        targets = {
            m.key: {"target": m.target, "op": m.op, "value": m.value, "met": m.met}
            for m in self.metrics
            if m.target is not None
        }
        return {
            "bench": self.bench,
            "started": self.started.isoformat(timespec="seconds"),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_info(),
            "params": self.params,
            "metrics": {m.key: m.value for m in self.metrics},
            "units": {m.key: m.unit for m in self.metrics if m.unit},
            "targets": targets,
            "all_targets_met": all(t["met"] for t in targets.values()) if targets else None,
            "details": self.details,
            "notes": self.notes,
            "errors": self.errors,
        }

    def finish(self, write: bool = True, results_dir: Path | None = None, strict: bool = False) -> int:
        data = self.to_dict()
        tab = Table(title=f"bench: {self.bench}", show_lines=False)
        tab.add_column("metric", overflow="fold")
        tab.add_column("value", justify="right")
        tab.add_column("unit")
        tab.add_column("target", justify="right")
        tab.add_column("ok", justify="center")
        tab.add_column("note", overflow="fold")
        for m in self.metrics:
            ok = {True: "[green]✔[/green]", False: "[red]✘[/red]", None: ""}[m.met]
            tgt = f"{m.op} {fmt_num(m.target)}" if m.target is not None else ""
            tab.add_row(m.key, fmt_num(m.value), m.unit, tgt, ok, m.note)
        out.print(tab)
        for n in self.notes:
            out.print(f"[dim]note:[/dim] {n}")
        for e in self.errors:
            out.print(f"[red]error:[/red] {e}")
        blob = orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS, default=str)
        if write:
            d = Path(results_dir) if results_dir else RESULTS_DIR
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{self.bench}.json").write_bytes(
                orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
                             default=str) + b"\n"
            )
        out.file.flush()
        sys.stdout.write(blob.decode() + "\n")
        sys.stdout.flush()
        if self.errors:
            return 2
        if strict and data["all_targets_met"] is False:
            return 1
        return 0


def machine_info() -> dict:
    vm = psutil.virtual_memory()
    return {
        "cpus": os.cpu_count(),
        "mem_total_gb": round(vm.total / GB, 1),
        "python": sys.version.split()[0],
        "platform": sys.platform,
    }


def reference_ms() -> float:
    """Milliseconds this machine takes, right now, for a fixed piece of single-core Python work
    (JSON parsing and an integer loop; the median of three). The hosts these benches run on share
    their cores with neighbours and the same work has taken 100 ms at one minute and 170 ms a few
    minutes later: a figure is only comparable with another measured at a like reference."""
    document = json.dumps({"items": [{"index": i, "name": "abc" * 10} for i in range(200)]})
    times = []
    for _ in range(3):
        started = time.process_time()
        for _ in range(1000):
            json.loads(document)
        total = 0
        for i in range(700_000):
            total += i
        times.append(time.process_time() - started)
    return sorted(times)[1] * 1000


# --------------------------------------------------------------------------
# CLI helpers
# --------------------------------------------------------------------------
class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def make_parser(description: str, epilog: str = "") -> argparse.ArgumentParser:
    return argparse.ArgumentParser(description=description, epilog=epilog, formatter_class=HelpFormatter)


def add_common_args(ap: argparse.ArgumentParser, systems: str = "nephoscope,victoria") -> None:
    g = ap.add_argument_group("systems / servers")
    g.add_argument("--systems", default=systems,
                   help="comma list of systems to run: nephoscope, victoria")
    g.add_argument("--url", default=None,
                   help="use an already running nephoscope at this URL instead of starting one "
                        "(e.g. http://127.0.0.1:8080)")
    g.add_argument("--server-pid", type=int, default=None,
                   help="pid of the external server (with --url) for RSS/CPU measurement")
    g.add_argument("--data-dir", default=None,
                   help="data dir of the external server (with --url) for on-disk size")
    g.add_argument("--token", default=os.environ.get("NEPHOSCOPE_ADMIN_TOKEN", DEFAULT_TOKEN),
                   help="admin/auth token (NEPHOSCOPE_ADMIN_TOKEN, sent as X-Auth-Token)")
    g.add_argument("--server-cmd", default=os.environ.get("NEPHOSCOPE_BENCH_SERVER_CMD"),
                   help="override the server command; placeholders {python} {data_dir} {port} "
                        "(default: '{python} -m nephoscope serve --data-dir {data_dir} --port {port}'; "
                        "env NEPHOSCOPE_BENCH_SERVER_CMD)")
    g.add_argument("--startup-timeout", type=float, default=90.0, help="seconds to wait for /healthz")
    g.add_argument("--work-dir", default=os.environ.get("NEPHOSCOPE_BENCH_WORKDIR", tempfile.gettempdir()),
                   help="where temp data dirs are created")
    g.add_argument("--keep-data", action="store_true", help="do not delete temp data dirs afterwards")
    g = ap.add_argument_group("output")
    g.add_argument("--results-dir", default=str(RESULTS_DIR), help="where <bench>.json is written")
    g.add_argument("--no-write", action="store_true", help="do not write the results file")
    g.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")


def systems_of(args) -> list[str]:
    s = [x.strip() for x in args.systems.split(",") if x.strip()]
    bad = [x for x in s if x not in ("nephoscope", "victoria")]
    if bad:
        raise SystemExit(f"unknown system(s): {bad}")
    return s


def params_of(args) -> dict:
    return {k: v for k, v in vars(args).items() if k not in ("token",)}


# --------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dir_size(path: str | Path) -> dict:
    """Apparent bytes (like ``du -sb``), allocated bytes and file count of a tree."""
    apparent = allocated = files = 0
    for root, dirs, fnames in os.walk(path):
        for d in dirs:
            try:
                apparent += os.lstat(os.path.join(root, d)).st_size
            except OSError:
                pass
        for f in fnames:
            try:
                st = os.lstat(os.path.join(root, f))
            except OSError:
                continue
            apparent += st.st_size
            allocated += st.st_blocks * 512
            files += 1
    try:
        apparent += os.lstat(path).st_size
    except OSError:
        pass
    return {"apparent_bytes": apparent, "allocated_bytes": allocated, "files": files}


def du_sb(path: str | Path) -> int:
    """``du -sb`` when available (what the brief measures), else the Python walk."""
    try:
        r = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, timeout=120)
        if r.returncode == 0:
            return int(r.stdout.split()[0])
    except (OSError, ValueError, subprocess.TimeoutExpired):
        pass
    return dir_size(path)["apparent_bytes"]


def wait_size_stable(path: str | Path, settle_s: float = 3.0, timeout_s: float = 60.0) -> int:
    """Wait until the data dir size stops changing for ``settle_s`` (bounded by ``timeout_s``)."""
    t_end = time.monotonic() + timeout_s
    last = du_sb(path)
    stable_since = time.monotonic()
    while time.monotonic() < t_end:
        time.sleep(0.5)
        cur = du_sb(path)
        if cur != last:
            last, stable_since = cur, time.monotonic()
        elif time.monotonic() - stable_since >= settle_s:
            break
    return last


class ManagedProcess:
    """A server subprocess on 127.0.0.1:<free port> with a temp data dir."""

    name = "server"
    health_path = "/healthz"

    def __init__(self, work_dir: str | None = None, keep_data: bool = False, startup_timeout: float = 90.0,
                 env: dict | None = None):
        self.work_dir = work_dir or tempfile.gettempdir()
        self.keep_data = keep_data
        self.startup_timeout = startup_timeout
        self.extra_env = env or {}
        self.port: int | None = None
        self.data_dir: str | None = None
        self.proc: subprocess.Popen | None = None
        self.log_path: str | None = None
        self._tmp_root: str | None = None
        self._log = None

    # subclass API
    def command(self) -> list[str]:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> "ManagedProcess":
        os.makedirs(self.work_dir, exist_ok=True)
        self._tmp_root = tempfile.mkdtemp(prefix=f"bench-{self.name}-", dir=self.work_dir)
        self.data_dir = os.path.join(self._tmp_root, "data")
        os.makedirs(self.data_dir)
        self.log_path = os.path.join(self._tmp_root, "server.log")
        self.port = free_port()
        cmd = self.command()
        env = dict(os.environ)
        env.update(self.extra_env)
        self._log = open(self.log_path, "wb")
        log(f"starting {self.name}: {' '.join(shlex.quote(c) for c in cmd)}")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, cwd=str(REPO_DIR), start_new_session=True)
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        log(f"{self.name} ready on {self.url} (pid {self.proc.pid}, data {self.data_dir})")
        return self

    def log_tail(self, n: int = 30) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except (OSError, TypeError):
            return ""

    def wait_ready(self) -> None:
        t_end = time.monotonic() + self.startup_timeout
        with httpx.Client(timeout=2.0) as c:
            while time.monotonic() < t_end:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with code {self.proc.returncode} during startup; "
                                       f"log tail:\n{self.log_tail()}")
                try:
                    if c.get(self.url + self.health_path).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        raise TimeoutError(f"{self.name} not healthy after {self.startup_timeout:.0f}s; log tail:\n{self.log_tail()}")

    def stop(self, timeout: float = 30.0) -> None:
        p = self.proc
        if p is not None and p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log(f"{self.name} did not exit after SIGTERM; killing process group {p.pid}")
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=10)
        if p is not None:
            # reap any worker children left in the server's own process group
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self._log:
            self._log.close()
            self._log = None
        if self._tmp_root and not self.keep_data:
            shutil.rmtree(self._tmp_root, ignore_errors=True)
        elif self._tmp_root:
            log(f"kept {self.name} data in {self._tmp_root}")
        self.proc = None

    def disk_bytes(self) -> int:
        return du_sb(self.data_dir)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class NephoscopeServer(ManagedProcess):
    name = "nephoscope"
    health_path = "/healthz"

    def __init__(self, token: str = DEFAULT_TOKEN, server_cmd: str | None = None, **kw):
        super().__init__(**kw)
        self.token = token
        self.server_cmd = server_cmd
        self.extra_env.setdefault("NEPHOSCOPE_ADMIN_TOKEN", token)

    def command(self) -> list[str]:
        tmpl = self.server_cmd or "{python} -m nephoscope serve --data-dir {data_dir} --port {port}"
        return shlex.split(tmpl.format(python=shlex.quote(default_python()), data_dir=shlex.quote(self.data_dir),
                                       port=self.port))

    @property
    def headers(self) -> dict:
        return {"X-Auth-Token": self.token}

    def compact(self, timeout: float = 1800.0) -> dict:
        return admin_compact(self.url, self.token, self.data_dir, timeout)


class ExternalServer:
    """An already-running nephoscope (``--url``)."""

    name = "nephoscope"

    def __init__(self, url: str, token: str, pid: int | None = None, data_dir: str | None = None):
        self.url = url.rstrip("/")
        self.token = token
        self.pid = pid
        self.data_dir = data_dir
        self.log_path = None

    def start(self):
        with httpx.Client(timeout=5.0) as c:
            r = c.get(self.url + "/healthz")
            if r.status_code != 200:
                raise RuntimeError(f"{self.url}/healthz answered {r.status_code}")
        return self

    def stop(self, timeout: float = 0) -> None:
        pass

    def log_tail(self, n: int = 30) -> str:
        return ""

    @property
    def headers(self) -> dict:
        return {"X-Auth-Token": self.token}

    def disk_bytes(self) -> int | None:
        return du_sb(self.data_dir) if self.data_dir else None

    def compact(self, timeout: float = 1800.0) -> dict:
        return admin_compact(self.url, self.token, self.data_dir, timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def nephoscope_from_args(args, env: dict | None = None):
    if args.url:
        return ExternalServer(args.url, args.token, args.server_pid, args.data_dir)
    return NephoscopeServer(token=args.token, server_cmd=args.server_cmd, work_dir=args.work_dir,
                            keep_data=args.keep_data, startup_timeout=args.startup_timeout, env=dict(env or {}))


@contextlib.contextmanager
def nephoscope_session(rep: "Report", args, env: dict | None = None):
    """A started nephoscope server for one bench phase (``env``: extra environment, e.g. settings).
    An error is reported (with the server's log tail) instead of raised, so the bench carries on
    with the VictoriaMetrics reference."""
    srv = nephoscope_from_args(args, env)
    try:
        srv.start()
        yield srv
    except Exception as e:  # noqa: BLE001
        rep.error("nephoscope", e)
    finally:
        if rep.errors:
            rep.detail("nephoscope.server_log_tail", srv.log_tail(40))
        srv.stop()


def admin_compact(url: str, token: str, data_dir: str | None, timeout: float = 1800.0) -> dict:
    """POST /v1/admin/compact; if missing (404/405/501) or failing, wait for the data dir to stop changing.

    Never raises: a failure is returned as ``info['error']`` for the caller to report."""
    t = time.monotonic()
    info: dict = {}
    try:
        with httpx.Client(timeout=timeout) as c:
            r = c.post(url + "/v1/admin/compact", headers={"X-Auth-Token": token})
        info["status"] = r.status_code
        info["body"] = r.text[:500]
        if r.status_code in (404, 405, 501):
            log(f"/v1/admin/compact answered {r.status_code}; waiting for the data dir to settle instead")
            info["fallback"] = "wait-for-stable-size"
        elif r.status_code >= 300:
            info["error"] = f"/v1/admin/compact answered {r.status_code}: {r.text[:300]}"
            info["fallback"] = "wait-for-stable-size"
            log(f"[red]{info['error']}[/red]; waiting for the data dir to settle instead")
    except httpx.HTTPError as e:
        info["error"] = f"/v1/admin/compact failed: {type(e).__name__}: {e}"
        info["fallback"] = "wait-for-stable-size"
    if data_dir:
        wait_size_stable(data_dir, settle_s=3.0 if info.get("fallback") else 1.0,
                         timeout_s=120.0 if info.get("fallback") else 30.0)
    info["seconds"] = round(time.monotonic() - t, 3)
    return info


# --------------------------------------------------------------------------
# resource monitoring
# --------------------------------------------------------------------------
def _tree(p: psutil.Process) -> list[psutil.Process]:
    try:
        return [p] + p.children(recursive=True)
    except psutil.Error:
        return [p]


def tree_rss(pid: int, pss: bool = False) -> dict:
    """Sum of RSS (and optionally PSS/USS) over a process and its descendants."""
    out_ = {"rss": 0, "processes": 0}
    if pss:
        out_.update(pss=0, uss=0)
    try:
        root = psutil.Process(pid)
    except psutil.Error:
        return out_
    for p in _tree(root):
        try:
            if pss:
                m = p.memory_full_info()
                out_["pss"] += getattr(m, "pss", 0)
                out_["uss"] += getattr(m, "uss", 0)
                out_["rss"] += m.rss
            else:
                out_["rss"] += p.memory_info().rss
            out_["processes"] += 1
        except psutil.Error:
            pass
    return out_


class ProcMonitor:
    """Samples RSS of a process tree every ``interval`` s; CPU seconds = delta of tree CPU times."""

    def __init__(self, pid: int | None, interval: float = 0.25):
        self.pid = pid
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.samples: list[tuple[float, int]] = []
        self._cpu0: dict[int, float] = {}
        self._cpu_last: dict[int, float] = {}
        self._t0 = 0.0
        self._m0 = None
        self.result: dict = {}

    def _cpu_now(self) -> dict[int, float]:
        cur = {}
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return cur
        for p in _tree(root):
            try:
                ct = p.cpu_times()
                v = ct.user + ct.system
                if p.pid == self.pid:
                    v += ct.children_user + ct.children_system
                cur[p.pid] = v
            except psutil.Error:
                pass
        return cur

    @staticmethod
    def _all_cpu() -> dict[int, tuple[float, str]]:
        snap = {}
        for p in psutil.process_iter(["pid", "name", "cmdline", "cpu_times"]):
            try:
                ct = p.info["cpu_times"]
                if ct is None:
                    continue
                cmd = " ".join(p.info["cmdline"] or [p.info["name"] or "?"])
                snap[p.info["pid"]] = (ct.user + ct.system, cmd[:100])
            except (psutil.Error, TypeError):
                pass
        return snap

    def start(self) -> "ProcMonitor":
        self._t0 = time.monotonic()
        self._m0 = psutil.cpu_times()
        self._others0 = self._all_cpu()
        if self.pid:
            self._cpu0 = self._cpu_now()
            self._cpu_last = dict(self._cpu0)
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            r = tree_rss(self.pid)
            self.samples.append((time.monotonic() - self._t0, r["rss"]))
            self._cpu_last.update(self._cpu_now())
            self._stop.wait(self.interval)

    def stop(self) -> dict:
        elapsed = time.monotonic() - self._t0
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        m1 = psutil.cpu_times()
        busy = lambda m: m.user + m.system + getattr(m, "nice", 0) + getattr(m, "irq", 0) + getattr(m, "softirq", 0)  # noqa: E731
        tot = lambda m: busy(m) + m.idle + getattr(m, "iowait", 0)  # noqa: E731
        machine_util = (busy(m1) - busy(self._m0)) / max(1e-9, tot(m1) - tot(self._m0))
        res = {"elapsed_s": elapsed, "machine_cpu_util": machine_util,
               "machine_cpu_cores": machine_util * (os.cpu_count() or 1)}
        if self.pid:
            self._cpu_last.update(self._cpu_now())
            cpu = sum(v - self._cpu0.get(pid, 0.0) for pid, v in self._cpu_last.items())
            rss = [s[1] for s in self.samples] or [0]
            res.update(cpu_s=cpu, cpu_cores=cpu / max(elapsed, 1e-9), rss_peak=max(rss), rss_last=rss[-1],
                       rss_mean=float(np.mean(rss)))
        # CPU of long-lived processes outside this benchmark (other users of the machine)
        mine = {os.getpid()} | set(self._cpu_last)
        try:
            mine |= {c.pid for c in psutil.Process(os.getpid()).children(recursive=True)}
        except psutil.Error:
            pass
        others = []
        for pid, (v, cmd) in self._all_cpu().items():
            if pid in mine or pid not in self._others0:
                continue
            d = v - self._others0[pid][0]
            if d > 0.05 * elapsed:
                others.append({"pid": pid, "cpu_cores": round(d / max(elapsed, 1e-9), 3), "cmd": cmd})
        res["other_processes"] = sorted(others, key=lambda x: -x["cpu_cores"])[:5]
        self.result = res
        return res


# --------------------------------------------------------------------------
# load generation (multi-process, pre-encoded bodies, keep-alive)
# --------------------------------------------------------------------------
Body = tuple  # (bytes, n_samples) or (bytes, n_samples, headers)


@dataclass
class LoadResult:
    label: str
    clients: int = 0
    samples_ok: int = 0
    samples_failed: int = 0
    requests: int = 0
    requests_ok: int = 0
    status: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    bytes_sent: int = 0
    elapsed_s: float = 0.0
    pool_samples: int = 0
    pool_bytes: int = 0
    pool_exhausted: bool = False
    encode_wall_s: float = 0.0
    client_cpu_send_s: float = 0.0
    client_cpu_encode_s: float = 0.0
    throttled: int = 0
    samples_abandoned: int = 0
    latency_ms: dict = field(default_factory=dict)
    server: dict = field(default_factory=dict)
    error_samples: list = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.samples_ok / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> dict:
        d = dict(self.__dict__)
        d["samples_per_s"] = self.rate
        d["client_cpu_cores"] = self.client_cpu_send_s / self.elapsed_s if self.elapsed_s else None
        return d


def _connect(host: str, port: int, timeout: float) -> http.client.HTTPConnection:
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    c.connect()
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


def _load_worker(wid, builder, url, path, headers, seconds, req_timeout, ready_q, res_q, start_evt, start_at,
                 encoded_ctr, acked_ctr, max_retries=20, max_retry_wait=2.0):
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        c0 = time.process_time()
        t0 = time.monotonic()
        pool: list = []
        pool_bytes = 0
        for item in builder():
            pool.append(item)
            pool_bytes += len(item[0])
            with encoded_ctr.get_lock():
                encoded_ctr.value += item[1]
        enc_cpu = time.process_time() - c0
        enc_wall = time.monotonic() - t0
        ready_q.put((wid, len(pool), sum(b[1] for b in pool), pool_bytes))
        u = urlsplit(url)
        host, port = u.hostname, u.port or 80
        base_headers = {"Connection": "keep-alive", **headers}
        if not start_evt.wait(timeout=3600):
            return
        t_start = start_at.value
        deadline = t_start + seconds
        conn = _connect(host, port, req_timeout)
        c1 = time.process_time()
        st = Counter()
        errs = Counter()
        err_samples = []
        lat = []
        ok_s = bad_s = nreq = nok = sent = 0
        exhausted = True
        t_last = time.time()
        throttled = abandoned = 0
        for item in pool:
            if time.time() >= deadline:
                exhausted = False
                break
            body, n = item[0], item[1]
            h = dict(base_headers)
            if len(item) > 2 and item[2]:
                h.update(item[2])
            h["Content-Length"] = str(len(body))
            attempt = 0
            while True:
                t = time.perf_counter()
                try:
                    conn.request("POST", path, body=body, headers=h)
                    resp = conn.getresponse()
                    data = resp.read()
                    code = resp.status
                    retry_after = resp.getheader("Retry-After")
                    if resp.will_close:
                        conn.close()
                        conn = _connect(host, port, req_timeout)
                except (OSError, http.client.HTTPException) as e:
                    errs[type(e).__name__] += 1
                    bad_s += n
                    nreq += 1
                    try:
                        conn.close()
                    except Exception:
                        pass
                    time.sleep(0.05)
                    try:
                        conn = _connect(host, port, req_timeout)
                    except OSError as e2:
                        errs["connect:" + type(e2).__name__] += 1
                        time.sleep(0.5)
                        try:
                            conn = _connect(host, port, req_timeout)
                        except OSError:
                            conn = None
                    break
                lat.append((time.perf_counter() - t) * 1000.0)
                nreq += 1
                sent += len(body)
                st[code] += 1
                t_last = time.time()
                if code in (429, 503) and attempt < max_retries:
                    # back-pressure: wait as told (capped) and resend the same body, like an agent would
                    throttled += 1
                    attempt += 1
                    try:
                        wait = float(retry_after)
                    except (TypeError, ValueError):
                        wait = 0.05 * attempt
                    wait = min(max(wait, 0.0), max_retry_wait)
                    if time.time() + wait >= deadline:
                        abandoned += n
                        break
                    time.sleep(wait)
                    continue
                if 200 <= code < 300:
                    ok_s += n
                    nok += 1
                    with acked_ctr.get_lock():
                        acked_ctr.value += n
                else:
                    bad_s += n
                    if len(err_samples) < 3:
                        err_samples.append(f"{code}: {data[:300]!r}")
                break
            if conn is None:
                break
        send_cpu = time.process_time() - c1
        try:
            conn.close()
        except Exception:
            pass
        res_q.put({
            "wid": wid, "ok_s": ok_s, "bad_s": bad_s, "nreq": nreq, "nok": nok, "sent": sent,
            "status": dict(st), "errors": dict(errs), "lat": lat, "t_last": t_last, "t_start": t_start,
            "exhausted": exhausted, "enc_cpu": enc_cpu, "enc_wall": enc_wall, "send_cpu": send_cpu,
            "pool_samples": sum(b[1] for b in pool), "pool_bytes": pool_bytes, "err_samples": err_samples,
            "throttled": throttled, "abandoned": abandoned,
        })
    except BaseException:  # report, never hang the parent
        ready_q.put((wid, -1, 0, 0))
        res_q.put({"wid": wid, "fatal": traceback.format_exc()})


def run_load(label: str, url: str, path: str, headers: dict, builders: list[Callable[[], Iterable[Body]]],
             seconds: float, server_pid: int | None = None, expected_samples: int | None = None,
             req_timeout: float = 120.0, max_retries: int = 20, max_retry_wait: float = 2.0) -> LoadResult:
    """Run ``len(builders)`` client processes against ``url + path``.

    Each builder (called inside its own forked process) yields pre-encoded
    ``(body, n_samples[, headers])``; once every process has its pool, all start
    together and send sequentially on one keep-alive connection until the pool
    is exhausted or ``seconds`` elapse.  Only 2xx answers count as acknowledged.
    429/503 answers are retried with the same body after ``Retry-After`` (capped
    at ``max_retry_wait``), up to ``max_retries`` times, as a real agent would.
    """
    ctx = mp.get_context("fork")
    ready_q, res_q = ctx.Queue(), ctx.Queue()
    start_evt = ctx.Event()
    start_at = ctx.Value("d", 0.0)
    encoded, acked = ctx.Value("q", 0), ctx.Value("q", 0)
    procs = [ctx.Process(target=_load_worker, daemon=True,
                         args=(i, b, url, path, headers, seconds, req_timeout, ready_q, res_q, start_evt, start_at,
                               encoded, acked, max_retries, max_retry_wait))
             for i, b in enumerate(builders)]
    for p in procs:  # fork before any thread is started in this process
        p.start()
    res = LoadResult(label)
    try:
        with progress() as prog:
            tk = prog.add_task(f"{label}: encoding", total=expected_samples, info="")
            ready = []
            while len(ready) < len(procs):
                try:
                    ready.append(ready_q.get(timeout=0.25))
                except Exception:
                    reported = {r[0] for r in ready}
                    if all(i in reported or not p.is_alive() for i, p in enumerate(procs)):
                        break  # a client died without reporting; go on with the others
                prog.update(tk, completed=encoded.value, info=f"{len(ready)}/{len(procs)} clients ready")
            pool_samples = sum(r[2] for r in ready if r[1] >= 0)
            prog.update(tk, completed=encoded.value, total=encoded.value,
                        info=f"pool {pool_samples:,} samples, {sum(r[3] for r in ready) / MB:,.0f} MB")
            mon = ProcMonitor(server_pid).start()
            parent_cpu0 = time.process_time()
            start_at.value = time.time()
            start_evt.set()
            ts = prog.add_task(f"{label}: sending", total=pool_samples, info="")
            t_end = time.monotonic() + seconds + req_timeout + 30
            got = []
            while len(got) < len(procs) and time.monotonic() < t_end:
                try:
                    got.append(res_q.get(timeout=0.25))
                except Exception:
                    if not any(p.is_alive() for p in procs) and res_q.empty():
                        break
                el = time.time() - start_at.value
                v = acked.value
                prog.update(ts, completed=v, info=f"{v / max(el, 1e-3):,.0f} samples/s acked")
            srv = mon.stop()
            srv["harness_cpu_s"] = time.process_time() - parent_cpu0
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
    lat = []
    t_last = start_at.value
    for g in got:
        if "fatal" in g:
            raise RuntimeError(f"load worker {g['wid']} crashed:\n{g['fatal']}")
        res.samples_ok += g["ok_s"]
        res.samples_failed += g["bad_s"]
        res.requests += g["nreq"]
        res.requests_ok += g["nok"]
        res.bytes_sent += g["sent"]
        for k, v in g["status"].items():
            res.status[k] = res.status.get(k, 0) + v
        for k, v in g["errors"].items():
            res.errors[k] = res.errors.get(k, 0) + v
        lat += g["lat"]
        t_last = max(t_last, g["t_last"])
        res.pool_samples += g["pool_samples"]
        res.pool_bytes += g["pool_bytes"]
        res.pool_exhausted = res.pool_exhausted or g["exhausted"]
        res.encode_wall_s = max(res.encode_wall_s, g["enc_wall"])
        res.client_cpu_encode_s += g["enc_cpu"]
        res.client_cpu_send_s += g["send_cpu"]
        res.error_samples += g["err_samples"]
        res.throttled += g["throttled"]
        res.samples_abandoned += g["abandoned"]
    if len(got) < len(procs):
        res.errors["missing_worker_results"] = len(procs) - len(got)
    res.elapsed_s = max(1e-6, t_last - start_at.value)
    res.latency_ms = {"p50": pct(lat, 50), "p95": pct(lat, 95), "p99": pct(lat, 99),
                      "max": max(lat) if lat else None}
    res.server = srv
    return res


# --------------------------------------------------------------------------
# bulk upload (loading data for storage/query benches; not a rate benchmark)
# --------------------------------------------------------------------------
def post_stream(url: str, bodies: Iterator[tuple], *, headers: dict | None = None, concurrency: int = 2,
                total_samples: int | None = None, label: str = "loading", timeout: float = 300.0,
                max_errors: int = 10, max_retries: int = 60) -> dict:
    """POST every ``(body, n_samples[, headers])`` from an iterator with a few keep-alive connections.

    Generation/encoding happens in the calling thread while ``concurrency`` threads send.
    429/503 answers are retried after ``Retry-After`` (capped at 2 s).
    Returns counts and the achieved rate; raises after ``max_errors`` failures.
    """
    local = threading.local()
    clients: list[httpx.Client] = []
    lock = threading.Lock()
    stats = {"samples_ok": 0, "samples_failed": 0, "requests": 0, "status": Counter(), "errors": [],
             "bytes": 0, "throttled": 0}

    def client() -> httpx.Client:
        c = getattr(local, "c", None)
        if c is None:
            c = local.c = httpx.Client(timeout=timeout)
            with lock:
                clients.append(c)
        return c

    def send(item):
        body, n = item[0], item[1]
        h = dict(headers or {})
        if len(item) > 2 and item[2]:
            h.update(item[2])
        accepted = None
        for attempt in range(max_retries + 1):
            try:
                r = client().post(url, content=body, headers=h)
                code, text = r.status_code, r.text[:300]
                if code == 200 and r.headers.get("content-type", "").startswith("application/json"):
                    try:
                        accepted = r.json().get("accepted")
                    except (ValueError, AttributeError):
                        pass
            except httpx.HTTPError as e:
                code, text = None, f"{type(e).__name__}: {e}"
            if code in (429, 503) and attempt < max_retries:  # back-pressure: wait as told, resend
                with lock:
                    stats["throttled"] += 1
                try:
                    wait = float(r.headers.get("retry-after", ""))
                except ValueError:
                    wait = 0.1 * (attempt + 1)
                time.sleep(min(max(wait, 0.0), 2.0))
                continue
            break
        with lock:
            if accepted is not None:
                stats["accepted"] = stats.get("accepted", 0) + int(accepted)
            stats["requests"] += 1
            stats["bytes"] += len(body)
            stats["status"][code] += 1
            if code is not None and 200 <= code < 300:
                stats["samples_ok"] += n
            else:
                stats["samples_failed"] += n
                stats["errors"].append(f"{code}: {text}")
        return n

    t0 = time.monotonic()
    sem = threading.BoundedSemaphore(concurrency * 2)
    with progress() as prog, ThreadPoolExecutor(concurrency) as ex:
        tk = prog.add_task(label, total=total_samples, info="")
        futs = []

        def done(_f):
            sem.release()

        for item in bodies:
            if len(stats["errors"]) >= max_errors:
                break
            sem.acquire()
            f = ex.submit(send, item)
            f.add_done_callback(done)
            futs.append(f)
            el = time.monotonic() - t0
            prog.update(tk, completed=stats["samples_ok"], info=f"{stats['samples_ok'] / max(el, 1e-3):,.0f} samples/s")
        for f in futs:
            f.result()
        prog.update(tk, completed=stats["samples_ok"])
    for c in clients:
        c.close()
    stats["elapsed_s"] = time.monotonic() - t0
    stats["samples_per_s"] = stats["samples_ok"] / max(stats["elapsed_s"], 1e-9)
    stats["status"] = {str(k): v for k, v in stats["status"].items()}
    if stats["errors"]:
        raise RuntimeError(f"{label}: {len(stats['errors'])} failed requests, first: {stats['errors'][0]}")
    return stats


def note_contention(rep: "Report", label: str, mon: dict, own_cores: float, threshold: float = 0.25) -> float:
    """Report CPU used by processes outside the benchmark during a measured phase; returns it (cores)."""
    other = max(0.0, mon.get("machine_cpu_cores", 0.0) - own_cores)
    if other > threshold:
        who = ", ".join(f"{o['cmd'][:50]} ({o['cpu_cores']:.2f})" for o in mon.get("other_processes", [])[:2])
        rep.note(f"{label}: the machine was busy with other work (~{other:.2f} of {os.cpu_count()} cores"
                 + (f"; e.g. {who}" if who else "") + ") - figures are pessimistic; re-run on a quiet machine")
    return other


def timed(fn: Callable, *a, **kw) -> tuple[object, float]:
    t = time.perf_counter()
    r = fn(*a, **kw)
    return r, time.perf_counter() - t
