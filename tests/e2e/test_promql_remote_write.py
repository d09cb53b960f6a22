"""PromQL compared with Debian's Prometheus 2.42 on what it scrapes and remote-writes to Nephoscope.

Prometheus scrapes Debian's node_exporter and itself every second (the target carries an ``fqdn``
label, as Watcher's deployments configure it) and remote-writes every sample to Nephoscope. After
a minute and a half of data, once Nephoscope holds every sample up to the comparison time, at least
150 queries — every selector modifier, function, aggregation and operator the engine implements,
and the queries Aodh, Watcher and Grafana send — run on both, instant and range, and must agree
point by point (same series, same labels, same timestamps, values within a relative 1e-6).
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.support.prometheus import NodeExporter, Prometheus, differences, get

FQDN = "host-1.example.com"
COLLECT_SECONDS = 90

QUERIES = [
    # selectors and modifiers
    "up", "node_load1", 'node_cpu_seconds_total{mode="idle"}', 'node_cpu_seconds_total{mode!="idle"}',
    'node_cpu_seconds_total{mode=~"user|system"}', 'node_cpu_seconds_total{mode!~"i.*",cpu="0"}',
    '{__name__=~"node_load.*"}', "node_memory_MemAvailable_bytes offset 20s", "node_load5 offset 1m",
    "node_network_receive_bytes_total @ {early}", "node_load1 @ start()", "node_load1 @ end()",
    "scrape_duration_seconds", 'node_filesystem_avail_bytes{fstype!="tmpfs"}', "node_uname_info",
    'node_network_up{device=""}', f'up{{fqdn="{FQDN}"}}', 'node_scrape_collector_success{collector=~"cpu|meminfo"}',
    # rates and friends
    "rate(node_cpu_seconds_total[30s])", "rate(node_cpu_seconds_total[1m])", "irate(node_cpu_seconds_total[15s])",
    "increase(node_network_receive_bytes_total[30s])", "increase(node_context_switches_total[1m])",
    "rate(node_intr_total[20s] offset 10s)", "delta(node_memory_MemFree_bytes[30s])",
    "idelta(node_memory_Active_bytes[30s])", "deriv(process_resident_memory_bytes[30s])",
    "predict_linear(node_memory_MemFree_bytes[30s], 60)", "resets(node_cpu_seconds_total[1m])",
    "changes(node_load1[1m])", "changes(node_procs_running[1m])", "rate(prometheus_http_requests_total[30s])",
    "irate(node_network_transmit_packets_total[10s])", "rate(node_forks_total[45s] @ end())",
    "rate(go_gc_duration_seconds_count[1m])", "increase(scrape_samples_scraped[30s])",
    # *_over_time
    "avg_over_time(node_load1[30s])", "min_over_time(node_memory_MemFree_bytes[1m])",
    "max_over_time(scrape_duration_seconds[1m])", "sum_over_time(node_procs_running[20s])",
    "count_over_time(up[30s])", "last_over_time(node_load15[1m])", "quantile_over_time(0.9, scrape_duration_seconds[1m])",
    "quantile_over_time(0.5, node_memory_MemFree_bytes[30s])", "stddev_over_time(node_load1[1m])",
    "stdvar_over_time(process_resident_memory_bytes[30s])", "present_over_time(up[10s])",
    "absent_over_time(up[10s])", 'absent_over_time(nonexistent_metric{job="node"}[1m])',
    "avg_over_time(node_memory_MemAvailable_bytes[1m]) / node_memory_MemTotal_bytes",
    "min_over_time(scrape_samples_scraped[1m])", "max_over_time(node_procs_blocked[1m])",
    # aggregations
    "sum(node_cpu_seconds_total)", "sum by (mode) (rate(node_cpu_seconds_total[30s]))",
    "sum without (cpu) (rate(node_cpu_seconds_total[30s]))", "avg by (cpu) (rate(node_cpu_seconds_total[30s]))",
    "min by (mode) (node_cpu_seconds_total)", "max without (cpu, mode) (node_cpu_seconds_total)",
    "count(node_cpu_seconds_total)", "count by (mode) (node_cpu_seconds_total)", "group by (instance) (up)",
    "stddev(rate(node_cpu_seconds_total[30s]))", "stdvar by (mode) (node_cpu_seconds_total)",
    "topk(3, rate(node_cpu_seconds_total[30s]))", "bottomk(2, node_network_receive_bytes_total)",
    "quantile(0.5, rate(node_cpu_seconds_total[30s]))", "quantile by (mode) (0.9, node_cpu_seconds_total)",
    'count_values("value", node_network_up)', 'count_values by (device) ("mtu", node_network_mtu_bytes)',
    "sum(rate(node_network_receive_bytes_total[30s])) by (device)", "avg(node_load1)",
    "max(node_filesystem_size_bytes) by (fstype)", "sum by (instance) (scrape_samples_scraped)",
    "count without (collector) (node_scrape_collector_success)", "topk by (mode) (1, node_cpu_seconds_total)",
    "sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[1m]))",
    "count(count by (cpu) (node_cpu_seconds_total))",
    # binary operators
    "node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes", "node_memory_MemAvailable_bytes * 100",
    "100 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes * 100", "node_load1 % 0.1", "node_load1 ^ 2",
    "node_load1 / 0", "-node_load1", "2 * 3 + 1", "node_load1 atan2 1", "node_load1 > 0", "node_load1 > bool 100",
    "100 < node_load1", "node_network_up == 1", "node_network_up != bool 1", "1 >= bool 1",
    "node_memory_MemAvailable_bytes / on(instance) node_memory_MemTotal_bytes",
    "node_memory_MemAvailable_bytes / ignoring(fqdn) node_memory_MemTotal_bytes",
    "rate(node_cpu_seconds_total[30s]) * on(instance) group_left(nodename) node_uname_info",
    "node_uname_info * on(instance) group_right(nodename) rate(node_cpu_seconds_total[30s])",
    "node_cpu_seconds_total + on(instance) up", "node_cpu_seconds_total and on(instance) up == 1",
    "node_load1 or node_load5", 'node_cpu_seconds_total unless on(mode) node_cpu_seconds_total{mode="idle"}',
    "node_cpu_seconds_total > on(cpu, mode, instance, job, fqdn) node_cpu_seconds_total offset 30s",
    "rate(node_cpu_seconds_total[30s]) > bool on(cpu, mode) group_left rate(node_cpu_seconds_total[30s] offset 15s)",
    "sum by (instance) (rate(node_cpu_seconds_total[30s])) / count by (instance) (node_cpu_seconds_total)",
    "node_network_receive_bytes_total - ignoring(device) group_left node_network_transmit_bytes_total",
    "up * on(instance) group_left(version) prometheus_build_info",
    # functions
    "abs(-node_load1)", "ceil(node_load1)", "floor(node_load1)", "round(node_load1)", "round(node_load1, 0.25)",
    "sqrt(node_memory_MemTotal_bytes)", "exp(node_load1)", "ln(node_memory_MemTotal_bytes)",
    "log2(node_memory_MemTotal_bytes)", "log10(node_memory_MemTotal_bytes)", "sgn(node_load1 - 1)",
    "clamp(node_load1, 0.2, 0.5)", "clamp_min(node_load1, 1)", "clamp_max(node_load1, 0.1)", "time()",
    "timestamp(node_load1)", "timestamp(rate(node_forks_total[30s]))", "hour()", "minute(node_boot_time_seconds)",
    "day_of_week()", "day_of_month(node_boot_time_seconds)", "day_of_year()", "days_in_month()", "month()",
    "year(node_boot_time_seconds)", "vector(7)", "scalar(up)", "scalar(node_cpu_seconds_total)",
    "node_load1 * scalar(count(node_cpu_seconds_total))",
    'label_replace(up, "host", "$1", "instance", "([^:]+):.*")', 'label_replace(up, "short", "$1", "fqdn", "([^.]+).*")',
    'label_join(node_uname_info, "both", "/", "sysname", "machine")', "absent(up)",
    'absent(nonexistent_metric{job="node", a=~"b"})',
    "histogram_quantile(0.9, rate(prometheus_http_request_duration_seconds_bucket[1m]))",
    "histogram_quantile(0.5, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[1m])))",
    "histogram_quantile(0.99, sum by (le, handler) (prometheus_http_request_duration_seconds_bucket))",
    'abs({__name__=~"node_load1|node_load5"})',
    # subqueries
    "max_over_time(rate(node_cpu_seconds_total[10s])[30s:5s])", "avg_over_time(node_load1[1m:10s])",
    "min_over_time(sum by (mode) (rate(node_cpu_seconds_total[15s]))[40s:5s] offset 5s)",
    "sum_over_time(up[30s:5s] @ end())", "rate(sum(node_cpu_seconds_total)[30s:5s])",
    "quantile_over_time(0.5, node_load1[1m:5s])", "deriv(avg(node_memory_MemFree_bytes)[30s:5s])",
    # what Aodh, Watcher and Grafana send
    'rate(node_network_receive_bytes_total{device=~"lo|eth.*"}[30s]) * 100',
    f"100 - (avg by (fqdn)(rate(node_cpu_seconds_total{{mode='idle',fqdn='{FQDN}'}}[30s])) * 100)",
    f"(node_memory_MemTotal_bytes{{fqdn='{FQDN}'}} - avg_over_time(node_memory_MemAvailable_bytes{{fqdn='{FQDN}'}}[30s]))"
    " / 1024", f"avg_over_time(node_memory_MemAvailable_bytes{{fqdn='{FQDN}'}}[30s])",
    f"clamp_max((avg by (fqdn)(rate(node_cpu_seconds_total{{fqdn='{FQDN}'}}[30s]))/10e+8)*(100/2),100)",
    "1+1", 'sum(rate(node_cpu_seconds_total{mode!="idle"}[30s])) by (instance)',
    "sum by (instance) (irate(node_network_receive_bytes_total[15s]))",
    "node_filesystem_avail_bytes / node_filesystem_size_bytes",
]
INSTANT_ONLY = ["node_load1[30s]", "up[20s] offset 10s", "rate(node_cpu_seconds_total[10s])[30s:]",
                "node_load1[30s:5s]", "sort(rate(node_cpu_seconds_total[30s]))", "sort_desc(node_network_mtu_bytes)",
                '"hello"']


def _rendered(moment_s: float) -> list[tuple[str, bool]]:
    early = f"{moment_s - 40:.3f}"
    return ([(query.replace("{early}", early), False) for query in QUERIES]
            + [(query.replace("{early}", early), True) for query in INSTANT_ONLY])


def _synced(prometheus: Prometheus, client: httpx.Client, moment: str) -> bool:
    """Nephoscope holds every sample Prometheus has up to ``moment`` (for some metrics that never are NaN)."""
    probe = "sum(count_over_time({__name__=~\"up|node_cpu_seconds_total|prometheus_http_request_duration_seconds_bucket\"}[10m]))"
    want = prometheus.query("/api/v1/query", query=probe, time=moment).json()["data"]["result"]
    got = client.get("/api/v1/query", params={"query": probe, "time": moment}).json()["data"]["result"]
    return bool(want) and want == got


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("remote-write")
    (root / "nephoscope").mkdir()
    # A subquery without a step uses Prometheus's evaluation interval (1s in this Prometheus's
    # configuration): Nephoscope's is the same setting.
    server = ServerProcess(root / "nephoscope" / "data", extra_env={"NEPHOSCOPE_PROMETHEUS_SUBQUERY_STEP": "1"})
    exporter = NodeExporter(root / "node-exporter")
    prometheus = Prometheus(root / "prometheus")
    try:
        server.start()
        token = server.create_key("scraped-project", "monasca-user")
        exporter.start()
        prometheus.targets = [exporter.address, prometheus.address]
        prometheus.target_labels = {"fqdn": FQDN}
        prometheus.remote_write = (server.url + "/api/v1/write", token)
        prometheus.start()
        time.sleep(COLLECT_SECONDS)
        moment = f"{time.time() - 10:.3f}"
        with server.client(token) as client:
            deadline = time.monotonic() + 60
            while not _synced(prometheus, client, moment):
                assert time.monotonic() < deadline, "Nephoscope never caught up with Prometheus's remote write"
                time.sleep(1)
            yield prometheus, client, float(moment)
    finally:
        prometheus.stop()
        exporter.stop()
        server.stop()


def test_at_least_150_queries_spanning_the_language() -> None:
    queries = [query for query, _ in _rendered(0.0)]
    assert len(set(queries)) >= 150, len(set(queries))


def _compare(prometheus: Prometheus, client: httpx.Client, path: str, query: str, ordered: bool = False,
             **parameters: object) -> list[str]:
    expected = prometheus.query(path, query=query, **parameters).json()
    actual = get(client, path, {"query": query, **parameters}).json()
    return differences(f"{path} {query} {parameters}", expected, actual, ordered=ordered)


def test_instant_queries_agree_with_the_prometheus_that_wrote_them(scraped) -> None:  # noqa: ANN001
    prometheus, client, moment = scraped
    problems = []
    for query, _ in _rendered(moment):
        for at in (moment, moment - 23.5):
            problems += _compare(prometheus, client, "/api/v1/query", query, ordered=query.startswith("sort"),
                                 time=f"{at:.3f}")
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:60])


@pytest.mark.parametrize("step", ["5s", "3"])
def test_range_queries_agree_with_the_prometheus_that_wrote_them(scraped, step: str) -> None:  # noqa: ANN001
    prometheus, client, moment = scraped
    problems = []
    for query, instant_only in _rendered(moment):
        if not instant_only:
            problems += _compare(prometheus, client, "/api/v1/query_range", query, start=f"{moment - 60:.3f}",
                                 end=f"{moment:.3f}", step=step)
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:60])
