"""Bad input on every field, against a real server: the right 4xx, a ``{"title","description"}``
body that names the field, nothing stored from a rejected request, never a 500, and the
server keeps serving afterwards.

Covers Monasca ``POST /v2.0/metrics`` (reference §2.1), the GET query endpoints (§2.2–2.8)
and the native ``POST /v1/points`` (``nephoscope/ingest/native.py``), including body and
decompression limits on a second server started with small limits.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import time
import zlib
from pathlib import Path

import cramjam
import httpx
import msgspec
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ServerProcess, now_ms

JSON = {"Content-Type": "application/json"}
MSGPACK = {"Content-Type": "application/msgpack"}
FORBIDDEN = ["<", ">", "=", "{", "}", "(", ")", ",", '"', "\\", ";", "&"]  # in names (plus space)
DIMENSION_FORBIDDEN = [c for c in FORBIDDEN if c not in "()"]  # monasca-common allows ( ) in dimensions
DAY_MS = 86_400_000
SMALL_BODY = 64 * 1024
SMALL_INFLATED = 1_000_000


# ---------------------------------------------------------------------------------------------
# helpers


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory):
    """A second server with small body and decompression limits (413 tests)."""
    process = ServerProcess(tmp_path_factory.mktemp("limited") / "data", extra_env={
        "NEPHOSCOPE_LIMITS_MAX_BODY_BYTES": str(SMALL_BODY),
        "NEPHOSCOPE_LIMITS_MAX_DECOMPRESSED_BYTES": str(SMALL_INFLATED),
    }).start()
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def _still_serving(request: pytest.FixtureRequest):
    """After every test: the server(s) it used answer /healthz with a fresh connection."""
    yield
    for name in ("shared_server", "limited_server"):
        if name in request.fixturenames:
            process = request.getfixturevalue(name)
            assert process.process.poll() is None, f"server died:\n{process.log()}"
            assert httpx.get(process.url + "/healthz", timeout=10).status_code == 200


def send(server: ServerProcess, method: str, path: str, **kwargs) -> httpx.Response:
    """One request on a fresh connection (a 500 may drop a keep-alive connection)."""
    with server.client() as client:
        return client.request(method, path, **kwargs)


def post_metrics(server: ServerProcess, body, raw: bytes | None = None, headers=JSON, **kwargs) -> httpx.Response:
    content = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
    return send(server, "POST", "/v2.0/metrics", content=content, headers=headers, **kwargs)


def assert_error(response: httpx.Response, status: int, *mentions: str) -> dict:
    """Status, falcon-shaped body, and every ``mention`` in the description (case-insensitive)."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body.get("title"), str) and body["title"], body
    assert isinstance(body.get("description"), str) and body["description"], body
    for mention in mentions:
        assert mention.lower() in body["description"].lower(), (mention, body)
    return body


def metric(**overrides) -> dict:
    body = {"name": "bad.input.ok", "dimensions": {"host": "h1"}, "timestamp": now_ms() - 1000, "value": 1.5}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def unique_name(request: pytest.FixtureRequest) -> str:
    """A metric name of this test (and parameters) only: one wrongly accepted case cannot fail another."""
    node = request.node
    suffix = node.callspec.id if hasattr(node, "callspec") else "x"
    return "bad." + node.originalname.removeprefix("test_") + "." + re.sub(r"[^A-Za-z0-9_.-]", "_", suffix)


def stored_names(server: ServerProcess) -> set[str]:
    with server.client() as client:
        response = client.get("/v2.0/metrics/names")
    assert response.status_code == 200, response.text
    return {e["name"] for e in response.json()["elements"]}


def measurements(server: ServerProcess, name: str, **params) -> list:
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2 * 86400))
    with server.client() as client:
        response = client.get("/v2.0/metrics/measurements",
                              params={"name": name, "start_time": start, "merge_metrics": "true", **params})
    assert response.status_code == 200, response.text
    return [row for element in response.json()["elements"] for row in element["measurements"]]


# ---------------------------------------------------------------------------------------------
# Monasca POST /v2.0/metrics: body and content type


def test_malformed_json_is_400(shared_server):
    for raw in (b'{"name":', b"{'name': 'x'}", b"not json", b'{"name":"a","timestamp":1,"value":NaN}', b""):
        assert_error(post_metrics(shared_server, None, raw=raw), 400, "json")


def test_non_utf8_body_is_400_not_500(shared_server):
    # msgspec raises UnicodeDecodeError (not a DecodeError) on invalid UTF-8.
    raw = b'{"name":"bad.utf8.\xff","timestamp":%d,"value":1}' % now_ms()
    assert_error(post_metrics(shared_server, None, raw=raw), 400)


@pytest.mark.parametrize("body", [None, "string", 5, True], ids=["null", "string", "number", "bool"])
def test_body_that_is_not_a_metric_or_list_is_422(shared_server, body):
    assert_error(post_metrics(shared_server, body), 422, "metrics")


def test_missing_content_type_is_400(shared_server):
    raw = json.dumps(metric(name="bad.ctype.missing")).encode()
    with shared_server.client() as client:
        request = client.build_request("POST", "/v2.0/metrics", content=raw)
        request.headers.pop("content-type", None)
        assert "content-type" not in request.headers
        assert_error(client.send(request), 400, "content-type")
    assert "bad.ctype.missing" not in stored_names(shared_server)


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded", ""])
def test_wrong_content_type_is_400(shared_server, request, content_type):
    name = unique_name(request)
    # Reference §1 / §2.1: Monasca answers a wrong Content-Type with 400 (not 415).
    raw = json.dumps(metric(name=name)).encode()
    assert_error(post_metrics(shared_server, None, raw=raw, headers={"Content-Type": content_type}), 400,
                 "content-type")
    assert name not in stored_names(shared_server)


