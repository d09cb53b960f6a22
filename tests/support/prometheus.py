"""Debian's Prometheus (2.42) and node exporter (1.5) as the suite's own processes.

Each runs on a free loopback port with its own configuration and data directory (never the
machine's services): the node exporter serves this host's metrics, Prometheus scrapes it (and
any other targets) and remote-writes everything to a Nephoscope server, and its own TSDB and
query API are the reference the comparisons read. ``backfill`` gives Prometheus historical
samples (``promtool tsdb create-blocks-from openmetrics``), and ``differences`` compares two
answers of the query API point by point. Installed by ``tests/services.py``.
"""

from __future__ import annotations

import contextlib
import math
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import ServerProcess, free_port, missing


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing(f"Debian's {name} is not installed", "tests/services.py installs it (apt-get install " + name + ")")
    return path  # type: ignore[return-value]


def _wait(url: str, process: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout}s:\n{log.read_text(errors='replace')[-3000:]}")


@dataclass
class Managed:
    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def log_path(self) -> Path:
        return self.directory / "process.log"

    def _start(self, command: list[str], ready_path: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        _wait(self.url + ready_path, self.process, self.log_path)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class NodeExporter(Managed):
    def start(self) -> "NodeExporter":
        self._start([_binary("prometheus-node-exporter"), f"--web.listen-address={self.address}"], "/metrics")
        return self


@dataclass
class Prometheus(Managed):
    """``targets``: host:port to scrape every ``scrape_interval``; ``remote_write``: (url, token) or None."""

    targets: list[str] = field(default_factory=list)
    remote_write: tuple[str, str] | None = None
    scrape_interval: str = "1s"
    target_labels: dict[str, str] = field(default_factory=dict)  # added to every scraped series

    def config(self) -> str:
        lines = ["global:", f"  scrape_interval: {self.scrape_interval}", f"  scrape_timeout: {self.scrape_interval}",
                 f"  evaluation_interval: {self.scrape_interval}",
                 "scrape_configs:", "  - job_name: node", "    static_configs:",
                 f"      - targets: [{', '.join(repr(t) for t in self.targets)}]"]
        if self.target_labels:
            lines += ["        labels:", *(f"          {key}: {value!r}" for key, value in self.target_labels.items())]
        if self.remote_write:
            url, token = self.remote_write
            # Bearer, not a custom X-Auth-Token header: Debian's 2.42 build does not send remote_write headers.
            lines += ["remote_write:", f"  - url: {url}", "    authorization:", "      type: Bearer",
                      f"      credentials: {token}",
                      "    metadata_config:", "      send_interval: 2s",
                      "    queue_config:", "      batch_send_deadline: 1s", "      min_backoff: 100ms",
                      "      max_backoff: 1s"]
        return "\n".join(lines) + "\n"

    def start(self) -> "Prometheus":
        self.directory.mkdir(parents=True, exist_ok=True)
        configuration = self.directory / "prometheus.yml"
        configuration.write_text(self.config())
        self._start([_binary("prometheus"), f"--config.file={configuration}", f"--web.listen-address={self.address}",
                     f"--storage.tsdb.path={self.directory / 'data'}", "--storage.tsdb.retention.time=1d",
                     "--web.enable-admin-api"], "/-/ready")
        return self

    def query(self, path: str, **parameters: object) -> httpx.Response:
        """A GET of the query API on one kept connection (a new client per request costs a TLS
        context even for http)."""
        if getattr(self, "_client", None) is None:
            self._client = httpx.Client(base_url=self.url, timeout=60)
        return get(self._client, path, parameters)

    def api(self, path: str, **params: object) -> dict:
        response = httpx.get(self.url + "/api/v1/" + path, params=params, timeout=30)
        response.raise_for_status()
        return response.json()["data"]

    def remote_write_sent(self) -> float:
        """Samples Prometheus has sent through remote write (its own counter)."""
        text = httpx.get(self.url + "/metrics", timeout=10).text
        return sum(float(line.rpartition(" ")[2]) for line in text.splitlines()
                   if line.startswith("prometheus_remote_storage_samples_total"))


def get(client: httpx.Client, path: str, parameters: dict) -> httpx.Response:
    """A GET that tries once more when a kept-alive connection was closed under it."""
    try:
        return client.get(path, params=parameters)
    except (httpx.ReadError, httpx.RemoteProtocolError):
        return client.get(path, params=parameters)


def backfill(openmetrics: str, directory: Path) -> None:
    """``promtool tsdb create-blocks-from openmetrics``: historical samples as TSDB blocks."""
    directory.mkdir(parents=True, exist_ok=True)
    source = directory.parent / "backfill.om"
    source.write_text(openmetrics)
    result = subprocess.run([_binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(source),
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
    if found and _SELECTS_AMONG_TIES.search(query) and _same_values_each_moment(expected, actual, rel):
        found = []  # topk/bottomk chose other series among equal values: Prometheus's pick is its heap's order
    if len(found) > most:
        found = found[:most] + [f"query {query!r}: ... and {len(found) - most} more differences"]
    return found


_SELECTS_AMONG_TIES = re.compile(r"\b(topk|bottomk)\b")


def _same_values_each_moment(expected: dict, actual: dict, rel: float) -> bool:
    """Whether both answers hold the same multiset of values at every timestamp (labels aside)."""
    if expected.get("status") != "success" or actual.get("status") != "success":
        return False
    moments: list[dict[float, list[float]]] = []
    for answer in (expected["data"], actual["data"]):
        if answer["resultType"] not in ("vector", "matrix"):
            return False
        at: dict[float, list[float]] = {}
        for points in _points(answer["resultType"], answer["result"]).values():
            for t, value in points:
                at.setdefault(t, []).append(value)
        moments.append(at)
    want, got = moments
    if set(want) != set(got):
        return False
    return all(len(want[t]) == len(got[t]) and all(_close(a, b, rel) for a, b in zip(sorted(want[t]), sorted(got[t])))
               for t in want)


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
        # Series of equal value may come in any order (Prometheus's sort is not stable): the values,
        # in the order given, must agree.
        want_values = [_number(item["value"][1]) for item in want["result"]]
        got_values = [_number(item["value"][1]) for item in got["result"]]
        if not all(_close(a, b, rel) for a, b in zip(want_values, got_values)):
            problems.append(f"{where}: order differs: Prometheus {want_values}, Nephoscope {got_values}")
    return problems


@contextlib.contextmanager
def backfilled_beside_nephoscope(root: Path, openmetrics: str, project: str) -> Iterator[tuple[Prometheus,
                                                                                              ServerProcess, str]]:
    """Debian's Prometheus holding ``openmetrics`` as TSDB blocks and a Nephoscope beside it, both
    started under ``root``; yields them with a ``monasca-user`` token of ``project`` (what the test
    writes into Nephoscope is its own business). Prometheus's default evaluation interval (1m) is the
    step of subqueries written without one, as Nephoscope's default ``[prometheus] subquery_step``."""
    backfill(openmetrics, root / "prometheus" / "data")
    (root / "nephoscope").mkdir()
    prometheus = Prometheus(root / "prometheus", scrape_interval="1m")
    server = ServerProcess(root / "nephoscope" / "data")
    try:
        prometheus.start()
        server.start()
        yield prometheus, server, server.create_key(project, "monasca-user")
    finally:
        server.stop()
        prometheus.stop()
