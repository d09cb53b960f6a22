"""Samples the server's own state every interval and stores it as ``nephoscope.*`` metrics."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable

import psutil

from nephoscope.model import IngestBatch
from nephoscope.store.engine import Store
from nephoscope.telemetry.points import SummaryRow, summary_batch
from nephoscope.telemetry.requests import RequestStats

log = logging.getLogger(__name__)
TENANT = "admin"


class SelfMetrics:
    def __init__(self, store: Store, stats: RequestStats, region: str,
                 gauge_sources: list[Callable[[], dict[str, float]]] | None = None) -> None:
        self.store = store
        self.stats = stats
        # Other parts' own figures (e.g. notification delivery), sampled with the store's.
        self.gauge_sources = gauge_sources or []
        self.base = {"hostname": socket.gethostname(), "service": "nephoscope", "region": region}
        self.process = psutil.Process()
        self.process.cpu_percent()
        self._last_time = time.monotonic()
        self._last_points = store.counters.points_accepted
        self._last_requests = store.counters.requests_accepted

    def sample(self) -> IngestBatch:
        now = time.monotonic()
        elapsed = max(now - self._last_time, 1e-6)
        counters = self.store.counters
        gauges = {
            "nephoscope.ingest.points_per_sec": (counters.points_accepted - self._last_points) / elapsed,
            "nephoscope.ingest.requests_per_sec": (counters.requests_accepted - self._last_requests) / elapsed,
            "nephoscope.wal.pending_points": self.store.wal.pending_points,
            "nephoscope.head.points": self.store.head.points,
            "nephoscope.store.size_bytes": self.store.size_bytes(),
            "nephoscope.store.series": len(self.store.registry),
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
        return summary_batch(self.store.registry, int(time.time() * 1000), rows)

    def record(self) -> None:
        """One sample into the store (``periodic.every`` calls it on the telemetry interval)."""
        self.store.write_now(self.sample())
