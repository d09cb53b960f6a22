"""Prometheus remote write 1.0 and 2.0 request bodies to a columnar batch.

Content types and encoding as the specifications say: ``application/x-protobuf`` (or
``proto=prometheus.WriteRequest``) is 1.0, ``proto=io.prometheus.write.v2.Request`` is 2.0, any
other message or media type is 415; the body is snappy's block format (an absent
Content-Encoding is taken as snappy, as Prometheus's own receiver does), anything else is 415.

Decoding 1.0 costs per series, never per label: protobuf's C parser splits the request into
its series as raw bytes (``frames.proto``); Prometheus sends one sample per series entry, and
a series whose bytes end in one canonically encoded sample (``0x12 len 0x09 <float64> 0x10
<6-byte varint>``, or the value-less form for 0.0) has its value and timestamp read for all
series at once with NumPy over the joined buffer, while the bytes before the sample — its
labels as sent — key the series cache: a known series costs one slice and one dict lookup. A
cache entry is only made for bytes verified to be exactly a label list (so a cache hit proves
the layout); anything else (several samples per entry, exemplars, other encoders' layouts)
takes the general path through the generated ``TimeSeries`` message, with the same keys.
2.0 requests resolve their labels through the request's symbol table series by series.

What is stored (docs/prometheus.md): samples within the accepted time window; NaN values,
among them Prometheus's stale markers, are accepted and not stored (the store keeps numbers);
samples outside the window are dropped without failing the request, because a 4xx makes
Prometheus drop the whole batch and a 5xx makes it resend a batch that can never succeed;
native histograms are refused (classic histograms arrive as their ``_bucket``, ``_sum`` and
``_count`` series) and exemplars are not kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cramjam
import numpy as np
from google.protobuf.message import DecodeError

from nephoscope.errors import Rejected
from nephoscope.metrics.ingest.promlabels import SeriesOwner, bad_request, series_from_labels
from nephoscope.metrics.ingest.proto import frames_pb2, prometheus_v1_pb2, prometheus_v2_pb2
from nephoscope.metrics.ingest.seriescache import SeriesCache
from nephoscope.metrics.ingest.timewindow import TimeWindow
from nephoscope.metrics.metadata import FamilyMetadata
from nephoscope.metrics.series import IngestBatch, NewSeries, PointBatch, SeriesDefinition, ValueMeta

V1 = "prometheus.WriteRequest"
V2 = "io.prometheus.write.v2.Request"
MEDIA_TYPE = "application/x-protobuf"

_V1_TYPES = {0: "unknown", 1: "counter", 2: "gauge", 3: "histogram", 4: "gaugehistogram", 5: "summary",
             6: "info", 7: "stateset"}
_V2_TYPES = _V1_TYPES  # the 2.0 enum has the same numbers (0 is METRIC_TYPE_UNSPECIFIED)
_FAMILY_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count", "_created"),
                    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
                    "summary": ("_sum", "_count", "_created")}

# The last sample of a series entry, canonically encoded: tag 2 + length, then the value
# (tag 1, fixed64; omitted when 0.0) and the timestamp (tag 2, a 6-byte varint: 1971 to 2109).
_WITH_VALUE = 18
_ZERO_VALUE = 9


@dataclass(slots=True)
class RemoteWrite:
    """A decoded request: the batch to make durable and what to answer about it."""

    batch: IngestBatch
    samples: int = 0  # float samples received
    written: int = 0  # ... accepted: stored, or NaN / stale markers (accepted, not stored)
    not_stored_nan: int = 0
    too_old: int = 0
    too_new: int = 0
    histograms: int = 0  # native histogram samples received (refused)
    exemplars: int = 0  # received (not kept)
    metadata: list[FamilyMetadata] = field(default_factory=list)


def negotiate(content_type: str | None) -> str:
    """The message a body holds, from its Content-Type; 415 for a type or message not spoken here."""
    if not content_type:
        return V1  # Prometheus's receiver takes an absent type for 1.0
    media, _, parameters = content_type.partition(";")
    if media.strip().lower() != MEDIA_TYPE:
        raise Rejected(415, f"Content-Type {content_type!r} is not supported: remote write sends "
                            f"{MEDIA_TYPE} (1.0) or {MEDIA_TYPE};proto={V2} (2.0)")
    proto = V1
    for parameter in parameters.split(";"):
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "proto":
            proto = value.strip().strip('"')
    if proto not in (V1, V2):
        raise Rejected(415, f"proto={proto!r} is not supported: this receiver speaks {V1} (1.0) and {V2} (2.0)")
    return proto


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The snappy block-compressed body, uncompressed within ``limit`` bytes."""
    encoding = (encoding or "snappy").strip().lower()
    if encoding != "snappy":
        raise Rejected(415, f"Content-Encoding {encoding!r} is not supported: remote write bodies are snappy")
    try:
        size = cramjam.snappy.decompress_raw_len(body)
        if size > limit:
            raise Rejected(413, f"the body uncompresses to {size} bytes; the limit is {limit}")
        return bytes(cramjam.snappy.decompress_raw(body))
    except cramjam.DecompressionError as error:
        raise Rejected(400, f"the body is not snappy block-compressed data: {error}") from None


