"""The edge agent: aggregation at the meter, the bounded spool, the wire formats, and pushing
through a server outage — every window arrives after recovery, in order, exactly once."""

from __future__ import annotations

import calendar
import subprocess
import sys
import threading
import time
from pathlib import Path

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nephoscope.agent.aggregate import Aggregator
from nephoscope.agent.config import (
    HttpCheck,
    ProcessCheck,
    load_agent_config,
)
from nephoscope.agent.push import Outcome, Sender, encode_monasca, encode_native
from nephoscope.agent.runner import Agent
from nephoscope.agent.samples import Sample
from nephoscope.agent.spool import EncodedBatch, Spool
from nephoscope.config import ConfigError
from nephoscope.metrics.ingest import native
from tests.conftest import ROOT, ServerProcess, wait_for
from tests.support.agent import agent_config
from tests.support.receivers import Receiver

# -- aggregation ---------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 600, allow_nan=False), st.floats(-1e6, 1e6, allow_nan=False)),
                min_size=1, max_size=60),
       st.sampled_from([10.0, 60.0]))
def test_windows_summarise_exactly(samples, window) -> None:
    """Each window's count, sum, min, max and last equal a direct computation over its samples."""
    aggregator = Aggregator(window)
    ordered = sorted(samples, key=lambda pair: pair[0])
    for at, value in ordered:
        aggregator.add([Sample("cpu", value, {"h": "a"})], 1_800_000_000 + at)
    summaries = {s.timestamp_ms: s for s in aggregator.flush()}
    expected: dict[int, list[float]] = {}
    for at, value in ordered:
        start = int((1_800_000_000 + at) * 1000) // int(window * 1000) * int(window * 1000)
        expected.setdefault(start, []).append(value)
    assert sorted(summaries) == sorted(expected)
    for start, values in expected.items():
        got = summaries[start]
        assert (got.count, got.min, got.max, got.last) == (len(values), min(values), max(values), values[-1])
        assert got.sum == pytest.approx(sum(values), rel=1e-9, abs=1e-6)


def test_counters_become_rates_and_survive_resets() -> None:
    aggregator = Aggregator(60.0)
    base = 1_800_000_000.0
    for offset, total in ((0, 1000.0), (10, 2000.0), (20, 3000.0), (30, 500.0), (40, 1500.0)):
        aggregator.add([Sample("net.in_bytes_sec", total, {"device": "eth0"}, "counter")], base + offset)
    (summary,) = aggregator.flush()
    # First reading: a base only; 30 s: the total went down (a reboot): a new base, no negative rate.
    assert summary.count == 3 and summary.min == summary.max == 100.0


def test_windows_close_only_when_over() -> None:
    aggregator = Aggregator(60.0)
    start = 1_800_000_000 // 60 * 60
    aggregator.add([Sample("x", 1.0)], start + 5)
    assert aggregator.close(start + 59) == []
    assert [s.timestamp_ms for s in aggregator.close(start + 60)] == [start * 1000]


# -- spool -----------------------------------------------------------------------------------------------

def batch(number: int, size: int = 1000) -> EncodedBatch:
    return EncodedBatch("/v1/points", "application/msgpack", "", bytes([number % 256]) * size, number)


def test_spool_keeps_order_across_restarts(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1_000_000)
    for number in range(1, 6):
        spool.append(batch(number))
    (tmp_path / "0000000000000099.tmp").write_bytes(b"half written")
    again = Spool(tmp_path, 1_000_000)
    seen = []
    while (oldest := again.oldest()) is not None:
        path, found = oldest
        seen.append(found.points)
        again.remove(path)
    assert seen == [1, 2, 3, 4, 5] and not list(tmp_path.glob("*.tmp"))


def test_spool_bound_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10_500)  # room for ten 1,000-byte batches (plus headers)
    for number in range(1, 31):
        spool.append(batch(number))
    assert spool.bytes <= 10_500
    kept = []
    while (oldest := spool.oldest()) is not None:
        kept.append(oldest[1].points)
        spool.remove(oldest[0])
    assert kept == list(range(31 - len(kept), 31)), "the newest are kept, in order"
    assert spool.dropped_points == sum(range(1, 31 - len(kept))) and spool.dropped_batches == 30 - len(kept)


