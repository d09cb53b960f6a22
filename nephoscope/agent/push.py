"""Encoding windows for the wire and sending them: native columnar summaries, or Monasca v2.0.

Native (``POST /v1/points``): one table of series and binary columns (count, sum, min, max,
last per window), msgpack, zstd-compressed — a few bytes per point. Monasca
(``POST /v2.0/metrics``): one measurement per window whose value is the window's average, with
count, min and max in ``value_meta``, so a legacy Monasca API still receives everything that
matters. Sending uses the standard library's HTTP client (the agent stays small) and tells the
caller whether to keep, retry or give up on a batch.
"""

from __future__ import annotations

import enum
import gzip
import http.client
import json
import sys
import urllib.parse
from array import array
from dataclasses import dataclass

import msgspec
import zstandard

from nephoscope.agent.aggregate import Summary
from nephoscope.agent.spool import EncodedBatch

_MSGPACK = msgspec.msgpack.Encoder()
_ZSTD = zstandard.ZstdCompressor(level=3)


def _little_endian(values: array) -> bytes:
    if sys.byteorder != "little":
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def encode_native(summaries: list[Summary], compression: str = "zstd", tenant_id: str = "") -> EncodedBatch:
    series: dict[tuple, int] = {}
    table, index = [], array("I")
    timestamps, counts = array("q"), array("I")
    sums, lows, highs, lasts = array("d"), array("d"), array("d"), array("d")
    for summary in summaries:
        key = (summary.name, tuple(sorted(summary.dimensions.items())))
        position = series.get(key)
        if position is None:
            position = series[key] = len(table)
            table.append({"name": summary.name, "dimensions": summary.dimensions})
        index.append(position)
        timestamps.append(summary.timestamp_ms)
        counts.append(summary.count)
        sums.append(summary.sum)
        lows.append(summary.min)
        highs.append(summary.max)
        lasts.append(summary.last)
    body: dict = {"series": [msgspec.Raw(_MSGPACK.encode(entry)) for entry in table],
                  "series_index": _little_endian(index), "timestamp": _little_endian(timestamps),
                  "count": _little_endian(counts), "sum": _little_endian(sums), "min": _little_endian(lows),
                  "max": _little_endian(highs), "last": _little_endian(lasts)}
    if tenant_id:
        body["tenant_id"] = tenant_id
    raw = _MSGPACK.encode(body)
    encoded, encoding = _compress(raw, compression)
    return EncodedBatch("/v1/points", "application/msgpack", encoding, encoded, len(summaries))


def encode_monasca(summaries: list[Summary], tenant_id: str = "") -> EncodedBatch:
    metrics = [{"name": s.name, "dimensions": s.dimensions, "timestamp": s.timestamp_ms, "value": s.average,
                "value_meta": {"count": str(s.count), "min": repr(s.min), "max": repr(s.max)}} for s in summaries]
    path = "/v2.0/metrics" + (f"?tenant_id={urllib.parse.quote(tenant_id)}" if tenant_id else "")
    return EncodedBatch(path, "application/json", "", json.dumps(metrics).encode(), len(summaries))


def _compress(raw: bytes, compression: str) -> tuple[bytes, str]:
    if compression == "zstd":
        return _ZSTD.compress(raw), "zstd"
    if compression == "gzip":
        return gzip.compress(raw, 6), "gzip"
    return raw, ""


class Outcome(enum.Enum):
    SENT = "sent"  # acknowledged: durable on the server
    RETRY = "retry"  # the server is down, busy (429/503) or refused the key: keep it and try later
    REJECTED = "rejected"  # the server will never take this batch (400, 413, 422): keep it would block the rest


@dataclass(frozen=True, slots=True)
class Answer:
    outcome: Outcome
    detail: str
    retry_after: float | None = None


class Sender:
    """POSTs batches to one server over a kept-alive connection."""

    def __init__(self, url: str, token: str, timeout: float) -> None:
        parts = urllib.parse.urlsplit(url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._connection = kind(self._host, self._port, timeout=self.timeout)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def send(self, batch: EncodedBatch) -> Answer:
        headers = {"Content-Type": batch.content_type, "Content-Length": str(len(batch.body))}
        if batch.content_encoding:
            headers["Content-Encoding"] = batch.content_encoding
        if self.token:
            headers["X-Auth-Token"] = self.token
        try:
            connection = self._connect()
            connection.request("POST", self._prefix + batch.path, body=batch.body, headers=headers)
            response = connection.getresponse()
            text = response.read(2000).decode("utf-8", "replace")
            status = response.status
            retry_after = response.getheader("Retry-After")
        except (OSError, http.client.HTTPException) as error:
            self.close()
            return Answer(Outcome.RETRY, f"{type(error).__name__}: {error}")
        if response.will_close:
            self.close()
        if 200 <= status < 300:
            return Answer(Outcome.SENT, str(status))
        if status in (400, 413, 415, 422):
            return Answer(Outcome.REJECTED, f"HTTP {status}: {text[:300]}")
        seconds = float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None
        return Answer(Outcome.RETRY, f"HTTP {status}: {text[:300]}", seconds)
