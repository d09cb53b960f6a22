"""Metrics derived from log records: access lines and record counts as window summary points.

From a batch of normalized records (``schema.RECORD_SCHEMA``), per window (``window_ms``,
default one minute) and series:

* ``log.http.requests``: one sample of value 1 per request (count = requests in the window);
* ``log.http.latency_ms``: the requests' latencies (count, sum, min, max, last);
* ``log.http.response_bytes``: the response sizes;

with dimensions ``service``, ``method``, ``endpoint`` (the path with ids masked,
``/v2.1/{id}/servers/{id}``) and ``status_class`` (``2xx``...), plus ``hostname`` and
``region`` when known; and

* ``log.records``: records per ``service``, ``category`` and ``level`` (so an alarm can watch
  the rate of true errors).

The points are the store's summary points (count, sum, min, max, last, see
``nephoscope.metrics.summary``); ``MetricPoints.to_ingest_batch`` makes the ``IngestBatch`` the
store ingests. Grouping runs in Arrow's hash aggregation: no Python loop per record.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nephoscope.logs.processing.access import endpoint_templates, status_classes
from nephoscope.metrics.series import IngestBatch, PointBatch, ValueMeta, define_series

REQUESTS = "log.http.requests"
LATENCY = "log.http.latency_ms"
RESPONSE_BYTES = "log.http.response_bytes"
RECORDS = "log.records"
_HTTP_DIMENSIONS = ("service", "method", "endpoint", "status_class", "hostname", "region")
_RECORD_DIMENSIONS = ("service", "category", "level", "hostname", "region")


@dataclass
class MetricPoints:
    """Summary points of several series: ``points.series[i]`` indexes ``names``/``dimensions``
    (the store's ids are only known once a tenant owns them, see ``to_ingest_batch``)."""

    names: list[str]
    dimensions: list[dict[str, str]]
    points: PointBatch

    def __len__(self) -> int:
        return len(self.points)

    def rows(self) -> list[dict]:
        """One dict per point (tests, printing)."""
        points = self.points
        return [{"name": self.names[s], "dimensions": self.dimensions[s], "timestamp": int(t), "count": int(c),
                 "sum": float(total), "min": float(low), "max": float(high), "last": float(last)}
                for s, t, c, total, low, high, last in zip(points.series, points.timestamp, *points.summary_columns())]

    def to_ingest_batch(self, tenant: str) -> IngestBatch:
        """The ``IngestBatch`` for ``tenant``, defining every series it names (``MetricService.record``
        keeps only those the store does not know)."""
        definitions = [define_series(tenant, name, dims)
                       for name, dims in zip(self.names, self.dimensions)]
        ids = np.array([d.id for d in definitions], np.int64)
        points = replace(self.points, series=ids[self.points.series] if len(self) else np.empty(0, np.int64))
        return IngestBatch(definitions, points, ValueMeta(), tenant)

    @staticmethod
    def concat(parts: list[MetricPoints]) -> MetricPoints:
        """Points of ``parts`` together; their series are distinct (each part is one metric name)."""
        if not parts:
            return _empty()
        offsets = np.cumsum([0] + [len(part.names) for part in parts])
        columns = {column: np.concatenate([getattr(part.points, column) for part in parts])
                   for column in ("timestamp", "count", "sum", "min", "max", "last")}
        series = np.concatenate([part.points.series + offset for part, offset in zip(parts, offsets)])
        return MetricPoints([name for part in parts for name in part.names],
                            [dims for part in parts for dims in part.dimensions], PointBatch(series, **columns))


def _empty() -> MetricPoints:
    integer, real = np.empty(0, np.int64), np.empty(0, np.float64)
    return MetricPoints([], [], PointBatch(integer, integer, count=integer, sum=real, min=real, max=real, last=real))


def log_metrics(records: pa.Table, window_ms: int = 60_000, region: str | None = None) -> MetricPoints:
    """Summary points of the access lines and of the record counts in ``records``."""
    if records.num_rows == 0:
        return _empty()
    records = records.select(["time", "region", "service", "host", "category", "level", "http_method", "http_path",
                              "http_status", "http_bytes", "http_latency_ms"])
    records = records.take(pc.sort_indices(records, [("time", "ascending")]))  # "last" means latest
    time_ms = pc.fill_null(records.column("time").cast(pa.int64()), 0)
    window = pc.multiply(pc.divide(time_ms, window_ms), window_ms)
    region_column = pa.array([region] * records.num_rows, pa.string()) if region else records.column("region")
    parts = []
    http_rows = pc.is_valid(records.column("http_status"))
    if pc.any(http_rows).as_py():
        http = records.filter(http_rows)
        http_window = window.filter(http_rows)
        table = pa.table({
            "window": http_window,
            "service": http.column("service"),
            "method": http.column("http_method"),
            "endpoint": endpoint_templates(http.column("http_path").combine_chunks()),
            "status_class": status_classes(http.column("http_status").combine_chunks()),
            "hostname": http.column("host"),
            "region": region_column.filter(http_rows),
            "one": pa.array(np.ones(http.num_rows)),
            "latency": http.column("http_latency_ms"),
            "bytes": http.column("http_bytes").cast(pa.float64()),
        })
        parts.append(_summaries(table, _HTTP_DIMENSIONS, "one", REQUESTS))
        parts.append(_summaries(table, _HTTP_DIMENSIONS, "latency", LATENCY))
        parts.append(_summaries(table, _HTTP_DIMENSIONS, "bytes", RESPONSE_BYTES))
    counts = pa.table({
        "window": window, "service": records.column("service"), "category": records.column("category"),
        "level": records.column("level"), "hostname": records.column("host"), "region": region_column,
        "one": pa.array(np.ones(records.num_rows)),
    })
    parts.append(_summaries(counts, _RECORD_DIMENSIONS, "one", RECORDS))
    return MetricPoints.concat([p for p in parts if len(p)])


def _summaries(table: pa.Table, dimensions: tuple[str, ...], value: str, name: str) -> MetricPoints:
    keys = ["window", *dimensions]
    grouped = table.group_by(keys, use_threads=False).aggregate(
        [(value, "count"), (value, "sum"), (value, "min"), (value, "max"), (value, "last")])
    grouped = grouped.filter(pc.greater(grouped.column(f"{value}_count"), 0))
    if grouped.num_rows == 0:
        return _empty()
    # one Python step per group (series x window), never per record
    names, dims_list, index = [], [], {}
    series = np.empty(grouped.num_rows, np.int64)
    for row_number, row in enumerate(grouped.select(list(dimensions)).to_pylist()):
        dims = {k: str(v) for k, v in row.items() if v is not None}
        key = tuple(sorted(dims.items()))
        if key not in index:
            index[key] = len(names)
            names.append(name)
            dims_list.append(dims)
        series[row_number] = index[key]

    def column(suffix: str, dtype: type) -> np.ndarray:
        return pc.fill_null(grouped.column(f"{value}_{suffix}"), 0).to_numpy().astype(dtype)

    return MetricPoints(names, dims_list, PointBatch(
        series, grouped.column("window").to_numpy().astype(np.int64), count=column("count", np.int64),
        sum=column("sum", np.float64), min=column("min", np.float64), max=column("max", np.float64),
        last=column("last", np.float64)))
