"""python-monascaclient 2.8.0, unchanged, against a real Nephoscope server.

Three layers, all against the ``shared_server`` subprocess:

* the ``monasca`` CLI run as a subprocess, exactly as an operator would;
* the library (``monascaclient.client.Client('2_0', session=...)``);
* the wire details the client depends on (envelopes, timestamp formats, versions).

Every project used here is fresh (its own API key), so listings are exact. The
measurement/statistics data set is posted once, 2-3 hours in the past (inside the
server's 1-day raw retention), at known times, so statistics can be checked against
plain arithmetic (``expected_statistics``).

The last sections (validation rules, long ranges) come after everything else on
purpose: they pin down server bugs found while writing this module, and with ``-x``
a failure there does not hide the rest.
"""

from __future__ import annotations

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
from keystoneauth1.exceptions import http as ks_http

try:  # tests/ as a package (tests/__init__.py) or as a plain rootdir-relative directory
    from tests.conftest import ServerProcess
    from tests.support.monasca_cli import (
        MonascaCLI,
        expected_statistics,
        iso_millis,
        iso_seconds,
        library_client,
        next_offset,
    )
except ImportError:  # pragma: no cover - depends on how pytest was configured
    from conftest import ServerProcess
    from monasca_cli import MonascaCLI, expected_statistics, iso_millis, iso_seconds, library_client, next_offset

MINUTE = 60_000
HOUR = 3_600_000
MILLIS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SECONDS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ALL_STATS = ["avg", "max", "min", "sum", "count"]

# -- the known data set -----------------------------------------------------------------

A = ("svc.latency", (("hostname", "a"), ("service", "web")))
B = ("svc.latency", (("hostname", "b"), ("service", "web")))
C = ("svc.latency", (("hostname", "c"), ("service", "db"), ("zone", "z1")))
E = ("svc.errors", (("hostname", "a"), ("service", "web")))


def build_samples(base: int) -> dict[tuple, list[tuple[int, float, dict]]]:
    """(series) -> [(timestamp ms, value, value_meta)], sorted by time. ``base`` is hour-aligned."""
    a = [(base + 10_000 * i + 250, float(i + 1), {"rc": "500"} if i == 3 else {}) for i in range(12)]
    a.append((base + 5 * MINUTE + 250, 50.0, {}))  # minute 5 alone: minutes 2-4 stay empty
    b = [(base + 10_000 * i + 5_000, 100 + 0.5 * i, {}) for i in range(12)]
    c = [(base + MINUTE * k, 7.0 * k, {}) for k in range(4)]
    e = [(base + 30_000, 3.0, {}), (base + 90_000, 4.0, {})]
    return {A: a, B: b, C: c, E: e}


def rows_of(samples: list[tuple[int, float, dict]]) -> list[list]:
    return [[iso_millis(t), v, m] for t, v, m in samples]


def pairs(samples: list[tuple[int, float, dict]]) -> list[tuple[int, float]]:
    return [(t, v) for t, v, _ in samples]


def assert_statistics(actual: list[list], expected: list[list]) -> None:
    assert [row[0] for row in actual] == [row[0] for row in expected]
    for got, want in zip(actual, expected):
        assert got[1:] == pytest.approx(want[1:], rel=1e-9, abs=1e-9), (got, want)


@dataclass
class World:
    server: ServerProcess
    endpoint: str
    base: int
    samples: dict[tuple, list[tuple[int, float, dict]]]
    data_project: str
    data_token: str

    def cli(self, token: str | None = None) -> MonascaCLI:
        return MonascaCLI(self.endpoint, token or self.data_token)

    def library(self, token: str | None = None):  # noqa: ANN201
        return library_client(self.endpoint, token or self.data_token)

    def http(self, token: str | None = None) -> httpx.Client:
        return self.server.client(token or self.data_token)

    def new_project(self, prefix: str, *roles: str) -> tuple[str, str]:
        project = f"{prefix}-{uuid.uuid4().hex[:8]}"
        return project, self.server.create_key(project, *(roles or ("monasca-user",)))


