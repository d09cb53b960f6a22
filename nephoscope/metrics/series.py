"""The metrics domain's records: series identity and the columnar batches that carry points.

A stored point is a summary of a time window: count, sum, min, max and last. A raw
sample is a window of one. Batches are columnar (NumPy arrays), never lists of
per-sample objects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import orjson

RESOLUTIONS = (0, 60, 3600, 86_400)
"""Stored resolutions in seconds; 0 is raw data as pushed."""


def series_key(tenant: str, name: str, dimensions: dict[str, str]) -> bytes:
    """Canonical, unambiguous identity of a series: tenant, name and sorted dimensions."""
    return orjson.dumps([tenant, name, sorted(dimensions.items())])


def series_id(key: bytes) -> int:
    """64-bit series id: a hash of the canonical key, the same on every node and restart."""
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") & 0x7FFF_FFFF_FFFF_FFFF


@dataclass(frozen=True, slots=True)
class SeriesDefinition:
    id: int
    tenant: str
    name: str
    dimensions: dict[str, str]


def define_series(tenant: str, name: str, dimensions: dict[str, str]) -> SeriesDefinition:
    """The definition (and so the id) of a series; pure, the same everywhere."""
    return SeriesDefinition(series_id(series_key(tenant, name, dimensions)), tenant, name, dict(dimensions))


@dataclass(slots=True)
class PointBatch:
    """Columnar points: ``series`` ids with one row per point.

    ``value`` is set for raw samples (count 1); otherwise the summary columns are.
    """

    series: np.ndarray  # int64 series ids
    timestamp: np.ndarray  # int64 milliseconds
    value: np.ndarray | None = None  # float64, raw samples
    count: np.ndarray | None = None  # int64
    sum: np.ndarray | None = None
    min: np.ndarray | None = None
    max: np.ndarray | None = None
    last: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.series.shape[0])

    def summary_columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(count, sum, min, max, last), expanding raw samples into windows of one."""
        if self.value is not None:
            return np.ones(len(self), np.int64), self.value, self.value, self.value, self.value
        return self.count, self.sum, self.min, self.max, self.last  # type: ignore[return-value]


@dataclass(slots=True)
class ValueMeta:
    """Monasca value_meta of individual measurements: rare, so kept beside the columns."""

    series: list[int] = field(default_factory=list)
    timestamp: list[int] = field(default_factory=list)
    meta: list[str] = field(default_factory=list)  # JSON text

    def __len__(self) -> int:
        return len(self.series)


@dataclass(slots=True)
class IngestBatch:
    """What one accepted request adds: new series, points, value metadata.

    ``learned`` maps the raw bytes that named each newly seen series to its definition,
    for the decoders' series cache — remembered only once the batch is durable.
    """

    tenant_series: list[SeriesDefinition]
    points: PointBatch
    value_meta: ValueMeta
    tenant: str = ""
    learned: dict = field(default_factory=dict)


NewSeries = Callable[[Sequence[SeriesDefinition]], list[SeriesDefinition]]
"""Which of these definitions the store does not know yet (``MetricStore.new_series``)."""
