"""Debian's Prometheus 2.42 scraping Debian's node exporter and remote-writing to Nephoscope.

Prometheus keeps what it scraped in its own TSDB and sends the same samples through remote write
1.0; afterwards every series Prometheus holds must be a Nephoscope series by the series model
(name = ``__name__``, dimensions = the other labels) and every raw sample of the last 20 seconds
must be there with the same timestamp and bit-identical value, read through the Monasca API.
The metadata Prometheus sends answers ``/api/v1/metadata`` as Prometheus's own does.
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, wait_for
from tests.support.prometheus import NodeExporter, Prometheus

WINDOW_S = 20


@pytest.fixture
def scraping(server: ServerProcess, tmp_path: Path):
    token = server.create_key("monitoring", "monasca-agent")
    exporter = NodeExporter(tmp_path / "node-exporter").start()
    prometheus = Prometheus(tmp_path / "prometheus", targets=[exporter.address],
                            remote_write=(server.url + "/api/v1/write", token)).start()
    yield server, prometheus
    prometheus.stop()
    exporter.stop()


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def key(name: str, labels: dict[str, str]) -> tuple:
    return name, tuple(sorted((k, v) for k, v in labels.items() if v and not k.startswith("__")))


def our_samples(client: httpx.Client, name: str, start_ms: int) -> dict[tuple, dict[int, float]]:
    start = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start_ms / 1000)) + f".{start_ms % 1000:03d}Z"
    response = client.get("/v2.0/metrics/measurements", params={"name": name, "start_time": start, "group_by": "*"})
    assert response.status_code == 200, response.text
    return {key(element["name"], element["dimensions"]): {ms(row[0]): row[1] for row in element["measurements"]}
            for element in response.json()["elements"]}


def test_everything_prometheus_scraped_arrives_sample_for_sample(scraping) -> None:
    server, prometheus = scraping
    reader = server.create_key("monitoring", "monasca-read-only-user")
    time.sleep(WINDOW_S + 6)
    at = time.time() - 4
    end_ms = int(at * 1000)
    with server.client(reader) as client:
        # Remote write trails the scrapes by its batch deadline (1 s here): wait until it has passed `at`.
        wait_for(lambda: any(ts >= end_ms - 2000 for ts in our_samples(client, "up", end_ms - 10_000).get(
            key("up", {"job": "node", "instance": prometheus.targets[0]}), {})), timeout=30, what="remote write")
        theirs = prometheus.api("query", query=f'{{__name__=~".+"}}[{WINDOW_S}s]', time=f"{at:.3f}")["result"]
        assert len(theirs) > 200  # the node exporter's series, and Prometheus's own per-scrape series
        names = {series["metric"]["__name__"] for series in theirs}
        ours: dict[tuple, dict[int, float]] = {}
        for name in sorted(names):
            ours.update(our_samples(client, name, end_ms - WINDOW_S * 1000))
        compared = 0
        for series in theirs:
            labels = series["metric"]
            expected = {ts: float(value) for ts, value in ((round(t * 1000), v) for t, v in series["values"])
                        if not math.isnan(float(value))}
            if not expected:
                continue  # only NaN: accepted by remote write, not stored (docs/prometheus.md)
            stored = ours.get(key(labels["__name__"], labels))
            assert stored is not None, f"series {labels} is missing"
            window = {ts: value for ts, value in stored.items() if end_ms - WINDOW_S * 1000 < ts <= end_ms}
            assert window == expected, f"series {labels}: {window} != {expected}"
            compared += len(expected)
        assert compared > 200 * (WINDOW_S // 2 - 1)
        their_keys = {key(series["metric"]["__name__"], series["metric"]) for series in theirs}
        assert set(ours) <= their_keys

        node_load = prometheus.api("metadata", metric="node_load1")
        wait_for(lambda: client.get("/api/v1/metadata", params={"metric": "node_load1"}).json()["data"],
                 what="metadata")
        assert client.get("/api/v1/metadata", params={"metric": "node_load1"}).json()["data"] == node_load
