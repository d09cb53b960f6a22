"""Points the server makes itself (self-metrics, metrics derived from events and logs) as one
columnar ``IngestBatch``: the one place that turns (tenant, name, dimensions, summary) rows into
series definitions and point columns. The batch defines every series it names; the metric
service keeps only those the store does not know when it records the batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from nephoscope.metrics.series import IngestBatch, PointBatch, ValueMeta, define_series


class SummaryRow(NamedTuple):
    """One point: a window summary (a gauge is a window of one: count 1, sum = min = max = last)."""

    tenant: str
    name: str
    dimensions: dict[str, str]
    count: int
    sum: float
    min: float
    max: float
    last: float

    @classmethod
    def gauge(cls, tenant: str, name: str, dimensions: dict[str, str], value: float) -> SummaryRow:
        return cls(tenant, name, dimensions, 1, value, value, value, value)


def summary_batch(timestamp_ms: int, rows: Sequence[SummaryRow]) -> IngestBatch:
    """The batch of ``rows``, all at ``timestamp_ms``."""
    definitions = [define_series(row.tenant, row.name, row.dimensions) for row in rows]
    columns = np.array([(row.count, row.sum, row.min, row.max, row.last) for row in rows],
                       dtype=np.float64).reshape(-1, 5)
    points = PointBatch(
        series=np.array([d.id for d in definitions], np.int64),
        timestamp=np.full(len(definitions), timestamp_ms, np.int64),
        count=columns[:, 0].astype(np.int64), sum=columns[:, 1], min=columns[:, 2],
        max=columns[:, 3], last=columns[:, 4])
    return IngestBatch(list({d.id: d for d in definitions}.values()), points, ValueMeta())