@pytest.fixture(scope="module")
def world(shared_server: ServerProcess) -> World:
    now = int(time.time() * 1000)
    base = (now // HOUR) * HOUR - 2 * HOUR  # 2-3 hours ago, hour-aligned
    samples = build_samples(base)
    project = f"data-{uuid.uuid4().hex[:8]}"
    token = shared_server.create_key(project, "monasca-user")
    body = []
    for (name, dims), series in samples.items():
        for t, v, meta in reversed(series):  # posted newest first: the server must sort
            body.append({"name": name, "dimensions": dict(dims), "timestamp": t, "value": v,
                         "value_meta": meta or None})
    with shared_server.client(token) as http:
        answer = http.post("/v2.0/metrics", content=orjson.dumps(body), headers={"Content-Type": "application/json"})
        assert answer.status_code == 204, answer.text
    return World(shared_server, shared_server.url + "/v2.0", base, samples, project, token)


def definitions(elements: list[dict]) -> list[tuple[str, dict]]:
    return sorted(((e["name"], e["dimensions"]) for e in elements), key=repr)


# =====================================================================================
# 1. The CLI
# =====================================================================================


@pytest.fixture(scope="module")
def cli_project(world: World) -> dict:
    """A fresh project filled through the CLI's metric-create / metric-create-raw."""
    project, token = world.new_project("cli")
    cli = world.cli(token)
    now = int(time.time() * 1000)
    created = cli.ok_all(
        # no --time: the CLI sends a float timestamp of "now"
        ("metric-create", "cli.cpu", "42.5", "--dimensions", "hostname=h1,service=mon", "--value-meta", "rc=500"),
        # --dimensions and --value-meta given twice, with --time
        ("metric-create", "cli.cpu", "40", "--dimensions", "hostname=h2", "--dimensions", "service=mon",
         "--time", str(now - MINUTE), "--value-meta", "rc=404", "--value-meta", "path=/x"),
        ("metric-create", "cli.cpu", "7", "--dimensions", "hostname=h3", "--time", str(now - 2 * MINUTE)),
        ("metric-create-raw", orjson.dumps({
            "name": "cli.mem", "dimensions": {"hostname": "h1"}, "timestamp": now - 30_000, "value": 1.5,
            "value_meta": {"k": "v"}}).decode()),
        ("metric-create", "cli.old", "1", "--dimensions", "hostname=h1", "--time", str(now - 3 * HOUR)),
    )
    for result in created:
        assert result.stdout.strip() == "Successfully created metric"
    return {"project": project, "token": token, "cli": cli, "now": now}


ALL_CLI_METRICS = sorted([
    ("cli.cpu", {"hostname": "h1", "service": "mon"}),
    ("cli.cpu", {"hostname": "h2", "service": "mon"}),
    ("cli.cpu", {"hostname": "h3"}),
    ("cli.mem", {"hostname": "h1"}),
    ("cli.old", {"hostname": "h1"}),
], key=repr)


def test_cli_metric_list_filters_and_starttime(cli_project: dict) -> None:
    cli: MonascaCLI = cli_project["cli"]
    now = cli_project["now"]
    (everything, by_name, key_alone, repeated, h1, alternatives, combined, unknown,
     last_hour, since_4h, only_old) = cli.json_all(
        ("metric-list",),
        ("metric-list", "--name", "cli.cpu"),
        ("metric-list", "--dimensions", "service"),  # a key alone: "the key exists, any value"
        ("metric-list", "--dimensions", "hostname=h1", "--dimensions", "service=mon"),  # repeated: AND
        ("metric-list", "--dimensions", "hostname=h1"),
        ("metric-list", "--dimensions", "hostname=h2|h3"),  # value alternatives
        ("metric-list", "--name", "cli.cpu", "--dimensions", "hostname=h1,service"),
        ("metric-list", "--name", "no.such.metric"),
        ("metric-list", "--starttime", "-60"),  # relative: the last 60 minutes exclude cli.old (3 h ago)
        ("metric-list", "--starttime", iso_seconds(now - 4 * HOUR)),
        ("metric-list", "--starttime", iso_seconds(now - 4 * HOUR), "--endtime", iso_seconds(now - 2 * HOUR)),
    )
    assert definitions(everything) == ALL_CLI_METRICS
    assert all(set(e) >= {"id", "name", "dimensions"} for e in everything)
    assert definitions(by_name) == [m for m in ALL_CLI_METRICS if m[0] == "cli.cpu"]
    assert definitions(key_alone) == sorted([
        ("cli.cpu", {"hostname": "h1", "service": "mon"}), ("cli.cpu", {"hostname": "h2", "service": "mon"})], key=repr)
    assert definitions(repeated) == [("cli.cpu", {"hostname": "h1", "service": "mon"})]
    assert definitions(h1) == [m for m in ALL_CLI_METRICS if m[1]["hostname"] == "h1"]
    assert definitions(alternatives) == sorted([
        ("cli.cpu", {"hostname": "h2", "service": "mon"}), ("cli.cpu", {"hostname": "h3"})], key=repr)
    assert definitions(combined) == [("cli.cpu", {"hostname": "h1", "service": "mon"})]
    assert unknown == []
    assert definitions(last_hour) == [m for m in ALL_CLI_METRICS if m[0] != "cli.old"]
    assert definitions(since_4h) == ALL_CLI_METRICS
    assert definitions(only_old) == [("cli.old", {"hostname": "h1"})]

    table = cli.ok("metric-list", "--name", "cli.mem").stdout
    assert "cli.mem" in table and "hostname: h1" in table


def test_cli_metric_list_paging(cli_project: dict) -> None:
    cli: MonascaCLI = cli_project["cli"]
    seen, offset, pages = [], None, 0
    while True:
        args = ["metric-list", "--limit", "2"] + (["--offset", offset] if offset else [])
        page = cli.json(*args)
        pages += 1
        assert len(page) <= 2
        if not page:
            break
        seen += page
        offset = page[-1]["id"]
        if len(page) < 2:
            break
        assert pages < 10
    assert pages == 3  # 2 + 2 + 1
    assert len({e["id"] for e in seen}) == len(seen) == 5
    assert definitions(seen) == ALL_CLI_METRICS


def test_cli_names_and_dimensions(cli_project: dict) -> None:
    cli: MonascaCLI = cli_project["cli"]
    answers = cli.json_all(
        ("metric-name-list",),
        ("metric-name-list", "--dimensions", "service=mon"),
        ("metric-name-list", "--limit", "2"),
        ("metric-name-list", "--offset", "cli.mem"),
        ("dimension-name-list",),
        ("dimension-name-list", "--metric-name", "cli.mem"),
        ("dimension-value-list", "hostname"),
        ("dimension-value-list", "hostname", "--metric-name", "cli.mem"),
        ("dimension-value-list", "service"),
        ("dimension-value-list", "hostname", "--limit", "1", "--offset", "h1"),
    )
    assert answers == [
        [{"name": "cli.cpu"}, {"name": "cli.mem"}, {"name": "cli.old"}],
        [{"name": "cli.cpu"}],
        [{"name": "cli.cpu"}, {"name": "cli.mem"}],
        [{"name": "cli.old"}],
        [{"dimension_name": "hostname"}, {"dimension_name": "service"}],
        [{"dimension_name": "hostname"}],
        [{"dimension_value": "h1"}, {"dimension_value": "h2"}, {"dimension_value": "h3"}],
        [{"dimension_value": "h1"}],
        [{"dimension_value": "mon"}],
        [{"dimension_value": "h2"}],
    ]
    names_table, values_table = cli.ok_all(("metric-name-list",), ("dimension-value-list", "hostname"))
    assert "cli.cpu" in names_table.stdout and "cli.old" in names_table.stdout
    assert "h2" in values_table.stdout and "Dimension Values" in values_table.stdout


def test_cli_created_values_and_value_meta(cli_project: dict) -> None:
    cli: MonascaCLI = cli_project["cli"]
    now = cli_project["now"]
    h1, h2, mem, old, old_recent = cli.json_all(
        ("measurement-list", "cli.cpu", "-10", "--dimensions", "hostname=h1,service=mon"),
        ("measurement-list", "cli.cpu", "-10", "--dimensions", "hostname=h2"),
        ("measurement-list", "cli.mem", iso_seconds(now - HOUR)),
        ("measurement-list", "cli.old", "-240"),
        ("measurement-list", "cli.old", "-10"),
    )
    assert len(h1) == 1 and len(h1[0]["measurements"]) == 1
    stamp, value, meta = h1[0]["measurements"][0]
    assert value == 42.5 and meta == {"rc": "500"}
    assert MILLIS_RE.match(stamp)
    posted = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp() * 1000
    assert abs(posted - now) < 10 * MINUTE  # the CLI's own "now" (a float timestamp)

    assert h2[0]["measurements"] == [[iso_millis(now - MINUTE), 40.0, {"rc": "404", "path": "/x"}]]
    assert h2[0]["dimensions"] == {"hostname": "h2", "service": "mon"}
    assert mem[0]["measurements"] == [[iso_millis(now - 30_000), 1.5, {"k": "v"}]]
    assert old[0]["measurements"] == [[iso_millis(now - 3 * HOUR), 1.0, {}]]
    assert old_recent == []  # a 10-minute window does not reach back 3 hours

    table = cli.ok("measurement-list", "cli.cpu", "-10", "--dimensions", "hostname=h2").stdout
    assert "      40.000" in table and "rc: 404" in table and iso_millis(now - MINUTE) in table


def test_cli_error_display(cli_project: dict) -> None:
    cli: MonascaCLI = cli_project["cli"]
    bad_names = ("bad name", "cpu{x}", "x" * 256)
    results = cli.run_all(
        ("measurement-list", "cli.cpu", "-10"),
        ("metric-statistics", "cli.cpu", "avg", "-10"),
        *(("metric-create", bad, "1") for bad in bad_names),
        ("metric-create", "cli.cpu", "1", "--dimensions", "_hidden=1"),
        # Nephoscope-specific: older than the raw retention (Monasca [py] would store it)
        ("metric-create-raw", '{"name": "cli.cpu", "timestamp": 1, "value": 1}'),
    )
    for result in results:
        assert result.returncode != 0, result.stdout
        assert "Traceback" not in result.stderr
    conflicts, invalid = results[:2], results[2:]
    for conflict in conflicts:
        assert "(HTTP 409)" in conflict.stderr
        assert "multiple metrics" in conflict.stderr.lower()
    for result in invalid:
        assert "(HTTP 422)" in result.stderr, result.stderr
    # nothing of the refused requests was stored
    assert definitions(cli.json("metric-list")) == ALL_CLI_METRICS


def test_cli_roles(world: World) -> None:
    _, agent_token = world.new_project("agent", "monasca-agent")
    _, reader_token = world.new_project("reader", "monasca-read-only-user")
    agent, reader = world.cli(agent_token), world.cli(reader_token)
    with ThreadPoolExecutor(max_workers=4) as pool:
        posted, agent_list, reader_post, reader_list = pool.map(lambda job: job[0].run(*job[1:]), [
            (agent, "metric-create", "agent.m", "1"), (agent, "metric-list", "-j"),
            (reader, "metric-create", "reader.m", "1"), (reader, "metric-list", "-j")])
    assert posted.returncode == 0 and posted.stdout.strip() == "Successfully created metric"
    for denied in (agent_list, reader_post):  # Monasca answers a missing role with 403, naming the rule
        assert denied.returncode != 0 and "(HTTP 403)" in denied.stderr, denied.stderr
    assert "api:metrics:get" in agent_list.stderr and "api:metrics:post" in reader_post.stderr
    assert reader_list.returncode == 0 and reader_list.json() == []


# -- measurements and statistics through the CLI (the known data set) --------------------


def test_cli_measurement_list_relative_and_iso_start(world: World) -> None:
    cli = world.cli()
    a = world.samples[A]
    start = world.base + MINUTE
    found, later, window = cli.json_all(
        ("measurement-list", "svc.latency", "-240", "--dimensions", "hostname=a"),
        ("measurement-list", "svc.latency", iso_seconds(start), "--dimensions", "hostname=a,service=web"),
        ("measurement-list", "svc.latency", iso_seconds(start), "--dimensions", "hostname=a",
         "--endtime", iso_seconds(start + MINUTE)),
    )
    assert len(found) == 1
    assert found[0]["name"] == "svc.latency"
    assert found[0]["dimensions"] == dict(A[1])
    assert found[0]["columns"] == ["timestamp", "value", "value_meta"]
    assert found[0]["measurements"] == rows_of(a)
    assert later[0]["measurements"] == rows_of([x for x in a if x[0] >= start])
    assert window[0]["measurements"] == rows_of([x for x in a if start <= x[0] < start + MINUTE])
    assert len(window[0]["measurements"]) == 6


def test_cli_measurement_list_merge_and_group_by(world: World) -> None:
    cli = world.cli()
    s = world.samples
    merged, everything, by_host, by_service, by_all = cli.json_all(
        ("measurement-list", "svc.latency", "-240", "--dimensions", "service=web", "--merge_metrics"),
        ("measurement-list", "svc.latency", "-240", "--merge_metrics"),
        ("measurement-list", "svc.latency", "-240", "--group_by", "hostname"),
        ("measurement-list", "svc.latency", "-240", "--group_by", "service"),
        ("measurement-list", "svc.latency", "-240", "--group_by", "*"),
    )
    assert len(merged) == 1
    assert merged[0]["dimensions"] == {"service": "web"}
    assert merged[0]["measurements"] == rows_of(sorted(s[A] + s[B]))
    assert len(everything) == 1
    assert everything[0]["measurements"] == rows_of(sorted(s[A] + s[B] + s[C]))

    assert sorted(e["dimensions"]["hostname"] for e in by_host) == ["a", "b", "c"]
    for element in by_host:
        host = element["dimensions"]["hostname"]
        assert element["dimensions"] == {"hostname": host}
        assert element["measurements"] == rows_of(s[{"a": A, "b": B, "c": C}[host]])
    assert {e["dimensions"]["service"]: e["measurements"] for e in by_service} == {
        "web": rows_of(sorted(s[A] + s[B])), "db": rows_of(s[C])}
    assert definitions(by_all) == definitions([{"name": n, "dimensions": dict(d)} for n, d in (A, B, C)])

    table = cli.ok("measurement-list", "svc.latency", "-240", "--group_by", "hostname").stdout
    assert "hostname: c" in table and "      21.000" in table


def test_cli_measurement_list_paging(world: World) -> None:
    cli = world.cli()
    a = world.samples[A]
    collected, offset, sizes = [], None, []
    while len(sizes) < 10:
        args = ["measurement-list", "svc.latency", "-240", "--dimensions", "hostname=a", "--limit", "5"]
        page = cli.json(*(args + (["--offset", offset] if offset else [])))
        rows = [r for e in page for r in e["measurements"]]
        sizes.append(len(rows))
        collected += rows
        if len(rows) < 5:
            break
        offset = f"{page[-1]['id']}_{rows[-1][0]}"
    assert sizes == [5, 5, 3]
    assert collected == rows_of(a)


def test_cli_metric_statistics(world: World) -> None:
    cli = world.cli()
    a = pairs(world.samples[A])
    start = iso_seconds(world.base)
    query = ("metric-statistics", "svc.latency", "avg,MAX,min,sum,count", start, "--period", "60",
             "--dimensions", "hostname=a")
    (found, default), (table,) = (
        cli.json_all(query, ("metric-statistics", "svc.latency", "count,sum", "-240", "--dimensions", "hostname=b")),
        cli.ok_all(query))
    assert len(found) == 1
    assert found[0]["dimensions"] == dict(A[1])
    assert found[0]["columns"] == ["timestamp", "avg", "max", "min", "sum", "count"]
    rows = found[0]["statistics"]
    assert rows[0] == [start, 3.5, 6.0, 1.0, 21.0, 6]
    assert rows[1] == [iso_seconds(world.base + MINUTE), 9.5, 12.0, 7.0, 57.0, 6]
    assert rows[2] == [iso_seconds(world.base + 5 * MINUTE), 50.0, 50.0, 50.0, 50.0, 1]
    assert len(rows) == 3  # the empty minutes 2-4 are dropped
    assert all(type(r[5]) is int for r in rows)
    assert_statistics(rows, expected_statistics(a, world.base, 60, ALL_STATS))

    # the table: the CLI finds each column by its lower-case name
    header = next(line for line in table.stdout.splitlines() if "timestamp" in line)
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "name", "dimensions", "timestamp", "avg", "max", "min", "sum", "count"]
    for text in ("       3.500", "      21.000", "      57.000", "      50.000", start):
        assert text in table.stdout

    # relative start and the default period (300 s)
    assert default[0]["columns"] == ["timestamp", "count", "sum"]
    assert sum(r[1] for r in default[0]["statistics"]) == 12
    assert sum(r[2] for r in default[0]["statistics"]) == pytest.approx(sum(v for _, v in pairs(world.samples[B])))


