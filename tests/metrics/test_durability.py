"""Durability: every point the server acknowledged (2xx) survives kill -9, exactly.

Batches go through Monasca JSON and the native endpoint (JSON lists, msgpack binary,
raw values and summaries, some introducing new series, some with value_meta). The
server is killed with SIGKILL right after the last acknowledgement, or while other
posts are in flight, then started again on the same data dir; measurements must hold
every acknowledged point with its exact value. Also: a clean restart (SIGTERM) and a
second crash right after a restart (replayed data must survive it too).

Each scenario runs twice: with the default flush interval (points mostly flushed to
DuckDB before the crash) and with flushing effectively off (acknowledged points exist
only in the write-ahead log at the moment of the crash).
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

import httpx
import msgspec
import numpy as np
import pytest

from tests.conftest import ServerProcess, now_ms

JSON = {"Content-Type": "application/json"}
MSGPACK = {"Content-Type": "application/msgpack"}

Key = tuple[str, str]  # (metric name, dimensions as sorted JSON)


FLUSH = {"flushing": "0.2", "wal-only": "100000"}


@pytest.fixture(params=list(FLUSH), ids=list(FLUSH))
def durable_server(request: pytest.FixtureRequest, tmp_path):
    server = ServerProcess(tmp_path / "data",
                           extra_env={"NEPHOSCOPE_STORE_FLUSH_INTERVAL": FLUSH[request.param]}).start()
    yield server
    server.stop()


def key_of(name: str, dimensions: dict) -> Key:
    return name, json.dumps(dimensions, sort_keys=True)


def millis_text(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


@dataclass
class Ledger:
    """What was acknowledged: per series, timestamp -> (value, value_meta)."""

    points: dict[Key, dict[int, tuple[float, dict]]] = field(default_factory=lambda: defaultdict(dict))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, rows: list[tuple[Key, int, float, dict]]) -> None:
        with self.lock:
            for key, ts, value, meta in rows:
                self.points[key][ts] = (value, meta)

    def count(self) -> int:
        return sum(len(v) for v in self.points.values())


class Writer:
    """Builds distinct batches (Monasca and native) and records the acknowledged ones."""

    def __init__(self, server: ServerProcess, token: str, tag: str) -> None:
        self.server, self.token, self.tag = server, token, tag
        self.t0 = now_ms() - 30 * 60_000  # every timestamp is within the last hour
        self.sequence = 0
        self.ledger = Ledger()

    def _next(self, n: int) -> list[int]:
        first = self.sequence
        self.sequence += n
        return [self.t0 + i for i in range(first, first + n)]

    def monasca_batch(self, batch: int, size: int = 20) -> tuple[list[dict], list]:
        timestamps = self._next(size)
        metrics, rows = [], []
        for i, ts in enumerate(timestamps):
            if batch % 3 == 0 and i % 4 == 0:  # a series first seen in this batch
                name, dims = f"{self.tag}.new.{batch}", {"host": f"h{i}"}
            else:
                name, dims = f"{self.tag}.cpu", {"host": f"h{i % 5}", "zone": "z1"}
            value = round(ts % 100_000 * 0.25 - 7.5, 2)
            metric = {"name": name, "dimensions": dims, "timestamp": ts, "value": value}
            meta = {}
            if i == 0:
                meta = {"batch": str(batch), "tag": self.tag}
                metric["value_meta"] = meta
            metrics.append(metric)
            rows.append((key_of(name, dims), ts, value, meta))
        return metrics, rows

    def native_batch(self, batch: int, size: int = 40) -> tuple[bytes, dict, list]:
        timestamps = np.array(self._next(size), np.int64)
        series = [{"name": f"{self.tag}.native", "dimensions": {"node": f"n{j}"}} for j in range(4)]
        if batch % 2 == 0:
            series.append({"name": f"{self.tag}.native.new.{batch}", "dimensions": {"node": "fresh"}})
        index = np.arange(size, dtype=np.uint32) % len(series)
        rows = []
        if batch % 2 == 0:  # raw values, msgpack with binary little-endian columns
            values = (timestamps % 1000) * 0.5 + batch
            body = {"series": series, "series_index": index.astype("<u4").tobytes(),
                    "timestamp": timestamps.astype("<i8").tobytes(), "value": values.astype("<f8").tobytes()}
            raw, headers = msgspec.msgpack.encode(body), MSGPACK
            measured = values
        else:  # summaries as JSON lists: value read back = sum / count
            count = (timestamps % 5 + 1).astype(np.int64)
            mean = (timestamps % 1000) * 0.25 + batch
            body = {"series": series, "series_index": index.tolist(), "timestamp": timestamps.tolist(),
                    "count": count.tolist(), "sum": (mean * count).tolist(), "min": (mean - 1).tolist(),
                    "max": (mean + 1).tolist(), "last": mean.tolist()}
            raw, headers = json.dumps(body).encode(), JSON
            measured = mean
        for i in range(size):
            definition = series[int(index[i])]
            rows.append((key_of(definition["name"], definition["dimensions"]), int(timestamps[i]),
                         float(measured[i]), {}))
        return raw, headers, rows

    def post_monasca(self, client: httpx.Client, batch: int) -> list:
        metrics, rows = self.monasca_batch(batch)
        response = client.post("/v2.0/metrics", json=metrics)
        assert response.status_code == 204, response.text
        self.ledger.add(rows)
        return rows

    def post_native(self, client: httpx.Client, batch: int) -> list:
        raw, headers, rows = self.native_batch(batch)
        response = client.post("/v1/points", content=raw, headers=headers)
        assert response.status_code == 200 and response.json() == {"accepted": len(rows)}, response.text
        self.ledger.add(rows)
        return rows

    def post_mixed(self, batches: int) -> None:
        with self.server.client(self.token) as client:
            for batch in range(batches):
                if batch % 3 == 2:
                    self.post_native(client, batch)
                else:
                    self.post_monasca(client, batch)


def stored(server: ServerProcess, token: str, names: set[str], since_ms: int) -> dict[Key, dict[int, tuple]]:
    """Everything stored under ``names``: series key -> {timestamp ms: (value, value_meta)}."""
    found: dict[Key, dict[int, tuple]] = defaultdict(dict)
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since_ms / 1000 - 60))
    with server.client(token) as client:
        for name in sorted(names):
            response = client.get("/v2.0/metrics/measurements",
                                  params={"name": name, "start_time": start, "group_by": "*"})
            assert response.status_code == 200, response.text
            body = response.json()
            assert not [link for link in body["links"] if link["rel"] == "next"], "more than one page"
            for element in body["elements"]:
                key = key_of(element["name"], element["dimensions"])
                for text, value, meta in element["measurements"]:
                    found[key][text] = (value, meta)
    return found


def assert_all_acknowledged_present(server: ServerProcess, token: str, ledger: Ledger, t0: int,
                                    names: set[str] | None = None) -> dict:
    names = names or {k[0] for k in ledger.points}
    found = stored(server, token, names, t0)
    missing, wrong = [], []
    for key, points in ledger.points.items():
        for ts, (value, meta) in points.items():
            got = found.get(key, {}).get(millis_text(ts))
            if got is None:
                missing.append((key, ts))
            elif got[0] != value or got[1] != meta:
                wrong.append((key, ts, (value, meta), got))
    assert not missing, f"{len(missing)} of {ledger.count()} acknowledged points are missing, e.g. {missing[:5]}"
    assert not wrong, f"{len(wrong)} points have other values, e.g. {wrong[:5]}"
    return found


def replay_lines(server: ServerProcess, since: int) -> str:
    return server.log_path.read_text(errors="replace")[since:]


# ---------------------------------------------------------------------------------------------


def test_kill9_right_after_the_last_acknowledgement(durable_server):
    server = durable_server
    token = server.create_key("durable", "monasca-user")
    writer = Writer(server, token, "dur.a")
    writer.post_mixed(45)
    server.kill9()  # immediately after the last 2xx
    server.start()
    found = assert_all_acknowledged_present(server, token, writer.ledger, writer.t0)
    # Nothing more than what was sent (no duplicated or phantom series).
    assert set(found) == set(writer.ledger.points)
    assert sum(len(v) for v in found.values()) == writer.ledger.count()
    # Statistics agree: count is the number of acknowledged raw samples plus summary counts.
    with server.client(token) as client:
        start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(writer.t0 / 1000 - 60))
        body = client.get("/v2.0/metrics/statistics", params={
            "name": "dur.a.cpu", "start_time": start, "statistics": "count", "merge_metrics": "true",
            "period": "86400"}).json()
        expected = sum(len(v) for k, v in writer.ledger.points.items() if k[0] == "dur.a.cpu")
        assert sum(row[1] for row in body["elements"][0]["statistics"]) == expected


def test_kill9_while_posts_are_in_flight(durable_server):
    server = durable_server
    token = server.create_key("inflight", "monasca-user")
    writers = [Writer(server, token, f"dur.flight{i}") for i in range(8)]
    sent: list[list] = [[] for _ in writers]  # every batch sent, acknowledged or not
    stop = threading.Event()
    acknowledged = [0] * len(writers)

    def run(position: int) -> None:
        writer = writers[position]
        with httpx.Client(base_url=server.url, headers={"X-Auth-Token": token}, timeout=10) as client:
            batch = 0
            while not stop.is_set():
                try:
                    if position % 2:
                        raw, headers, rows = writer.native_batch(batch, size=25)
                        sent[position].append(rows)
                        response = client.post("/v1/points", content=raw, headers=headers)
                    else:
                        metrics, rows = writer.monasca_batch(batch, size=15)
                        sent[position].append(rows)
                        response = client.post("/v2.0/metrics", json=metrics)
                except httpx.HTTPError:
                    return  # the server is gone: this batch was never acknowledged
                if response.status_code in (200, 204):
                    writer.ledger.add(rows)
                    acknowledged[position] += 1
                batch += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(writers))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while sum(acknowledged) < 150 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill9()  # posts are in flight on every thread
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(acknowledged) >= 150, acknowledged
    server.start()
    names = {key[0] for batches in sent for batch in batches for key, *_ in batch}
    merged = Ledger()
    for writer in writers:
        for key, points in writer.ledger.points.items():
            merged.points[key].update(points)
    found = assert_all_acknowledged_present(server, token, merged, min(w.t0 for w in writers), names)
    # Unacknowledged batches are all-or-nothing, and nothing was stored that was never sent.
    sent_points = {(key, millis_text(ts)): value for batches in sent for batch in batches for key, ts, value, _ in batch}
    for key, points in found.items():
        for text, (value, _) in points.items():
            assert sent_points.get((key, text)) == value, (key, text, value)
    for batches in sent:
        for batch in batches:
            present = [millis_text(ts) in found.get(key, {}) for key, ts, _, _ in batch]
            assert all(present) or not any(present), "a request was stored in part"


def test_clean_restart_then_crashes_after_restart(durable_server):
    server = durable_server
    token = server.create_key("restarts", "monasca-user")
    writer = Writer(server, token, "dur.r")
    writer.post_mixed(12)

    # Clean stop (SIGTERM): everything is there and nothing is left to replay.
    server.stop()
    # uvicorn re-raises SIGTERM once its graceful shutdown is done, hence -15 as well as 0.
    assert server.process.returncode in (0, -15), server.log()
    assert "Application shutdown complete" in server.log(), server.log()
    mark = server.log_path.stat().st_size
    server.start()
    assert "replayed" not in replay_lines(server, mark), "a clean shutdown left WAL records to replay"
    assert_all_acknowledged_present(server, token, writer.ledger, writer.t0)

    # Crash, restart (replay), crash again at once: the replayed data must survive the second crash.
    with server.client(token) as client:
        for batch in range(12, 24):
            (writer.post_native if batch % 3 == 2 else writer.post_monasca)(client, batch)
    server.kill9()
    server.start()
    server.kill9()
    server.start()
    assert_all_acknowledged_present(server, token, writer.ledger, writer.t0)

    # New writes after a replay, another crash, and a crash right after that restart too.
    with server.client(token) as client:
        for batch in range(24, 36):
            (writer.post_native if batch % 3 == 2 else writer.post_monasca)(client, batch)
    server.kill9()
    server.start()
    assert_all_acknowledged_present(server, token, writer.ledger, writer.t0)
    with server.client(token) as client:
        writer.post_monasca(client, 36)
    server.kill9()
    server.start()
    found = assert_all_acknowledged_present(server, token, writer.ledger, writer.t0)
    assert sum(len(v) for v in found.values()) == writer.ledger.count()
    # Series created before the crashes are listed with their dimensions.
    with server.client(token) as client:
        listed = client.get("/v2.0/metrics", params={"name": "dur.r.new.3"}).json()["elements"]
    assert sorted(e["dimensions"]["host"] for e in listed) == sorted(["h0", "h4", "h8", "h12", "h16"])


def test_resent_point_after_crash_replaces_not_duplicates(durable_server):
    """A client that retries after a crash (its batch was acknowledged, or not) must not double-count."""
    server = durable_server
    token = server.create_key("resend", "monasca-user")
    ts = now_ms() - 60_000
    body = {"series": [{"name": "dur.resend"}], "series_index": [0], "timestamp": [ts], "count": [4],
            "sum": [10.0], "min": [1.0], "max": [4.0], "last": [4.0]}
    with server.client(token) as client:
        assert client.post("/v1/points", json=body).status_code == 200
    server.kill9()
    server.start()
    with server.client(token) as client:
        assert client.post("/v1/points", json=body).status_code == 200
        start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts / 1000 - 60))
        stats = client.get("/v2.0/metrics/statistics", params={
            "name": "dur.resend", "start_time": start, "statistics": "count,sum,avg", "period": "3600"}).json()
    rows = stats["elements"][0]["statistics"]
    assert [row[1:] for row in rows] == [[4, 10.0, 2.5]]
