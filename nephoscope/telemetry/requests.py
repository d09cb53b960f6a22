"""Per-request accounting: an ASGI middleware that times every request.

Latency is kept as one summary per route and interval (count, sum, min, max, last),
exactly the point type the store keeps, so nothing per request is stored.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass
class LatencySummary:
    count: int = 0
    sum: float = 0.0
    min: float = float("inf")
    max: float = 0.0
    last: float = 0.0

    def add(self, value: float) -> None:
        self.count += 1
        self.sum += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        self.last = value


class RequestStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.latency: dict[str, LatencySummary] = {}
        self.rejected: dict[int, int] = {}

    def record(self, route: str, status: int, milliseconds: float) -> None:
        with self._lock:
            summary = self.latency.get(route)
            if summary is None:
                summary = self.latency[route] = LatencySummary()
            summary.add(milliseconds)
            if status >= 400:
                self.rejected[status] = self.rejected.get(status, 0) + 1

    def drain(self) -> tuple[dict[str, LatencySummary], dict[int, int]]:
        with self._lock:
            latency, rejected = self.latency, self.rejected
            self.latency, self.rejected = {}, {}
        return latency, rejected


def route_group(path: str) -> str:
    """A low-cardinality name for a path (ids would explode the series count)."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return "/"
    if parts[0] in ("v2.0", "v1", "v3.0"):
        return "/" + "/".join(parts[:3 if len(parts) > 2 and parts[1] == "metrics" else 2])
    return "/" + parts[0]


class RequestTimingMiddleware:
    """Pure ASGI (no per-request object churn); also strips a trailing slash as Monasca does."""

    def __init__(self, app, stats: RequestStats) -> None:  # noqa: ANN001
        self.app = app
        self.stats = stats

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if len(path) > 1 and path.endswith("/") and not path.startswith(("/docs", "/ui")):
            scope = dict(scope, path=path.rstrip("/") or "/")
        started = time.perf_counter()
        status = 500

        async def capture(message) -> None:  # noqa: ANN001
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            self.stats.record(route_group(scope["path"]), status, (time.perf_counter() - started) * 1000)
