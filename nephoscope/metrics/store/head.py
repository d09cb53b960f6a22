"""The in-memory head: durable (in the WAL) batches not yet flushed to the store.

Batches are added in sequence order by the WAL writer. A flush takes them out but
they stay readable until the store has committed them, so a query never misses a
point that was acknowledged.
"""

from __future__ import annotations

import threading

import numpy as np

from nephoscope.metrics.series import IngestBatch, SeriesDefinition
from nephoscope.metrics.summary import Points


def batch_points(batch: IngestBatch) -> Points:
    points = batch.points
    count, total, low, high, last = points.summary_columns()
    return Points(points.series, points.timestamp, count, total, low, high, last)


class Head:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._batches: list[tuple[int, IngestBatch]] = []
        self._flushing: list[tuple[int, IngestBatch]] = []
        self._points = 0
        self.last_sequence = 0

    @property
    def points(self) -> int:
        return self._points

    @property
    def has_new_series(self) -> bool:
        """Whether some batch not yet flushed brings series the store's tables do not list yet."""
        with self._lock:
            return any(batch.tenant_series for _, batch in self._batches + self._flushing)

    def add(self, sequence: int, batch: IngestBatch) -> None:
        with self._lock:
            self._batches.append((sequence, batch))
            self._points += len(batch.points)
            self.last_sequence = sequence

    def take(self) -> list[tuple[int, IngestBatch]]:
        """Batches to flush, oldest first; they remain visible to readers until ``flushed``."""
        with self._lock:
            taken, self._batches = self._batches, []
            self._flushing = self._flushing + taken
            return taken

    def flushed(self, up_to_sequence: int) -> None:
        with self._lock:
            remaining = [(s, b) for s, b in self._flushing if s > up_to_sequence]
            self._points -= sum(len(b.points) for s, b in self._flushing if s <= up_to_sequence)
            self._flushing = remaining

    def read(self, series: np.ndarray | None, start_ms: int, end_ms: int) -> tuple[Points, np.ndarray]:
        """Points of the given series (None: all) in [start, end), with their write sequence."""
        with self._lock:
            batches = self._flushing + self._batches
        parts, sequences = [], []
        for sequence, batch in batches:
            points = batch_points(batch)
            mask = (points.timestamp >= start_ms) & (points.timestamp < end_ms)
            if series is not None:
                mask &= np.isin(points.series, series)
            if mask.any():
                parts.append(points.take(mask))
                sequences.append(np.full(int(mask.sum()), sequence, np.int64))
        if not parts:
            return Points.empty(), np.empty(0, np.int64)
        return Points.concat(parts), np.concatenate(sequences)

    def value_meta(self, series: set[int], start_ms: int, end_ms: int) -> dict[tuple[int, int], str]:
        """value_meta (JSON text) of the given series in [start, end) not yet flushed, by (series, timestamp)."""
        with self._lock:
            batches = self._flushing + self._batches
        found: dict[tuple[int, int], str] = {}
        for _, batch in batches:
            meta = batch.value_meta
            for identifier, timestamp, text in zip(meta.series, meta.timestamp, meta.meta):
                if identifier in series and start_ms <= timestamp < end_ms:
                    found[(identifier, timestamp)] = text
        return found

    def definitions(self) -> list[SeriesDefinition]:
        """The new series the batches not yet flushed bring (a cluster querier lists them)."""
        with self._lock:
            batches = self._flushing + self._batches
        return [definition for _, batch in batches for definition in batch.tenant_series]

    def series_ids(self, start_ms: int | None = None, end_ms: int | None = None) -> set[int]:
        """Series with points not yet flushed, in [start, end) when given (None: unbounded)."""
        with self._lock:
            batches = self._flushing + self._batches
        ids: set[int] = set()
        for _, batch in batches:
            series, timestamp = batch.points.series, batch.points.timestamp
            if start_ms is not None or end_ms is not None:
                inside = np.ones(len(series), bool)
                if start_ms is not None:
                    inside &= timestamp >= start_ms
                if end_ms is not None:
                    inside &= timestamp < end_ms
                series = series[inside]
            ids.update(np.unique(series).tolist())
        return ids