# -- wire formats -----------------------------------------------------------------------------------------

def test_native_batches_decode_with_the_servers_parser() -> None:
    aggregator = Aggregator(60.0)
    start = 1_800_000_000 // 60 * 60
    for second in range(0, 120, 10):
        aggregator.add([Sample("cpu.percent", float(second), {"hostname": "c1"}),
                        Sample("mem.used_mb", 2.5 * second, {"hostname": "c1"})], start + second)
    summaries = aggregator.flush()
    encoded = encode_native(summaries, compression="none")
    body = native.parse(encoded.body, encoded.content_type)
    assert len(body.series) == 2 and encoded.points == 4
    timestamps = np.frombuffer(body.timestamp, "<i8")
    counts = np.frombuffer(body.count, "<u4")
    sums = np.frombuffer(body.sum, "<f8")
    assert sorted(set(timestamps.tolist())) == [start * 1000, (start + 60) * 1000]
    assert counts.tolist() == [6, 6, 6, 6] and sums.sum() == pytest.approx(sum(3.5 * s for s in range(0, 120, 10)))


def test_monasca_batches_carry_the_average_and_the_summary() -> None:
    aggregator = Aggregator(60.0)
    aggregator.add([Sample("cpu", 10.0)], 1_800_000_000)
    aggregator.add([Sample("cpu", 30.0)], 1_800_000_010)
    encoded = encode_monasca(aggregator.flush(), tenant_id="p2")
    (metric,) = msgspec.json.decode(encoded.body)
    assert metric["value"] == 20.0 and metric["value_meta"] == {"count": "2", "min": "10.0", "max": "30.0"}
    assert encoded.path == "/v2.0/metrics?tenant_id=p2"


# -- configuration --------------------------------------------------------------------------------------------

def test_configuration_file_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text('[agent]\ninterval = 5\nwindow = 30\ndimensions = {region = "RegionTwo"}\n'
                    '[push]\nurl = "http://mon:8070"\napi = "monasca"\n'
                    '[[http_check]]\nname = "keystone"\nurl = "http://ks:5000/v3"\n'
                    '[[process]]\nname = "nova-compute"\n')
    config = load_agent_config(path, {"NEPHOSCOPE_AGENT_PUSH_TOKEN": "t0ken"})
    assert (config.agent.interval, config.agent.window, config.agent.dimensions) == (5.0, 30.0, {"region": "RegionTwo"})
    assert (config.push.url, config.push.api, config.push.token) == ("http://mon:8070", "monasca", "t0ken")
    assert config.http_check == [HttpCheck(name="keystone", url="http://ks:5000/v3")]
    assert config.process == [ProcessCheck(name="nova-compute")]
    for bad in ('[push]\napi = "kafka"\n', '[agent]\nwindow = 1\n', '[[http_check]]\nurl = "ftp://x"\n',
                '[agent]\nintervall = 3\n'):
        path.write_text(bad)
        with pytest.raises(ConfigError):
            load_agent_config(path, {})


# -- the agent against servers -----------------------------------------------------------------------------------

class Ticker:
    """A collector whose value is the number of its collection: windows are identifiable."""

    name = "ticker"

    def __init__(self) -> None:
        self.count = 0

    def collect(self) -> list[Sample]:
        self.count += 1
        return [Sample("test.ticker", float(self.count), {"probe": "a"})]


def recent() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 900))


def window_counts(client, name: str = "test.ticker") -> list[tuple[int, int]]:
    """(window start in seconds, samples in it) as the server has them."""
    answer = client.get("/v2.0/metrics/statistics", params={
        "name": name, "start_time": recent(), "statistics": "count", "period": "2",
        "dimensions": "hostname:edge-1"}).json()["elements"]
    rows = answer[0]["statistics"] if answer else []
    return [(calendar.timegm(time.strptime(row[0][:19], "%Y-%m-%dT%H:%M:%S")), int(row[1])) for row in rows]


def windows_on_server(client) -> list[int]:
    return [start for start, _ in window_counts(client)]


