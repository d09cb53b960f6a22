"""Cutting a batch into partitions by series hash, and the message id of each part.

A series lives in partition ``id % partitions`` (its id is already a hash of tenant, name and
dimensions), so every node agrees where it is. A part's message id is a digest of its partition and
encoded bytes: the same batch sent again (a client's retry after a timeout) yields the same ids, and
JetStream stores it once. Two different batches never share an id; an identical batch resent on
purpose would add nothing anyway (the latest copy of a point replaces the earlier one).
"""

from __future__ import annotations

import hashlib

import numpy as np

from nephoscope.metrics.series import IngestBatch, PointBatch, ValueMeta


def partition_of(series: np.ndarray, partitions: int) -> np.ndarray:
    """The partition of each series id."""
    return np.asarray(series, np.int64) % partitions


def split(batch: IngestBatch, partitions: int) -> list[tuple[int, IngestBatch]]:
    """``batch`` as (partition, part) pairs, partitions ascending; each part carries the new series
    and value_meta of its own series."""
    points = batch.points
    where = partition_of(points.series, partitions)
    definitions = {}
    for definition in batch.tenant_series:
        definitions.setdefault(definition.id % partitions, []).append(definition)
    meta_partition = np.asarray(batch.value_meta.series, np.int64) % partitions
    parts = []
    for partition in sorted(set(np.unique(where).tolist()) | set(definitions)):
        mask = where == partition
        columns = {name: None if getattr(points, name) is None else getattr(points, name)[mask]
                   for name in ("value", "count", "sum", "min", "max", "last")}
        chosen = np.flatnonzero(meta_partition == partition).tolist()
        meta = ValueMeta([batch.value_meta.series[i] for i in chosen], [batch.value_meta.timestamp[i] for i in chosen],
                         [batch.value_meta.meta[i] for i in chosen])
        parts.append((partition, IngestBatch(definitions.get(partition, []),
                                             PointBatch(points.series[mask], points.timestamp[mask], **columns),
                                             meta, batch.tenant)))
    return parts


def message_id(partition: int, payload: bytes) -> str:
    """The ``Nats-Msg-Id`` of a part: the same bytes to the same partition, the same id."""
    return f"{partition}-{hashlib.blake2b(payload, digest_size=16).hexdigest()}"
