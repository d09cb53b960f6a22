"""Aggregation at the meter: samples every interval in, one summary point per series and window out.

A window (default 60 s, aligned to the epoch) keeps count, sum, min, max and last of each series,
so a spike survives in max while the points that travel shrink by window ÷ interval, and the
server merges summaries exactly. Counters (running totals) become per-second rates here, at the
edge: the first reading only sets the base, a reset (the total went down: a reboot, a wrap)
starts again from the new base instead of producing a negative rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nephoscope.agent.samples import Sample

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(slots=True)
class Summary:
    """One series' window: the point that is sent."""

    name: str
    dimensions: dict[str, str]
    timestamp_ms: int  # the window's start
    count: int
    sum: float
    min: float
    max: float
    last: float

    @property
    def average(self) -> float:
        return self.sum / self.count


@dataclass(slots=True)
class _Open:
    count: int = 0
    sum: float = 0.0
    min: float = float("inf")
    max: float = float("-inf")
    last: float = 0.0


class Aggregator:
    def __init__(self, window_seconds: float) -> None:
        self.window_ms = int(window_seconds * 1000)
        self._windows: dict[int, dict[SeriesKey, _Open]] = {}
        self._dimensions: dict[SeriesKey, dict[str, str]] = {}
        self._counters: dict[SeriesKey, tuple[float, float]] = {}  # last (total, time in seconds)

    def add(self, samples: list[Sample], at_seconds: float) -> None:
        """Take one collection's samples, all taken at ``at_seconds`` (epoch seconds)."""
        start = int(at_seconds * 1000) // self.window_ms * self.window_ms
        window = self._windows.setdefault(start, {})
        for sample in samples:
            key = sample.key()
            value = sample.value
            if sample.kind == "counter":
                previous = self._counters.get(key)
                self._counters[key] = (value, at_seconds)
                if previous is None or value < previous[0] or at_seconds <= previous[1]:
                    continue  # a first reading, or the total went back (reset): only a new base
                value = (value - previous[0]) / (at_seconds - previous[1])
            if math.isnan(value):  # nothing measured
                continue
            if key not in self._dimensions:
                self._dimensions[key] = dict(sample.dimensions)
            point = window.get(key)
            if point is None:
                point = window[key] = _Open()
            point.count += 1
            point.sum += value
            point.min = min(point.min, value)
            point.max = max(point.max, value)
            point.last = value

    def close(self, now_seconds: float) -> list[Summary]:
        """Every window that ended at or before ``now``, oldest first."""
        now_ms = int(now_seconds * 1000)
        done = sorted(start for start in self._windows if start + self.window_ms <= now_ms)
        return self._take(done)

    def flush(self) -> list[Summary]:
        """Every window, finished or not (on shutdown, or for ``--once``)."""
        return self._take(sorted(self._windows))

    def _take(self, starts: list[int]) -> list[Summary]:
        summaries = []
        for start in starts:
            for key, point in self._windows.pop(start).items():
                summaries.append(Summary(key[0], self._dimensions[key], start, point.count, point.sum, point.min,
                                         point.max, point.last))
        return summaries

    def forget(self, keep: set[SeriesKey]) -> None:
        """Drop what is kept for series no longer collected (a VM gone, a disk unplugged), so memory
        stays bounded; series in an open window keep their dimensions until it is sent."""
        open_keys = {key for window in self._windows.values() for key in window}
        for key in [k for k in self._counters if k not in keep]:
            del self._counters[key]
        for key in [k for k in self._dimensions if k not in keep and k not in open_keys]:
            del self._dimensions[key]