def test_charset_suffix_is_accepted(shared_server):
    # The reference says: be lenient with "application/json; charset=utf-8".
    raw = json.dumps(metric(name="ok.charset")).encode()
    response = post_metrics(shared_server, None, raw=raw, headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 204, response.text


# ---------------------------------------------------------------------------------------------
# Monasca POST: every field


@pytest.mark.parametrize("missing", ["name", "value", "timestamp"])
def test_missing_required_field_is_422(shared_server, request, missing):
    name = unique_name(request)
    incomplete = {k: v for k, v in metric(name=name).items() if k != missing}
    body = assert_error(post_metrics(shared_server, incomplete), 422, missing)
    assert "metrics" in body["description"]
    # In a list the index is named too.
    ok = metric(name=name)
    assert_error(post_metrics(shared_server, [ok, incomplete]), 422, "metrics[1]", missing)
    assert name not in stored_names(shared_server)


@pytest.mark.parametrize("name", ["", "a" * 256] + [f"bad{c}name" for c in FORBIDDEN] + ["bad name"],
                         ids=["empty", "256"] + [f"char{ord(c)}" for c in FORBIDDEN] + ["space"])
def test_bad_name_is_422(shared_server, name):
    assert_error(post_metrics(shared_server, metric(name=name)), 422, "name")
    assert_error(post_metrics(shared_server, [metric(), metric(name=name)]), 422, "metrics[1].name")


@pytest.mark.parametrize("name", [5, None, ["a"], {"a": 1}], ids=["int", "null", "list", "object"])
def test_name_not_a_string_is_422(shared_server, name):
    assert_error(post_metrics(shared_server, metric(name=name)), 422, "name")


@pytest.mark.parametrize(
    "dimensions",
    [{"": "v"}, {"k" * 256: "v"}, {"_reserved": "v"}] + [{f"k{c}": "v"} for c in DIMENSION_FORBIDDEN],
    ids=["empty", "256", "underscore"] + [f"char{ord(c)}" for c in DIMENSION_FORBIDDEN])
def test_bad_dimension_key_is_422(shared_server, request, dimensions):
    name = unique_name(request)
    assert_error(post_metrics(shared_server, metric(name=name, dimensions=dimensions)), 422, "dimension")
    assert_error(post_metrics(shared_server, [metric(), metric(name=name, dimensions=dimensions)]), 422,
                 "metrics[1].dimensions")
    assert name not in stored_names(shared_server)


@pytest.mark.parametrize(
    "value",
    ["", "v" * 256, 1, 1.5, None, True, ["a"], {"a": "b"}] + [f"v{c}" for c in DIMENSION_FORBIDDEN],
    ids=["empty", "256", "int", "float", "null", "bool", "list", "object"]
    + [f"char{ord(c)}" for c in DIMENSION_FORBIDDEN])
def test_bad_dimension_value_is_422(shared_server, request, value):
    name = unique_name(request)
    assert_error(post_metrics(shared_server, metric(name=name, dimensions={"k": value})), 422, "dimension")
    assert name not in stored_names(shared_server)


@pytest.mark.parametrize("dimensions", [["a"], "a", 5], ids=["list", "string", "number"])
def test_dimensions_not_an_object_is_422(shared_server, dimensions):
    assert_error(post_metrics(shared_server, metric(name="bad.dims", dimensions=dimensions)), 422, "dimensions")


@pytest.mark.parametrize("value", ["NaN", "nan", "Infinity", "-Infinity", "inf", "1", "1.5", None, True, [1], {"v": 1}],
                         ids=["NaN", "nan", "Infinity", "-Infinity", "inf", "str1", "str1.5", "null", "bool",
                              "list", "object"])
def test_bad_value_is_422(shared_server, request, value):
    name = unique_name(request)
    assert_error(post_metrics(shared_server, metric(name=name, value=value)), 422, "value")
    assert name not in stored_names(shared_server)


@pytest.mark.parametrize("literal", [b"1e400", b"-1e400", b"1" + b"0" * 400], ids=["1e400", "-1e400", "400digits"])
def test_value_overflowing_a_double_is_422(shared_server, request, literal):
    name = unique_name(request)
    raw = b'{"name":"%s","timestamp":%d,"value":%s}' % (name.encode(), now_ms(), literal)
    assert_error(post_metrics(shared_server, None, raw=raw), 422, "value")
    assert name not in stored_names(shared_server)


@pytest.mark.parametrize("timestamp", [str(now_ms()), None, True, [1], "2024-01-01T00:00:00Z"],
                         ids=["numeric-string", "null", "bool", "list", "iso-string"])
def test_timestamp_not_a_number_is_422(shared_server, timestamp):
    assert_error(post_metrics(shared_server, metric(name="bad.ts", timestamp=timestamp)), 422, "timestamp")


@pytest.mark.parametrize("offset_ms,word", [(-DAY_MS - 60_000, "older"), (-30 * DAY_MS, "older"),
                                            (3_600_000, "future"), (365 * DAY_MS, "future")],
                         ids=["1day+1min-old", "30days-old", "1h-future", "1y-future"])
def test_timestamp_out_of_range_is_422(shared_server, request, offset_ms, word):
    name = unique_name(request)
    body = metric(name=name, timestamp=now_ms() + offset_ms)
    assert_error(post_metrics(shared_server, body), 422, "timestamp", word)
    assert_error(post_metrics(shared_server, [metric(), body]), 422, "metrics[1].timestamp")
    assert name not in stored_names(shared_server)


@pytest.mark.parametrize("timestamp", [0, -1, 1e300, 1405630174123 / 1000],
                         ids=["zero", "negative", "1e300", "seconds-not-ms"])
def test_absurd_timestamps_are_422(shared_server, timestamp):
    assert_error(post_metrics(shared_server, metric(name="bad.ts.absurd", timestamp=timestamp)), 422, "timestamp")


@pytest.mark.parametrize(
    "value_meta,word",
    [({f"k{i}": "v" for i in range(17)}, "17"),
     ({"k": "v" * 2100}, "2048"),
     ({"": "v"}, "value_meta"),
     ({"k" * 256: "v"}, "value_meta"),
     (["a"], "value_meta"),
     ("text", "value_meta"),
     (5, "value_meta")],
    ids=["17-entries", "over-2048", "empty-key", "key-256", "list", "string", "number"])
def test_bad_value_meta_is_422(shared_server, request, value_meta, word):
    name = "bad.vm." + request.node.callspec.id
    body = metric(name=name, value_meta=value_meta)
    assert_error(post_metrics(shared_server, body), 422, "value_meta", word)
    assert_error(post_metrics(shared_server, [metric(), metric(), body]), 422, "metrics[2].value_meta")
    assert name not in stored_names(shared_server)


@pytest.mark.parametrize("value", [1, None, ["a"], {"nested": "x"}, True],
                         ids=["int", "null", "list", "object", "bool"])
def test_value_meta_non_string_values_are_kept_as_monasca_does(shared_server, request, value):
    """monasca-common checks value_meta's entry count, key lengths and JSON size, not value types;
    agents and the CLI send numbers, so refusing them would break whole batches."""
    name = "ok.vm.value." + request.node.callspec.id
    assert post_metrics(shared_server, metric(name=name, value_meta={"k": value})).status_code == 204
    assert name in stored_names(shared_server)


def test_value_meta_limits_are_inclusive(shared_server):
    sixteen = {f"k{i:02d}": "v" for i in range(16)}
    assert post_metrics(shared_server, metric(name="ok.vm16", value_meta=sixteen)).status_code == 204
    # Exactly 2048 characters of Python json.dumps: {"k": "<2039 chars>"} is 2048 long.
    at_limit = {"k": "v" * 2039}
    assert len(json.dumps(at_limit)) == 2048
    assert post_metrics(shared_server, metric(name="ok.vm2048", value_meta=at_limit)).status_code == 204
    assert post_metrics(shared_server, metric(name="ok.vm2049", value_meta={"k": "v" * 2040})).status_code == 422


@pytest.mark.parametrize("tag,bad,mentions", [
    ("atomic.name", {"name": "bad name"}, ["metrics[3]", "name"]),
    ("atomic.value", {"value": "NaN"}, ["metrics[3]", "value"]),
    ("atomic.timestamp", {"timestamp": "x"}, ["metrics[3]", "timestamp"]),
    ("atomic.missing", {"value": ...}, ["metrics[3]", "value"]),
    ("atomic.dimension", {"dimensions": {"_k": "v"}}, ["metrics[3]", "dimensions"]),
    ("atomic.meta", {"value_meta": {"": "v"}}, ["metrics[3]", "value_meta"]),
    ("atomic.old", {"timestamp": 1}, ["metrics[3]", "timestamp"]),
], ids=["name", "value", "timestamp", "missing-value", "dimension", "value_meta", "old-timestamp"])
def test_batch_with_one_bad_item_stores_nothing(shared_server, tag, bad, mentions):
    """Item 3 of 5 is bad: 422 naming metrics[3] and the field, and none of the 5 stored."""
    position = 3
    now = now_ms()
    items = [metric(name=f"{tag}.{i}", timestamp=now - 10_000 + i, value=float(i)) for i in range(5)]
    items[position] = {k: v for k, v in {**items[position], **bad}.items() if v is not ...}
    assert_error(post_metrics(shared_server, items), 422, *mentions)
    names = stored_names(shared_server)
    assert not {n for n in names if n.startswith(tag + ".")}, names
    for i in range(5):
        assert measurements(shared_server, f"{tag}.{i}") == []
    # The same batch, fixed, is accepted whole.
    items[position] = metric(name=f"{tag}.{position}", timestamp=now - 10_000 + position, value=float(position))
    assert post_metrics(shared_server, items).status_code == 204
    for i in range(5):
        assert [row[1] for row in measurements(shared_server, f"{tag}.{i}")] == [float(i)]


def test_bad_series_first_seen_in_a_rejected_batch_is_not_cached(shared_server):
    """A rejected request must teach the server nothing: posting the same (valid) first item alone
    afterwards creates it with its dimensions exactly once."""
    now = now_ms()
    good = metric(name="cache.probe", dimensions={"zone": "z1"}, timestamp=now - 5000, value=7.0)
    assert post_metrics(shared_server, [good, metric(name="bad name")]).status_code == 422
    assert "cache.probe" not in stored_names(shared_server)
    assert post_metrics(shared_server, good).status_code == 204
    with shared_server.client() as client:
        listed = client.get("/v2.0/metrics", params={"name": "cache.probe"}).json()["elements"]
    assert [(e["name"], e["dimensions"]) for e in listed] == [("cache.probe", {"zone": "z1"})]


# ---------------------------------------------------------------------------------------------
# Monasca POST: valid variants that must be accepted (and stored as sent)


def test_valid_variants_are_accepted_and_stored(shared_server):
    now = now_ms()
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now / 1000 - 600))
    cases = [
        ("single object", metric(name="ok.object", timestamp=now - 9000, value=1.0), "ok.object", 1.0),
        ("list", [metric(name="ok.list", timestamp=now - 9000, value=2.0)], "ok.list", 2.0),
        ("float ms timestamp", metric(name="ok.float.ts", timestamp=now - 9000 + 0.664, value=3.0), "ok.float.ts", 3.0),
        ("value_meta null", metric(name="ok.vm.null", timestamp=now - 9000, value=4.0, value_meta=None), "ok.vm.null",
         4.0),
        ("value_meta {}", metric(name="ok.vm.empty", timestamp=now - 9000, value=4.5, value_meta={}), "ok.vm.empty",
         4.5),
        ("no dimensions", metric(name="ok.nodims", dimensions=..., timestamp=now - 9000, value=5.0), "ok.nodims", 5.0),
        ("dimensions null", metric(name="ok.dims.null", dimensions=None, timestamp=now - 9000, value=5.5),
         "ok.dims.null", 5.5),
        ("unicode", metric(name="température.°C", dimensions={"hôte": "nœud-1", "zone": "東京"}, timestamp=now - 9000,
                           value=6.0), "température.°C", 6.0),
        ("name of 255", metric(name="n" * 255, timestamp=now - 9000, value=7.0), "n" * 255, 7.0),
        ("dimension space", metric(name="ok.dim.space", dimensions={"a key": "a value"}, timestamp=now - 9000,
                                   value=8.0), "ok.dim.space", 8.0),
        ("dimension parentheses", metric(name="ok.dim.paren", dimensions={"dev(1)": "sda (root)"},
                                         timestamp=now - 9000, value=8.5), "ok.dim.paren", 8.5),
        ("dimension 255", metric(name="ok.dim.255", dimensions={"k" * 255: "v" * 255}, timestamp=now - 9000,
                                 value=8.75), "ok.dim.255", 8.75),
        ("int value", metric(name="ok.int", timestamp=now - 9000, value=9), "ok.int", 9.0),
        ("negative", metric(name="ok.negative", timestamp=now - 9000, value=-1.25e-7), "ok.negative", -1.25e-7),
        ("large finite", metric(name="ok.large", timestamp=now - 9000, value=1e300), "ok.large", 1e300),
        ("23h old", metric(name="ok.old", timestamp=now - 23 * 3_600_000, value=10.0), "ok.old", 10.0),
        ("extra field", {**metric(name="ok.extra", timestamp=now - 9000, value=11.0), "unit": "ms"}, "ok.extra", 11.0),
    ]
    for label, body, name, value in cases:
        response = post_metrics(shared_server, body)
        assert response.status_code == 204, (label, response.status_code, response.text)
        assert response.content == b"", label
        old_start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now / 1000 - 86_000))
        rows = measurements(shared_server, name, start_time=old_start if label == "23h old" else start)
        assert [row[1] for row in rows] == [value], (label, rows)
    # value_meta round-trips; the float timestamp keeps its millisecond.
    meta = {"rc": "500", "note": "ünïcode"}
    assert post_metrics(shared_server, metric(name="ok.vm.rt", timestamp=now - 8000.5, value=1.0,
                                              value_meta=meta)).status_code == 204
    rows = measurements(shared_server, "ok.vm.rt", start_time=start)
    assert len(rows) == 1 and rows[0][2] == meta, rows
    with shared_server.client() as client:
        listed = client.get("/v2.0/metrics", params={"name": "température.°C"}).json()["elements"]
    assert listed[0]["dimensions"] == {"hôte": "nœud-1", "zone": "東京"}


