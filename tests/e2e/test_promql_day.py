"""A Grafana day on the default 24 h raw retention, compared with Prometheus over the same samples.

A dashboard's 24 h range begins where the raw points' retention ends, so its first windows reach
past it: there the ``*_over_time`` functions read minute and hour roll-up buckets, everywhere else
the raw points. The samples lie exactly on minute boundaries (as pushed, aligned data does), where a
bucket ``[t - range, t)`` and Prometheus's window ``(t - range, t]`` differ by a sample at each end:
the answers must still agree with Prometheus's point by point, at Grafana's steps for a day.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.support.prometheus import backfilled_beside_nephoscope, differences, get

INTERVAL_S = 60
POINTS = (86_400 - 15 * 60) // INTERVAL_S  # the oldest sample stays inside the raw retention meanwhile


def _series(end_s: int) -> tuple[np.ndarray, list[tuple[str, dict[str, str], np.ndarray]]]:
    rng = np.random.default_rng(24)
    times = end_s - INTERVAL_S * np.arange(POINTS - 1, -1, -1, dtype=np.int64)
    series = []
    for host in ("a", "b", "c"):
        series.append(("node_load1", {"instance": host}, np.round(rng.gamma(2.0, 0.7, POINTS), 2)))
        series.append(("node_network_receive_bytes_total", {"instance": host},
                       np.cumsum(rng.integers(10**5, 10**7, POINTS)).astype(np.float64)))
    return times, series


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("promql-day")
    end_s = int(time.time()) // 60 * 60 - 120
    times, series = _series(end_s)
    lines = []
    for name, labels, values in series:
        selector = name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "} "
        lines += [f"{selector}{value!r} {stamp}" for stamp, value in zip(times.tolist(), values.tolist())]
    with backfilled_beside_nephoscope(root, "\n".join(lines) + "\n# EOF\n", "day-project") as (
            prometheus, server, token):
        with server.client(token) as client:
            body = {"series": [{"name": name, "dimensions": labels} for name, labels, _ in series],
                    "series_index": np.repeat(np.arange(len(series)), POINTS).tolist(),
                    "timestamp": np.tile(times * 1000, len(series)).tolist(),
                    "value": np.concatenate([values for _, _, values in series]).tolist()}
            assert client.post("/v1/points", json=body).status_code == 200
            with server.client() as admin:  # the day's windows compacted into chunks and roll-ups
                assert admin.post("/v1/admin/compact", timeout=300).status_code == 200
            yield prometheus, client, int(times[-1])


QUERIES = ["avg_over_time(node_load1[5m])", "max_over_time(node_load1[1h])", "min_over_time(node_load1[2m])",
           "sum_over_time(node_load1[10m])", "count_over_time(node_load1[1h])",
           "avg by (instance) (avg_over_time(node_load1[5m]))", "rate(node_network_receive_bytes_total[5m])",
           "node_load1"]


@pytest.mark.parametrize("step", [60, 300, 3600])
def test_a_day_at_grafanas_steps_agrees_with_prometheus(day, step: int) -> None:
    prometheus, client, end = day
    window = {"start": str(end // step * step - 86_400), "end": str(end // step * step), "step": str(step)}
    problems = []
    for query in QUERIES:
        expected = prometheus.query("/api/v1/query_range", query=query, **window).json()
        assert expected["data"]["result"], f"{query}: Prometheus answered nothing"
        problems += differences(f"{query} step {step}", expected,
                                get(client, "/api/v1/query_range", {"query": query, **window}).json())
    assert not problems, "\n".join(problems)