def test_cli_metric_statistics_merge_and_group_by(world: World) -> None:
    cli = world.cli()
    s = world.samples
    start = iso_seconds(world.base)
    merged, grouped, ended = cli.json_all(
        ("metric-statistics", "svc.latency", "avg,min,max,sum,count", start, "--period", "300", "--merge_metrics"),
        ("metric-statistics", "svc.latency", "sum,count", start, "--period", "3600", "--group_by", "service"),
        ("metric-statistics", "svc.latency", "count", start, "--period", "60", "--dimensions", "hostname=c",
         "--endtime", iso_seconds(world.base + 2 * MINUTE)),
    )
    assert len(merged) == 1
    assert merged[0]["columns"] == ["timestamp", "avg", "min", "max", "sum", "count"]
    all_points = pairs(s[A] + s[B] + s[C])
    assert_statistics(merged[0]["statistics"],
                      expected_statistics(all_points, world.base, 300, ["avg", "min", "max", "sum", "count"]))
    assert [r[5] for r in merged[0]["statistics"]] == [28, 1]

    by_service = {e["dimensions"]["service"]: e["statistics"] for e in grouped}
    assert set(by_service) == {"web", "db"}
    assert_statistics(by_service["web"], expected_statistics(pairs(s[A] + s[B]), world.base, 3600, ["sum", "count"]))
    assert by_service["db"] == [[start, 42.0, 4]]

    assert ended[0]["statistics"] == [[start, 1], [iso_seconds(world.base + MINUTE), 1]]