def test_empty_list_is_accepted(shared_server):
    assert post_metrics(shared_server, []).status_code == 204


# ---------------------------------------------------------------------------------------------
# Fuzz: whatever the fields hold, never a 500


_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                       st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
_json = st.recursive(_json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                     max_leaves=8)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(field=st.sampled_from(["name", "dimensions", "timestamp", "value", "value_meta"]), value=_json,
       as_list=st.booleans())
def test_fuzzed_fields_never_500(shared_server, field, value, as_list):
    body = {**metric(name="fuzz.x"), field: value}
    response = post_metrics(shared_server, [metric(), body] if as_list else body)
    assert response.status_code in (204, 400, 422), (body, response.status_code, response.text)
    if response.status_code != 204:
        assert set(response.json()) >= {"title", "description"}


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=st.binary(max_size=64))
def test_fuzzed_bytes_never_500(shared_server, raw):
    response = post_metrics(shared_server, None, raw=raw)
    assert response.status_code in (204, 400, 422), (raw, response.status_code, response.text)


# ---------------------------------------------------------------------------------------------
# Query endpoints

START = "2020-01-01T00:00:00Z"


def get(server: ServerProcess, path: str, **params) -> httpx.Response:
    return send(server, "GET", path, params=params)


@pytest.mark.parametrize("path,params,missing", [
    ("/v2.0/metrics/measurements", {"start_time": START}, "name"),
    ("/v2.0/metrics/measurements", {"name": "q.x"}, "start_time"),
    ("/v2.0/metrics/measurements", {"name": "", "start_time": START}, "name"),
    ("/v2.0/metrics/statistics", {"start_time": START, "statistics": "avg"}, "name"),
    ("/v2.0/metrics/statistics", {"name": "q.x", "statistics": "avg"}, "start_time"),
    ("/v2.0/metrics/statistics", {"name": "q.x", "start_time": START}, "statistics"),
    ("/v2.0/metrics/dimensions/names/values", {}, "dimension_name"),
], ids=["meas-name", "meas-start", "meas-empty-name", "stats-name", "stats-start", "stats-statistics",
        "dimvalues-dimension_name"])