@pytest.mark.timeout(240)
def test_a_60_second_server_outage_loses_no_window(tmp_path: Path, server: ServerProcess) -> None:
    agent = Agent(agent_config(tmp_path, server.url, server.admin_token), collectors=[Ticker()])
    agent.start()
    client = server.client()
    wait_for(lambda: len(windows_on_server(client)) >= 2, 30, "the first windows")
    server.stop()
    time.sleep(60)
    assert len(agent.spool) >= 25, "the outage's windows wait in the spool"
    server.start()
    wait_for(lambda: len(agent.spool) == 0, 60, "the spool to drain")
    time.sleep(3)
    agent.stop()  # closes the open window and sends it before stopping
    assert len(agent.spool) == 0
    windows = windows_on_server(server.client())
    assert windows == list(range(windows[0], windows[0] + 2 * len(windows), 2)), "every window, none missing"
    counts = [count for _, count in window_counts(server.client())]
    assert sum(counts) == agent.collectors[0].count, "every sample counted once: nothing lost, nothing twice"
    assert agent.send_failures > 0 and agent.spool.dropped_points == 0


def test_replay_after_an_outage_is_in_order(tmp_path: Path) -> None:
    receiver = Receiver(always_fail=True).start()
    try:
        agent = Agent(agent_config(tmp_path, receiver.url, api="monasca"), collectors=[Ticker()])
        agent.start()
        wait_for(lambda: len(agent.spool) >= 4, 30, "windows to pile up while the receiver fails")
        receiver.always_fail = False
        wait_for(lambda: len(agent.spool) == 0, 30, "the replay")
        agent.stop()
    finally:
        receiver.stop()
    # Every attempt (failed ones included) carries the oldest waiting window: never a newer one first.
    firsts = [min(metric["timestamp"] for metric in body) for body in receiver.bodies("/v2.0/metrics")]
    assert firsts == sorted(firsts)
    windows = sorted(set(firsts))
    assert windows == list(range(windows[0], windows[0] + 2000 * len(windows), 2000)), "none missing"


def test_monasca_mode_pushes_to_a_monasca_api(tmp_path: Path, server: ServerProcess) -> None:
    agent = Agent(agent_config(tmp_path, server.url, server.admin_token, api="monasca"), collectors=[Ticker()])
    agent.start()
    client = server.client()
    found = wait_for(lambda: client.get("/v2.0/metrics/measurements", params={
        "name": "test.ticker", "start_time": recent()}).json()["elements"], 30, "measurements")
    agent.stop()
    columns = found[0]["columns"]
    first = dict(zip(columns, found[0]["measurements"][0]))
    assert set(first["value_meta"]) == {"count", "min", "max"}
    assert found[0]["dimensions"] == {"hostname": "edge-1", "probe": "a"}


def test_outcomes_keep_retry_or_drop(server: ServerProcess) -> None:
    assert Sender("http://127.0.0.1:9", "", 1.0).send(batch(1)).outcome is Outcome.RETRY  # nobody listens: keep it
    sender = Sender(server.url, server.admin_token, 5.0)
    assert sender.send(batch(1)).outcome is Outcome.REJECTED  # not msgpack: the server will never take it
    assert Sender(server.url, "wrong-key", 5.0).send(batch(1)).outcome is Outcome.RETRY  # a key can be fixed
    good = encode_native([s for s in _one_window()], compression="zstd")
    assert sender.send(good).outcome is Outcome.SENT


def _one_window() -> list:
    aggregator = Aggregator(60.0)
    aggregator.add([Sample("cpu", 1.0, {"hostname": "x"})], time.time())
    return aggregator.flush()


def test_host_and_check_collectors_report_real_values(tmp_path: Path, server: ServerProcess) -> None:
    config = agent_config(tmp_path, server.url, server.admin_token)
    config.http_check = [HttpCheck(name="nephoscope", url=server.url + "/healthz"),
                         HttpCheck(name="nothing", url="http://127.0.0.1:9/", timeout=1.0)]
    config.process = [ProcessCheck(name="nephoscope-server", pattern="nephoscope serve"),
                      ProcessCheck(name="no-such-service")]
    agent = Agent(config)
    samples = {(s.name, tuple(sorted(s.dimensions.items()))): s.value for s in agent.collect_once()}
    names = {name for name, _ in samples}
    assert {"cpu.idle_perc", "mem.usable_mb", "load.avg_1_min", "disk.space_used_perc",
            "nephoscope.agent.rss_mb"} <= names
    status = {dict(key)["service"]: value for (name, key), value in samples.items() if name == "http_status"}
    assert status == {"nephoscope": 0.0, "nothing": 1.0}
    pids = {dict(key)["process_name"]: value for (name, key), value in samples.items() if name == "process.pid_count"}
    assert pids["nephoscope-server"] >= 1 and pids["no-such-service"] == 0
    assert all(dict(key)["hostname"] == "edge-1" for _, key in samples)