def test_cli_cross_project_posting(world: World) -> None:
    target, target_token = world.new_project("target")
    _, delegate_token = world.new_project("delegate", "monasca-delegate")
    other, other_token = world.new_project("victim")
    _, user_token = world.new_project("plain")
    delegate, admin, user = world.cli(delegate_token), world.cli(world.server.admin_token), world.cli(user_token)
    owner_view = world.cli(target_token)

    with ThreadPoolExecutor(max_workers=3) as pool:
        by_delegate, by_admin, attempt = pool.map(lambda job: job[0].run(*job[1:]), [
            (delegate, "metric-create", "deleg.m", "5", "--dimensions", "via=delegate", "--project-id", target),
            (admin, "metric-create", "deleg.m", "6", "--dimensions", "via=admin", "--project-id", target),
            (user, "metric-create", "sneaky.m", "1", "--project-id", other),
        ])
    for created in (by_delegate, by_admin):
        assert created.returncode == 0, created.stderr
        assert created.stdout.strip() == "Successfully created metric"

    with ThreadPoolExecutor(max_workers=4) as pool:
        owned, values, delegate_own, delegate_read, victim, plain = pool.map(lambda job: job[0].json(*job[1:]), [
            (owner_view, "metric-list", "--name", "deleg.m"),
            (owner_view, "measurement-list", "deleg.m", "-10", "--merge_metrics"),
            (delegate, "metric-list"),
            (delegate, "metric-list", "--tenant-id", target),
            (world.cli(other_token), "metric-list"),
            (user, "metric-list"),
        ])
    assert definitions(owned) == [("deleg.m", {"via": "admin"}), ("deleg.m", {"via": "delegate"})]
    assert sorted(r[1] for r in values[0]["measurements"]) == [5.0, 6.0]
    assert delegate_own == []  # nothing landed in the delegate's own project
    assert definitions(delegate_read) == definitions(owned)

    # a plain monasca-user cannot write into another project: Monasca [py] ignores tenant_id
    # (stores in the caller's project), [java] refuses; either way the other project stays empty.
    assert victim == []
    if attempt.returncode == 0:
        assert definitions(plain) == [("sneaky.m", {})]
    else:
        assert "(HTTP 403)" in attempt.stderr and "api:delegate" in attempt.stderr, attempt.stderr
        assert plain == []


# =====================================================================================
# 2. The library
# =====================================================================================


def test_library_create_single_and_list(world: World) -> None:
    project, token = world.new_project("lib")
    mc = world.library(token)
    now = int(time.time() * 1000)
    answer = mc.metrics.create(name="lib.cpu", dimensions={"hostname": "l1"}, timestamp=now, value=1.25,
                               value_meta={"note": "first"})
    assert answer.status_code == 204
    answer = mc.metrics.create(jsonbody=[
        {"name": "lib.cpu", "dimensions": {"hostname": "l2"}, "timestamp": now + 0.5, "value": 2, "value_meta": None},
        {"name": "lib.cpu", "dimensions": {"hostname": "l2"}, "timestamp": now - 1000, "value": 3},
        {"name": "lib.disk", "timestamp": float(now), "value": -4.5},
    ])
    assert answer.status_code == 204
    answer = mc.metrics.create(jsonbody={"name": "lib.disk", "timestamp": now - 2000, "value": 8})  # a single object
    assert answer.status_code == 204

    assert definitions(mc.metrics.list()) == sorted([
        ("lib.cpu", {"hostname": "l1"}), ("lib.cpu", {"hostname": "l2"}), ("lib.disk", {})], key=repr)
    assert mc.metrics.next is None
    start = iso_seconds(now - HOUR)
    l2 = mc.metrics.list_measurements(name="lib.cpu", dimensions={"hostname": "l2"}, start_time=start)
    assert [r[:2] for r in l2[0]["measurements"]] == [[iso_millis(now - 1000), 3.0], [iso_millis(now), 2.0]]
    l1 = mc.metrics.list_measurements(name="lib.cpu", dimensions={"hostname": "l1"}, start_time=start)
    assert l1[0]["measurements"] == [[iso_millis(now), 1.25, {"note": "first"}]]
    disk = mc.metrics.list_measurements(name="lib.disk", start_time=start)
    assert disk[0]["dimensions"] == {}
    assert disk[0]["measurements"] == [[iso_millis(now - 2000), 8.0, {}], [iso_millis(now), -4.5, {}]]

    with pytest.raises(ks_http.UnprocessableEntity):
        mc.metrics.create(name="bad name", timestamp=now, value=1)
    with pytest.raises(ks_http.UnprocessableEntity):  # all-or-nothing: one bad metric refuses the request
        mc.metrics.create(jsonbody=[{"name": "lib.fine", "timestamp": now, "value": 1},
                                    {"name": "lib.bad", "timestamp": now, "value": 1, "dimensions": {"k": ""}}])
    assert [n["name"] for n in mc.metrics.list_names()] == ["lib.cpu", "lib.disk"]

    # tenant_id through the library (admin token)
    admin = world.library(world.server.admin_token)
    assert admin.metrics.create(tenant_id=project, name="lib.delegated", timestamp=now, value=9).status_code == 204
    assert [n["name"] for n in mc.metrics.list_names()] == ["lib.cpu", "lib.delegated", "lib.disk"]


