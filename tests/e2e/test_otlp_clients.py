"""OTLP from the real clients into a real server: the OpenTelemetry SDK's OTLP/HTTP metric exporter
(PyPI ``opentelemetry-exporter-otlp-proto-http``, gzip, cumulative and delta temporality) and
Ceilometer's ``opentelemetry_http`` publisher (OTLP/JSON, Basic authentication, a delegate writing
into the projects its samples name). Both run from the telemetry clients' venv
(tests/support/clients.py); what they wrote is read back through the Monasca API.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, now_ms, wait_for
from tests.support.clients import run_client
from tests.support.monasca_reads import START
from tests.support.monasca_reads import values as measurements

SDK_SCRIPT = """
import sys
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

url, token, service, temporality = sys.argv[1:5]
kind = AggregationTemporality.DELTA if temporality == "delta" else AggregationTemporality.CUMULATIVE
exporter = OTLPMetricExporter(endpoint=url, headers={"X-Auth-Token": token}, compression=Compression.Gzip,
                              preferred_temporality={Counter: kind, Histogram: kind, UpDownCounter: kind})
reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
resource = Resource.create({"service.name": service, "service.namespace": "shop", "service.instance.id": "i-1",
                            "host.name": "web1"})
provider = MeterProvider(metric_readers=[reader], resource=resource, shutdown_on_exit=False,
                         views=[View(instrument_name="latency.exp", aggregation=ExponentialBucketHistogramAggregation())])
meter = provider.get_meter("checkout", "1.0")
orders = meter.create_counter("orders.placed", unit="{order}", description="Orders placed.")
queue = meter.create_up_down_counter("queue.size")
duration = meter.create_histogram("request.duration", unit="s", description="Request time.")
meter.create_observable_gauge("cpu.temperature", unit="Cel",
                              callbacks=[lambda options: [Observation(51.5, {"core": "0"})]])
meter.create_histogram("latency.exp", unit="ms").record(12.0)
orders.add(3, {"payment": "card"})
orders.add(2, {"payment": "cash"})
queue.add(5)
for value in (0.003, 0.02, 0.7, 3.0):
    duration.record(value, {"route": "/pay"})
assert reader.force_flush(timeout_millis=30_000)
orders.add(4, {"payment": "card"})
queue.add(-2)
assert reader.force_flush(timeout_millis=30_000)
print("exported")  # two exports; no shutdown, whose final export would repeat the cumulative values
"""

CEILOMETER_SCRIPT = """
import logging, sys, datetime
logging.disable(logging.WARNING)
from oslo_utils import netutils
from ceilometer import sample, service
from ceilometer.publisher.opentelemetry_http import OpentelemetryHttpPublisher

