"""Remote write bodies to batches (``metrics.ingest.remote_write``), against the protobuf library.

Bodies are built with the generated messages of the specification's schema (what any sender's
protobuf library puts on the wire) and decoded; the expected points are read from the same bytes
by protobuf's own full parser and the series model. Properties cover arbitrary UTF-8 labels,
values (0.0, -0.0, NaN, stale markers, infinities), several samples per entry, exemplar-only
entries, the series cache across requests, delegates' project labels, and arbitrary bytes
(never anything but a batch or a 400).
"""

from __future__ import annotations

import math
import struct
import time

import cramjam
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nephoscope.errors import Rejected
from nephoscope.metrics.ingest.promlabels import SeriesOwner
from nephoscope.metrics.ingest.proto import prometheus_v1_pb2 as v1
from nephoscope.metrics.ingest.proto import prometheus_v2_pb2 as v2
from nephoscope.metrics.ingest.remote_write import V1, V2, RemoteWriteDecoder, decompress, negotiate
from nephoscope.metrics.ingest.seriescache import SeriesCache
from nephoscope.metrics.ingest.timewindow import TimeWindow
from nephoscope.metrics.series import define_series
from tests.support import remote_write

NOW = 1_800_000_000_000
WINDOW = TimeWindow(NOW - 86_400_000, NOW + 600_000)
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
OWNER = SeriesOwner("p-writer", False, "project")
DELEGATE = SeriesOwner("p-service", True, "project")

label_names = st.text(min_size=1, max_size=12).filter(lambda name: name != "__name__")
label_values = st.text(max_size=20)
values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, STALE_NAN, 1.0]))
timestamps = st.one_of(st.integers(WINDOW.oldest_ms, WINDOW.newest_ms),
                       st.integers(WINDOW.oldest_ms - 10**9, WINDOW.oldest_ms - 1),
                       st.integers(WINDOW.newest_ms + 1, WINDOW.newest_ms + 10**9))
series_labels = st.tuples(st.text(min_size=1, max_size=15),
                          st.dictionaries(label_names, label_values, max_size=5))
entries = st.lists(st.tuples(series_labels, st.lists(st.tuples(values, timestamps), max_size=3),
                             st.integers(0, 1)), max_size=12)


def v1_body(drawn: list) -> bytes:
    return remote_write.v1_body((({"__name__": name, **labels}, samples) for (name, labels), samples, _ in drawn),
                                [exemplars for _, _, exemplars in drawn])


def expected_points(body: bytes, owner: SeriesOwner) -> list[tuple]:
    """What the store must receive, read by protobuf's full parser and the documented model."""
    points = []
    for entry in v1.WriteRequest.FromString(body).timeseries:
        labels = {label.name: label.value for label in entry.labels}
        dimensions = {k: v for k, v in labels.items() if v and not k.startswith("__")}
        tenant = (dimensions.get(owner.project_label) if owner.delegate else None) or owner.project
        for sample in entry.samples:
            if math.isnan(sample.value) or not WINDOW.oldest_ms <= sample.timestamp <= WINDOW.newest_ms:
                continue
            points.append((tenant, labels["__name__"], tuple(sorted(dimensions.items())), sample.timestamp,
                           struct.pack("<d", sample.value)))
    return sorted(points)


def decoded_points(result) -> list[tuple]:  # noqa: ANN001 - RemoteWrite
    definitions = {d.id: d for d in result.batch.learned.values()}
    points = result.batch.points
    return sorted((definitions[s].tenant, definitions[s].name, tuple(sorted(definitions[s].dimensions.items())), t,
                   struct.pack("<d", v)) for s, t, v in zip(points.series.tolist(), points.timestamp.tolist(),
                                                            points.value.tolist()))