def follow_pages(call, manager, **query) -> tuple[list[list], list[str]]:  # noqa: ANN001
    """Pages of a list call, following ``next`` links by their offset, as library users do."""
    pages, links = [], []
    for _ in range(50):
        pages.append(call(**query))
        if not manager.next:
            return pages, links
        links.append(manager.next)
        query = dict(query, offset=next_offset(manager.next))
    raise AssertionError("paging did not end")


def test_library_metric_list_names_and_dimensions(world: World) -> None:
    mc = world.library()
    every = definitions([{"name": n, "dimensions": dict(d)} for n, d in (A, B, C, E)])
    assert definitions(mc.metrics.list()) == every
    pages, links = follow_pages(mc.metrics.list, mc.metrics, limit=1)
    assert [len(p) for p in pages] == [1, 1, 1, 1]
    assert definitions([e for p in pages for e in p]) == every
    for link in links:
        assert parse_qs(urlsplit(link).query)["limit"] == ["1"]
        assert link.startswith(world.endpoint + "/metrics?")

    pages, _ = follow_pages(mc.metrics.list, mc.metrics, name="svc.latency", dimensions={"service": ""}, limit=2)
    assert [len(p) for p in pages] == [2, 1]
    assert definitions([e for p in pages for e in p]) == definitions(
        [{"name": n, "dimensions": dict(d)} for n, d in (A, B, C)])
    assert definitions(mc.metrics.list(dimensions={"zone": "z1"})) == [(C[0], dict(C[1]))]
    assert definitions(mc.metrics.list(start_time=iso_seconds(world.base + 10 * MINUTE))) == []
    assert definitions(mc.metrics.list(start_time=iso_seconds(world.base + 4 * MINUTE))) == [(A[0], dict(A[1]))]

    assert mc.metrics.list_names() == [{"name": "svc.errors"}, {"name": "svc.latency"}]
    pages, links = follow_pages(mc.metrics.list_names, mc.metrics, limit=1)
    assert pages == [[{"name": "svc.errors"}], [{"name": "svc.latency"}]]
    assert next_offset(links[0]) == "svc.errors"
    assert mc.metrics.list_names(dimensions={"zone": ""}) == [{"name": "svc.latency"}]

    assert mc.metrics.list_dimension_names() == [
        {"dimension_name": "hostname"}, {"dimension_name": "service"}, {"dimension_name": "zone"}]
    assert mc.metrics.list_dimension_names(metric_name="svc.errors") == [
        {"dimension_name": "hostname"}, {"dimension_name": "service"}]
    pages, _ = follow_pages(mc.metrics.list_dimension_values, mc.metrics, dimension_name="hostname", limit=2)
    assert pages == [[{"dimension_value": "a"}, {"dimension_value": "b"}], [{"dimension_value": "c"}]]
    assert mc.metrics.list_dimension_values(dimension_name="service", metric_name="svc.errors") == [
        {"dimension_value": "web"}]
    assert mc.metrics.list_dimension_values(dimension_name="nope") == []
    with pytest.raises(ks_http.UnprocessableEntity):
        mc.metrics.list_dimension_values()


def test_library_measurements(world: World) -> None:
    mc = world.library()
    s = world.samples
    start = iso_seconds(world.base)
    one = mc.metrics.list_measurements(name="svc.latency", dimensions={"hostname": "a"}, start_time=start)
    assert one[0]["measurements"] == rows_of(s[A])
    assert mc.metrics.next is None

    pages, links = follow_pages(mc.metrics.list_measurements, mc.metrics, name="svc.latency",
                                dimensions={"hostname": "a"}, start_time=start, limit=5)
    assert [sum(len(e["measurements"]) for e in p) for p in pages] == [5, 5, 3]
    assert [r for p in pages for e in p for r in e["measurements"]] == rows_of(s[A])
    first_link = parse_qs(urlsplit(links[0]).query)
    assert first_link["offset"] == [f"{pages[0][-1]['id']}_{rows_of(s[A])[4][0]}"]
    assert first_link["name"] == ["svc.latency"] and first_link["dimensions"] == ["hostname:a"]
    assert first_link["start_time"] == [start] and first_link["limit"] == ["5"]

    # group_by: the limit counts rows across elements, pages may split an element
    full = mc.metrics.list_measurements(name="svc.latency", start_time=start, group_by="hostname")
    assert sum(len(e["measurements"]) for e in full) == 29
    pages, _ = follow_pages(mc.metrics.list_measurements, mc.metrics, name="svc.latency", start_time=start,
                            group_by="hostname", limit=10)
    assert [sum(len(e["measurements"]) for e in p) for p in pages] == [10, 10, 9]
    stitched: dict[str, list] = {}
    for page in pages:
        for element in page:
            stitched.setdefault(element["dimensions"]["hostname"], []).extend(element["measurements"])
    assert stitched == {e["dimensions"]["hostname"]: e["measurements"] for e in full}
    assert stitched == {"a": rows_of(s[A]), "b": rows_of(s[B]), "c": rows_of(s[C])}

    merged = mc.metrics.list_measurements(name="svc.latency", start_time=start, merge_metrics=True,
                                          dimensions={"hostname": "a|c"})
    assert len(merged) == 1 and merged[0]["measurements"] == rows_of(sorted(s[A] + s[C]))
    assert mc.metrics.list_measurements(name="svc.latency", start_time=start, dimensions={"hostname": "zz"}) == []
    ended = mc.metrics.list_measurements(name="svc.errors", start_time=start,
                                         end_time=iso_seconds(world.base + MINUTE))
    assert ended[0]["measurements"] == rows_of(s[E][:1])

    with pytest.raises(ks_http.Conflict) as conflict:
        mc.metrics.list_measurements(name="svc.latency", start_time=start)
    assert conflict.value.http_status == 409
    with pytest.raises(ks_http.UnprocessableEntity):
        mc.metrics.list_measurements(name="svc.latency", dimensions={"hostname": "a"})  # no start_time
    with pytest.raises(ks_http.UnprocessableEntity):
        mc.metrics.list_measurements(start_time=start)  # no name
    with pytest.raises(ks_http.BadRequest):
        mc.metrics.list_measurements(name="svc.errors", start_time=start, end_time=start)


