"""Partial reports on the wire: a msgpack map of the routes, watermark and partial columns.

Columns travel as little-endian NumPy bytes (no per-row encoding). ``message_id`` digests what a
source sent without its send time, plus the identity of the batch it was folded from
(``batch_origin``: a digest of its points), so the same batch folded again (an ingester's successor
replaying its partition) is stored once by JetStream's duplicate window, while two batches whose
partials happen to be equal are not taken for one.
"""

from __future__ import annotations

import hashlib

import msgspec
import numpy as np

from nephoscope.alarms.cluster.merging import Report
from nephoscope.alarms.cluster.partials import PARTIAL_FIELDS, FeedRoute, Partials
from nephoscope.alarms.matching import Target
from nephoscope.metrics.series import IngestBatch

_DTYPES = {"feed": "<i8", "slot": "<i8", "count": "<i8", "sum": "<f8", "min": "<f8", "max": "<f8", "last": "<f8",
           "last_time": "<i8"}


def _body(report: Report) -> dict:
    body: dict = {"s": report.source, "r": [[r.feed, r.target.definition_id, list(r.target.instance),
                                             r.target.sub_index, r.metric] for r in report.routes]}
    if report.partials is not None and len(report.partials):
        body["p"] = {name: np.ascontiguousarray(getattr(report.partials, name), _DTYPES[name]).tobytes()
                     for name in PARTIAL_FIELDS}
    if report.watermark_ms is not None:
        body["w"] = report.watermark_ms
        body["f"] = report.forced
    if report.origin:
        body["o"] = report.origin
    if report.change is not None:
        body["c"] = report.change
    return body


def encode(report: Report) -> bytes:
    return msgspec.msgpack.encode({**_body(report), "a": report.at_ms})


def message_id(destination: int, report: Report, origin: bytes = b"") -> str:
    """The same content of the same batch (``origin``) from the same source to the same evaluator
    partition: the same id."""
    digest = hashlib.blake2b(msgspec.msgpack.encode(_body(report)), digest_size=16)
    digest.update(origin)
    return f"{report.source}-{destination}-{digest.hexdigest()}"


def batch_origin(batch: IngestBatch) -> bytes:
    """A digest of a batch's points and new series: what identifies it across a replay."""
    digest = hashlib.blake2b(digest_size=16)
    points = batch.points
    for column in (points.series, points.timestamp, points.value, points.count, points.sum, points.min, points.max,
                   points.last):
        if column is not None:
            digest.update(np.ascontiguousarray(column).tobytes())
        digest.update(b"\x1f")
    digest.update(",".join(str(definition.id) for definition in batch.tenant_series).encode())
    return digest.digest()


def decode(payload: bytes) -> Report:
    body = msgspec.msgpack.decode(payload)
    routes = [FeedRoute(feed, Target(definition, tuple(instance), sub), metric)
              for feed, definition, instance, sub, metric in body["r"]]
    partials = None
    if "p" in body:
        partials = Partials(*(np.frombuffer(body["p"][name], _DTYPES[name]).astype(_DTYPES[name][1:])
                              for name in PARTIAL_FIELDS))
    return Report(body["s"], body["a"], routes, partials, body.get("w"), body.get("f", False), body.get("o", 0),
                  body.get("c"))
