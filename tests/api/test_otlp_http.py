"""``POST /api/v1/otlp/v1/metrics`` as the OTLP/HTTP specification says a server answers: the
``ExportMetricsServiceResponse`` in the request's encoding (partial success counting refused data
points), ``google.rpc.Status`` bodies for failures, 415 for other content types, gzip bodies."""

from __future__ import annotations

import gzip
import json

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.metrics.v1 import metrics_pb2 as m

from nephoscope.metrics.ingest.proto.rpc_status_pb2 import Status
from tests.conftest import ServerProcess, now_ms

PATH = "/api/v1/otlp/v1/metrics"
PROTOBUF = {"Content-Type": "application/x-protobuf"}


def export_request(at_ms: int) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    resource = request.resource_metrics.add()
    resource.resource.attributes.add(key="service.name").value.string_value = "billing"
    metrics = resource.scope_metrics.add().metrics
    metrics.add(name="invoices.open", gauge=m.Gauge(data_points=[
        m.NumberDataPoint(time_unix_nano=at_ms * 1_000_000, as_int=12)]))
    metrics.add(name="latency", exponential_histogram=m.ExponentialHistogram(data_points=[
        m.ExponentialHistogramDataPoint(time_unix_nano=at_ms * 1_000_000, count=1)]))
    return request


def test_protobuf_request_protobuf_answer_with_partial_success(shared_server: ServerProcess) -> None:
    at = now_ms() - 1000
    with shared_server.client() as client:
        response = client.post(PATH, content=gzip.compress(export_request(at).SerializeToString()),
                               headers={**PROTOBUF, "Content-Encoding": "gzip"})
        assert response.status_code == 200 and response.headers["content-type"] == "application/x-protobuf"
        answer = ExportMetricsServiceResponse.FromString(response.content)
        assert answer.partial_success.rejected_data_points == 1
        assert "exponential histograms are not stored" in answer.partial_success.error_message
        rows = client.get("/v2.0/metrics/measurements", params={"name": "invoices_open", "dimensions": "job:billing",
                                                                 "start_time": "2000-01-01T00:00:00Z"}).json()
        assert rows["elements"][0]["measurements"][0][1] == 12.0


def test_json_request_json_answer(shared_server: ServerProcess) -> None:
    body = json_format.MessageToJson(export_request(now_ms()))
    with shared_server.client() as client:
        response = client.post(PATH, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.json()["partialSuccess"]["rejectedDataPoints"] == "1"


def test_a_fully_accepted_request_has_no_partial_success(shared_server: ServerProcess) -> None:
    request = export_request(now_ms())
    del request.resource_metrics[0].scope_metrics[0].metrics[1]
    with shared_server.client() as client:
        response = client.post(PATH, content=request.SerializeToString(), headers=PROTOBUF)
    assert response.status_code == 200
    assert not ExportMetricsServiceResponse.FromString(response.content).HasField("partial_success")


@pytest.mark.parametrize("content_type, body, status", [
    ("application/x-protobuf", b"\x0a\xff\xff", 400),
    ("application/json", b"{not json", 400),
    ("text/plain", b"x", 415),
])
def test_failures_answer_a_status_body(shared_server: ServerProcess, content_type: str, body: bytes,
                                       status: int) -> None:
    with shared_server.client() as client:
        response = client.post(PATH, content=body, headers={"Content-Type": content_type})
    assert response.status_code == status
    if content_type == "application/json":
        assert json.loads(response.content)["code"] == 3
    else:
        answer = Status.FromString(response.content)
        assert answer.code == 3 and answer.message


def test_writers_only(shared_server: ServerProcess) -> None:
    reader = shared_server.create_key("otlp-ro", "monasca-read-only-user")
    with shared_server.client(reader) as client:
        assert client.post(PATH, content=export_request(now_ms()).SerializeToString(),
                           headers=PROTOBUF).status_code == 403  # authenticated, but not a writer
    with shared_server.client(None) as client:
        assert client.post(PATH, content=b"", headers=PROTOBUF).status_code == 401
