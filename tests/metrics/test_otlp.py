"""OTLP metrics to series (``metrics.ingest.otlp``): requests built with ``opentelemetry-proto``'s
own messages (and OTLP/JSON as the specification and Ceilometer's publisher write it), decoded,
and the series compared with what Prometheus's OTLP receiver makes of them."""

from __future__ import annotations

import json
import math

import pytest
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2 as m

from nephoscope.config import PrometheusSettings
from nephoscope.errors import Rejected
from nephoscope.metrics.ingest.otlp import OtlpDecoder, Request, parse
from nephoscope.metrics.ingest.promlabels import SeriesOwner
from nephoscope.metrics.ingest.seriescache import SeriesCache
from nephoscope.metrics.ingest.timewindow import TimeWindow

NOW_MS = 1_800_000_000_000
NOW_NS = NOW_MS * 1_000_000
WINDOW = TimeWindow(NOW_MS - 86_400_000, NOW_MS + 600_000)
OWNER = SeriesOwner("p1", False, "project")


def attributes(**values: object) -> list[common_pb2.KeyValue]:
    found = []
    for key, value in values.items():
        key = key.replace("__", ".")
        if isinstance(value, bool):
            any_value = common_pb2.AnyValue(bool_value=value)
        elif isinstance(value, int):
            any_value = common_pb2.AnyValue(int_value=value)
        elif isinstance(value, float):
            any_value = common_pb2.AnyValue(double_value=value)
        else:
            any_value = common_pb2.AnyValue(string_value=value)
        found.append(common_pb2.KeyValue(key=key, value=any_value))
    return found


def request(*metrics: m.Metric, resource: dict | None = None) -> Request:
    built = Request()
    resource_metrics = built.resource_metrics.add()
    resource_metrics.resource.attributes.extend(attributes(**(resource or {})))
    resource_metrics.scope_metrics.add(scope={"name": "test"}).metrics.extend(metrics)
    return built


def decode(built: Request, **settings: object) -> tuple[dict[tuple, list[tuple[int, float]]], object]:
    """{(name, sorted dimensions): [(ts, value)]} of a decoded request, and the result."""
    result = OtlpDecoder(lambda d: list(d), SeriesCache(), PrometheusSettings(**settings)).decode(built, OWNER, WINDOW)
    definitions = {d.id: d for d in result.batch.learned.values()}
    series: dict[tuple, list[tuple[int, float]]] = {}
    points = result.batch.points
    for identifier, timestamp, value in zip(points.series.tolist(), points.timestamp.tolist(), points.value.tolist()):
        definition = definitions[identifier]
        series.setdefault((definition.name, tuple(sorted(definition.dimensions.items()))), []).append((timestamp, value))
    return series, result


def gauge(name: str, value: float, unit: str = "", at: int = NOW_NS, **labels: object) -> m.Metric:
    return m.Metric(name=name, unit=unit, description=f"{name} help",
                    gauge=m.Gauge(data_points=[m.NumberDataPoint(time_unix_nano=at, as_double=value,
                                                                 attributes=attributes(**labels))]))


def test_resources_give_job_instance_and_target_info() -> None:
    resource = {"service__name": "checkout", "service__namespace": "shop", "service__instance__id": "i-1",
                "host__name": "web1", "cloud__region": "r1"}
    series, _ = decode(request(gauge("queue.depth", 3.0, method="GET"), resource=resource))
    assert series[("queue_depth", (("instance", "i-1"), ("job", "shop/checkout"), ("method", "GET")))] == \
        [(NOW_MS, 3.0)]
    assert series[("target_info", (("cloud_region", "r1"), ("host_name", "web1"), ("instance", "i-1"),
                                   ("job", "shop/checkout")))] == [(NOW_MS, 1.0)]


def test_target_info_spans_the_resource_points_and_needs_other_attributes() -> None:
    early = gauge("a", 1.0, at=NOW_NS - 600 * 10**9)
    series, _ = decode(request(early, gauge("a", 2.0), resource={"service__name": "s", "k8s__pod__name": "p"}))
    info = series[("target_info", (("job", "s"), ("k8s_pod_name", "p")))]
    assert [t for t, _ in info] == [NOW_MS - 600_000 + i * 150_000 for i in range(4)] + [NOW_MS]
    only_identity, _ = decode(request(gauge("a", 1.0), resource={"service__name": "s", "service__instance__id": "x"}))
    assert not any(name == "target_info" for name, _ in only_identity)
    kept, _ = decode(request(gauge("a", 1.0), resource={"service__name": "s", "k": "v"}),
                     keep_identifying_resource_attributes=True)
    assert ("target_info", (("job", "s"), ("k", "v"), ("service_name", "s"))) in kept