def test_missing_required_query_parameter_is_422(shared_server, path, params, missing):
    assert_error(get(shared_server, path, **params), 422, missing)


READ_PATHS = {
    "metrics": ("/v2.0/metrics", {}),
    "dimension-names": ("/v2.0/metrics/dimensions/names", {}),
    "dimension-values": ("/v2.0/metrics/dimensions/names/values", {"dimension_name": "host"}),
    "measurements": ("/v2.0/metrics/measurements", {"name": "q.x"}),
    "statistics": ("/v2.0/metrics/statistics", {"name": "q.x", "statistics": "avg"}),
}


@pytest.mark.parametrize("endpoint", READ_PATHS)
@pytest.mark.parametrize("start_time", ["yesterday", "2020-13-01T00:00:00Z", "2020-01-01T25:00:00Z", "1",
                                        "2020-01-01T00:00:00+99:00", "99999-01-01T00:00:00Z"])
def test_bad_time_format_is_422(shared_server, endpoint, start_time):
    path, params = READ_PATHS[endpoint]
    assert_error(get(shared_server, path, **params, start_time=start_time), 422, "start_time")
    assert_error(get(shared_server, path, **params, start_time=START, end_time=start_time), 422, "end_time")


@pytest.mark.parametrize("endpoint", READ_PATHS)
@pytest.mark.parametrize("end_time", ["2019-12-31T23:59:59Z", START], ids=["before", "equal"])
def test_start_not_before_end_is_400(shared_server, endpoint, end_time):
    path, params = READ_PATHS[endpoint]
    assert_error(get(shared_server, path, **params, start_time=START, end_time=end_time), 400, "start_time")


