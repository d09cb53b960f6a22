"""OTLP/HTTP metrics (``ExportMetricsServiceRequest``, protobuf or JSON) to a columnar batch.

Each data point becomes Prometheus series as Prometheus's OTLP receiver makes them, then
Nephoscope series by the one label mapping (``promlabels``):

- names and labels by ``otel_names`` under ``[prometheus] otlp_translation_strategy``;
- gauges and sums: one series; monotonic sums are counters (``_total``);
- explicit-bucket histograms: ``<name>_bucket{le}`` (cumulative over ``le``, ``+Inf`` = count),
  ``<name>_sum`` (when the point has a sum) and ``<name>_count``;
- summaries: ``<name>{quantile}``, ``<name>_sum``, ``<name>_count``;
- exponential histograms are refused: the response's partial success counts their points and
  says why (Nephoscope stores classic buckets, not native histograms);
- delta temporality is stored as sent (each point is the increase over its interval, which is
  what a window sum is: Monasca's ``statistics=sum`` and PromQL's ``sum_over_time`` give exact
  totals; ``rate`` does not apply). Turning deltas into running totals would need per-series state
  in the server that a restart or a second node loses;
- resource attributes: ``service.name`` (with ``service.namespace/``) is ``job``,
  ``service.instance.id`` is ``instance``, those in ``promote_resource_attributes`` are copied
  onto every series (data point attributes win), and the rest go to a ``target_info`` series
  (value 1, every 2.5 minutes across the resource's points, as Prometheus writes it);
- points flagged "no recorded value" (OTLP's staleness) and NaN values are accepted and not
  stored; points outside the store's time window are rejected in the partial success.

Clients: any OpenTelemetry SDK or collector, and Ceilometer's ``opentelemetry_http`` publisher,
whose JSON carries two quirks read here as it means them: cumulative meters under a ``counter``
member (read as a monotonic cumulative sum) and ``time_unix_nano`` in seconds (timestamps before
1973 in nanoseconds are read as seconds, milliseconds or microseconds by their magnitude).
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field

import numpy as np
import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2

from nephoscope.config import PrometheusSettings
from nephoscope.errors import Rejected
from nephoscope.metrics.ingest.otel_names import Kind, NameError_, Namer
from nephoscope.metrics.ingest.promlabels import NAME, SeriesOwner, series_from_labels
from nephoscope.metrics.ingest.seriescache import SeriesCache
from nephoscope.metrics.ingest.timewindow import TimeWindow
from nephoscope.metrics.metadata import FamilyMetadata
from nephoscope.metrics.series import IngestBatch, NewSeries, PointBatch, ValueMeta

Request = metrics_service_pb2.ExportMetricsServiceRequest
Response = metrics_service_pb2.ExportMetricsServiceResponse

_CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
_DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
_NO_RECORDED_VALUE = metrics_pb2.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
_IDENTIFYING = ("service.name", "service.namespace", "service.instance.id")
_TARGET_INFO_STEP_MS = 150_000  # half of Prometheus's 5-minute lookback, as its receiver writes target_info


@dataclass(slots=True)
class Otlp:
    """A decoded request: the batch to make durable and the partial success to answer."""

    batch: IngestBatch
    points: int = 0  # data points received
    rejected: int = 0  # ... refused (exponential histograms, outside the time window, bad names)
    not_stored: int = 0  # ... accepted without a stored value (no recorded value, NaN)
    outside: int = 0  # ... rejected for lying outside the time window
    messages: list[str] = field(default_factory=list)
    metadata: list[FamilyMetadata] = field(default_factory=list)

    def response(self) -> Response:
        response = Response()
        if self.rejected or self.messages:
            response.partial_success.rejected_data_points = self.rejected
            response.partial_success.error_message = "; ".join(self.messages)
        return response


def parse(body: bytes, json: bool) -> Request:
    """An ``ExportMetricsServiceRequest`` from OTLP/HTTP protobuf or JSON (400 naming what is wrong)."""
    if not json:
        try:
            return Request.FromString(body)
        except DecodeError as error:
            raise Rejected(400, f"the body is not a valid OTLP ExportMetricsServiceRequest: {error}") from None
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise Rejected(400, f"the body is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise Rejected(400, "the body must be a JSON object (an OTLP ExportMetricsServiceRequest)")
    _read_ceilometer_counters(document)
    try:
        # OTLP/JSON receivers must ignore unknown fields (the protocol's forward compatibility).
        return json_format.ParseDict(document, Request(), ignore_unknown_fields=True)
    except json_format.ParseError as error:
        raise Rejected(400, f"the body is not a valid OTLP ExportMetricsServiceRequest: {error}") from None


def _read_ceilometer_counters(document: dict) -> None:
    """Ceilometer's publisher puts cumulative meters under ``counter``: read it as a monotonic cumulative sum."""
    for resource in _members(document, "resourceMetrics", "resource_metrics"):
        for scope in _members(resource, "scopeMetrics", "scope_metrics"):
            for metric in _members(scope, "metrics"):
                if isinstance(metric, dict) and isinstance(metric.get("counter"), dict) and "sum" not in metric:
                    counter = metric.pop("counter")
                    metric["sum"] = {**counter, "aggregationTemporality": _CUMULATIVE, "isMonotonic": True}


