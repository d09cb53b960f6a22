"""The native columnar endpoint ``POST /v1/points`` end to end, read back through Monasca.

msgpack with binary little-endian columns, JSON with lists (and base64 binary), gzip and
zstd bodies; raw values and window summaries (count/sum/min/max/last) must round-trip
exactly through ``/v2.0/metrics/measurements`` (value = sum / count) and
``/v2.0/metrics/statistics`` (avg = Σsum / Σcount; min, max, sum, count exact), and a
resent window (same series and timestamp) replaces the earlier copy.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
import zlib

import cramjam
import httpx
import msgspec
import numpy as np
import pytest

from tests.conftest import ServerProcess, now_ms

JSON = {"Content-Type": "application/json"}
MSGPACK = {"Content-Type": "application/msgpack"}


def iso_seconds(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def iso_millis(ms: int) -> str:
    return iso_seconds(ms)[:-1] + f".{ms % 1000:03d}Z"


def minute_start(offset_minutes: int) -> int:
    """A whole minute, ``offset_minutes`` ago (statistics then take the minute roll-up path)."""
    return (now_ms() // 60_000 - offset_minutes) * 60_000


def encode(body: dict, form: str, encoding: str | None = None) -> tuple[bytes, dict]:
    if form == "msgpack":
        raw, headers = msgspec.msgpack.encode(body), dict(MSGPACK)
    else:
        raw, headers = json.dumps(body).encode(), dict(JSON)
    if encoding == "gzip":
        raw = gzip.compress(raw)
    elif encoding == "zstd":
        raw = bytes(cramjam.zstd.compress(raw))
    elif encoding == "deflate":
        raw = zlib.compress(raw)
    if encoding:
        headers["Content-Encoding"] = encoding
    return raw, headers


def binary_columns(series_index, timestamp, **floats) -> dict:
    columns = {"series_index": np.asarray(series_index, "<u4").tobytes(),
               "timestamp": np.asarray(timestamp, "<i8").tobytes()}
    for name, values in floats.items():
        columns[name] = np.asarray(values, "<u4" if name == "count" else "<f8").tobytes()
    return columns


def list_columns(series_index, timestamp, **floats) -> dict:
    columns = {"series_index": [int(i) for i in series_index], "timestamp": [int(t) for t in timestamp]}
    for name, values in floats.items():
        columns[name] = [int(v) for v in values] if name == "count" else [float(v) for v in values]
    return columns


def post(server: ServerProcess, body: dict, form: str = "json", encoding: str | None = None,
         token: str | None = None) -> httpx.Response:
    raw, headers = encode(body, form, encoding)
    with server.client(token or server.admin_token) as client:
        return client.post("/v1/points", content=raw, headers=headers)


def accepted(response: httpx.Response, n: int) -> None:
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": n}


def measurements(server: ServerProcess, name: str, start_ms: int, **params) -> list[dict]:
    with server.client() as client:
        response = client.get("/v2.0/metrics/measurements",
                              params={"name": name, "start_time": iso_seconds(start_ms - 60_000), **params})
    assert response.status_code == 200, response.text
    return response.json()["elements"]


def statistics(server: ServerProcess, name: str, start_ms: int, period: int, **params) -> list[dict]:
    with server.client() as client:
        response = client.get("/v2.0/metrics/statistics", params={
            "name": name, "start_time": iso_seconds(start_ms), "statistics": "avg,min,max,sum,count",
            "period": str(period), **params})
    assert response.status_code == 200, response.text
    return response.json()["elements"]


def only(elements: list[dict]) -> dict:
    assert len(elements) == 1, elements
    return elements[0]


def expected_statistics(timestamps, count, total, low, high, start: int, period: int) -> list[list]:
    """Monasca statistics rows computed here, in time order, with exact arithmetic on these values.

    Buckets are ``period`` seconds aligned to the epoch (InfluxDB's ``GROUP BY time(period)``);
    period 0 is one bucket labelled with the start time.
    """
    buckets: dict[int, list] = {}
    width = period * 1000
    for order in np.argsort(np.asarray(timestamps), kind="stable"):
        ts = int(timestamps[order])
        bucket = (ts // width) * width if period else start
        c, s, lo, hi = int(count[order]), float(total[order]), float(low[order]), float(high[order])
        if bucket not in buckets:
            buckets[bucket] = [c, s, lo, hi]
        else:
            row = buckets[bucket]
            row[0] += c
            row[1] += s
            row[2] = min(row[2], lo)
            row[3] = max(row[3], hi)
    return [[iso_seconds(b), s / c, lo, hi, s, c] for b, (c, s, lo, hi) in sorted(buckets.items())]


# ---------------------------------------------------------------------------------------------
# Raw values


@pytest.mark.parametrize("form", ["msgpack-binary", "json-lists", "json-base64"])
def test_raw_values_round_trip(shared_server, form):
    name = f"native.raw.{form}"
    start = minute_start(12)
    series = [{"name": name, "dimensions": {"host": f"h{j}", "form": form}} for j in range(3)]
    n = 300
    index = np.arange(n) % 3
    timestamps = start + 1000 * np.arange(n) + 7 * index  # distinct per series, not sorted by series
    values = (np.arange(n) % 97) * 0.25 - 11.5
    if form == "msgpack-binary":
        body, wire = {"series": series, **binary_columns(index, timestamps, value=values)}, "msgpack"
    elif form == "json-lists":
        body, wire = {"series": series, **list_columns(index, timestamps, value=values)}, "json"
    else:
        columns = binary_columns(index, timestamps, value=values)
        body, wire = {"series": series, **{k: base64.b64encode(v).decode() for k, v in columns.items()}}, "json"
    accepted(post(shared_server, body, wire), n)

    elements = measurements(shared_server, name, start, group_by="host")
    assert sorted(e["dimensions"]["host"] for e in elements) == ["h0", "h1", "h2"]
    for element in elements:
        j = int(element["dimensions"]["host"][1:])
        mine = index == j
        assert element["columns"] == ["timestamp", "value", "value_meta"]
        assert element["measurements"] == [[iso_millis(int(t)), float(v), {}]
                                           for t, v in zip(timestamps[mine], values[mine])]
    for j in range(3):
        mine = index == j
        element = only(statistics(shared_server, name, start, 60, dimensions=f"host:h{j}"))
        assert element["columns"] == ["timestamp", "avg", "min", "max", "sum", "count"]
        ones = np.ones(int(mine.sum()), np.int64)
        assert element["statistics"] == expected_statistics(timestamps[mine], ones, values[mine], values[mine],
                                                            values[mine], start, 60)
    # The series are listed with their dimensions.
    with shared_server.client() as client:
        listed = client.get("/v2.0/metrics", params={"name": name}).json()["elements"]
    assert sorted(e["dimensions"]["host"] for e in listed) == ["h0", "h1", "h2"]
    assert all(e["dimensions"]["form"] == form for e in listed)


@pytest.mark.parametrize("encoding", ["gzip", "zstd", "deflate"])
@pytest.mark.parametrize("form", ["msgpack", "json"])
def test_compressed_bodies_round_trip(shared_server, form, encoding):
    name = f"native.compressed.{form}.{encoding}"
    start = minute_start(10)
    n = 2000
    timestamps = start + 150 * np.arange(n)
    values = (np.arange(n) % 1013) * 0.5
    make = binary_columns if form == "msgpack" else list_columns
    body = {"series": [{"name": name}], **make(np.zeros(n), timestamps, value=values)}
    raw, _ = encode(body, form, encoding)
    plain, _ = encode(body, form)
    assert len(raw) < len(plain)
    accepted(post(shared_server, body, form, encoding), n)
    rows = only(measurements(shared_server, name, start))["measurements"]
    assert [r[0] for r in rows] == [iso_millis(int(t)) for t in timestamps]
    assert [r[1] for r in rows] == values.tolist()


def test_large_binary_batch(shared_server):
    name = "native.large"
    start = minute_start(20)
    n, k = 60_000, 200
    index = np.arange(n) % k
    timestamps = start + (np.arange(n) // k) * 1000 + index  # 300 s of data, 200 series
    values = (np.arange(n) % 4096) * 0.125
    series = [{"name": name, "dimensions": {"instance": f"i{j:03d}"}} for j in range(k)]
    accepted(post(shared_server, {"series": series, **binary_columns(index, timestamps, value=values)}, "msgpack",
                  "zstd"), n)
    merged = only(statistics(shared_server, name, start, 3600, merge_metrics="true"))
    assert sum(row[5] for row in merged["statistics"]) == n
    assert sum(row[4] for row in merged["statistics"]) == float(values.sum())
    assert min(row[2] for row in merged["statistics"]) == values.min()
    assert max(row[3] for row in merged["statistics"]) == values.max()
    one = only(measurements(shared_server, name, start, dimensions="instance:i007"))
    mine = index == 7
    assert [r[1] for r in one["measurements"]] == values[mine].tolist()


# ---------------------------------------------------------------------------------------------
# Summaries


@pytest.mark.parametrize("form", ["msgpack", "json"])
@pytest.mark.parametrize("period", [60, 300, 7, 0])
def test_summaries_round_trip(shared_server, form, period):
    name = f"native.summary.{form}.{period}"
    start = minute_start(15)
    n = 240
    index = np.arange(n) % 2
    timestamps = start + 2500 * np.arange(n)  # windows 2.5 s apart over 10 minutes
    count = (np.arange(n) % 6) + 1
    mean = (np.arange(n) % 37) * 0.5 + 3
    total = mean * count
    low = mean - (np.arange(n) % 3)
    high = mean + (np.arange(n) % 4) * 0.25
    last = low
    make = binary_columns if form == "msgpack" else list_columns
    series = [{"name": name, "dimensions": {"pool": "p0"}}, {"name": name, "dimensions": {"pool": "p1"}}]
    body = {"series": series, **make(index, timestamps, count=count, sum=total, min=low, max=high, last=last)}
    accepted(post(shared_server, body, form), n)

    for j in range(2):
        mine = index == j
        element = only(measurements(shared_server, name, start, dimensions=f"pool:p{j}"))
        # A summary point reads back as its average, sum / count.
        assert [r[1] for r in element["measurements"]] == (total[mine] / count[mine]).tolist()
        assert [r[0] for r in element["measurements"]] == [iso_millis(int(t)) for t in timestamps[mine]]
        stats = only(statistics(shared_server, name, start, period, dimensions=f"pool:p{j}"))
        expected = expected_statistics(timestamps[mine], count[mine], total[mine], low[mine], high[mine], start,
                                       period)
        assert stats["statistics"] == expected
    # Both series merged: avg = Σsum / Σcount over everything (not the mean of the averages).
    merged = only(statistics(shared_server, name, start, 3600, merge_metrics="true"))
    c = sum(row[5] for row in merged["statistics"])
    s = sum(row[4] for row in merged["statistics"])
    assert c == int(count.sum()) and s == float(total.sum())
    if len(merged["statistics"]) == 1:
        assert merged["statistics"][0][1] == float(total.sum()) / int(count.sum())
        assert merged["statistics"][0][2] == float(low.min()) and merged["statistics"][0][3] == float(high.max())


def test_raw_and_summary_points_combine_in_statistics(shared_server):
    name = "native.mixed"
    start = minute_start(8)
    raw_ts = start + 1000 * np.arange(10)
    raw_values = np.arange(10) * 1.0
    accepted(post(shared_server, {"series": [{"name": name}],
                                  **list_columns(np.zeros(10), raw_ts, value=raw_values)}), 10)
    summary_ts = start + 30_000 + 1000 * np.arange(5)
    count, total = np.array([2, 3, 4, 5, 6]), np.array([2.0, 9.0, 20.0, 5.0, 60.0])
    low, high = np.array([0.5, 2.0, 1.0, 0.0, 9.0]), np.array([1.5, 4.0, 9.0, 2.0, 11.0])
    accepted(post(shared_server, {"series": [{"name": name}], **binary_columns(
        np.zeros(5), summary_ts, count=count, sum=total, min=low, max=high, last=high)}, "msgpack"), 5)
    element = only(statistics(shared_server, name, start, 0))
    all_count = 10 + int(count.sum())
    all_sum = float(raw_values.sum() + total.sum())
    assert [row[4:] for row in element["statistics"]] == [[all_sum, all_count]]
    assert element["statistics"][0][1] == all_sum / all_count
    assert element["statistics"][0][2] == 0.0 and element["statistics"][0][3] == 11.0


def test_statistics_column_order_follows_the_request(shared_server):
    name = "native.columns"
    start = minute_start(5)
    accepted(post(shared_server, {"series": [{"name": name}], **list_columns(
        [0, 0], [start + 1000, start + 2000], count=[2, 2], sum=[4.0, 8.0], min=[1.0, 3.0], max=[3.0, 5.0],
        last=[3.0, 5.0])}), 2)
    with shared_server.client() as client:
        body = client.get("/v2.0/metrics/statistics", params={
            "name": name, "start_time": iso_seconds(start), "statistics": "COUNT,max,Avg", "period": "0"}).json()
    element = only(body["elements"])
    assert element["columns"] == ["timestamp", "count", "max", "avg"]
    assert element["statistics"][0][1:] == [4, 5.0, 3.0]
    assert isinstance(element["statistics"][0][1], int)


# ---------------------------------------------------------------------------------------------
# Resent windows replace


def _summary(name: str, ts: int, count: int, total: float, low: float, high: float, dims=None) -> dict:
    return {"series": [{"name": name, "dimensions": dims or {"agent": "a1"}}], "series_index": [0], "timestamp": [ts],
            "count": [count], "sum": [total], "min": [low], "max": [high], "last": [high]}


@pytest.mark.parametrize("wait", [0.0, 0.8], ids=["both-in-memory", "after-a-flush"])
def test_resent_window_replaces_rather_than_double_counts(shared_server, wait):
    name = f"native.resend.{int(wait * 10)}"
    start = minute_start(6)
    ts = start + 5000
    accepted(post(shared_server, _summary(name, ts, 4, 10.0, 1.0, 4.0)), 1)
    accepted(post(shared_server, _summary(name, ts + 1000, 1, 7.0, 7.0, 7.0)), 1)
    time.sleep(wait)  # the first copy is flushed to the store (flush interval 0.2 s) before the resend
    # Identical resend: no double count.
    accepted(post(shared_server, _summary(name, ts, 4, 10.0, 1.0, 4.0), "msgpack"), 1)
    element = only(statistics(shared_server, name, start, 0))
    assert [row[1:] for row in element["statistics"]] == [[17.0 / 5, 1.0, 7.0, 17.0, 5]]
    time.sleep(wait)
    # A corrected window replaces the earlier one.
    accepted(post(shared_server, _summary(name, ts, 6, 18.0, 2.0, 5.0)), 1)
    element = only(measurements(shared_server, name, start))
    assert element["measurements"] == [[iso_millis(ts), 3.0, {}], [iso_millis(ts + 1000), 7.0, {}]]
    element = only(statistics(shared_server, name, start, 0))
    assert [row[1:] for row in element["statistics"]] == [[25.0 / 7, 2.0, 7.0, 25.0, 7]]


def test_resent_raw_values_and_duplicates_within_one_batch(shared_server):
    name = "native.resend.raw"
    start = minute_start(4)
    ts = start + 1000
    # The same (series, timestamp) twice in one request: one point, the later row wins.
    accepted(post(shared_server, {"series": [{"name": name}], **list_columns([0, 0, 0], [ts, ts, ts + 1000],
                                                                             value=[1.0, 2.0, 5.0])}), 3)
    accepted(post(shared_server, {"series": [{"name": name}], **binary_columns([0], [ts + 1000], value=[6.0])},
                  "msgpack"), 1)
    element = only(measurements(shared_server, name, start))
    assert element["measurements"] == [[iso_millis(ts), 2.0, {}], [iso_millis(ts + 1000), 6.0, {}]]
    stats = only(statistics(shared_server, name, start, 0))
    assert [row[4:] for row in stats["statistics"]] == [[8.0, 2]]


def test_native_window_replaces_a_monasca_sample_of_the_same_series(shared_server):
    name = "native.resend.cross"
    start = minute_start(3)
    ts = start + 2000
    with shared_server.client() as client:
        assert client.post("/v2.0/metrics", json={"name": name, "dimensions": {"agent": "a1"}, "timestamp": ts,
                                                  "value": 100.0}).status_code == 204
    accepted(post(shared_server, _summary(name, ts, 3, 12.0, 3.0, 5.0)), 1)
    element = only(measurements(shared_server, name, start))
    assert element["measurements"] == [[iso_millis(ts), 4.0, {}]]
    stats = only(statistics(shared_server, name, start, 0))
    assert [row[1:] for row in stats["statistics"]] == [[4.0, 3.0, 5.0, 12.0, 3]]


# ---------------------------------------------------------------------------------------------
# Series table


def test_same_series_in_any_byte_form_is_one_series(shared_server):
    """Dimension order, JSON vs msgpack, and repeated table entries all name the same series."""
    name = "native.identity"
    start = minute_start(3)
    a = {"name": name, "dimensions": {"x": "1", "y": "2"}}
    b = {"dimensions": {"y": "2", "x": "1"}, "name": name}
    accepted(post(shared_server, {"series": [a], **list_columns([0], [start + 1000], value=[1.0])}), 1)
    accepted(post(shared_server, {"series": [b], **list_columns([0], [start + 2000], value=[2.0])}, "msgpack"), 1)
    accepted(post(shared_server, {"series": [a, b], **list_columns([0, 1], [start + 3000, start + 4000],
                                                                   value=[3.0, 4.0])}), 2)
    with shared_server.client() as client:
        listed = client.get("/v2.0/metrics", params={"name": name}).json()["elements"]
    assert [e["dimensions"] for e in listed] == [{"x": "1", "y": "2"}]
    assert [r[1] for r in only(measurements(shared_server, name, start))["measurements"]] == [1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize("form", ["json", "msgpack"])
def test_series_named_before_its_first_point_is_still_readable(shared_server, form):
    """A batch whose series table names a series but carries no point for it (or no point at all)
    must not make later points of that series unreadable."""
    name = f"native.ghost.{form}"
    start = minute_start(3)
    ghost = {"name": name, "dimensions": {"late": "yes"}}
    other = {"name": name + ".other"}
    make = binary_columns if form == "msgpack" else list_columns
    # 1. Named, no points at all.
    accepted(post(shared_server, {"series": [ghost], **make([], [], value=[])}, form), 0)
    # 2. Named again beside a series that does get points.
    accepted(post(shared_server, {"series": [ghost, other], **make([1], [start + 1000], value=[1.0])}, form), 1)
    # 3. Now its points arrive.
    accepted(post(shared_server, {"series": [ghost], **make([0, 0], [start + 2000, start + 3000],
                                                              value=[5.0, 6.0])}, form), 2)
    with shared_server.client() as client:
        listed = client.get("/v2.0/metrics", params={"name": name}).json()["elements"]
    assert [e["dimensions"] for e in listed] == [{"late": "yes"}], listed
    element = only(measurements(shared_server, name, start))
    assert [r[1] for r in element["measurements"]] == [5.0, 6.0]


def test_delegate_posts_native_points_for_another_project(shared_server):
    delegate = shared_server.create_key("native-delegate", "monasca-delegate")
    owner = shared_server.create_key("native-owner", "monasca-user")
    start = minute_start(2)
    body = {"series": [{"name": "native.delegated"}], **list_columns([0], [start + 1000], value=[9.5]),
            "tenant_id": "native-owner"}
    accepted(post(shared_server, body, "msgpack", token=delegate), 1)
    with shared_server.client(owner) as client:
        rows = client.get("/v2.0/metrics/measurements", params={
            "name": "native.delegated", "start_time": iso_seconds(start)}).json()["elements"]
    assert [r[1] for r in only(rows)["measurements"]] == [9.5]