@pytest.mark.parametrize("path,params", [
    ("/v2.0/metrics", {}),
    ("/v2.0/metrics/names", {}),
    ("/v2.0/metrics/dimensions/names", {}),
    ("/v2.0/metrics/dimensions/names/values", {"dimension_name": "host"}),
    ("/v2.0/metrics/measurements", {"name": "q.x", "start_time": START}),
    ("/v2.0/metrics/statistics", {"name": "q.x", "start_time": START, "statistics": "avg"}),
], ids=["metrics", "names", "dimension-names", "dimension-values", "measurements", "statistics"])
@pytest.mark.parametrize("limit", ["abc", "-1", "1.5", "1e3", " 5", "0x10"])
def test_bad_limit_is_422(shared_server, path, params, limit):
    assert_error(get(shared_server, path, **params, limit=limit), 422, "limit")


@pytest.mark.parametrize("statistics", ["median", "avg,p99", "AVG,,mode", "average"])
def test_bad_statistics_name_is_422(shared_server, statistics):
    body = assert_error(get(shared_server, "/v2.0/metrics/statistics", name="q.x", start_time=START,
                            statistics=statistics), 422, "statistics")
    assert "avg" in body["description"]


@pytest.mark.parametrize("period", ["abc", "-5", "1.5", "5m", "1e3"])
def test_bad_period_is_422(shared_server, period):
    assert_error(get(shared_server, "/v2.0/metrics/statistics", name="q.x", start_time=START, statistics="avg",
                     period=period), 422, "period")


@pytest.mark.parametrize("period", [str(10**25), str(2**63), str(2**53)], ids=["1e25", "2^63", "2^53"])
def test_huge_period_is_not_500(shared_server, period):
    """An absurdly large period is one bucket (200) or a 422 naming period; never an overflow 500."""
    now = now_ms()
    name = f"q.period.{len(period)}"
    assert post_metrics(shared_server, metric(name=name, timestamp=now - 5000)).status_code == 204
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now / 1000 - 600))
    response = get(shared_server, "/v2.0/metrics/statistics", name=name, start_time=start,
                   statistics="avg,count", period=period)
    if response.status_code == 422:
        assert_error(response, 422, "period")
    else:
        assert response.status_code == 200, response.text
        rows = response.json()["elements"][0]["statistics"]
        assert sum(row[2] for row in rows) == 1


@pytest.mark.parametrize("path,params", [
    ("/v2.0/metrics", {}),
    ("/v2.0/metrics/names", {}),
    ("/v2.0/metrics/measurements", {"name": "q.x", "start_time": START}),
    ("/v2.0/metrics/statistics", {"name": "q.x", "start_time": START, "statistics": "avg"}),
], ids=["metrics", "names", "measurements", "statistics"])
@pytest.mark.parametrize("dimensions", ["_reserved:v", "k{:v", "k:v}", ":v", "k:" + "v" * 256, "k" * 256,
                                        'k:"v"', "k:v;rm", "k:a|b&c"])
def test_bad_dimension_filter_is_422(shared_server, path, params, dimensions):
    assert_error(get(shared_server, path, **params, dimensions=dimensions), 422, "dimension")


@pytest.mark.parametrize("offset", ["not-a-time", "0_2020-13-01T00:00:00Z"])
def test_bad_measurement_offset_is_422(shared_server, offset):
    assert_error(get(shared_server, "/v2.0/metrics/measurements", name="q.x", start_time=START, offset=offset), 422,
                 "offset")


@pytest.mark.parametrize("offset", ["zz", "-", "f" * 30, "f" * 40, "٣"])
def test_metrics_offset_never_500(shared_server, offset):
    """A metric id is 64 bits; anything that is not one is a 422 (or ignored), never a 500."""
    response = get(shared_server, "/v2.0/metrics", offset=offset)
    assert response.status_code in (200, 422), response.text
    if response.status_code == 422:
        assert_error(response, 422, "offset")


# ---------------------------------------------------------------------------------------------
# Native POST /v1/points


def native(**overrides) -> dict:
    now = now_ms()
    body = {"series": [{"name": "nat.bad", "dimensions": {"host": "h1"}}], "series_index": [0, 0],
            "timestamp": [now - 2000, now - 1000], "value": [1.0, 2.0]}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def summary(**overrides) -> dict:
    base = dict(value=..., count=[1, 2], sum=[1.0, 3.0], min=[1.0, 1.0], max=[1.0, 2.0], last=[1.0, 2.0])
    base.update(overrides)
    return native(**base)


