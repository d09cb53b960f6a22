"""Debian's Prometheus (2.42) and node exporter (1.5) as the suite's own processes.

Each runs on a free loopback port with its own configuration and data directory (never the
machine's services): the node exporter serves this host's metrics, Prometheus scrapes it (and
any other targets) and remote-writes everything to a Nephoscope server, and its own TSDB and
query API are the reference the comparisons read. Installed by ``tests/services.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import free_port, missing


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
    scrape_interval: str = "2s"

    def config(self) -> str:
        lines = ["global:", f"  scrape_interval: {self.scrape_interval}", f"  scrape_timeout: {self.scrape_interval}",
                 f"  evaluation_interval: {self.scrape_interval}",
                 "scrape_configs:", "  - job_name: node", "    static_configs:",
                 f"      - targets: [{', '.join(repr(t) for t in self.targets)}]"]
        if self.remote_write:
            url, token = self.remote_write
            # Bearer: Debian's 2.42 does not send remote_write's custom `headers`.
            lines += ["remote_write:", f"  - url: {url}", "    authorization:", f"      credentials: {token}",
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

    def api(self, path: str, **params: object) -> dict:
        response = httpx.get(self.url + "/api/v1/" + path, params=params, timeout=30)
        response.raise_for_status()
        return response.json()["data"]

    def remote_write_sent(self) -> float:
        """Samples Prometheus has sent through remote write (its own counter)."""
        text = httpx.get(self.url + "/metrics", timeout=10).text
        return sum(float(line.rpartition(" ")[2]) for line in text.splitlines()
                   if line.startswith("prometheus_remote_storage_samples_total"))