def test_library_statistics_arithmetic(world: World) -> None:
    mc = world.library()
    s = world.samples
    base = world.base
    start = iso_seconds(base)
    for period in (60, 300, 3600):
        found = mc.metrics.list_statistics(name="svc.latency", dimensions={"hostname": "b"}, start_time=start,
                                           statistics="avg,min,max,sum,count", period=period)
        assert found[0]["columns"] == ["timestamp", "avg", "min", "max", "sum", "count"]
        assert_statistics(found[0]["statistics"],
                          expected_statistics(pairs(s[B]), base, period, ["avg", "min", "max", "sum", "count"]))
    minute = mc.metrics.list_statistics(name="svc.latency", dimensions={"hostname": "b"}, start_time=start,
                                        statistics="avg,min,max,sum,count", period=60)[0]["statistics"]
    assert minute == [[start, 101.25, 100.0, 102.5, 607.5, 6],
                      [iso_seconds(base + MINUTE), 104.25, 103.0, 105.5, 625.5, 6]]

    # the requested order, lower-cased; count is an integer
    odd = mc.metrics.list_statistics(name="svc.latency", dimensions={"hostname": "a"}, start_time=start,
                                     statistics="COUNT,Sum,avg", period=3600)[0]
    assert odd["columns"] == ["timestamp", "count", "sum", "avg"]
    assert odd["statistics"] == [[start, 13, 128.0, pytest.approx(128 / 13)]]
    assert type(odd["statistics"][0][1]) is int

    # default period 300; merge over every series of the name; a filter with alternatives
    merged = mc.metrics.list_statistics(name="svc.latency", start_time=start, statistics="avg,count,max",
                                        merge_metrics=True, dimensions={"hostname": "a|b"})
    assert len(merged) == 1
    assert_statistics(merged[0]["statistics"],
                      expected_statistics(pairs(s[A] + s[B]), base, 300, ["avg", "count", "max"]))
    grouped = mc.metrics.list_statistics(name="svc.latency", start_time=start, statistics="sum",
                                         group_by="hostname", period=60)
    assert {e["dimensions"]["hostname"]: e["statistics"] for e in grouped} == {
        key: expected_statistics(pairs(s[series]), base, 60, ["sum"])
        for key, series in (("a", A), ("b", B), ("c", C))}

    # a start inside a bucket's range and an end cut the data, not the arithmetic
    window = mc.metrics.list_statistics(name="svc.latency", dimensions={"hostname": "a"},
                                        start_time=iso_seconds(base + MINUTE), end_time=iso_seconds(base + 6 * MINUTE),
                                        statistics="min,max,count", period=60)
    assert window[0]["statistics"] == [[iso_seconds(base + MINUTE), 7.0, 12.0, 6],
                                       [iso_seconds(base + 5 * MINUTE), 50.0, 50.0, 1]]

    with pytest.raises(ks_http.UnprocessableEntity):
        mc.metrics.list_statistics(name="svc.errors", start_time=start, statistics="median")
    with pytest.raises(ks_http.UnprocessableEntity):
        mc.metrics.list_statistics(name="svc.errors", start_time=start, statistics="avg", period="-60")
    with pytest.raises(ks_http.Conflict):
        mc.metrics.list_statistics(name="svc.latency", start_time=start, statistics="avg")


def test_library_statistics_paging(world: World) -> None:
    mc = world.library()
    start = iso_seconds(world.base)
    pages, links = follow_pages(mc.metrics.list_statistics, mc.metrics, name="svc.latency",
                                dimensions={"hostname": "a"}, start_time=start, statistics="avg,count",
                                period=60, limit=2)
    rows = [r for p in pages for e in p for r in e["statistics"]]
    assert rows == expected_statistics(pairs(world.samples[A]), world.base, 60, ["avg", "count"])
    assert [sum(len(e["statistics"]) for e in p) for p in pages][:2] == [2, 1]
    assert next_offset(links[0]).endswith(iso_seconds(world.base + MINUTE))

    pages, _ = follow_pages(mc.metrics.list_statistics, mc.metrics, name="svc.latency", start_time=start,
                            statistics="count", period=60, group_by="hostname", limit=4)
    stitched: dict[str, list] = {}
    for page in pages:
        assert sum(len(e["statistics"]) for e in page) <= 4
        for element in page:
            stitched.setdefault(element["dimensions"]["hostname"], []).extend(element["statistics"])
    assert stitched == {key: expected_statistics(pairs(world.samples[series]), world.base, 60, ["count"])
                        for key, series in (("a", A), ("b", B), ("c", C))}


# =====================================================================================
# 3. Wire details the client depends on
# =====================================================================================


