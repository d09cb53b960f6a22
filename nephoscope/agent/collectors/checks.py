"""Service checks: HTTP endpoints answer (status, latency) and named processes run.

Names follow monasca-agent: ``http_status`` (0 up, 1 down) and ``http_response_time`` (seconds)
with dimensions ``url`` and ``service``; ``process.pid_count`` with ``process_name`` (0 means the
service is not running — an alarm ``max(process.pid_count{process_name=nova-compute}) < 1``).
HTTP checks run in parallel threads with their own timeouts, so one hung endpoint does not
delay the others or the next collection.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import psutil

from nephoscope.agent.config import HttpCheck, ProcessCheck
from nephoscope.agent.samples import Sample


class HttpCollector:
    name = "http_check"

    def __init__(self, checks: list[HttpCheck]) -> None:
        self.checks = checks
        self._pool = ThreadPoolExecutor(max_workers=min(8, max(1, len(checks))), thread_name_prefix="http-check")

    def collect(self) -> list[Sample]:
        return [sample for samples in self._pool.map(self._check, self.checks) for sample in samples]

    @staticmethod
    def _check(check: HttpCheck) -> list[Sample]:
        dimensions = {"url": check.url, "service": check.name or check.url}
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(urllib.request.Request(check.url, method="GET"),
                                        timeout=check.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        except (OSError, ValueError):
            return [Sample("http_status", 1.0, dimensions)]
        elapsed = time.perf_counter() - started
        healthy = status == check.expected_status if check.expected_status else 200 <= status < 400
        return [Sample("http_status", 0.0 if healthy else 1.0, dimensions),
                Sample("http_response_time", elapsed, dimensions)]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class ProcessCollector:
    name = "process"

    def __init__(self, checks: list[ProcessCheck]) -> None:
        self.checks = [(check.name, check.pattern or check.name) for check in checks]

    def collect(self) -> list[Sample]:
        counts = {name: 0 for name, _ in self.checks}
        for process in psutil.process_iter(["cmdline", "name"]):
            command = " ".join(process.info.get("cmdline") or []) or (process.info.get("name") or "")
            for name, pattern in self.checks:
                if pattern in command:
                    counts[name] += 1
        return [Sample("process.pid_count", float(count), {"process_name": name}) for name, count in counts.items()]