def decoder() -> tuple[RemoteWriteDecoder, SeriesCache]:
    cache = SeriesCache()
    return RemoteWriteDecoder(lambda definitions: list(definitions), cache), cache


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries, st.booleans())
def test_v1_bodies_decode_to_the_points_protobuf_reads(drawn: list, delegate: bool) -> None:
    owner = DELEGATE if delegate else OWNER
    body = v1_body(drawn)
    decode, cache = decoder()
    first = decode.decode(body, V1, owner, WINDOW)
    assert decoded_points(first) == expected_points(body, owner)
    assert first.samples == sum(len(samples) for _, samples, _ in drawn)
    assert first.exemplars == sum(exemplars for _, _, exemplars in drawn)
    outside = sum(1 for _, samples, _ in drawn for _, t in samples if not WINDOW.oldest_ms <= t <= WINDOW.newest_ms)
    assert first.written == first.samples - outside
    # Once durable, the series are known by their raw label bytes: the same request defines nothing
    # new and names the same series.
    cache.remember(first.batch.tenant, first.batch.learned)
    second = decode.decode(body, V1, owner, WINDOW)
    assert not second.batch.learned
    assert sorted(second.batch.points.series.tolist()) == sorted(first.batch.points.series.tolist())


@settings(max_examples=200, deadline=None)
@given(entries)
def test_v2_bodies_decode_to_the_same_points_as_v1(drawn: list) -> None:
    body = remote_write.v2_body((({"__name__": name, **labels}, samples) for (name, labels), samples, _ in drawn),
                                [exemplars for _, _, exemplars in drawn])
    decode, _ = decoder()
    result = decode.decode(body, V2, OWNER, WINDOW)
    assert decoded_points(result) == expected_points(v1_body(drawn), OWNER)
    assert result.exemplars == sum(exemplars for _, _, exemplars in drawn)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([V1, V2]))
def test_arbitrary_bytes_are_a_batch_or_a_400(data: bytes, proto: str) -> None:
    decode, _ = decoder()
    try:
        decode.decode(data, proto, OWNER, WINDOW)
    except Rejected as error:
        assert error.status == 400


@settings(max_examples=300, deadline=None)
@given(entries.filter(bool), st.data())
def test_corrupted_bodies_are_a_batch_or_a_400(drawn: list, data: st.DataObject) -> None:
    body = bytearray(v1_body(drawn))
    if not body:
        return
    for _ in range(data.draw(st.integers(1, 4))):
        body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
    decode, cache = decoder()
    try:
        result = decode.decode(bytes(body), V1, OWNER, WINDOW)
    except Rejected as error:
        assert error.status == 400
        return
    # Whatever a corrupted body decodes to, it is what protobuf's own parser reads in it.
    assert decoded_points(result) == expected_points(bytes(body), OWNER)


def test_the_canonical_fast_path_and_the_general_path_name_the_same_series() -> None:
    """An entry with one sample (Prometheus's layout) and one with several (other senders) share a key."""
    decode, cache = decoder()
    single = v1_body([(("up", {"job": "a"}), [(1.0, NOW)], 0)])
    several = v1_body([(("up", {"job": "a"}), [(2.0, NOW + 1), (3.0, NOW + 2)], 0)])
    first = decode.decode(single, V1, OWNER, WINDOW)
    cache.remember(first.batch.tenant, first.batch.learned)
    second = decode.decode(several, V1, OWNER, WINDOW)
    assert not second.batch.learned
    assert set(second.batch.points.series.tolist()) == set(first.batch.points.series.tolist())
    assert second.batch.points.value.tolist() == [2.0, 3.0]


def test_the_series_model() -> None:
    """__name__ is the name; empty values are absent; other __ labels are not stored; names verbatim."""
    body = v1_body([(("cpu.utilization_perc", {"hostname": "h1", "empty": "", "__meta_x": "y", "ä{=}": "v,;&"}),
                     [(5.0, NOW)], 0)])
    decode, _ = decoder()
    (definition,) = decode.decode(body, V1, OWNER, WINDOW).batch.learned.values()
    assert definition == define_series("p-writer", "cpu.utilization_perc", {"hostname": "h1", "ä{=}": "v,;&"})