def test_wire_list_envelopes_and_timestamps(world: World) -> None:
    start = iso_seconds(world.base)
    lists = {
        "/v2.0/metrics": {},
        "/v2.0/metrics/names": {},
        "/v2.0/metrics/dimensions/names": {},
        "/v2.0/metrics/dimensions/names/values": {"dimension_name": "hostname"},
        "/v2.0/metrics/measurements": {"name": "svc.latency", "start_time": start, "merge_metrics": "True"},
        "/v2.0/metrics/statistics": {"name": "svc.latency", "start_time": start, "merge_metrics": "True",
                                     "statistics": "avg,MAX,Count", "period": "60"},
    }
    nobody = {"dimensions": "hostname:nobody"}
    empty_queries = {
        "/v2.0/metrics": nobody, "/v2.0/metrics/names": nobody,
        "/v2.0/metrics/dimensions/names": {"metric_name": "no.such"},
        "/v2.0/metrics/dimensions/names/values": {"dimension_name": "nobody"},
        "/v2.0/metrics/measurements": nobody, "/v2.0/metrics/statistics": nobody,
    }
    with world.http() as http:
        for path, query in lists.items():
            answer = http.get(path, params=query)
            assert answer.status_code == 200, (path, answer.text)
            assert answer.headers["content-type"].startswith("application/json")
            body = answer.json()
            assert set(body) >= {"links", "elements"}, path
            assert body["elements"], path
            self_links = [link for link in body["links"] if link["rel"] == "self"]
            assert len(self_links) == 1 and self_links[0]["href"].startswith(world.server.url + path)
            assert not [link for link in body["links"] if link["rel"] == "next"]
            # an empty answer still has both keys
            empty = http.get(path, params={**query, **empty_queries[path]})
            assert empty.status_code == 200, (path, empty.text)
            empty = empty.json()
            assert empty == {"links": empty["links"], "elements": []}, path
            assert empty["links"][0]["rel"] == "self"

        measured = http.get("/v2.0/metrics/measurements", params=lists["/v2.0/metrics/measurements"]).json()
        rows = measured["elements"][0]["measurements"]
        assert rows and all(MILLIS_RE.match(r[0]) and isinstance(r[2], dict) for r in rows)
        assert rows[0][0] == iso_millis(world.base)  # C's first sample, exactly on the hour
        assert any(r[0].endswith(".250Z") for r in rows)

        stats = http.get("/v2.0/metrics/statistics", params=lists["/v2.0/metrics/statistics"]).json()
        element = stats["elements"][0]
        assert element["columns"] == ["timestamp", "avg", "max", "count"]
        assert all(SECONDS_RE.match(r[0]) for r in element["statistics"])
        assert all(type(r[3]) is int for r in element["statistics"])

        # the next link repeats every parameter, percent-encoded, with the offset replaced
        paged = http.get("/v2.0/metrics/measurements", params={
            "name": "svc.latency", "start_time": start, "dimensions": "hostname:a,service:web", "limit": "4"}).json()
        link = next(link["href"] for link in paged["links"] if link["rel"] == "next")
        assert link.startswith(world.server.url + "/v2.0/metrics/measurements?")
        query = parse_qs(urlsplit(link).query)
        assert query["dimensions"] == ["hostname:a,service:web"] and query["start_time"] == [start]
        following = http.get(link).json()  # the href as given, not rebuilt
        assert following["elements"][0]["measurements"] == rows_of(world.samples[A])[4:8]


def test_wire_query_syntax(world: World) -> None:
    start = iso_seconds(world.base)
    with world.http() as http:
        def names(query: list[tuple[str, str]]) -> list:
            answer = http.get("/v2.0/metrics", params=query)
            assert answer.status_code == 200, answer.text
            return definitions(answer.json()["elements"])

        # the dimensions parameter repeated: all occurrences are merged (AND)
        assert names([("dimensions", "hostname:a"), ("dimensions", "service:web")]) == definitions(
            [{"name": n, "dimensions": dict(d)} for n, d in (A, E)])
        assert names([("dimensions", "hostname:a,service:web"), ("name", "svc.errors")]) == [(E[0], dict(E[1]))]
        assert names([("dimensions", "zone:")]) == [(C[0], dict(C[1]))]  # "key:" = exists
        assert names([("dimensions", "hostname:b|c")]) == definitions(
            [{"name": n, "dimensions": dict(d)} for n, d in (B, C)])
        for bad in ("_tenant_id:x", "a{b:1", "hostname:a;b"):
            assert http.get("/v2.0/metrics", params={"dimensions": bad}).status_code == 422, bad
        assert http.get("/v2.0/metrics", params={"limit": "ten"}).status_code == 422

        # merge_metrics=true in any case; a lower-case false means "do not merge"
        for flag in ("True", "true", "TRUE"):
            answer = http.get("/v2.0/metrics/measurements",
                              params={"name": "svc.latency", "start_time": start, "merge_metrics": flag})
            assert answer.status_code == 200 and len(answer.json()["elements"]) == 1
        answer = http.get("/v2.0/metrics/measurements",
                          params={"name": "svc.latency", "start_time": start, "merge_metrics": "false"})
        assert answer.status_code == 409
        assert answer.json()["title"] and "multiple metrics" in answer.json()["description"].lower()
        for missing in ({"name": "svc.latency"}, {"start_time": start}):
            answer = http.get("/v2.0/metrics/statistics", params={**missing, "statistics": "avg"})
            assert answer.status_code == 422 and set(answer.json()) >= {"title", "description"}


def test_wire_versions_and_trailing_slash(world: World) -> None:
    with world.http() as http:
        root = http.get("/")
        assert root.status_code == 200
        body = root.json()
        assert body["links"][0] == {"rel": "self", "href": world.server.url + "/"}
        (version,) = body["elements"]
        assert version["id"] == "v2.0" and version["status"] == "CURRENT"
        assert version["links"] == [{"rel": "self", "href": world.server.url + "/v2.0"}]
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", version["updated"])
        for path in ("/v2.0", "/v2.0/"):
            answer = http.get(path)
            assert answer.status_code == 200, path
            assert answer.json() == version

        # a trailing slash is tolerated (Monasca strips it) without a redirect
        for path in ("/v2.0/metrics", "/v2.0/metrics/names", "/v2.0/metrics/dimensions/names"):
            plain, slashed = http.get(path), http.get(path + "/")
            assert slashed.status_code == 200, (path, slashed.status_code)
            assert slashed.json()["elements"] == plain.json()["elements"]
        slashed = http.get("/v2.0/metrics/measurements/", params={
            "name": "svc.errors", "start_time": iso_seconds(world.base)})
        assert slashed.status_code == 200
        assert slashed.json()["elements"][0]["measurements"] == rows_of(world.samples[E])

    project, token = world.new_project("slash")
    with world.http(token) as http:
        now = int(time.time() * 1000)
        answer = http.post("/v2.0/metrics/", content=orjson.dumps({"name": "slash.m", "timestamp": now, "value": 1}),
                           headers={"Content-Type": "application/json"})
        assert answer.status_code == 204, answer.text
        assert http.get("/v2.0/metrics/names").json()["elements"] == [{"name": "slash.m"}]
    # the library sees the same (it follows nothing: no redirect is involved)
    assert world.library(token).metrics.list_names() == [{"name": "slash.m"}]
    with world.server.client(None) as anonymous:
        assert anonymous.get("/v2.0/metrics").status_code == 401


# =====================================================================================
# Last: the same answers once everything is compacted (chunks and stored roll-ups)
# =====================================================================================