url, timestamp = sys.argv[1:3]
conf = service.prepare_service(argv=[], config_files=[])
publisher = OpentelemetryHttpPublisher(conf, netutils.urlsplit(url))
samples = [
    sample.Sample(name="cpu", type=sample.TYPE_CUMULATIVE, unit="ns", volume=123456789000, user_id="u1",
                  project_id="proj-a", resource_id="vm-a", timestamp=timestamp, resource_metadata={}),
    sample.Sample(name="memory.usage", type=sample.TYPE_GAUGE, unit="MB", volume=512, user_id=None,
                  project_id="proj-b", resource_id="vm-b", timestamp=timestamp, resource_metadata={}),
]
publisher.publish_samples(samples)
print("published")
"""


def dimensions_of(client: httpx.Client, name: str) -> list[dict[str, str]]:
    return [e["dimensions"] for e in client.get("/v2.0/metrics", params={"name": name}).json()["elements"]]


@pytest.fixture
def otlp_server(tmp_path: Path):
    process = ServerProcess(tmp_path / "data", extra_env={"NEPHOSCOPE_PROMETHEUS_PROJECT_LABEL": "project_id"}).start()
    yield process
    process.stop()


def test_the_opentelemetry_sdk_exporter_cumulative_and_delta(otlp_server: ServerProcess) -> None:
    token = otlp_server.create_key("shop", "monasca-agent")
    url = otlp_server.url + "/api/v1/otlp/v1/metrics"
    assert "exported" in run_client(SDK_SCRIPT, url, token, "checkout", "cumulative")
    assert "exported" in run_client(SDK_SCRIPT, url, token, "checkout-delta", "delta")
    with otlp_server.client(otlp_server.create_key("shop", "monasca-read-only-user")) as client:
        job = {"job": "shop/checkout", "instance": "i-1"}
        assert measurements(client, "orders_placed_total", payment="card", **job) == [3.0, 7.0]
        assert measurements(client, "orders_placed_total", payment="card", job="shop/checkout-delta") == [3.0, 4.0]
        assert measurements(client, "queue_size", **job) == [5.0, 3.0]
        assert measurements(client, "queue_size", job="shop/checkout-delta") == [5.0, -2.0]
        assert measurements(client, "cpu_temperature_celsius", core="0", **job) == [51.5, 51.5]
        assert measurements(client, "request_duration_seconds_count", route="/pay", **job) == [4.0, 4.0]
        assert measurements(client, "request_duration_seconds_sum", route="/pay", **job)[0] == pytest.approx(3.723)
        buckets = {d["le"]: measurements(client, "request_duration_seconds_bucket", le=d["le"], **job)[0]
                   for d in dimensions_of(client, "request_duration_seconds_bucket") if d["job"] == "shop/checkout"}
        assert buckets["0"] == 0.0 and buckets["5"] == 4.0 and buckets["+Inf"] == 4.0
        (info,) = [d for d in dimensions_of(client, "target_info") if d["job"] == "shop/checkout"]
        assert info["host_name"] == "web1" and info["telemetry_sdk_language"] == "python"
        assert "service_name" not in info
        assert dimensions_of(client, "latency_exp_milliseconds_bucket") == []  # exponential: refused
        metadata = client.get("/api/v1/metadata", params={"metric": "request_duration_seconds"}).json()["data"]
        assert metadata == {"request_duration_seconds": [{"type": "histogram", "help": "Request time.",
                                                          "unit": "seconds"}]}
    with otlp_server.client(otlp_server.create_key("elsewhere", "monasca-user")) as other:
        assert dimensions_of(other, "orders_placed_total") == []


def test_ceilometer_publishes_into_the_projects_its_samples_name(otlp_server: ServerProcess) -> None:
    service_key = otlp_server.create_key("service", "monasca-delegate")
    at = now_ms() // 1000 * 1000 - 60_000
    timestamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(at / 1000))
    url = otlp_server.url.replace("http://", f"opentelemetryhttp://ceilometer:{service_key}@") + \
        "/api/v1/otlp/v1/metrics"
    assert "published" in run_client(CEILOMETER_SCRIPT, url, timestamp)
    reader_a = otlp_server.create_key("proj-a", "monasca-read-only-user")
    reader_b = otlp_server.create_key("proj-b", "monasca-read-only-user")
    with otlp_server.client(reader_a) as client:
        wait_for(lambda: dimensions_of(client, "cpu_nanoseconds_total"), what="ceilometer's cpu sample")
        assert dimensions_of(client, "cpu_nanoseconds_total") == [
            {"project_id": "proj-a", "resource_id": "vm-a", "user_id": "u1"}]
        rows = client.get("/v2.0/metrics/measurements", params={"name": "cpu_nanoseconds_total",
                                                                 "start_time": START}).json()["elements"]
        assert rows[0]["measurements"][0][:2] == [time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(at / 1000)),
                                                  123456789000.0]
        assert dimensions_of(client, "memory_usage_MB") == []
    with otlp_server.client(reader_b) as client:
        assert dimensions_of(client, "memory_usage_MB") == [{"project_id": "proj-b", "resource_id": "vm-b"}]
        assert measurements(client, "memory_usage_MB") == [512.0]