def test_promoted_resource_attributes_and_attribute_collisions() -> None:
    series, _ = decode(request(gauge("m", 1.0, **{"region": "from-point", "a.b": "x", "a_b": "y"}),
                               resource={"region": "from-resource", "zone": "z1", "service__name": "s"}),
                       promote_resource_attributes=["region", "zone"])
    ((name, labels),) = [key for key in series if key[0] == "m"]
    assert dict(labels) == {"region": "from-point", "zone": "z1", "a_b": "x;y", "job": "s"}


def test_sums_counters_and_deltas() -> None:
    cumulative = m.Metric(name="http.requests", unit="{request}", sum=m.Sum(
        aggregation_temporality=m.AGGREGATION_TEMPORALITY_CUMULATIVE, is_monotonic=True,
        data_points=[m.NumberDataPoint(time_unix_nano=NOW_NS, as_int=42)]))
    updown = m.Metric(name="queue.size", sum=m.Sum(aggregation_temporality=m.AGGREGATION_TEMPORALITY_CUMULATIVE,
                                                   data_points=[m.NumberDataPoint(time_unix_nano=NOW_NS, as_int=-3)]))
    delta = m.Metric(name="network.sent", unit="By", sum=m.Sum(
        aggregation_temporality=m.AGGREGATION_TEMPORALITY_DELTA, is_monotonic=True,
        data_points=[m.NumberDataPoint(time_unix_nano=NOW_NS - 10**10, as_double=100.0),
                     m.NumberDataPoint(time_unix_nano=NOW_NS, as_double=50.0)]))
    series, result = decode(request(cumulative, updown, delta))
    assert series[("http_requests_total", ())] == [(NOW_MS, 42.0)]
    assert series[("queue_size", ())] == [(NOW_MS, -3.0)]
    assert series[("network_sent_bytes_total", ())] == [(NOW_MS - 10_000, 100.0), (NOW_MS, 50.0)]  # as sent
    kinds = {entry.family: (entry.type, entry.unit) for entry in result.metadata}
    assert kinds == {"http_requests_total": ("counter", ""), "queue_size": ("gauge", ""),
                     "network_sent_bytes_total": ("unknown", "bytes")}


def test_histograms_become_classic_bucket_series() -> None:
    histogram = m.Metric(name="http.server.duration", unit="ms", histogram=m.Histogram(
        aggregation_temporality=m.AGGREGATION_TEMPORALITY_CUMULATIVE, data_points=[m.HistogramDataPoint(
            time_unix_nano=NOW_NS, count=10, sum=123.5, explicit_bounds=[0.005, 1, 2.5, 1e3],
            bucket_counts=[1, 2, 3, 0, 4], attributes=attributes(route="/"))]))
    series, result = decode(request(histogram))
    base = "http_server_duration_milliseconds"
    assert series[(base + "_sum", (("route", "/"),))] == [(NOW_MS, 123.5)]
    assert series[(base + "_count", (("route", "/"),))] == [(NOW_MS, 10.0)]
    buckets = {dict(labels)["le"]: values[0][1] for (name, labels), values in series.items() if name == base + "_bucket"}
    assert buckets == {"0.005": 1.0, "1": 3.0, "2.5": 6.0, "1000": 6.0, "+Inf": 10.0}
    assert result.metadata[0].type == "histogram" and result.metadata[0].unit == "milliseconds"


