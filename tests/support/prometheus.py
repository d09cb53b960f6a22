"""Real Prometheus parts for the PromQL tests: Debian's ``prometheus`` (2.42) and
``prometheus-node-exporter``, each started on a free loopback port with its own configuration and
data directory, ``promtool``'s backfill, and the comparison of two Prometheus API answers.

``tests/services.py`` installs the Debian packages; a test that finds them missing fails under
CI=true (``tests.conftest.missing``).
"""

from __future__ import annotations

import math
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import free_port

PROMETHEUS, NODE_EXPORTER, PROMTOOL = "prometheus", "prometheus-node-exporter", "promtool"


def installed() -> str | None:
    """What is missing of the Debian packages, or None."""
    absent = [tool for tool in (PROMETHEUS, NODE_EXPORTER, PROMTOOL) if shutil.which(tool) is None]
    return ", ".join(absent) or None


def _wait(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout}s:\n{log.read_text()[-3000:]}")


@dataclass
class Managed:
    """A process of ours, with its log beside its directory."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _start(self, command: list[str], ready_path: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        log = self.directory / "process.log"
        self.process = subprocess.Popen(command, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                                        cwd=self.directory)
        _wait(self.url + ready_path, self.process, log)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class NodeExporter(Managed):
    def start(self) -> "NodeExporter":
        self._start([NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{self.port}"], "/metrics")
        return self


@dataclass
class Prometheus(Managed):
    """Prometheus with ``config`` (YAML text) over ``directory/data``."""

    config: str = "global: {}\n"
    lookback: str = "5m"

    def start(self) -> "Prometheus":
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "prometheus.yml").write_text(self.config)
        self._start([PROMETHEUS, f"--config.file={self.directory / 'prometheus.yml'}",
                     f"--storage.tsdb.path={self.directory / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
                     f"--query.lookback-delta={self.lookback}", "--storage.tsdb.retention.time=30d",
                     "--web.enable-admin-api"], "/-/ready")
        return self

    def query(self, path: str, **parameters: object) -> httpx.Response:
        if getattr(self, "_client", None) is None:
            self._client = httpx.Client(base_url=self.url, timeout=60)  # one TLS-free connection, kept
        return self._client.get(path, params=parameters)


def backfill(openmetrics: str, directory: Path) -> None:
    """``promtool tsdb create-blocks-from openmetrics``: historical samples as TSDB blocks."""
    directory.mkdir(parents=True, exist_ok=True)
    source = directory.parent / "backfill.om"
    source.write_text(openmetrics)
    result = subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(source),
                             str(directory)], capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"promtool backfill failed: {result.stdout}\n{result.stderr}")


# -- comparing answers ---------------------------------------------------------------------------
def _number(text: str) -> float:
    return float(text)  # "NaN", "+Inf", "-Inf" included


def _close(a: float, b: float, rel: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


def _points(result_type: str, result: object) -> dict[tuple, list[tuple[float, float]]]:
    """Series (labels) -> [(timestamp, value)] of any result type."""
    if result_type == "scalar" or result_type == "string":
        return {(): [(float(result[0]), result[1] if result_type == "string" else _number(result[1]))]}
    found: dict[tuple, list[tuple[float, float]]] = {}
    for item in result:
        key = tuple(sorted(item["metric"].items()))
        pairs = item["values"] if "values" in item else [item["value"]]
        found.setdefault(key, []).extend((float(t), _number(v)) for t, v in pairs)
    return found


def differences(query: str, expected: dict, actual: dict, rel: float = 1e-6, ordered: bool = False,
                most: int = 4) -> list[str]:
    """What differs between two answers (Prometheus's first), readable, at most ``most`` lines
    (and a count of the rest); [] when they agree."""
    found = _differences(query, expected, actual, rel, ordered)
    if len(found) > most:
        found = found[:most] + [f"query {query!r}: ... and {len(found) - most} more differences"]
    return found


def _differences(query: str, expected: dict, actual: dict, rel: float, ordered: bool) -> list[str]:
    where = f"query {query!r}"
    if expected.get("status") != "success" or actual.get("status") != "success":
        if expected.get("status") == actual.get("status") == "error":
            return []
        return [f"{where}: Prometheus {expected.get('status')} {expected.get('error', '')!s}; "
                f"Nephoscope {actual.get('status')} {actual.get('error', '')!s}"]
    want, got = expected["data"], actual["data"]
    if want["resultType"] != got["resultType"]:
        return [f"{where}: resultType {want['resultType']} != {got['resultType']}"]
    want_points, got_points = _points(want["resultType"], want["result"]), _points(got["resultType"], got["result"])
    problems = []
    for labels in sorted(set(want_points) - set(got_points)):
        problems.append(f"{where}: missing series {dict(labels)} ({len(want_points[labels])} points)")
    for labels in sorted(set(got_points) - set(want_points)):
        problems.append(f"{where}: unexpected series {dict(labels)} ({len(got_points[labels])} points)")
    for labels in sorted(set(want_points) & set(got_points)):
        expected_points, actual_points = want_points[labels], got_points[labels]
        want_times = [t for t, _ in expected_points]
        got_times = [t for t, _ in actual_points]
        if want_times != got_times:
            only_want = sorted(set(want_times) - set(got_times))[:5]
            only_got = sorted(set(got_times) - set(want_times))[:5]
            problems.append(f"{where} {dict(labels)}: timestamps differ (only Prometheus: {only_want}, "
                            f"only Nephoscope: {only_got}; {len(want_times)} vs {len(got_times)} points)")
            continue
        bad = [(t, a, b) for (t, a), (_, b) in zip(expected_points, actual_points)
               if not (a == b if isinstance(a, str) else _close(a, b, rel))]
        if bad:
            t, a, b = bad[0]
            problems.append(f"{where} {dict(labels)}: {len(bad)} of {len(expected_points)} values differ, "
                            f"first at {t}: Prometheus {a!r}, Nephoscope {b!r}")
    if ordered and not problems and want["resultType"] == "vector":
        want_order = [tuple(sorted(item["metric"].items())) for item in want["result"]]
        got_order = [tuple(sorted(item["metric"].items())) for item in got["result"]]
        if want_order != got_order:
            problems.append(f"{where}: order differs: Prometheus {want_order}, Nephoscope {got_order}")
    return problems