def _members(parent: object, *names: str) -> list:
    if not isinstance(parent, dict):
        return []
    for name in names:
        if isinstance(parent.get(name), list):
            return parent[name]
    return []


def _text(value) -> str:  # noqa: ANN001 - an OTLP AnyValue
    """An attribute value as a label value (pcommon's AsString)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return _float_text(value.double_value)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind in ("array_value", "kvlist_value"):
        return orjson.dumps(_raw(value), option=orjson.OPT_SORT_KEYS).decode()
    return ""


def _raw(value) -> object:  # noqa: ANN001 - an OTLP AnyValue
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_raw(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {item.key: _raw(item.value) for item in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind) if kind else None


def _float_text(number: float) -> str:
    """Go's strconv.FormatFloat(v, 'f', -1, 64): the shortest exact decimal, never an exponent."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    return np.format_float_positional(number, trim="-")


def _milliseconds(nanos: int) -> int:
    """time_unix_nano to ms; values too small to be nanoseconds of this era are read by their magnitude."""
    if nanos >= 10**17:
        return nanos // 1_000_000
    if nanos >= 10**14:
        return nanos // 1_000
    if nanos >= 10**11:
        return nanos
    return nanos * 1000


class OtlpDecoder:
    def __init__(self, new_series: NewSeries, cache: SeriesCache, settings: PrometheusSettings) -> None:
        self.new_series = new_series
        self.cache = cache
        self.settings = settings
        self.namer = Namer.for_strategy(settings.otlp_translation_strategy)
        self.promoted = set(settings.promote_resource_attributes)

    def decode(self, request: Request, owner: SeriesOwner, window: TimeWindow) -> Otlp:
        rows = _Rows()
        result = Otlp(IngestBatch([], PointBatch(np.zeros(0, np.int64), np.zeros(0, np.int64)), ValueMeta()))
        metadata: dict[str, FamilyMetadata] = {}
        for resource_metrics in request.resource_metrics:
            attributes = [(item.key, _text(item.value)) for item in resource_metrics.resource.attributes]
            metrics = [metric for scope_metrics in resource_metrics.scope_metrics for metric in scope_metrics.metrics]
            try:
                resource_labels = self._resource_labels(attributes)
                info_labels = self._target_info_labels(attributes)
            except NameError_ as error:
                refused = sum(len(getattr(m, m.WhichOneof("data")).data_points) for m in metrics if m.WhichOneof("data"))
                result.points += refused
                result.rejected += refused
                result.messages.append(f"resource attributes: {error}")
                continue
            first = len(rows)
            for metric in metrics:
                self._metric(metric, resource_labels, rows, result, metadata, window)
            if info_labels and len(rows) > first:
                earliest, latest = min(rows.timestamps[first:]), max(rows.timestamps[first:])
                for timestamp in [*range(earliest, latest, _TARGET_INFO_STEP_MS), latest]:
                    rows.add(info_labels, timestamp, 1.0)
        if result.outside:
            result.messages.append(f"{result.outside} data points lie outside the accepted time window "
                                   f"({window.oldest_ms} to {window.newest_ms} ms since the epoch)")
        result.metadata = list(metadata.values())
        result.batch = self._batch(rows, owner)
        return result

    # -- resources ------------------------------------------------------------------------------
    def _resource_labels(self, attributes: list[tuple[str, str]]) -> tuple[dict[str, str], dict[str, str]]:
        """(labels promoted from the resource, job and instance) of one resource."""
        found = dict(attributes)
        promoted = {}
        for key, value in attributes:
            if key in self.promoted:
                promoted.setdefault(self.namer.label(key), value)
        identity = {}
        if "service.name" in found:
            namespace = found.get("service.namespace")
            identity["job"] = f"{namespace}/{found['service.name']}" if namespace else found["service.name"]
        if "service.instance.id" in found:
            identity["instance"] = found["service.instance.id"]
        return promoted, identity

    def _target_info_labels(self, attributes: list[tuple[str, str]]) -> dict[str, str] | None:
        """The labels of the resource's ``target_info`` series; None when it has only identifying attributes."""
        if not any(key not in _IDENTIFYING for key, _ in attributes):
            return None
        kept = attributes if self.settings.keep_identifying_resource_attributes else [
            (key, value) for key, value in attributes if key not in _IDENTIFYING]
        labels = self._labels(kept)
        labels.update(self._resource_labels(attributes)[1])
        labels[NAME] = "target_info"
        return labels

    def _labels(self, attributes: list[tuple[str, str]]) -> dict[str, str]:
        """Attributes to labels; names that translate alike join their values with ';' (in key order)."""
        labels: dict[str, str] = {}
        for key, value in sorted(attributes):
            name = self.namer.label(key)
            labels[name] = f"{labels[name]};{value}" if labels.get(name) else value
        return labels

    # -- metrics --------------------------------------------------------------------------------
    def _metric(self, metric, resource: tuple[dict, dict], rows: "_Rows", result: Otlp,  # noqa: ANN001 - Metric
                metadata: dict[str, FamilyMetadata], window: TimeWindow) -> None:
        data = metric.WhichOneof("data")
        if data is None:
            return
        points = getattr(metric, data).data_points
        result.points += len(points)
        if data == "exponential_histogram":
            result.rejected += len(points)
            result.messages.append(f"metric {metric.name!r}: exponential histograms are not stored "
                                   f"({len(points)} data points refused); export explicit-bucket histograms")
            return
        kind, kind_text = self._kind(metric, data)
        try:
            name = self.namer.metric(metric.name, metric.unit, kind)
        except NameError_ as error:
            result.rejected += len(points)
            result.messages.append(str(error))
            return
        metadata[name] = FamilyMetadata(name, kind_text, metric.description, self.namer.unit(metric.unit))
        promoted, identity = resource
        for point in points:
            timestamp = _milliseconds(point.time_unix_nano)
            if timestamp < window.oldest_ms or timestamp > window.newest_ms:
                result.rejected += 1
                result.outside += 1
                continue
            if point.flags & _NO_RECORDED_VALUE:
                result.not_stored += 1
                continue
            try:
                labels = self._labels([(item.key, _text(item.value)) for item in point.attributes])
            except NameError_ as error:
                result.rejected += 1
                result.messages.append(f"metric {metric.name!r}: {error}")
                continue
            for key, value in promoted.items():
                if not labels.get(key):
                    labels[key] = value
            labels.update(identity)
            if data in ("gauge", "sum"):
                value = point.as_double if point.WhichOneof("value") == "as_double" else float(point.as_int)
                self._add(rows, result, labels, name, timestamp, value)
            elif data == "histogram":
                self._histogram(point, labels, name, timestamp, rows, result)
            else:
                self._summary(point, labels, name, timestamp, rows, result)

    @staticmethod
    def _kind(metric, data: str) -> tuple[Kind, str]:  # noqa: ANN001 - Metric
        if data == "gauge":
            return Kind.GAUGE, "gauge"
        if data == "sum":
            if not metric.sum.is_monotonic:
                return Kind.SUM, "gauge"
            # Stored deltas are increases per interval, not a counter's running total.
            return Kind.COUNTER, "counter" if metric.sum.aggregation_temporality != _DELTA else "unknown"
        if data == "histogram":
            return Kind.HISTOGRAM, "histogram"
        return Kind.SUMMARY, "summary"

    @staticmethod
    def _add(rows: "_Rows", result: Otlp, labels: dict[str, str], name: str, timestamp: int, value: float,
             **extra: str) -> None:
        if math.isnan(value):
            result.not_stored += 1
            return
        rows.add({**labels, **extra, NAME: name}, timestamp, value)

    def _histogram(self, point, labels: dict[str, str], name: str, timestamp: int, rows: "_Rows",  # noqa: ANN001
                   result: Otlp) -> None:
        if point.HasField("sum"):
            self._add(rows, result, labels, name + "_sum", timestamp, point.sum)
        rows.add({**labels, NAME: name + "_count"}, timestamp, float(point.count))
        cumulative = 0
        counts = point.bucket_counts
        for index, bound in enumerate(point.explicit_bounds):
            if index < len(counts):
                cumulative += counts[index]
            rows.add({**labels, "le": _float_text(bound), NAME: name + "_bucket"}, timestamp, float(cumulative))
        rows.add({**labels, "le": "+Inf", NAME: name + "_bucket"}, timestamp, float(point.count))

    def _summary(self, point, labels: dict[str, str], name: str, timestamp: int, rows: "_Rows",  # noqa: ANN001
                 result: Otlp) -> None:
        self._add(rows, result, labels, name + "_sum", timestamp, point.sum)
        rows.add({**labels, NAME: name + "_count"}, timestamp, float(point.count))
        for quantile in point.quantile_values:
            self._add(rows, result, labels, name, timestamp, quantile.value, quantile=_float_text(quantile.quantile))

    # -- the batch ------------------------------------------------------------------------------
    def _batch(self, rows: "_Rows", owner: SeriesOwner) -> IngestBatch:
        scope = owner.cache_scope("otlp")
        keys = [tuple(sorted(labels.items())) for labels in rows.labels]
        ids, defined = self.cache.resolve(scope, keys, lambda index, key: series_from_labels(
            key, owner, "resourceMetrics"))
        definitions = self.new_series(list({d.id: d for d in defined.values()}.values()))
        points = PointBatch(np.array(ids, np.int64), np.array(rows.timestamps, np.int64),
                            value=np.array(rows.values, np.float64))
        return IngestBatch(definitions, points, ValueMeta(), scope, defined)


class _Rows:
    """The samples a request makes, one per series and timestamp, in arrival order."""

    def __init__(self) -> None:
        self.labels: list[dict[str, str]] = []
        self.timestamps: list[int] = []
        self.values: list[float] = []

    def __len__(self) -> int:
        return len(self.timestamps)

    def add(self, labels: dict[str, str], timestamp: int, value: float) -> None:
        self.labels.append(labels)
        self.timestamps.append(timestamp)
        self.values.append(value)