def test_summaries_and_exponential_histograms() -> None:
    summary = m.Metric(name="rpc.latency", unit="s", summary=m.Summary(data_points=[m.SummaryDataPoint(
        time_unix_nano=NOW_NS, count=4, sum=2.0, quantile_values=[
            m.SummaryDataPoint.ValueAtQuantile(quantile=0.5, value=0.4),
            m.SummaryDataPoint.ValueAtQuantile(quantile=0.99, value=math.nan)])]))
    exponential = m.Metric(name="latency", exponential_histogram=m.ExponentialHistogram(data_points=[
        m.ExponentialHistogramDataPoint(time_unix_nano=NOW_NS, count=3, scale=2)] * 2))
    series, result = decode(request(summary, exponential))
    assert series[("rpc_latency_seconds", (("quantile", "0.5"),))] == [(NOW_MS, 0.4)]
    assert ("rpc_latency_seconds", (("quantile", "0.99"),)) not in series  # NaN: accepted, not stored
    assert series[("rpc_latency_seconds_count", ())] == [(NOW_MS, 4.0)]
    assert not any(name.startswith("latency") for name, _ in series)
    response = result.response()
    assert response.partial_success.rejected_data_points == 2
    assert "exponential histograms are not stored" in response.partial_success.error_message


def test_no_recorded_value_and_the_time_window() -> None:
    stale = m.Metric(name="g", gauge=m.Gauge(data_points=[
        m.NumberDataPoint(time_unix_nano=NOW_NS, as_double=1, flags=m.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK),
        m.NumberDataPoint(time_unix_nano=NOW_NS - 2 * 86_400 * 10**9, as_double=2),
        m.NumberDataPoint(time_unix_nano=NOW_NS + 1, as_double=3)]))
    series, result = decode(request(stale))
    assert series == {("g", ()): [(NOW_MS, 3.0)]}
    assert (result.points, result.rejected, result.not_stored) == (3, 1, 1)
    assert "outside the accepted time window" in result.response().partial_success.error_message


def test_no_translation_keeps_dotted_names_as_monasca_names() -> None:
    series, _ = decode(request(gauge("cpu.utilization_perc", 12.5, unit="%", **{"host.name": "h1"})),
                       otlp_translation_strategy="NoTranslation")
    assert series == {("cpu.utilization_perc", (("host.name", "h1"),)): [(NOW_MS, 12.5)]}


def test_otlp_json_as_the_specification_writes_it() -> None:
    body = {"resourceMetrics": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "api"}}]}, "scopeMetrics": [{"metrics": [
            {"name": "jobs.done", "unit": "1", "sum": {"aggregationTemporality": 2, "isMonotonic": True, "dataPoints": [
                {"timeUnixNano": str(NOW_NS), "asInt": "7",
                 "attributes": [{"key": "ok", "value": {"boolValue": True}},
                                {"key": "n", "value": {"intValue": "3"}},
                                {"key": "ratio", "value": {"doubleValue": 0.25}},
                                {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "a"}]}}}]}]}}]}]}]}
    series, _ = decode(parse(json.dumps(body).encode(), json=True))
    assert series == {("jobs_done_total", (("job", "api"), ("n", "3"), ("ok", "true"), ("ratio", "0.25"),
                                           ("tags", '["a"]'))): [(NOW_MS, 7.0)]}


def test_ceilometer_opentelemetry_http_bodies() -> None:
    """As ceilometer/publisher/opentelemetry_http.py builds them: snake_case, cumulative meters under
    ``counter``, time_unix_nano in seconds, a missing user_id as null."""
    seconds = NOW_MS // 1000
    body = {"resource_metrics": [{"scope_metrics": [{"scope": {"name": "ceilometer", "version": "v1"}, "metrics": [
        {"name": "cpu", "description": "cpu unit:ns", "unit": "ns", "counter": {"data_points": [
            {"attributes": [{"key": "resource_id", "value": {"string_value": "vm1"}},
                            {"key": "user_id", "value": {"string_value": None}},
                            {"key": "project_id", "value": {"string_value": "p9"}}],
             "start_time_unix_nano": seconds, "time_unix_nano": seconds, "as_double": 123456789, "flags": 0}]}}]}]}]}
    series, result = decode(parse(json.dumps(body).encode(), json=True))
    assert series == {("cpu_nanoseconds_total", (("project_id", "p9"), ("resource_id", "vm1"))):
                      [(seconds * 1000, 123456789.0)]}
    assert result.metadata[0].type == "counter" and result.metadata[0].help == "cpu unit:ns"


@pytest.mark.parametrize("body, json_body", [(b"\x0a\xff", False), (b"{not json", True), (b"[1]", True),
                                             (b'{"resourceMetrics": 3}', True)])
def test_bodies_that_do_not_parse_are_400(body: bytes, json_body: bool) -> None:
    with pytest.raises(Rejected) as raised:
        parse(body, json=json_body)
    assert raised.value.status == 400
