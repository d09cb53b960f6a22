"""One series model for both worlds (docs/prometheus.md), tested both ways against a real server.

A series written through remote write or OTLP is read through the Monasca API and by PromQL; a
Monasca metric is a PromQL series: ``cpu.utilization_perc{hostname=h1}`` is
``{__name__="cpu.utilization_perc", hostname="h1"}``, found by its stored name, Prometheus 3's
quoted form and its underscore-escaped form, and reported by its stored name. Tenancy is the
same on both sides.
"""

from __future__ import annotations

import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1 import metrics_pb2 as m

from tests.conftest import ServerProcess, now_ms
from tests.support.monasca_reads import values as monasca_values
from tests.support.remote_write import post, v1_body, v2_body


def promql(client: httpx.Client, query: str, at_ms: int | None = None) -> list[tuple[dict, float]]:
    params = {"query": query}
    if at_ms is not None:
        params["time"] = f"{at_ms / 1000:.3f}"
    response = client.get("/api/v1/query", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success" and body["data"]["resultType"] == "vector"
    return sorted(((r["metric"], float(r["value"][1])) for r in body["data"]["result"]),
                  key=lambda item: sorted(item[0].items()))


@pytest.fixture(scope="module")
def world(shared_server: ServerProcess) -> dict[str, str]:
    return {"a": shared_server.create_key("model-a", "monasca-user"),
            "b": shared_server.create_key("model-b", "monasca-user"),
            "service": shared_server.create_key("model-service", "monasca-delegate")}


def test_a_monasca_metric_is_a_promql_series(shared_server: ServerProcess, world: dict) -> None:
    t0 = now_ms() - 5000
    with shared_server.client(world["a"]) as client:
        assert client.post("/v2.0/metrics", json=[
            {"name": "cpu.utilization_perc", "dimensions": {"hostname": "h1", "service": "compute"},
             "timestamp": t0, "value": 42.5},
            {"name": "cpu.utilization_perc", "dimensions": {"hostname": "h2", "service": "compute"},
             "timestamp": t0, "value": 12.0}]).status_code == 204
        expected = [({"__name__": "cpu.utilization_perc", "hostname": "h1", "service": "compute"}, 42.5)]
        assert promql(client, 'cpu_utilization_perc{hostname="h1"}') == expected  # underscore-escaped
        assert promql(client, '{"cpu.utilization_perc", hostname="h1"}') == expected  # Prometheus 3's quoted form
        assert promql(client, '{__name__="cpu.utilization_perc", hostname="h1"}') == expected
        assert promql(client, 'sum by (service) (cpu_utilization_perc)') == [({"service": "compute"}, 54.5)]


def test_ambiguous_escaped_names_return_both_series(shared_server: ServerProcess, world: dict) -> None:
    t0 = now_ms() - 5000
    with shared_server.client(world["a"]) as client:
        assert client.post("/v2.0/metrics", json=[
            {"name": "mem.free_mb", "dimensions": {"h": "x"}, "timestamp": t0, "value": 1.0}]).status_code == 204
        assert post(client, v1_body([({"__name__": "mem_free_mb", "h": "x"}, [(2.0, t0)])])).status_code == 204
        assert [(labels["__name__"], value) for labels, value in promql(client, "mem_free_mb")] == [
            ("mem.free_mb", 1.0), ("mem_free_mb", 2.0)]
        assert promql(client, '{"mem.free_mb"}') == [({"__name__": "mem.free_mb", "h": "x"}, 1.0)]


@pytest.mark.parametrize("version", [1, 2])
def test_a_remote_written_series_reads_the_same_through_monasca_and_promql(shared_server: ServerProcess,
                                                                           world: dict, version: int) -> None:
    t0 = (now_ms() - 60_000) // 1000 * 1000
    name = f"rpc_calls_v{version}_total"
    samples = [(float(10 * i * i), t0 + 10_000 * i) for i in range(6)]
    entries = [({"__name__": name, "method": "get", "zone": "Zürich", "env": "", "__meta_port": "80"}, [sample])
               for sample in samples]
    with shared_server.client(world["a"]) as client:
        body = v1_body(entries) if version == 1 else v2_body(entries)
        assert post(client, body, version=version).status_code == 204
        assert monasca_values(client, name) == [value for value, _ in samples]
        last = t0 + 50_000
        labels = {"__name__": name, "method": "get", "zone": "Zürich"}  # empty and __ labels are not stored
        assert promql(client, name, last) == [(labels, 250.0)]
        assert promql(client, f'{name}{{env=""}}', last) == [(labels, 250.0)]  # an absent label matches ""
        # Prometheus 2's closed range [t - 30 s, t] holds the samples 40, 90, 160, 250: 210 over 30 s.
        assert promql(client, f"rate({name}[30s])", last) == [({"method": "get", "zone": "Zürich"}, 7.0)]


def test_otlp_series_are_promql_series(shared_server: ServerProcess, world: dict) -> None:
    at = now_ms() - 2000
    request = ExportMetricsServiceRequest()
    resource = request.resource_metrics.add()
    resource.resource.attributes.add(key="service.name").value.string_value = "orders"
    resource.scope_metrics.add().metrics.add(name="queue.depth", unit="{item}", gauge=m.Gauge(data_points=[
        m.NumberDataPoint(time_unix_nano=at * 1_000_000, as_double=17.0)]))
    with shared_server.client(world["a"]) as client:
        assert client.post("/api/v1/otlp/v1/metrics", content=request.SerializeToString(),
                           headers={"Content-Type": "application/x-protobuf"}).status_code == 200
        assert promql(client, 'queue_depth{job="orders"}') == [({"__name__": "queue_depth", "job": "orders"}, 17.0)]
        assert monasca_values(client, "queue_depth", job="orders") == [17.0]


def test_tenancy_is_the_same_for_promql_and_monasca(shared_server: ServerProcess, world: dict) -> None:
    t0 = now_ms() - 3000
    with shared_server.client(world["a"]) as client:
        assert post(client, v1_body([({"__name__": "tenant_probe", "host": "a1"}, [(1.0, t0)])])).status_code == 204
    with shared_server.client(world["service"]) as client:  # a delegate, like Ceilometer's service user
        body = v1_body([({"__name__": "ceilometer_cpu", "project": "model-b", "resource": "vm-b"}, [(5.0, t0)]),
                        ({"__name__": "ceilometer_cpu", "project": "model-a", "resource": "vm-a"}, [(7.0, t0)])])
        assert post(client, body).status_code == 204
    with shared_server.client(world["b"]) as client:
        assert promql(client, "tenant_probe") == []
        assert monasca_values(client, "tenant_probe") == []
        # Aodh scopes its queries with project="<id>": the label stays a label, so it matches.
        assert promql(client, 'ceilometer_cpu{project="model-b"}') == [
            ({"__name__": "ceilometer_cpu", "project": "model-b", "resource": "vm-b"}, 5.0)]
        assert promql(client, "ceilometer_cpu") == promql(client, 'ceilometer_cpu{project="model-b"}')
    with shared_server.client(world["a"]) as client:
        assert [labels["resource"] for labels, _ in promql(client, "ceilometer_cpu")] == ["vm-a"]
        assert promql(client, "tenant_probe") == [({"__name__": "tenant_probe", "host": "a1"}, 1.0)]
    with shared_server.client() as admin:  # the admin rule sees every project
        assert {labels["resource"] for labels, _ in promql(admin, "ceilometer_cpu")} == {"vm-a", "vm-b"}