def test_a_delegate_writes_into_the_project_its_label_names_and_keeps_the_label() -> None:
    body = v1_body([(("ceilometer_cpu", {"project": "p-42", "resource": "vm1"}), [(1.0, NOW)], 0),
                    (("ceilometer_cpu", {"resource": "vm2"}), [(1.0, NOW)], 0)])
    decode, _ = decoder()
    delegated = {d.dimensions["resource"]: d for d in decode.decode(body, V1, DELEGATE, WINDOW).batch.learned.values()}
    assert delegated["vm1"].tenant == "p-42" and delegated["vm1"].dimensions["project"] == "p-42"
    assert delegated["vm2"].tenant == "p-service"
    ordinary = decode.decode(body, V1, OWNER, WINDOW).batch.learned.values()
    assert {d.tenant for d in ordinary} == {"p-writer"}


@pytest.mark.parametrize("labels, reason", [
    ({"job": "x"}, "no __name__"),
    ({"__name__": ""}, "no __name__"),
])
def test_a_series_without_a_name_is_a_400_naming_it(labels: dict, reason: str) -> None:
    request = v1.WriteRequest()
    request.timeseries.add().samples.add(value=1, timestamp=NOW)
    entry = request.timeseries.add()
    for key, value in labels.items():
        entry.labels.add(name=key, value=value)
    entry.samples.add(value=1, timestamp=NOW)
    decode, _ = decoder()
    with pytest.raises(Rejected) as raised:
        decode.decode(request.SerializeToString(), V1, OWNER, WINDOW)
    assert raised.value.status == 400 and raised.value.field == "timeseries[0]" and reason in raised.value.message


def test_duplicate_label_names_and_bad_symbol_references_are_400() -> None:
    request = v1.WriteRequest()
    entry = request.timeseries.add()
    entry.labels.add(name="__name__", value="a")
    entry.labels.add(name="x", value="1")
    entry.labels.add(name="x", value="2")
    entry.samples.add(value=1, timestamp=NOW)
    decode, _ = decoder()
    with pytest.raises(Rejected, match="appears twice"):
        decode.decode(request.SerializeToString(), V1, OWNER, WINDOW)
    bad_refs = v2.Request(symbols=["", "__name__", "a"])
    bad_refs.timeseries.add(labels_refs=[1, 7]).samples.add(value=1, timestamp=NOW)
    with pytest.raises(Rejected, match="past the 3 symbols") as raised:
        decode.decode(bad_refs.SerializeToString(), V2, OWNER, WINDOW)
    assert raised.value.field == "timeseries[0].labels_refs"


def test_nan_and_stale_markers_are_written_not_stored_and_old_samples_dropped() -> None:
    body = v1_body([(("a", {}), [(STALE_NAN, NOW), (math.nan, NOW + 1), (1.5, NOW + 2)], 0),
                    (("b", {}), [(2.0, WINDOW.oldest_ms - 1)], 0), (("c", {}), [(3.0, WINDOW.newest_ms + 1)], 0)])
    decode, _ = decoder()
    result = decode.decode(body, V1, OWNER, WINDOW)
    assert (result.samples, result.written, result.not_stored_nan, result.too_old, result.too_new) == (5, 3, 2, 1, 1)
    assert result.batch.points.value.tolist() == [1.5]
    assert [d.name for d in result.batch.learned.values()] == ["a"]  # b and c stored nothing: not defined


def test_native_histograms_are_counted_and_metadata_read() -> None:
    request = v1.WriteRequest()
    entry = request.timeseries.add()
    entry.labels.add(name="__name__", value="h")
    entry.histograms.add(count_int=3, sum=1.5, schema=1, timestamp=NOW)
    request.metadata.add(type=v1.MetricMetadata.HISTOGRAM, metric_family_name="h", help="latency", unit="seconds")
    decode, _ = decoder()
    result = decode.decode(request.SerializeToString(), V1, OWNER, WINDOW)
    assert result.histograms == 1 and result.samples == 0
    assert [(m.family, m.type, m.help, m.unit) for m in result.metadata] == [("h", "histogram", "latency", "seconds")]
    request2 = v2.Request(symbols=["", "__name__", "rpc_duration_seconds_bucket", "le", "+Inf", "help"])
    entry2 = request2.timeseries.add(labels_refs=[1, 2, 3, 4])
    entry2.samples.add(value=4, timestamp=NOW)
    entry2.metadata.type = v2.Metadata.METRIC_TYPE_HISTOGRAM
    entry2.metadata.help_ref = 5
    result2 = decode.decode(request2.SerializeToString(), V2, OWNER, WINDOW)
    assert [(m.family, m.type, m.help) for m in result2.metadata] == [("rpc_duration_seconds", "histogram", "help")]