def post_native(server: ServerProcess, body=None, raw: bytes | None = None, headers=JSON) -> httpx.Response:
    if raw is None:
        raw = msgspec.msgpack.encode(body) if headers.get("Content-Type") == "application/msgpack" \
            else json.dumps(body).encode()
    return send(server, "POST", "/v1/points", content=raw, headers=headers)


def native_points(server: ServerProcess, name: str = "nat.bad") -> list:
    return measurements(server, name)


def test_native_valid_baseline(shared_server):
    now = now_ms()
    response = post_native(shared_server, native(series=[{"name": "nat.ok"}], timestamp=[now - 3000, now - 2000]))
    assert response.status_code == 200 and response.json() == {"accepted": 2}, response.text


@pytest.mark.parametrize("body,status,mentions", [
    (native(series=...), 422, ["series"]),
    (native(series_index=...), 422, ["series_index"]),
    (native(timestamp=...), 422, ["timestamp"]),
    (native(series="x"), 422, ["series"]),
    (native(series=[{"dimensions": {}}]), 422, ["name"]),
    (native(series=[{"name": ""}]), 422, ["series[0].name"]),
    (native(series=[{"name": "a" * 256}]), 422, ["series[0].name"]),
    (native(series=[{"name": "a b"}]), 422, ["series[0].name"]),
    (native(series=[{"name": "a{b"}]), 422, ["series[0].name"]),
    (native(series=[{"name": 5}]), 422, ["series[0]", "name"]),
    (native(series=[{"name": "nat.bad", "dimensions": {"_k": "v"}}]), 422, ["series[0].dimensions"]),
    (native(series=[{"name": "nat.bad", "dimensions": {"": "v"}}]), 422, ["series[0].dimensions"]),
    (native(series=[{"name": "nat.bad", "dimensions": {"k": ""}}]), 422, ["series[0].dimensions"]),
    (native(series=[{"name": "nat.bad", "dimensions": {"k": "a=b"}}]), 422, ["series[0].dimensions"]),
    (native(series=[{"name": "nat.bad", "dimensions": {"k": "v" * 256}}]), 422, ["series[0].dimensions"]),
    (native(series=[{"name": "nat.bad", "dimensions": {"k": 1}}]), 422, ["series[0]", "dimensions"]),
    (native(series=[{"name": "nat.bad", "dimensions": ["k"]}]), 422, ["series[0]", "dimensions"]),
    (native(series=[{"name": "nat.bad", "unit": "ms"}]), 422, ["series[0]", "unit"]),
    (native(unknown_column=[1, 2]), 422, ["unknown_column"]),
    (native(series_index=[0]), 422, ["timestamp"]),
    (native(value=[1.0]), 422, ["value"]),
    (native(value=[1.0, 2.0, 3.0]), 422, ["value"]),
    (native(series_index=[0, 1]), 422, ["series_index[1]"]),
    (native(series_index=[0, -1]), 422, ["series_index"]),
    (native(series_index=[0, 2**32]), 422, ["series_index"]),
    (native(series_index=[0, 0.5]), 422, ["series_index"]),
    (native(series_index=["0", 0]), 422, ["series_index"]),
    (native(series_index=0), 422, ["series_index"]),
    (native(timestamp=["x", 1]), 422, ["timestamp"]),
    (native(timestamp=[1.5, 2.5]), 422, ["timestamp"]),
    (native(timestamp=[2**63, 1]), 422, ["timestamp"]),
    (native(timestamp=[now_ms(), 1]), 422, ["timestamp[1]", "older"]),
    (native(timestamp=[now_ms(), now_ms() - DAY_MS - 60_000]), 422, ["timestamp[1]", "older"]),
    (native(timestamp=[now_ms(), now_ms() + 3_600_000]), 422, ["timestamp[1]", "future"]),
    (native(value=["1", 2.0]), 422, ["value"]),
    (native(value=[None, 2.0]), 422, ["value"]),
    (native(value="!!! not base64 !!!"), 422, ["value"]),
    (native(value=base64.b64encode(b"\0" * 12).decode()), 422, ["value", "8"]),
    (native(value=[1.0, 2.0], count=[1, 1]), 422, ["value"]),
    (native(value=...), 422, ["count"]),
    (summary(count=...), 422, ["count"]),
    (summary(sum=...), 422, ["sum"]),
    (summary(min=...), 422, ["min"]),
    (summary(max=...), 422, ["max"]),
    (summary(last=...), 422, ["last"]),
    (summary(count=[1, 0]), 422, ["count[1]"]),
    (summary(count=[1, -1]), 422, ["count"]),
    (summary(count=[1, 2**32]), 422, ["count"]),
    (summary(count=[1, 1.5]), 422, ["count"]),
    (summary(count=[1]), 422, ["count"]),
    (summary(sum=[1.0]), 422, ["sum"]),
    (summary(min=[1.0, 3.0]), 422, ["min[1]", "max"]),
    (summary(last=[1.0, 5.0]), 422, ["last[1]"]),
    (summary(last=[1.0, 0.5]), 422, ["last[1]"]),
    (native(tenant_id=5), 422, ["tenant_id"]),
    ({"series": [], "series_index": [0], "timestamp": [now_ms()], "value": [1.0]}, 422, ["series_index[0]"]),
], ids=lambda v: None)
def test_native_bad_field_is_named(shared_server, body, status, mentions):
    body_json = json.loads(json.dumps(body))
    before = native_points(shared_server)
    assert_error(post_native(shared_server, body_json), status, *mentions)
    # The same body as msgpack is refused too (base64 text is not a bin column there, hence only the field).
    assert_error(post_native(shared_server, body_json, headers=MSGPACK), status, mentions[0].split("[")[0])
    assert native_points(shared_server) == before