def test_same_answers_after_compaction(world: World) -> None:
    mc = world.library()
    s = world.samples
    start = iso_seconds(world.base)

    def snapshot() -> dict:
        return {
            "metrics": definitions(mc.metrics.list()),
            "names": mc.metrics.list_names(),
            "measurements": mc.metrics.list_measurements(name="svc.latency", start_time=start, group_by="*"),
            "errors": mc.metrics.list_measurements(name="svc.errors", start_time=start),
            **{f"statistics-{period}": mc.metrics.list_statistics(
                name="svc.latency", start_time=start, statistics="avg,min,max,sum,count", period=period,
                group_by="*") for period in (60, 300, 3600)},
            "merged": mc.metrics.list_statistics(name="svc.latency", start_time=start, statistics="avg,count",
                                                 period=300, merge_metrics=True),
        }

    before = snapshot()
    with world.http(world.server.admin_token) as http:
        answer = http.post("/v1/admin/compact")
        assert answer.status_code == 200, answer.text
    after = snapshot()
    assert after == before

    series = {A[1]: s[A], B[1]: s[B], C[1]: s[C]}
    assert {tuple(sorted(e["dimensions"].items())): e["measurements"] for e in after["measurements"]} == {
        dims: rows_of(samples) for dims, samples in series.items()}
    assert after["errors"][0]["measurements"] == rows_of(s[E])
    for period in (60, 300, 3600):
        for element in after[f"statistics-{period}"]:
            samples = series[tuple(sorted(element["dimensions"].items()))]
            assert_statistics(element["statistics"], expected_statistics(
                pairs(samples), world.base, period, ["avg", "min", "max", "sum", "count"]))


# =====================================================================================
# Monasca's validation rules for what agents and the library actually send
# =====================================================================================


def test_cli_dimensions_with_parentheses(world: World) -> None:
    """monasca-common forbids ``< > = { } , " \\ ; &`` in dimensions, not parentheses (only names
    bar ``( )`` and space); the CLI help even says to quote dimensions containing ``(`` or ``)``."""
    _, token = world.new_project("paren")
    cli = world.cli(token)
    now = int(time.time() * 1000)
    created = cli.run("metric-create", "disk.used", "12", "--dimensions", "device=Program Files (x86),host=w1",
                      "--time", str(now))
    assert created.returncode == 0, created.stderr
    created = cli.run("metric-create-raw", orjson.dumps({
        "name": "process.cpu", "dimensions": {"process_name": "(sd-pam)", "opt(ion)": "x"},
        "timestamp": now, "value": 3}).decode())
    assert created.returncode == 0, created.stderr
    found, measured, values = cli.json_all(
        ("metric-list", "--dimensions", "device=Program Files (x86)"),
        ("measurement-list", "process.cpu", "-10", "--dimensions", "process_name=(sd-pam)"),
        ("dimension-value-list", "process_name"),
    )
    assert definitions(found) == [("disk.used", {"device": "Program Files (x86)", "host": "w1"})]
    assert measured[0]["measurements"] == [[iso_millis(now), 3.0, {}]]
    assert values == [{"dimension_value": "(sd-pam)"}]
    # names still refuse parentheses
    assert "(HTTP 422)" in cli.fail("metric-create", "cpu(0)", "1").stderr


def test_library_value_meta_with_non_string_values(world: World) -> None:
    """monasca-common only limits value_meta's entry count, key length and JSON size: values of any
    JSON type are accepted ([java] coerces them to strings), and the CLI renders numeric ones."""
    _, token = world.new_project("meta")
    mc = world.library(token)
    now = int(time.time() * 1000)
    try:
        answer = mc.metrics.create(name="http.status", dimensions={"url": "http-h1"}, timestamp=now, value=0,
                                   value_meta={"code": 500, "elapsed": 0.25, "error": "timeout"})
    except ks_http.HttpError as error:
        pytest.fail(f"numeric value_meta refused: HTTP {error.http_status} {error.response.text}")
    assert answer.status_code == 204
    meta = mc.metrics.list_measurements(name="http.status", start_time=iso_seconds(now - HOUR))[0]["measurements"][0][2]
    assert meta["error"] == "timeout"
    assert meta["code"] in (500, "500") and meta["elapsed"] in (0.25, "0.25")
    table = world.cli(token).ok("measurement-list", "http.status", "-10").stdout
    assert "code: 500" in table


# =====================================================================================
# Ranges that start before the raw retention (1 day) but cover recent, raw data
# =====================================================================================


@pytest.fixture(scope="module")
def long_range(world: World) -> dict:
    """Three recent samples near a bucket boundary, and a start 25 h back that is not minute-aligned
    (as the CLI's ``-N`` starts are): ``start % 300 s == 37 s``."""
    project, token = world.new_project("long")
    now = int(time.time())
    old_start = now - 25 * 3600
    old_start -= old_start % 300 - 37
    k = (now - 1800 - old_start) // 300
    boundary = old_start + k * 300  # a bucket boundary ~30 minutes ago, on the same 300 s grid
    samples = [((boundary - 10) * 1000, 1.0, {"n": "1"}), ((boundary + 5) * 1000, 2.0, {"n": "2"}),
               ((boundary + 200) * 1000, 4.0, {})]
    mc = world.library(token)
    mc.metrics.create(jsonbody=[{"name": "long.m", "timestamp": t, "value": v, "value_meta": m or None}
                                for t, v, m in samples])
    recent_start = boundary - 12 * 300  # one hour earlier, same grid, inside the raw retention
    return {"mc": mc, "samples": samples, "old_start": old_start * 1000, "recent_start": recent_start * 1000}


def test_measurements_with_an_old_start_are_still_the_raw_measurements(long_range: dict) -> None:
    """measurement-list -2880 (two days) must list what was measured in the last hour, not
    per-minute averages: Monasca's measurements are the stored points, with their value_meta."""
    mc = long_range["mc"]
    recent = mc.metrics.list_measurements(name="long.m", start_time=iso_seconds(long_range["recent_start"]))
    assert recent[0]["measurements"] == rows_of(long_range["samples"])
    old = mc.metrics.list_measurements(name="long.m", start_time=iso_seconds(long_range["old_start"]))
    assert old[0]["measurements"] == rows_of(long_range["samples"])


def test_statistics_buckets_do_not_depend_on_how_far_back_the_start_is(long_range: dict) -> None:
    """Two starts on the same 300 s grid must put each sample in the same bucket, and the buckets must
    be Monasca's: epoch-aligned (InfluxDB GROUP BY time) or aligned to start_time."""
    mc = long_range["mc"]
    pairs_ = pairs(long_range["samples"])
    stats = ["count", "sum", "min", "max"]

    def rows(start_ms: int) -> list[list]:
        found = mc.metrics.list_statistics(name="long.m", start_time=iso_seconds(start_ms), statistics=",".join(stats),
                                           period=300)
        return found[0]["statistics"]

    recent, old = rows(long_range["recent_start"]), rows(long_range["old_start"])
    start_aligned = expected_statistics(pairs_, long_range["recent_start"], 300, stats)
    epoch_aligned = expected_statistics(pairs_, long_range["recent_start"] // 300_000 * 300_000, 300, stats)
    assert recent in (start_aligned, epoch_aligned)
    assert old == recent, f"start {iso_seconds(long_range['old_start'])}: {old}, a day later: {recent}"
