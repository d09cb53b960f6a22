"""Samples the server's own state every interval and stores it as ``nephoscope.*`` metrics."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable

import psutil

from nephoscope.metrics.series import IngestBatch
from nephoscope.metrics.service import MetricService
from nephoscope.metrics.summary_rows import SummaryRow, summary_batch
from nephoscope.telemetry.requests import RequestStats

log = logging.getLogger(__name__)
TENANT = "admin"


class SelfMetrics:
    def __init__(self, metrics: MetricService, stats: RequestStats, region: str,
                 gauge_sources: list[Callable[[], dict[str, float]]] | None = None) -> None:
        self.metrics = metrics
        self.stats = stats
        # Other parts' own figures (e.g. notification delivery), sampled with the store's.
        self.gauge_sources = gauge_sources or []
        self.base = {"hostname": socket.gethostname(), "service": "nephoscope", "region": region}
        self.process = psutil.Process()
        self.process.cpu_percent()
        self._last_time = time.monotonic()
        first = metrics.stats()
        self._last_points = first.points_accepted
        self._last_requests = first.requests_accepted

    def sample(self) -> IngestBatch:
        now = time.monotonic()
        elapsed = max(now - self._last_time, 1e-6)
        counters = self.metrics.stats()
        gauges = {
            "nephoscope.ingest.points_per_sec": (counters.points_accepted - self._last_points) / elapsed,
            "nephoscope.ingest.requests_per_sec": (counters.requests_accepted - self._last_requests) / elapsed,
            "nephoscope.wal.pending_points": counters.pending_points,
            "nephoscope.head.points": counters.head_points,
            "nephoscope.store.size_bytes": counters.size_bytes,
            "nephoscope.store.series": counters.series,
            "nephoscope.process.rss_bytes": self.process.memory_info().rss,
            "nephoscope.process.cpu_perc": self.process.cpu_percent(),
        }
        for source in self.gauge_sources:
            gauges.update(source())
        self._last_time, self._last_points = now, counters.points_accepted
        self._last_requests = counters.requests_accepted
        latency, rejected = self.stats.drain()
        rows = [SummaryRow.gauge(TENANT, name, self.base, value) for name, value in gauges.items()]
        rows += [SummaryRow.gauge(TENANT, "nephoscope.api.rejected_requests", {**self.base, "status": str(status)},
                                  count) for status, count in rejected.items()]
        rows += [SummaryRow(TENANT, "nephoscope.api.request_latency_ms", {**self.base, "route": route},
                            summary.count, summary.sum, summary.min, summary.max, summary.last)
                 for route, summary in latency.items()]
        return summary_batch(int(time.time() * 1000), rows)

    def record(self) -> None:
        """One sample into the store (``periodic.every`` calls it on the telemetry interval)."""
        self.metrics.record(self.sample())