def test_once_print_shows_what_would_be_sent(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "nephoscope", "agent", "--once", "--print"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "NEPHOSCOPE_AGENT_AGENT_SPOOL_DIR": str(tmp_path),
                                 "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "cpu.idle_perc" in result.stdout and "would POST /v1/points" in result.stdout


def test_once_measures_the_host_after_its_own_start_up(tmp_path: Path) -> None:
    """The first CPU share covers the host's time after the agent started, not its start-up: a start-up
    that keeps a core busy must not show in what --once reports. The host's real share over the
    same window is measured beside it (other work on the machine shows in both)."""
    import psutil

    from nephoscope.agent.collectors.host import HostCollector

    agent = Agent(agent_config(tmp_path, "http://127.0.0.1:9"), collectors=[HostCollector()])
    busy_until = time.monotonic() + 2.0
    while time.monotonic() < busy_until:  # the agent's own start-up, as costly as one core can make it
        pass
    before = psutil.cpu_times()
    summaries = agent.once()
    after = psutil.cpu_times()
    spent = {name: getattr(after, name) - getattr(before, name) for name in after._fields}
    measured = 100.0 * (1 - (spent["idle"] + spent.get("iowait", 0.0)) / max(sum(spent.values()), 1e-9))
    reported = [s for s in summaries if s.name == "cpu.percent"]  # one window, or two if it straddles one
    assert sum(s.count for s in reported) == 2
    average = sum(s.sum for s in reported) / 2
    assert abs(average - measured) < 20, (average, measured)


def test_the_log_shipper_survives_an_outage_without_loss_or_duplicates(tmp_path: Path) -> None:
    log_file = tmp_path / "nova" / "nova-compute.log"
    log_file.parent.mkdir()
    receiver = Receiver(always_fail=True).start()
    config = agent_config(tmp_path, receiver.url)
    config.logs.paths = [str(tmp_path / "nova" / "*.log")]
    agent = Agent(config, collectors=[])
    try:
        agent.start()
        with open(log_file, "a") as handle:
            for number in range(50):
                handle.write(f"2026-11-25 10:00:00.{number:03d} 42 INFO nova.compute.manager [-] line {number}\n")
        wait_for(lambda: receiver.at("/v3.0/logs"), 15, "a first (failing) attempt")
        receiver.always_fail = False
        wait_for(lambda: agent.log_shipper.shipped == 50, 30, "the lines shipped")
    finally:
        agent.stop()
        receiver.stop()
    batches = []
    for request in receiver.at("/v3.0/logs"):  # a failed batch is retried as it was: count it once
        if not batches or request.body != batches[-1]:
            batches.append(request.body)
    delivered = [log["message"] for body in batches for log in body["logs"]]
    assert delivered == [f"2026-11-25 10:00:00.{n:03d} 42 INFO nova.compute.manager [-] line {n}" for n in range(50)]
    body = receiver.at("/v3.0/logs")[-1].body
    assert body["dimensions"]["hostname"] == "edge-1"
    assert body["logs"][0]["dimensions"] == {"path": str(log_file), "service": "nova", "component": "nova-compute"}


def test_collectors_that_fail_do_not_stop_the_others(tmp_path: Path) -> None:
    class Broken:
        name = "broken"

        def collect(self) -> list[Sample]:
            raise RuntimeError("boom")

    agent = Agent(agent_config(tmp_path, "http://127.0.0.1:9"), collectors=[Broken(), Ticker()])
    assert "test.ticker" in {s.name for s in agent.collect_once()}
    threading.Event().wait(0)