def _binary(**columns) -> bytes:
    now = now_ms()
    body = {"series": [{"name": "nat.bad"}],
            "series_index": np.array([0, 0], "<u4").tobytes(),
            "timestamp": np.array([now - 2000, now - 1000], "<i8").tobytes(),
            "value": np.array([1.0, 2.0], "<f8").tobytes()}
    body.update(columns)
    return msgspec.msgpack.encode({k: v for k, v in body.items() if v is not ...})


@pytest.mark.parametrize("columns,mentions", [
    ({"series_index": b"\0" * 5}, ["series_index", "4"]),
    ({"series_index": b"\0" * 12}, ["timestamp"]),  # 3 indexes, 2 timestamps
    ({"series_index": np.array([0, 7], "<u4").tobytes()}, ["series_index[1]"]),
    ({"timestamp": b"\0" * 12}, ["timestamp", "8"]),
    ({"timestamp": np.array([now_ms()], "<i8").tobytes()}, ["timestamp"]),
    ({"timestamp": np.array([now_ms(), 0], "<i8").tobytes()}, ["timestamp[1]"]),
    ({"timestamp": np.array([now_ms(), now_ms() - 1000], ">i8").tobytes()}, ["timestamp[0]"]),  # big-endian
    ({"value": b"\0" * 12}, ["value", "8"]),
    ({"value": np.array([1.0], "<f8").tobytes()}, ["value"]),
    ({"value": np.array([1.0, np.nan], "<f8").tobytes()}, ["value[1]", "finite"]),
    ({"value": np.array([np.inf, 1.0], "<f8").tobytes()}, ["value[0]", "finite"]),
    ({"value": np.array([1.0, -np.inf], "<f8").tobytes()}, ["value[1]", "finite"]),
    ({"value": [1.0, float("nan")]}, ["value[1]", "finite"]),
    ({"value": ..., "count": np.array([1, 1], "<u4").tobytes(), "sum": np.array([1.0, np.nan]).tobytes(),
      "min": np.array([1.0, 1.0]).tobytes(), "max": np.array([1.0, 1.0]).tobytes(),
      "last": np.array([1.0, 1.0]).tobytes()}, ["sum[1]", "finite"]),
    ({"value": ..., "count": np.array([1, 0], "<u4").tobytes(), "sum": np.array([1.0, 1.0]).tobytes(),
      "min": np.array([1.0, 1.0]).tobytes(), "max": np.array([1.0, 1.0]).tobytes(),
      "last": np.array([1.0, 1.0]).tobytes()}, ["count[1]"]),
    ({"value": ..., "count": b"\1\0\0\0\1\0", "sum": np.array([1.0, 1.0]).tobytes(),
      "min": np.array([1.0, 1.0]).tobytes(), "max": np.array([1.0, 1.0]).tobytes(),
      "last": np.array([1.0, 1.0]).tobytes()}, ["count", "4"]),
    ({"value": ..., "count": np.array([1, 1], "<u4").tobytes(), "sum": np.array([1.0, 1.0]).tobytes(),
      "min": np.array([1.0, 2.0]).tobytes(), "max": np.array([1.0, 1.0]).tobytes(),
      "last": np.array([1.0, 1.0]).tobytes()}, ["min[1]"]),
    ({"value": ..., "count": np.array([1, 1], "<u4").tobytes(), "sum": np.array([1.0, 1.0]).tobytes(),
      "min": np.array([1.0, 1.0]).tobytes(), "max": np.array([1.0, 1.0]).tobytes(),
      "last": np.array([1.0, np.nan]).tobytes()}, ["last[1]"]),
], ids=["idx-width", "idx-len", "idx-range", "ts-width", "ts-len", "ts-old", "ts-bigendian", "value-width",
        "value-len", "value-nan", "value-inf", "value-neginf", "value-nan-list", "sum-nan", "count-0",
        "count-width", "min-gt-max", "last-nan"])
def test_native_bad_binary_column_is_named(shared_server, columns, mentions):
    before = native_points(shared_server)
    assert_error(post_native(shared_server, raw=_binary(**columns), headers=MSGPACK), 422, *mentions)
    assert native_points(shared_server) == before


@pytest.mark.parametrize("raw,headers,status", [
    (b"", JSON, 400),
    (b"{", JSON, 400),
    (b"[1,2]", JSON, 422),
    (b'{"series":[],"series_index":[],"timestamp":[],"value":[]', JSON, 400),
    (b'{"series":[{"name":"nat.bad.\xff"}],"series_index":[],"timestamp":[],"value":[]}', JSON, 400),
    (b"\xc1", MSGPACK, 400),
    (msgspec.msgpack.encode([1, 2]), MSGPACK, 422),
    (b'{"series":[]}', {"Content-Type": "text/plain"}, 415),
    (b'{"series":[]}', {"Content-Type": "application/xml"}, 415),
], ids=["empty", "truncated", "array", "unterminated", "non-utf8", "bad-msgpack", "msgpack-array", "text", "xml"])
def test_native_malformed_bodies(shared_server, raw, headers, status):
    response = post_native(shared_server, raw=raw, headers=headers)
    if b"\xff" in raw and response.status_code == 422:
        status = 422  # invalid UTF-8 inside a series object: 422 naming it is fine too (never 500)
    assert_error(response, status)


def test_native_unsupported_content_encoding_is_415(shared_server):
    raw = json.dumps(native(series=[{"name": "nat.encoding"}])).encode()
    for encoding in ("br", "compress", "lz4", "bogus"):
        assert_error(post_native(shared_server, raw=raw, headers={**JSON, "Content-Encoding": encoding}), 415,
                     encoding)
    assert native_points(shared_server, "nat.encoding") == []