def _parse(message_type: type, data: bytes, what: str):  # noqa: ANN202 - a generated message
    try:
        return message_type.FromString(data)
    except DecodeError:
        raise Rejected(400, f"the body is not a valid {what}: its protobuf wire format does not parse "
                            "(or a string is not UTF-8)") from None


def _family(name: str, kind: str) -> str:
    for suffix in _FAMILY_SUFFIXES.get(kind, ()):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def canonical_tails(series: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each series entry: how many bytes its trailing canonical sample takes (0: none), and that
    sample's timestamp and value — for every entry at once, over the joined bytes."""
    count = len(series)
    cuts = np.zeros(count, np.int64)
    if not count:
        return cuts, np.zeros(0, np.int64), np.zeros(0, np.float64)
    lengths = np.fromiter(map(len, series), np.int64, count)
    joined = np.frombuffer(b"".join(series), np.uint8)
    if not joined.size:
        return cuts, np.zeros(count, np.int64), np.zeros(count, np.float64)
    ends = np.cumsum(lengths)

    def byte(back: int) -> np.ndarray:
        """The byte ``back`` positions before each entry's end (entries shorter than that: their first)."""
        return joined[np.where(lengths >= back, ends - back, ends - lengths)]

    varint = [byte(back).astype(np.int64) for back in range(6, 0, -1)]
    six_bytes = (varint[0] >= 0x80) & (varint[1] >= 0x80) & (varint[2] >= 0x80) & (varint[3] >= 0x80) \
        & (varint[4] >= 0x80) & (varint[5] < 0x80) & (byte(7) == 0x10)
    with_value = six_bytes & (lengths >= _WITH_VALUE) & (byte(18) == 0x12) & (byte(17) == 0x10) & (byte(16) == 0x09)
    zero_value = six_bytes & ~with_value & (lengths >= _ZERO_VALUE) & (byte(9) == 0x12) & (byte(8) == 0x07)
    timestamps = np.zeros(count, np.int64)
    for position, column in enumerate(varint):
        timestamps |= (column & 0x7F) << (7 * position)
    values = np.zeros(count, np.float64)
    rows = np.flatnonzero(with_value)
    if rows.size:
        starts = ends[rows] - 15
        values[rows] = joined[starts[:, None] + np.arange(8)].copy().view("<f8").ravel()
    cuts[with_value] = _WITH_VALUE
    cuts[zero_value] = _ZERO_VALUE
    return cuts, timestamps, values


class RemoteWriteDecoder:
    """Decodes remote write bodies for one store; keeps its entries in the shared series cache."""

    def __init__(self, new_series: NewSeries, cache: SeriesCache) -> None:
        self.new_series = new_series
        self.cache = cache

    def decode(self, data: bytes, proto: str, owner: SeriesOwner, window: TimeWindow) -> RemoteWrite:
        """``data`` is the uncompressed body holding a ``proto`` message (see ``negotiate``)."""
        if proto == V2:
            return self._decode_v2(data, owner, window)
        return self._decode_v1(data, owner, window)

    # -- 1.0 ------------------------------------------------------------------------------------
    def _decode_v1(self, data: bytes, owner: SeriesOwner, window: TimeWindow) -> RemoteWrite:
        request = _parse(frames_pb2.WriteRequestFrames, data, V1)
        series = list(request.timeseries)
        metadata = [FamilyMetadata(m.metric_family_name, _V1_TYPES.get(m.type, "unknown"), m.help, m.unit)
                    for m in request.metadata if m.metric_family_name]
        cuts, tail_timestamps, tail_values = canonical_tails(series)
        scope = owner.cache_scope("prw1")
        fast = np.flatnonzero(cuts)
        if fast.size == len(series):
            keys = [entry[:-cut] for entry, cut in zip(series, cuts.tolist())]
        else:
            keys = [series[i][:-cut] for i, cut in zip(fast.tolist(), cuts[fast].tolist())]
        ids = self.cache.lookup(scope, keys)
        defined: dict[bytes, SeriesDefinition] = {}
        slow = np.flatnonzero(cuts == 0).tolist()
        if None in ids:
            for position, identifier in enumerate(ids):
                if identifier is not None:
                    continue
                key = keys[position]
                definition = defined.get(key) or self._define_prefix(key, owner, int(fast[position]))
                if definition is None:  # not exactly a label list: the general path reads this entry
                    slow.append(int(fast[position]))
                    ids[position] = -1
                    continue
                defined[key] = definition
                ids[position] = definition.id
        fast_ids = np.array(ids, np.int64)
        keep = fast_ids != -1
        parts_ids, parts_timestamps, parts_values = [fast_ids[keep]], [tail_timestamps[fast][keep]], \
            [tail_values[fast][keep]]
        histograms = exemplars = 0
        if slow:
            slow_ids, slow_timestamps, slow_values = [], [], []
            for index in slow:
                entry = _parse(prometheus_v1_pb2.TimeSeries, series[index], f"{V1}: timeseries[{index}]")
                key = prometheus_v1_pb2.TimeSeries(labels=entry.labels).SerializeToString()
                identifier = self._identify(scope, key, defined, lambda: series_from_labels(
                    ((label.name, label.value) for label in entry.labels), owner, f"timeseries[{index}]"))
                for sample in entry.samples:
                    slow_ids.append(identifier)
                    slow_timestamps.append(sample.timestamp)
                    slow_values.append(sample.value)
                histograms += len(entry.histograms)
                exemplars += len(entry.exemplars)
            parts_ids.append(np.array(slow_ids, np.int64))
            parts_timestamps.append(np.array(slow_timestamps, np.int64))
            parts_values.append(np.array(slow_values, np.float64))
        result = self._admit(scope, defined, np.concatenate(parts_ids), np.concatenate(parts_timestamps),
                             np.concatenate(parts_values), window)
        result.histograms, result.exemplars, result.metadata = histograms, exemplars, metadata
        return result

    def _define_prefix(self, key: bytes, owner: SeriesOwner, index: int) -> SeriesDefinition | None:
        """The series a fast-path key names, or None when the bytes are not exactly a label list."""
        entry = _parse(prometheus_v1_pb2.TimeSeries, key, f"{V1}: timeseries[{index}]")
        if entry.samples or entry.exemplars or entry.histograms:
            return None
        if prometheus_v1_pb2.TimeSeries(labels=entry.labels).SerializeToString() != key:
            return None  # unknown fields or a non-canonical encoding: the general path keys it
        return series_from_labels(((label.name, label.value) for label in entry.labels), owner,
                                  f"timeseries[{index}]")

    def _identify(self, scope: str, key, defined: dict, define) -> int:  # noqa: ANN001 - key: bytes or tuple
        (identifier,) = self.cache.lookup(scope, [key])
        if identifier is not None:
            return identifier
        definition = defined.get(key)
        if definition is None:
            definition = defined[key] = define()
        return definition.id

    # -- 2.0 ------------------------------------------------------------------------------------
    def _decode_v2(self, data: bytes, owner: SeriesOwner, window: TimeWindow) -> RemoteWrite:
        request = _parse(prometheus_v2_pb2.Request, data, V2)
        symbols = list(request.symbols)
        entries = request.timeseries
        keys = [self._resolve_refs(entry.labels_refs, symbols, f"timeseries[{index}].labels_refs")
                for index, entry in enumerate(entries)]
        scope = owner.cache_scope("prw2")
        ids, defined = self.cache.resolve(scope, keys, lambda index, key: series_from_labels(
            zip(key[0::2], key[1::2]), owner, f"timeseries[{index}]"))
        counts = np.fromiter((len(entry.samples) for entry in entries), np.int64, len(entries))
        timestamps = np.fromiter((sample.timestamp for entry in entries for sample in entry.samples), np.int64,
                                 int(counts.sum()))
        values = np.fromiter((sample.value for entry in entries for sample in entry.samples), np.float64,
                             int(counts.sum()))
        metadata: dict[str, FamilyMetadata] = {}
        for index, entry in enumerate(entries):
            if entry.metadata.type:
                kind = _V2_TYPES.get(entry.metadata.type, "unknown")
                help_text, unit = self._resolve_refs([entry.metadata.help_ref, entry.metadata.unit_ref], symbols,
                                                     f"timeseries[{index}].metadata")
                name = dict(zip(keys[index][0::2], keys[index][1::2])).get("__name__", "")
                if name:
                    family = _family(name, kind)
                    metadata[family] = FamilyMetadata(family, kind, help_text, unit)
        result = self._admit(scope, defined, np.repeat(np.array(ids, np.int64), counts), timestamps, values, window)
        result.histograms = sum(len(entry.histograms) for entry in entries)
        result.exemplars = sum(len(entry.exemplars) for entry in entries)
        result.metadata = list(metadata.values())
        return result

    @staticmethod
    def _resolve_refs(refs, symbols: list[str], where: str) -> tuple[str, ...]:  # noqa: ANN001 - repeated uint32
        try:
            resolved = tuple(map(symbols.__getitem__, refs))
        except IndexError:
            raise bad_request(where, f"a reference points past the {len(symbols)} symbols of the request") from None
        if where.endswith("labels_refs") and len(resolved) % 2:
            raise bad_request(where, "holds an odd number of references (name and value pairs expected)")
        return resolved

    # -- both -----------------------------------------------------------------------------------
    def _admit(self, scope: str, defined: dict, series: np.ndarray, timestamps: np.ndarray, values: np.ndarray,
               window: TimeWindow) -> RemoteWrite:
        """Keep the samples to store: numbers (NaN is accepted, not stored) within the time window."""
        samples = int(series.size)
        nan = np.isnan(values)
        too_old = timestamps < window.oldest_ms
        too_new = timestamps > window.newest_ms
        keep = ~(nan | too_old | too_new)
        dropped = not keep.all()
        if dropped:
            series, timestamps, values = series[keep], timestamps[keep], values[keep]
        learned = defined
        if defined:  # only series with a point stored are defined (exemplar-only entries, dropped samples)
            stored = np.isin(np.fromiter((d.id for d in defined.values()), np.int64, len(defined)), series)
            learned = {key: definition for (key, definition), kept in zip(defined.items(), stored.tolist()) if kept}
        definitions = self.new_series(list({d.id: d for d in learned.values()}.values()))
        batch = IngestBatch(definitions, PointBatch(series, timestamps, value=values), ValueMeta(), scope, learned)
        old, new = int(np.count_nonzero(too_old)), int(np.count_nonzero(too_new))
        return RemoteWrite(batch, samples=samples, written=samples - old - new,
                           not_stored_nan=int(np.count_nonzero(nan & ~too_old & ~too_new)), too_old=old, too_new=new)
