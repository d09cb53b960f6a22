"""PromQL answers compared with Debian's Prometheus 2.42 over the same samples, point by point.

The samples are made here (counters with resets, gauges, a classic histogram, a series with a gap
longer than the lookback, series that start late or end early, the shapes Aodh, Watcher and
Grafana query) and given to both: Prometheus through ``promtool tsdb create-blocks-from
openmetrics``, Nephoscope through its native API. Then every query runs on both, as instant queries
at times chosen around the data's edges and gaps and as range queries over all of it, and the
answers must agree: the same series, the same labels, the same timestamps, values within a relative
1e-6. So must what Grafana's data source asks besides queries (labels, label values and series with
``match[]``, GET and form POST) and its panels' ``query_range`` posted as forms.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
import numpy as np
import pytest

from tests.conftest import ServerProcess
from tests.support.prometheus import Prometheus, backfilled_beside_nephoscope, differences, get

STEP_MS = 15_000
MINUTE = 60_000


@dataclass
class Dataset:
    start_ms: int
    end_ms: int
    series: list[tuple[str, dict[str, str], np.ndarray, np.ndarray]]  # name, labels, times (ms), values

    def openmetrics(self) -> str:
        lines = []
        for name, labels, times, values in self.series:
            text = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
            selector = f"{name}{{{text}}}"
            lines.extend(f"{selector} {value!r} {stamp / 1000:.3f}" for stamp, value in zip(times.tolist(),
                                                                                             values.tolist()))
        return "\n".join(lines) + "\n# EOF\n"


def _grid(start: int, end: int, phase: int) -> np.ndarray:
    return np.arange(start + phase, end, STEP_MS, dtype=np.int64)


def make_dataset(end_ms: int) -> Dataset:
    rng = np.random.default_rng(20)
    start = end_ms - 120 * MINUTE
    series: list[tuple[str, dict[str, str], np.ndarray, np.ndarray]] = []
    phase = iter(range(0, 10**6, 1379))

    def add(name: str, labels: dict[str, str], values_of, times: np.ndarray | None = None) -> None:  # noqa: ANN001
        stamps = times if times is not None else _grid(start, end_ms, next(phase) % STEP_MS)
        series.append((name, labels, stamps, np.round(np.asarray(values_of(len(stamps)), np.float64), 3)))

    hosts = {"a": "host-a.example.com", "b": "host-b.example.com", "c": "host-c.example.com"}
    for instance, fqdn in hosts.items():
        for method in ("GET", "POST"):
            for code in ("200", "500"):
                rate = {"GET": 9, "POST": 3}[method] * (5 if code == "200" else 1)

                def counter(n: int, rate: int = rate, reset: bool = instance == "b" and code == "200") -> np.ndarray:
                    values = np.cumsum(rng.integers(0, rate, n)).astype(np.float64)
                    if reset:  # a restart half way: the counter starts again from 0
                        values[n // 2:] -= values[n // 2 - 1] + 1
                        values[n // 2:] = np.maximum(values[n // 2:], 0)
                    return values
                add("http_requests_total", {"job": "api", "instance": instance, "method": method, "code": code},
                    counter)
        for cpu in ("0", "1"):
            for mode, share in (("idle", 0.8), ("user", 0.15), ("system", 0.05)):
                add("node_cpu_seconds_total", {"job": "node", "instance": instance, "fqdn": fqdn, "cpu": cpu,
                                               "mode": mode},
                    lambda n, share=share: np.cumsum(rng.uniform(0.5, 1.5, n) * 15 * share) + 1000)
        add("node_memory_MemTotal_bytes", {"job": "node", "instance": instance, "fqdn": fqdn},
            lambda n: np.full(n, 16 * 2**30))
        add("node_memory_MemAvailable_bytes", {"job": "node", "instance": instance, "fqdn": fqdn},
            lambda n: 8 * 2**30 + np.cumsum(rng.normal(0, 2**24, n)))
        add("up", {"job": "node", "instance": instance, "fqdn": fqdn},
            lambda n, down=instance == "c": np.where(down & (np.arange(n) % 40 < 4), 0.0, 1.0))
        add("version_info", {"instance": instance, "version": f"1.{ord(instance) % 3}"}, lambda n: np.ones(n))
        add("temperature_celsius", {"instance": instance, "sensor": "cpu"},
            lambda n: 20 + 15 * np.sin(np.arange(n) / 30 + ord(instance)) + rng.normal(0, 0.5, n))
        add("temperature_celsius", {"instance": instance, "sensor": "disk"},
            lambda n: -5 + rng.normal(0, 3, n))
        bounds = ("0.1", "0.5", "1", "5", "+Inf")
        observations = rng.exponential(0.6, (len(_grid(start, end_ms, 0)), 40))
        cumulative = np.cumsum([[np.sum(row <= float(b)) for b in bounds] for row in observations], axis=0)
        for index, bound in enumerate(bounds):
            add("request_duration_seconds_bucket", {"job": "api", "instance": instance, "le": bound},
                lambda n, index=index: cumulative[:n, index], _grid(start, end_ms, 7000))
    for queue, level in (("email", 3), ("webhook", 7), ("slack", 3)):
        add("queue_depth", {"queue": queue}, lambda n, level=level: rng.integers(0, level, n))
    for resource, group, project in (("r1", "sg-1", "p1"), ("r2", "sg-1", "p1"), ("r3", "sg-2", "p2")):
        add("ceilometer_cpu", {"resource": resource, "server_group": group, "project": project},
            lambda n: np.cumsum(rng.integers(10**8, 9 * 10**8, n)))
        add("ceilometer_memory_usage", {"resource": resource, "project": project},
            lambda n: 512 + rng.integers(0, 256, n))
    gap = _grid(start, end_ms, 0)
    gap = gap[(gap < start + 50 * MINUTE) | (gap >= start + 62 * MINUTE)]  # 12 minutes silent
    add("flaky_gauge", {"instance": "a"}, lambda n: rng.normal(50, 10, n), gap)
    late = _grid(start + 80 * MINUTE, end_ms, 3000)
    add("late_series", {"instance": "a"}, lambda n: np.arange(n, dtype=np.float64), late)
    early = _grid(start, start + 30 * MINUTE, 3000)
    add("early_series", {"instance": "a"}, lambda n: np.arange(n, dtype=np.float64) * 2, early)
    return Dataset(start, end_ms, series)


# Every query runs as an instant query at several times and, unless marked instant-only, as a range query.
QUERIES = [
    # selectors, matchers, offset and @
    "http_requests_total", 'http_requests_total{method="GET"}', 'http_requests_total{method!="GET"}',
    'http_requests_total{code=~"5.."}', 'http_requests_total{code!~"2.*",instance=~"a|b"}',
    '{__name__=~"node_memory_.*"}', '{job="api", code="500"}', 'http_requests_total{instance=""}',
    'node_memory_MemAvailable_bytes{fqdn!=""}', "http_requests_total offset 5m", "http_requests_total offset 90s",
    "temperature_celsius offset -2m", "http_requests_total @ {mid}", "temperature_celsius @ start()",
    "temperature_celsius @ end()", "flaky_gauge", "late_series", "early_series", "up", "queue_depth",
    # rates and friends
    "rate(http_requests_total[5m])", "rate(http_requests_total[1m])", "rate(http_requests_total[90s] offset 3m)",
    "irate(http_requests_total[2m])", "increase(http_requests_total[10m])", "increase(http_requests_total[31s])",
    "delta(temperature_celsius[10m])", "idelta(temperature_celsius[5m])", "deriv(temperature_celsius[10m])",
    "deriv(node_memory_MemAvailable_bytes[5m])", "predict_linear(temperature_celsius[15m], 600)",
    "predict_linear(node_memory_MemAvailable_bytes[30m], 3600)", "resets(http_requests_total[30m])",
    "changes(queue_depth[10m])", "changes(up[30m])", "rate(http_requests_total[5m] @ end())",
    "rate(late_series[5m])", "irate(early_series[1m])", "rate(http_requests_total[5m] offset 1h)",
    # *_over_time
    "avg_over_time(temperature_celsius[10m])", "min_over_time(temperature_celsius[10m])",
    "max_over_time(temperature_celsius[10m])", "sum_over_time(queue_depth[7m])", "count_over_time(flaky_gauge[5m])",
    "last_over_time(flaky_gauge[10m])", "quantile_over_time(0.9, temperature_celsius[10m])",
    "quantile_over_time(0.5, queue_depth[3m])", "quantile_over_time(0, temperature_celsius[5m])",
    "quantile_over_time(1, temperature_celsius[5m])", "stddev_over_time(temperature_celsius[10m])",
    "stdvar_over_time(queue_depth[10m])", "present_over_time(flaky_gauge[1m])", "absent_over_time(flaky_gauge[2m])",
    'absent_over_time(nonexistent{job="x"}[5m])', "avg_over_time(node_memory_MemAvailable_bytes[1h])",
    "max_over_time(up[5m])", "min_over_time(up[20m])",
    # aggregations
    "sum(http_requests_total)", "sum by (instance) (rate(http_requests_total[5m]))",
    "sum without (instance) (rate(http_requests_total[5m]))", "avg by (code) (rate(http_requests_total[5m]))",
    "min by (sensor) (temperature_celsius)", "max without (sensor) (temperature_celsius)", "count(up)",
    "count by (job) (up == 1)", "group by (job) (up)", "stddev(temperature_celsius)",
    "stdvar by (sensor) (temperature_celsius)", "topk(2, rate(http_requests_total[5m]))",
    "bottomk(1, temperature_celsius) by (sensor)", "quantile(0.75, temperature_celsius)",
    "quantile by (instance) (0.5, rate(http_requests_total[5m]))", 'count_values("depth", queue_depth)',
    'count_values by (queue) ("depth", queue_depth)', "sum(rate(http_requests_total[5m])) by (method, code)",
    "avg(node_memory_MemAvailable_bytes)", "max(temperature_celsius) - min(temperature_celsius)",
    "sum by (le) (rate(request_duration_seconds_bucket[5m]))", "count without () (temperature_celsius)",
    "topk by (instance) (1, http_requests_total)", "sum by (__name__) ({__name__=~\"node_memory_.*\"})",
    # binary operators
    "http_requests_total * 2", "2 - http_requests_total", "http_requests_total % 7", "temperature_celsius ^ 2",
    "http_requests_total / 0", "-temperature_celsius", "1 + 2 * 3 ^ 2", "temperature_celsius atan2 2",
    "temperature_celsius > 20", "temperature_celsius > bool 20", "20 < temperature_celsius", "queue_depth == 3",
    "queue_depth != bool 3", "1 > bool 2", "temperature_celsius <= -5", "temperature_celsius >= bool 0",
    "node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes",
    "node_memory_MemAvailable_bytes / on(instance) node_memory_MemTotal_bytes",
    "node_memory_MemAvailable_bytes / ignoring(job) node_memory_MemTotal_bytes",
    "rate(http_requests_total[5m]) * on(instance) group_left(version) version_info",
    "version_info * on(instance) group_right(version) rate(http_requests_total[5m])",
    "http_requests_total + on(instance) up", "up * on(instance) group_left(version) version_info",
    "http_requests_total and on(instance) up == 1", "up or http_requests_total", "flaky_gauge or temperature_celsius",
    'http_requests_total unless on(code) http_requests_total{code="500"}',
    "http_requests_total > on(instance, method, code, job) http_requests_total offset 5m",
    "temperature_celsius == on(instance, sensor) temperature_celsius", "up == bool on(instance) up offset 1m",
    "sum by (instance) (up) / count by (instance) (up)", "up + ignoring(fqdn) version_info",
    "rate(http_requests_total[5m]) > bool on(instance, job, method, code) rate(http_requests_total[5m] offset 10m)",
    # functions
    "abs(temperature_celsius)", "ceil(temperature_celsius)", "floor(temperature_celsius)",
    "round(temperature_celsius)", "round(temperature_celsius, 0.5)", "round(temperature_celsius, 5)",
    "sqrt(node_memory_MemAvailable_bytes)", "exp(temperature_celsius / 10)", "ln(node_memory_MemAvailable_bytes)",
    "log2(queue_depth)", "log10(node_memory_MemTotal_bytes)", "sgn(temperature_celsius)",
    "clamp(temperature_celsius, 0, 25)", "clamp(temperature_celsius, 25, 0)", "clamp_min(temperature_celsius, 10)",
    "clamp_max(temperature_celsius, 10)", "time()", "timestamp(temperature_celsius)",
    "timestamp(rate(http_requests_total[5m]))", "hour()", "minute(timestamp(up))", "day_of_week()",
    "day_of_month(timestamp(up))", "day_of_year()", "days_in_month()", "month()", "year(vector(1700000000))",
    "vector(1)", "scalar(sum(up))", "scalar(up)", "sum(up) * scalar(count(up))",
    'label_replace(up, "host", "$1", "instance", "(.*)")', 'label_replace(up, "x", "$2-$1", "fqdn", "([^.]+)\\\\.(.*)")',
    'label_replace(up, "instance", "", "instance", ".*")', 'label_join(up, "joined", "/", "job", "instance", "fqdn")',
    "absent(up)", 'absent(nonexistent{job="x", a=~"b"})', "absent(sum(nonexistent))",
    "histogram_quantile(0.9, rate(request_duration_seconds_bucket[5m]))",
    "histogram_quantile(0.5, sum by (le) (rate(request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0, rate(request_duration_seconds_bucket[5m]))",
    "histogram_quantile(1, rate(request_duration_seconds_bucket[10m]))",
    "histogram_quantile(-1, rate(request_duration_seconds_bucket[5m]))",
    "histogram_quantile(2, rate(request_duration_seconds_bucket[5m]))",
    'abs({__name__=~"node_memory_.*"})',
    # subqueries
    "max_over_time(rate(http_requests_total[1m])[10m:1m])", "avg_over_time(temperature_celsius[10m:30s])",
    "min_over_time(sum by (instance) (rate(http_requests_total[2m]))[15m:2m] offset 5m)",
    "sum_over_time(up[10m:1m] @ end())", "rate(sum(http_requests_total)[10m:])",
    "quantile_over_time(0.5, temperature_celsius[20m:1m])", "deriv(avg(temperature_celsius)[10m:1m])",
    # what Aodh, Watcher and Grafana send
    'rate(ceilometer_cpu{server_group=~"sg-1"}[60s]) * 100', "(rate(ceilometer_cpu{server_group=~'sg-2'}[300s])) * 100",
    "100 - (avg by (fqdn)(rate(node_cpu_seconds_total{mode='idle',fqdn='host-a.example.com'}[300s])) * 100)",
    "(node_memory_MemTotal_bytes{fqdn='host-b.example.com'} - "
    "avg_over_time(node_memory_MemAvailable_bytes{fqdn='host-b.example.com'}[300s])) / 1024",
    "avg_over_time(ceilometer_memory_usage{resource='r1'}[300s])",
    "max_over_time(ceilometer_memory_usage{resource='r2'}[300s])",
    "clamp_max((avg by (resource)(rate(ceilometer_cpu{resource='r1'}[300s]))/10e+8)*(100/2),100)",
    "1+1", "sum(rate(node_cpu_seconds_total{mode!=\"idle\"}[$__rate_interval])) by (instance)",
]
INSTANT_ONLY = ["http_requests_total[5m]", "temperature_celsius[2m] offset 1m", "rate(http_requests_total[5m])[10m:]",
                "up[5m:1m]", "flaky_gauge[10m] @ {mid}", "sort(temperature_celsius)", "sort_desc(queue_depth)",
                '"a string"']
ORDERED = ("sort(", "sort_desc(")


def _queries(mid_s: float) -> list[tuple[str, bool]]:
    rendered = [(query.replace("{mid}", f"{mid_s:.3f}").replace("$__rate_interval", "1m"), False)
                for query in QUERIES]
    return rendered + [(query.replace("{mid}", f"{mid_s:.3f}"), True) for query in INSTANT_ONLY]


def _write(server: ServerProcess, token: str, dataset: Dataset) -> None:
    with server.client(token) as client:
        for index in range(0, len(dataset.series), 20):
            chunk = dataset.series[index:index + 20]
            body = {"series": [{"name": name, "dimensions": labels} for name, labels, _, _ in chunk],
                    "series_index": np.concatenate([np.full(len(t), i) for i, (_, _, t, _) in enumerate(chunk)]).tolist(),
                    "timestamp": np.concatenate([t for _, _, t, _ in chunk]).tolist(),
                    "value": np.concatenate([v for _, _, _, v in chunk]).tolist()}
            response = client.post("/v1/points", json=body)
            assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def systems(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("promql")
    end = (int(time.time() * 1000) // MINUTE) * MINUTE - 10 * MINUTE
    dataset = make_dataset(end)
    with backfilled_beside_nephoscope(root, dataset.openmetrics(), "promql-project") as (prometheus, server, token):
        _write(server, token, dataset)
        with server.client(token) as client:
            yield prometheus, client, dataset


def _moments(dataset: Dataset) -> list[int]:
    """Instant query times: the end, mid-data, early (partial windows), in the gap, just after the
    end (inside the lookback) and past the lookback."""
    start, end = dataset.start_ms, dataset.end_ms
    return [end, end - 17 * MINUTE - 4321, start + 7 * MINUTE, start + 55 * MINUTE, start + 63 * MINUTE + 500,
            end + 3 * MINUTE, end + 6 * MINUTE]


def test_enough_queries_spanning_the_language() -> None:
    queries = [query for query, _ in _queries(0.0)]
    assert len(set(queries)) >= 150
    for feature in ("offset", "@", "[10m:", "by (", "without (", "group_left", "group_right", " and ", " or ",
                    " unless ", "bool", "topk", "bottomk", "quantile(", "count_values", "histogram_quantile",
                    "label_replace", "label_join", "absent_over_time", "predict_linear", "deriv"):
        assert any(feature in query for query in queries), feature


def _compare(prometheus: Prometheus, client: httpx.Client, path: str, query: str, ordered: bool = False,
             **parameters: object) -> list[str]:
    expected = prometheus.query(path, query=query, **parameters).json()
    actual = get(client, path, {"query": query, **parameters}).json()
    return differences(f"{path} {query} {parameters}", expected, actual, ordered=ordered)


def test_instant_queries_agree_with_prometheus(systems) -> None:  # noqa: ANN001
    prometheus, client, dataset = systems
    mid = (dataset.start_ms + dataset.end_ms) / 2000
    problems = []
    for query, _ in _queries(mid):
        for moment in _moments(dataset):
            problems += _compare(prometheus, client, "/api/v1/query", query,
                                 ordered=query.startswith(ORDERED), time=f"{moment / 1000:.3f}")
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:60])


@pytest.mark.parametrize("step", ["60s", "37"])
def test_range_queries_agree_with_prometheus(systems, step: str) -> None:  # noqa: ANN001
    prometheus, client, dataset = systems
    mid = (dataset.start_ms + dataset.end_ms) / 2000
    start = (dataset.start_ms - 5 * MINUTE) / 1000
    end = (dataset.end_ms + 10 * MINUTE) / 1000
    problems = []
    for query, instant_only in _queries(mid):
        if not instant_only:
            problems += _compare(prometheus, client, "/api/v1/query_range", query, start=f"{start:.3f}",
                                 end=f"{end:.3f}", step=step)
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:60])


# -- what Grafana's Prometheus data source asks besides queries ---------------------------------
def _catalog_data(response: httpx.Response) -> list:
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", body
    data = body["data"]
    return sorted(data, key=lambda item: sorted(item.items())) if data and isinstance(data[0], dict) else data


def test_grafanas_catalog_calls_agree_with_prometheus(systems) -> None:
    """The metric browser, the query builder and ``label_values(...)`` template variables: labels,
    label values (with and without ``match[]``) and series with ``match[]``, over Grafana's time
    range (which covers all the data: Prometheus answers from whole blocks, so a range cutting
    through the data is only approximately its answer), GET and form POST as Grafana sends them."""
    prometheus, client, dataset = systems
    window = {"start": f"{(dataset.start_ms - 3_600_000) / 1000:.3f}", "end": f"{(dataset.end_ms + 600_000) / 1000:.3f}"}
    calls = [("/api/v1/labels", {}), ("/api/v1/labels", window),
             ("/api/v1/labels", {**window, "match[]": "http_requests_total"}),
             ("/api/v1/label/__name__/values", window), ("/api/v1/label/__name__/values", {}),
             ("/api/v1/label/instance/values", {**window, "match[]": 'up{job="node"}'}),
             ("/api/v1/label/code/values", {"match[]": ['http_requests_total{method="GET"}', "queue_depth"]}),
             ("/api/v1/label/le/values", {**window, "match[]": "request_duration_seconds_bucket"}),
             ("/api/v1/label/nonexistent/values", window),
             ("/api/v1/series", {**window, "match[]": "http_requests_total"}),
             ("/api/v1/series", {**window, "match[]": ['{__name__=~"node_.*", instance="a"}', "version_info"]}),
             ("/api/v1/series", {**window, "match[]": 'ceilometer_cpu{server_group=~"sg-1"}'}),
             ("/api/v1/series", {"match[]": 'temperature_celsius{sensor!="cpu"}'})]
    for path, parameters in calls:
        expected = _catalog_data(prometheus.query(path, **parameters))
        # Only the unknown label may answer nothing: anything else would be a vacuous comparison.
        assert bool(expected) != ("nonexistent" in path), f"{path} {parameters}: Prometheus answered {expected}"
        assert _catalog_data(get(client, path, parameters)) == expected, f"{path} {parameters}"
        if not path.startswith("/api/v1/label/"):
            # Grafana's default method is POST with a form body (the label values route is GET only).
            posted = client.post(path, data=parameters)
            assert _catalog_data(posted) == expected, f"POST {path} {parameters}"


def test_grafanas_health_check_and_panels_posted_as_forms(systems) -> None:
    """Grafana's data source test (``1+1`` at now, POST) and its panels: ``query_range`` with a form
    body, ``start``/``end`` aligned to the step Grafana computes for the panel width (here 1,000
    points over the data: a 7.2 s step, written as Grafana writes it), and the build info it reads to
    know the flavour."""
    prometheus, client, dataset = systems
    health = client.post("/api/v1/query", data={"query": "1+1", "time": f"{time.time():.3f}"}).json()
    assert health["status"] == "success" and health["data"]["result"][1] == "2"
    assert client.get("/api/v1/status/buildinfo").json()["data"]["version"]
    step = (dataset.end_ms - dataset.start_ms) / 1000 / 1000
    start = (dataset.start_ms // 1000 // 60) * 60
    end = -(-dataset.end_ms // 1000 // 60) * 60
    panels = ['sum by (instance) (rate(http_requests_total{code=~"5.."}[1m]))',
              "100 - (avg by (fqdn) (rate(node_cpu_seconds_total{mode='idle'}[5m])) * 100)",
              "histogram_quantile(0.95, sum by (le) (rate(request_duration_seconds_bucket[5m])))",
              "avg_over_time(temperature_celsius[5m])", "topk(3, ceilometer_memory_usage)"]
    problems = []
    for query in panels:
        form = {"query": query, "start": str(start), "end": str(end), "step": f"{step:g}"}
        expected = prometheus.query("/api/v1/query_range", **form).json()
        problems += differences(f"POST query_range {query}", expected, client.post("/api/v1/query_range",
                                                                                   data=form).json())
        assert expected["data"]["result"], f"{query}: Prometheus answered nothing: a vacuous comparison"
    assert not problems, "\n".join(problems)
