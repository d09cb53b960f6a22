"""Telemetry from logs (access lines and record counts as window summaries: the arithmetic, the
endpoint templates, the store's batch) and the hygiene report."""

from __future__ import annotations

import numpy as np
import pytest

from nephoscope.logs.processing.access import endpoint_templates
from nephoscope.logs.processing.hygiene import hygiene_report
from nephoscope.logs.processing.pipeline import LogPipeline
from nephoscope.logs.processing.sources import Source
from nephoscope.logs.server.derived_metrics import LATENCY, RECORDS, REQUESTS, RESPONSE_BYTES, log_metrics
from nephoscope.metrics.series import series_id, series_key

SERVER = "3f1c2f7e-6a55-4c6e-9d0c-6b1f0e2a9c41"
PROJECT = "54fadb412c4e40cdbaed9335e4c35a9e"


def access(second: float, method: str, path: str, status: int, size: int, seconds: float) -> str:
    minute, rest = divmod(second, 60)
    return (f"2024-01-02 03:{int(minute):02d}:{rest:06.3f} 7 INFO nova.osapi_compute.wsgi.server "
            f"[None req-0b373f08-1e21-4eb6-861c-40f998e52aaf u p - - default default] 10.0.0.1 "
            f'"{method} {path} HTTP/1.1" status: {status} len: {size} time: {seconds:.7f}')


@pytest.fixture(scope="module")
def records():
    lines = [
        access(1, "GET", f"/v2.1/{PROJECT}/servers/{SERVER}", 200, 100, 0.010),
        access(2, "GET", f"/v2.1/{PROJECT}/servers/0d9c7a3e-1111-4222-8333-944445555666", 200, 300, 0.030),
        access(3, "GET", f"/v2.1/{PROJECT}/servers/{SERVER}?details=1", 200, 200, 0.020),
        access(4, "GET", f"/v2.1/{PROJECT}/servers/{SERVER}", 404, 50, 0.005),
        access(61, "GET", f"/v2.1/{PROJECT}/servers/{SERVER}", 200, 400, 0.040),
        access(62, "POST", f"/v2.1/{PROJECT}/servers", 202, 900, 0.500),
        "2024-01-02 03:00:30.000 7 ERROR nova.compute.manager [-] Something broke",
    ]
    return LogPipeline().process(lines, Source(host="api-1", region="RegionOne"))


def points(metrics, name: str, **dimensions) -> list[dict]:
    return [row for row in metrics.rows() if row["name"] == name
            and all(row["dimensions"].get(k) == v for k, v in dimensions.items())]


def test_request_counts_and_latency_per_window(records) -> None:
    metrics = log_metrics(records, window_ms=60_000)
    start = 1704164400000  # 2024-01-02 03:00:00 UTC
    read = {"service": "nova", "method": "GET", "endpoint": "/v2.1/{id}/servers/{id}", "status_class": "2xx",
                "hostname": "api-1", "region": "RegionOne"}
    (first,) = [p for p in points(metrics, REQUESTS, **read) if p["timestamp"] == start]
    assert (first["count"], first["sum"], first["min"], first["max"], first["last"]) == (3, 3.0, 1.0, 1.0, 1.0)
    (latency,) = [p for p in points(metrics, LATENCY, **read) if p["timestamp"] == start]
    assert latency["count"] == 3 and latency["sum"] == pytest.approx(60.0)
    assert (latency["min"], latency["max"], latency["last"]) == pytest.approx((10.0, 30.0, 20.0))
    (size,) = [p for p in points(metrics, RESPONSE_BYTES, **read) if p["timestamp"] == start]
    assert (size["count"], size["sum"], size["min"], size["max"], size["last"]) == (3, 600.0, 100.0, 300.0, 200.0)
    (missing,) = points(metrics, REQUESTS, status_class="4xx")
    assert missing["count"] == 1 and missing["timestamp"] == start
    (later,) = [p for p in points(metrics, LATENCY, **read) if p["timestamp"] == start + 60_000]
    assert later["count"] == 1 and later["last"] == pytest.approx(40.0)
    (create,) = points(metrics, LATENCY, method="POST")
    assert create["dimensions"]["endpoint"] == "/v2.1/{id}/servers" and create["sum"] == pytest.approx(500.0)


def test_record_counts(records) -> None:
    metrics = log_metrics(records)
    errors = points(metrics, RECORDS, category="error")
    assert [p["count"] for p in errors] == [1]
    assert sum(p["count"] for p in points(metrics, RECORDS)) == records.num_rows


def test_ingest_batch_for_the_store(records) -> None:
    metrics = log_metrics(records)
    batch = metrics.to_ingest_batch("admin")
    assert len(batch.points) == len(metrics) and batch.tenant == "admin"
    ids = {d.id: d for d in batch.tenant_series}
    for definition in batch.tenant_series:
        assert definition.id == series_id(series_key("admin", definition.name, definition.dimensions))
    assert set(batch.points.series.tolist()) <= set(ids)
    assert np.array_equal(batch.points.count, metrics.points.count)
    assert batch.points.timestamp.dtype == np.int64


def test_endpoint_templates() -> None:
    import pyarrow as pa

    paths = pa.array([f"/v2.1/{PROJECT}/servers/{SERVER}/action", "/v3/auth/tokens?nocatalog", "/",
                      "/v1/AUTH_0123456789abcdef0123456789abcdef/container", "/v2/images/42", None,
                      "/openstack/2013-10-17/meta_data.json"])
    assert endpoint_templates(paths).to_pylist() == [
        "/v2.1/{id}/servers/{id}/action", "/v3/auth/tokens", "/", "/v1/{id}/container", "/v2/images/{id}", None,
        "/openstack/{id}/meta_data.json"]


def test_hygiene_report(records) -> None:
    more = LogPipeline().process(["garbage line", ("2024-01-02 03:00:30.000 7 DEBUG oslo_concurrency.lockutils [-] "
                                  'Lock "x" acquired by "y" :: waited 0.000s inner /a/lockutils.py:1')],
                                 Source(service="nova"))
    report = hygiene_report([records, more], top=3)
    (nova,) = report.services
    assert nova.records == 9 and report.records == 9
    assert nova.by_category["telemetry"] == 6 and nova.by_category["error"] == 1 and nova.by_category["noise"] == 1
    assert nova.noise_share == pytest.approx(1 / 9) and nova.error_records == 1
    assert nova.unparsed_share == pytest.approx(1 / 9)
    assert nova.without_request_id_share == pytest.approx(2 / 8)  # of the 8 parsed: the [-] lines
    assert nova.top_templates[0].count == 5 and nova.top_templates[0].category == "telemetry"
    assert len(nova.top_templates) == 3