@pytest.mark.parametrize("content_type, proto", [
    (None, V1), ("application/x-protobuf", V1), ("Application/X-Protobuf; charset=utf-8", V1),
    (f"application/x-protobuf;proto={V1}", V1), (f"application/x-protobuf;proto={V2}", V2),
    (f'application/x-protobuf; proto="{V2}"', V2),
])
def test_content_negotiation(content_type: str | None, proto: str) -> None:
    assert negotiate(content_type) == proto


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "application/x-protobuf;proto=x.Y",
                                          "application/x-protobuf;proto=io.prometheus.write.v3.Request"])
def test_other_content_types_are_415(content_type: str) -> None:
    with pytest.raises(Rejected) as raised:
        negotiate(content_type)
    assert raised.value.status == 415


def test_decompression_limits_and_encodings() -> None:
    body = bytes(cramjam.snappy.compress_raw(b"\0" * 10_000))
    assert decompress(body, "snappy", 10_000) == b"\0" * 10_000
    assert decompress(body, None, 10_000) == b"\0" * 10_000  # absent: snappy, as Prometheus's receiver takes it
    for encoding, status in (("gzip", 415), ("zstd", 415)):
        with pytest.raises(Rejected) as raised:
            decompress(body, encoding, 10_000)
        assert raised.value.status == status
    with pytest.raises(Rejected) as raised:
        decompress(body, "snappy", 9_999)
    assert raised.value.status == 413
    with pytest.raises(Rejected) as raised:
        decompress(b"\x05garbage", "snappy", 100)
    assert raised.value.status == 400


def test_known_series_cost_no_protobuf_message_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """10,000 known series of 12 labels, one sample each (Prometheus's layout): no per-series message is
    parsed (values and timestamps are read with NumPy, the labels' bytes key the cache), and the whole
    request decodes in a few milliseconds of CPU."""
    decode, cache = decoder()
    now = int(time.time() * 1000)
    window = TimeWindow.around_now(86_400, 600)
    drawn = [((f"metric_{i % 50}", {f"label_{k}": f"value_{i}_{k}" for k in range(11)}), [(float(i), now)], 0)
             for i in range(10_000)]
    body = v1_body(drawn)
    first = decode.decode(body, V1, OWNER, window)
    cache.remember(first.batch.tenant, first.batch.learned)
    parsed = []
    real = v1.TimeSeries

    class Counting:
        @staticmethod
        def FromString(data: bytes):  # noqa: ANN205, N802 - protobuf's name
            parsed.append(len(data))
            return real.FromString(data)

    monkeypatch.setattr("nephoscope.metrics.ingest.remote_write.prometheus_v1_pb2.TimeSeries", Counting)
    started = time.process_time()
    result = decode.decode(body, V1, OWNER, window)
    elapsed = time.process_time() - started
    assert parsed == []
    assert np.array_equal(np.sort(result.batch.points.value), np.arange(10_000, dtype=float))
    assert elapsed < 0.1, f"{elapsed * 1e6 / 10_000:.2f} µs of CPU per series"


def test_series_are_defined_only_with_a_point_stored() -> None:
    """An exemplar-only entry or a series whose samples were all dropped defines nothing (the catalog
    lists series that hold points), while the entry's series is still counted and answered."""
    body = remote_write.v1_body([({"__name__": "only_exemplars"}, []), ({"__name__": "kept"}, [(1.0, NOW)])],
                                exemplars=[2, 0])
    decode, _ = decoder()
    result = decode.decode(body, V1, OWNER, WINDOW)
    assert [d.name for d in result.batch.learned.values()] == ["kept"]
    assert [d.name for d in result.batch.tenant_series] == ["kept"]
    assert result.exemplars == 2 and result.written == 1
