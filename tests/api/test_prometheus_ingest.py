"""Remote write and metric metadata over HTTP against a real server, read back through the Monasca API.

Bodies are built with the specification's schema (tests/support/remote_write.py) and posted as
Prometheus posts them. What a remote-written series is to Monasca's reads is the series model
of docs/prometheus.md: the name is ``__name__``, the dimensions the other labels, verbatim.
"""

from __future__ import annotations

import base64
import math
import struct
import time

import cramjam
import httpx
import pytest

from nephoscope.metrics.ingest.proto import prometheus_v1_pb2 as v1
from tests.conftest import ServerProcess, now_ms, wait_for
from tests.support import remote_write
from tests.support.monasca_reads import START, measurements
from tests.support.remote_write import post, v1_body, v2_body

STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def test_remote_write_1_0_is_durable_and_read_through_monasca(server: ServerProcess) -> None:
    t0 = now_ms() - 60_000
    body = v1_body([({"__name__": "node_load1", "instance": "h1", "job": "node"}, [(0.25, t0)]),
                    ({"__name__": "node_load1", "instance": "h2", "job": "node"}, [(1.5, t0)]),
                    ({"__name__": "node_load1", "instance": "h1", "job": "node"}, [(0.0, t0 + 15_000)]),
                    ({"__name__": "node_load1", "instance": "h1", "job": "node"}, [(-2.75, t0 + 30_000)])])
    with server.client() as client:
        response = post(client, body)
        assert response.status_code == 204, response.text
        assert response.headers["X-Prometheus-Remote-Write-Samples-Written"] == "4"
        assert response.headers["X-Prometheus-Remote-Write-Histograms-Written"] == "0"
        assert response.headers["X-Prometheus-Remote-Write-Exemplars-Written"] == "0"
    server.kill9()  # a 204 means durable
    server.start()
    with server.client() as client:
        listed = client.get("/v2.0/metrics", params={"name": "node_load1"}).json()["elements"]
        assert sorted(e["dimensions"]["instance"] for e in listed) == ["h1", "h2"]
        assert all(e["dimensions"]["job"] == "node" for e in listed)
        assert measurements(client, "node_load1", instance="h1") == [
            (iso(t0), 0.25), (iso(t0 + 15_000), 0.0), (iso(t0 + 30_000), -2.75)]
        statistics = client.get("/v2.0/metrics/statistics", params={
            "name": "node_load1", "start_time": START, "period": "86400000", "statistics": "count,sum,max",
            "merge_metrics": "true"}).json()["elements"][0]["statistics"]
        assert sum(row[1] for row in statistics) == 4 and sum(row[2] for row in statistics) == pytest.approx(-1.0)


def test_names_monasca_would_refuse_are_stored_verbatim_and_monasca_reads_answer(shared_server: ServerProcess) -> None:
    t0 = now_ms() - 30_000
    labels = {"__name__": "ünïcode{metric}=1", "k=y": "a,b;c&d", "zone": "Zürich", "_private": "x"}
    with shared_server.client() as client:
        assert post(client, v1_body([(labels, [(7.0, t0)])])).status_code == 204
        listed = client.get("/v2.0/metrics").json()["elements"]
        (element,) = [e for e in listed if e["name"] == "ünïcode{metric}=1"]
        assert element["dimensions"] == {"k=y": "a,b;c&d", "zone": "Zürich", "_private": "x"}
        assert "ünïcode{metric}=1" in [e["name"] for e in client.get("/v2.0/metrics/names").json()["elements"]]
        values = client.get("/v2.0/metrics/dimensions/names/values", params={"dimension_name": "zone"}).json()
        assert "Zürich" in [e["dimension_value"] for e in values["elements"]]


def test_remote_write_2_0_answers_what_it_wrote(shared_server: ServerProcess) -> None:
    t0 = now_ms() - 20_000
    entries = [({"__name__": "rpc_requests_total", "method": "get"}, [(10.0, t0), (12.0, t0 + 1000)]),
               ({"__name__": "rpc_requests_total", "method": "put"}, [(3.0, t0)]),
               ({"__name__": "rpc_requests_total", "method": "get"}, [])]  # an exemplar-only entry
    body = v2_body(entries, exemplars=[0, 0, 2], metadata={"rpc_requests_total": (1, "Requests served.")})
    with shared_server.client() as client:
        response = post(client, body, version=2)
        assert response.status_code == 204, response.text
        assert response.headers["X-Prometheus-Remote-Write-Samples-Written"] == "3"
        assert response.headers["X-Prometheus-Remote-Write-Exemplars-Written"] == "0"
        assert measurements(client, "rpc_requests_total", method="get") == [(iso(t0), 10.0), (iso(t0 + 1000), 12.0)]
        metadata = client.get("/api/v1/metadata", params={"metric": "rpc_requests_total"}).json()
        assert metadata == {"status": "success", "data": {"rpc_requests_total": [
            {"type": "counter", "help": "Requests served.", "unit": ""}]}}