def _corrupt_bodies(name: str = "nat.corrupt") -> dict[str, tuple[bytes, str]]:
    raw = json.dumps(native(series=[{"name": name}])).encode()
    compressed_gzip = gzip.compress(raw)
    flipped = bytearray(compressed_gzip)
    flipped[-8] ^= 0xFF  # CRC32 of the gzip trailer
    compressed_zstd = bytes(cramjam.zstd.compress(raw))
    return {
        "gzip-garbage": (b"\x1f\x8b not gzip at all", "gzip"),
        "gzip-plain-text": (raw, "gzip"),
        "gzip-bad-crc": (bytes(flipped), "gzip"),
        # The whole deflate stream is there but the CRC32/ISIZE trailer is not: unverifiable, so corrupt.
        "gzip-truncated-trailer": (compressed_gzip[:-8], "gzip"),
        "gzip-truncated-half": (compressed_gzip[: len(compressed_gzip) // 2], "gzip"),
        "deflate-garbage": (b"\x78\x9c garbage", "deflate"),
        "zstd-garbage": (b"\x28\xb5\x2f\xfd garbage", "zstd"),
        "zstd-plain-text": (raw, "zstd"),
        "zstd-truncated": (compressed_zstd[:-5], "zstd"),
    }


@pytest.mark.parametrize("label", list(_corrupt_bodies()))
def test_native_corrupt_compressed_body_is_400(shared_server, label):
    name = f"nat.corrupt.{label}"
    body, encoding = _corrupt_bodies(name)[label]
    assert_error(post_native(shared_server, raw=body, headers={**JSON, "Content-Encoding": encoding}), 400)
    assert native_points(shared_server, name) == []


# ---------------------------------------------------------------------------------------------
# Limits: body size and decompression bombs (a server with small limits)


def test_oversized_bodies_are_413(limited_server):
    big_native = json.dumps(native(series=[{"name": "lim.big"}])).encode()
    big_native += b" " * (SMALL_BODY + 1 - len(big_native))
    assert_error(post_native(limited_server, raw=big_native), 413, str(SMALL_BODY))
    big_monasca = json.dumps([metric(name="lim.big", timestamp=now_ms() - 1000 - i) for i in range(800)]).encode()
    assert SMALL_BODY < len(big_monasca) < 2 * SMALL_BODY
    assert_error(post_metrics(limited_server, None, raw=big_monasca), 413, str(SMALL_BODY))

    def chunks():  # no Content-Length: the limit holds while streaming
        for _ in range(SMALL_BODY // 4096 + 4):
            yield b" " * 4096

    assert_error(send(limited_server, "POST", "/v1/points", content=chunks(), headers=JSON), 413)
    assert_error(send(limited_server, "POST", "/v2.0/metrics", content=chunks(), headers=JSON), 413)
    assert "lim.big" not in stored_names(limited_server)
    # Just under the limit is fine.
    fits = json.dumps(native(series=[{"name": "lim.fits"}])).encode()
    fits += b" " * (SMALL_BODY - len(fits))
    assert post_native(limited_server, raw=fits).status_code == 200


def _zstd_stream(data: bytes) -> bytes:
    """A zstd frame without Frame_Content_Size (as streaming compressors write it)."""
    compressor = cramjam.zstd.Compressor()
    compressor.compress(data)
    return bytes(compressor.finish())


@pytest.mark.parametrize("label", ["gzip", "deflate", "zstd-sized", "zstd-streamed", "zstd-multiframe",
                                   "gzip-multimember"])
def test_decompression_bombs_are_413(limited_server, label):
    bomb = b" " * (SMALL_INFLATED * 3)
    tiny = json.dumps(native(series=[{"name": "lim.bomb"}])).encode()
    bodies = {
        "gzip": (gzip.compress(bomb), "gzip"),
        "deflate": (zlib.compress(bomb), "deflate"),
        "zstd-sized": (bytes(cramjam.zstd.compress(bomb)), "zstd"),
        # No size in the frame header: the server must still stop at its limit (413), not fail as corrupt.
        "zstd-streamed": (_zstd_stream(bomb), "zstd"),
        # A small first frame declares a small size; the second frame inflates past the limit.
        "zstd-multiframe": (bytes(cramjam.zstd.compress(tiny)) + bytes(cramjam.zstd.compress(bomb)), "zstd"),
        "gzip-multimember": (gzip.compress(tiny) + gzip.compress(bomb), "gzip"),
    }
    body, encoding = bodies[label]
    assert len(body) < SMALL_BODY, len(body)
    response = post_native(limited_server, raw=body, headers={**JSON, "Content-Encoding": encoding})
    if label == "gzip-multimember" and response.status_code == 400:
        return  # refusing trailing members as corrupt is acceptable too
    assert_error(response, 413, "decompressed")
    assert "lim.bomb" not in stored_names(limited_server)


def test_compressed_body_within_limits_is_accepted(limited_server):
    raw = json.dumps(native(series=[{"name": "lim.compressed"}])).encode()
    for encoding, body in (("gzip", gzip.compress(raw)), ("zstd", bytes(cramjam.zstd.compress(raw))),
                           ("zstd", _zstd_stream(raw)), ("deflate", zlib.compress(raw))):
        response = post_native(limited_server, raw=body, headers={**JSON, "Content-Encoding": encoding})
        assert response.status_code == 200, (encoding, response.text)


def test_no_unexpected_errors_in_server_log(shared_server, limited_server):
    """Run last in this module: no request above made the server log an unexpected error."""
    for process in (shared_server, limited_server):
        log = Path(process.log_path).read_text(errors="replace")
        assert "unexpected error" not in log and "Traceback" not in log, log[-4000:]
