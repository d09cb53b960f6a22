"""Remote write bodies built with the generated messages of the specification's schema, as any
sender's protobuf library puts them on the wire, and posted as Prometheus posts them."""

from __future__ import annotations

from collections.abc import Iterable

import cramjam
import httpx

from nephoscope.metrics.ingest.proto import prometheus_v1_pb2 as v1
from nephoscope.metrics.ingest.proto import prometheus_v2_pb2 as v2

V1_HEADERS = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
              "X-Prometheus-Remote-Write-Version": "0.1.0"}
V2_HEADERS = {"Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request",
              "Content-Encoding": "snappy", "X-Prometheus-Remote-Write-Version": "2.0.0"}

Entry = tuple[dict[str, str], list[tuple[float, int]]]
"""A series entry: its labels (``__name__`` included) and its (value, timestamp ms) samples."""


def v1_body(entries: Iterable[Entry], exemplars: Iterable[int] = ()) -> bytes:
    """A ``prometheus.WriteRequest`` (labels sorted, as Prometheus sends them); ``exemplars``: how
    many exemplars each entry carries."""
    request = v1.WriteRequest()
    counts = list(exemplars)
    for index, (labels, samples) in enumerate(entries):
        entry = request.timeseries.add()
        for key, value in sorted(labels.items()):
            entry.labels.add(name=key, value=value)
        for value, timestamp in samples:
            entry.samples.add(value=value, timestamp=timestamp)
        for _ in range(counts[index] if index < len(counts) else 0):
            entry.exemplars.add(value=1.0, timestamp=samples[0][1] if samples else 0)
    return request.SerializeToString()


def v2_body(entries: Iterable[Entry], exemplars: Iterable[int] = (), metadata: dict[str, tuple[int, str]] = {}) -> bytes:  # noqa: B006
    """An ``io.prometheus.write.v2.Request`` with its symbol table (``metadata``: __name__ -> (type, help))."""
    symbols: dict[str, int] = {"": 0}
    request = v2.Request()
    counts = list(exemplars)
    for index, (labels, samples) in enumerate(entries):
        entry = request.timeseries.add()
        for key, value in sorted(labels.items()):
            entry.labels_refs.extend([symbols.setdefault(key, len(symbols)), symbols.setdefault(value, len(symbols))])
        for value, timestamp in samples:
            entry.samples.add(value=value, timestamp=timestamp)
        for _ in range(counts[index] if index < len(counts) else 0):
            entry.exemplars.add(value=1.0, timestamp=samples[0][1] if samples else 0)
        if labels.get("__name__") in metadata:
            kind, help_text = metadata[labels["__name__"]]
            entry.metadata.type = kind
            entry.metadata.help_ref = symbols.setdefault(help_text, len(symbols))
    request.symbols.extend(symbols)
    return request.SerializeToString()


def snappy(body: bytes) -> bytes:
    return bytes(cramjam.snappy.compress_raw(body))


def post(client: httpx.Client, body: bytes, version: int = 1, **headers: str) -> httpx.Response:
    """POST an uncompressed body to ``/api/v1/write`` as a remote write sender of ``version`` does."""
    return client.post("/api/v1/write", content=snappy(body), headers={**(V1_HEADERS if version == 1 else V2_HEADERS),
                                                                       **headers})