@pytest.mark.parametrize("headers, status, says", [
    ({"Content-Type": "application/json"}, 415, "is not supported"),
    ({"Content-Type": "application/x-protobuf;proto=io.prometheus.write.v3.Request"}, 415, "proto="),
    ({"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}, 415, "snappy"),
])
def test_unsupported_content_types_and_encodings_are_415(shared_server: ServerProcess, headers: dict, status: int,
                                                         says: str) -> None:
    with shared_server.client() as client:
        response = client.post("/api/v1/write", content=remote_write.snappy(v1_body([])), headers=headers)
    assert response.status_code == status and says in response.json()["description"]


def test_bodies_that_do_not_parse_are_400_naming_what_is_wrong(shared_server: ServerProcess) -> None:
    t0 = now_ms()
    with shared_server.client() as client:
        not_snappy = client.post("/api/v1/write", content=b"\x07not snappy", headers=remote_write.V1_HEADERS)
        assert not_snappy.status_code == 400 and "snappy" in not_snappy.json()["description"]
        not_protobuf = client.post("/api/v1/write", content=remote_write.snappy(b"\x0a\xff\xff"),
                                   headers=remote_write.V1_HEADERS)
        assert not_protobuf.status_code == 400 and "prometheus.WriteRequest" in not_protobuf.json()["description"]
        nameless = post(client, v1_body([({"__name__": "ok"}, [(1.0, t0)]), ({"job": "x"}, [(1.0, t0)])]))
        assert nameless.status_code == 400
        assert nameless.json() == {"title": "Bad Request", "field": "timeseries[1]",
                                   "description": "timeseries[1]: the series has no __name__ label (its metric name)"}
        bad_utf8 = v1_body([({"__name__": "ok", "k": "v"}, [(1.0, t0)])]).replace(b"\x01v", b"\x01\xff")
        assert post(client, bad_utf8).status_code == 400
        huge = bytes([0x80, 0x80, 0x80, 0x80, 0x02]) + b"\0" * 10  # declares 512 MiB of output
        too_large = client.post("/api/v1/write", content=huge, headers=remote_write.V1_HEADERS)
        assert too_large.status_code == 413


def test_old_samples_are_dropped_without_failing_the_batch_and_nan_is_not_stored(server: ServerProcess) -> None:
    """A Prometheus catching up after an outage sends samples older than the raw retention: the
    rest of its batch is stored and the answer is 2xx (a 4xx would make it drop the whole batch)."""
    t0 = now_ms() - 10_000
    body = v1_body([({"__name__": "backlog"}, [(1.0, t0 - 2 * 86_400_000)]),
                    ({"__name__": "backlog"}, [(2.0, t0)]),
                    ({"__name__": "backlog"}, [(STALE_NAN, t0 + 1000)]),
                    ({"__name__": "backlog"}, [(math.nan, t0 + 2000)]),
                    ({"__name__": "backlog"}, [(math.inf, t0 + 3000)]),
                    ({"__name__": "future"}, [(5.0, t0 + 86_400_000)])])
    with server.client() as client:
        response = post(client, body)
        assert response.status_code == 204
        assert response.headers["X-Prometheus-Remote-Write-Samples-Written"] == "4"
        rows = client.get("/v2.0/metrics/measurements", params={"name": "backlog", "start_time": START}).json()
        assert [row[0] for row in rows["elements"][0]["measurements"]] == [iso(t0), iso(t0 + 3000)]
        assert client.get("/v2.0/metrics", params={"name": "future"}).json()["elements"] == []
    assert "1 samples older than the raw-data retention and 1 too far in the future were dropped" in server.log()


def test_native_histograms_are_refused_after_the_float_samples_are_stored(shared_server: ServerProcess) -> None:
    t0 = now_ms()
    request = v1.WriteRequest()
    floats = request.timeseries.add()
    floats.labels.add(name="__name__", value="with_native_histograms")
    floats.samples.add(value=1.0, timestamp=t0)
    native = request.timeseries.add()
    native.labels.add(name="__name__", value="latency_seconds")
    native.histograms.add(count_int=3, sum=0.5, schema=3, timestamp=t0)
    with shared_server.client() as client:
        response = post(client, request.SerializeToString())
        assert response.status_code == 400
        assert "1 native histogram samples refused" in response.json()["description"]
        assert response.headers["X-Prometheus-Remote-Write-Samples-Written"] == "1"
        assert len(measurements(client, "with_native_histograms")) == 1


def test_series_belong_to_the_token_project_and_delegates_may_assign_them(shared_server: ServerProcess) -> None:
    writer = shared_server.create_key("prw-a", "monasca-agent")
    reader_a = shared_server.create_key("prw-a", "monasca-read-only-user")
    reader_b = shared_server.create_key("prw-b", "monasca-read-only-user")
    delegate = shared_server.create_key("service", "monasca-delegate")
    t0 = now_ms()
    sample = [(1.0, t0)]
    with shared_server.client(writer) as client:
        body = v1_body([({"__name__": "tenancy_probe", "project": "prw-b"}, sample)])
        assert post(client, body).status_code == 204  # not a delegate: the label is just a label
    with shared_server.client(delegate) as client:
        body = v1_body([({"__name__": "tenancy_delegated", "project": "prw-b", "resource": "r1"}, sample),
                        ({"__name__": "tenancy_delegated", "resource": "r2"}, sample)])
        assert post(client, body).status_code == 204
    with shared_server.client(reader_a) as client:
        assert [e["dimensions"] for e in client.get("/v2.0/metrics", params={"name": "tenancy_probe"}).json()[
            "elements"]] == [{"project": "prw-b"}]
        assert client.get("/v2.0/metrics", params={"name": "tenancy_delegated"}).json()["elements"] == []
        assert post(client, v1_body([({"__name__": "x"}, sample)])).status_code == 403  # read-only role
    with shared_server.client(reader_b) as client:
        assert client.get("/v2.0/metrics", params={"name": "tenancy_probe"}).json()["elements"] == []
        delegated = client.get("/v2.0/metrics", params={"name": "tenancy_delegated"}).json()["elements"]
        assert [e["dimensions"] for e in delegated] == [{"project": "prw-b", "resource": "r1"}]
    delegate_own = shared_server.client(delegate).get("/v2.0/metrics", params={"name": "tenancy_delegated"})
    assert [e["dimensions"] for e in delegate_own.json()["elements"]] == [{"resource": "r2"}]


def test_prometheus_style_authentication(shared_server: ServerProcess) -> None:
    writer = shared_server.create_key("prw-auth", "monasca-agent")
    body = remote_write.snappy(v1_body([({"__name__": "auth_probe"}, [(1.0, now_ms())])]))
    basic = base64.b64encode(f"prometheus:{writer}".encode()).decode()
    for headers, status in (({}, 401), ({"Authorization": f"Bearer {writer}"}, 204),
                            ({"Authorization": f"Basic {basic}"}, 204), ({"Authorization": "Bearer wrong"}, 401),
                            ({"Authorization": "Basic !!!"}, 401)):
        response = httpx.post(shared_server.url + "/api/v1/write", content=body,
                              headers={**remote_write.V1_HEADERS, **headers})
        assert response.status_code == status, (headers, response.text)


def test_metadata_is_kept_per_project_and_answered_as_prometheus_does(shared_server: ServerProcess) -> None:
    key_a = shared_server.create_key("meta-a", "monasca-user")
    key_b = shared_server.create_key("meta-b", "monasca-user")
    delegate = shared_server.create_key("meta-service", "monasca-delegate")

    def declare(token: str, family: str, kind: int, help_text: str) -> None:
        request = v1.WriteRequest()
        request.metadata.add(type=kind, metric_family_name=family, help=help_text, unit="")
        with shared_server.client(token) as client:
            assert post(client, request.SerializeToString()).status_code == 204

    declare(key_a, "a_only_seconds", v1.MetricMetadata.HISTOGRAM, "A's latency.")
    declare(key_b, "b_only_bytes", v1.MetricMetadata.GAUGE, "B's memory.")
    declare(delegate, "ceilometer_cpu", v1.MetricMetadata.GAUGE, "CPU time.")
    declare(key_a, "a_only_seconds", v1.MetricMetadata.HISTOGRAM, "A's latency, revised.")
    with shared_server.client(key_a) as client:
        data = client.get("/api/v1/metadata").json()["data"]
        assert data["a_only_seconds"] == [{"type": "histogram", "help": "A's latency, revised.", "unit": ""}]
        assert "ceilometer_cpu" in data and "b_only_bytes" not in data
        assert client.get("/api/v1/metadata", params={"limit": "1"}).json()["data"].keys() == {"a_only_seconds"}
        assert client.get("/api/v1/metadata", params={"metric": "nope"}).json() == {"status": "success", "data": {}}
        bad = client.get("/api/v1/metadata", params={"limit": "many"})
        assert bad.status_code == 400 and bad.json()["errorType"] == "bad_data"
    with shared_server.client() as admin:
        assert {"a_only_seconds", "b_only_bytes", "ceilometer_cpu"} <= admin.get("/api/v1/metadata").json()["data"].keys()
    shared_server.restart()
    with shared_server.client(key_b) as client:
        assert client.get("/api/v1/metadata").json()["data"].keys() >= {"b_only_bytes", "ceilometer_cpu"}


def test_a_prometheus_resending_a_batch_does_not_duplicate(shared_server: ServerProcess) -> None:
    t0 = now_ms() - 5000
    body = v1_body([({"__name__": "resent", "instance": "a"}, [(float(i), t0 + i * 1000)]) for i in range(3)])
    with shared_server.client() as client:
        for _ in range(3):
            assert post(client, body).status_code == 204
        wait_for(lambda: len(measurements(client, "resent")) == 3, what="three points")
        assert [v for _, v in measurements(client, "resent")] == [0.0, 1.0, 2.0]
        snappy_framed = bytes(cramjam.snappy.compress(body))  # the framed format is not remote write's
        assert client.post("/api/v1/write", content=snappy_framed, headers=remote_write.V1_HEADERS).status_code == 400
