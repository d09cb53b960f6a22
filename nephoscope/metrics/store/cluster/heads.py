"""An ingester's heads as a querier asks for them: the question and the answer on the wire.

A querier reads blocks from S3 itself; what is not in a block yet lives only in the head of the
ingester owning the partition, so it asks that ingester (``POST /v1/cluster/heads``). The question
(``HeadQuery``, msgspec JSON) names partitions, optionally series, a time range and what it wants:
points (with their stream sequence, so the latest write wins against the blocks as on one node),
the series with points in the range, value_meta, and the definitions of the series the head
brings. The answer is length-prefixed Arrow IPC sections (as in a block), one of them saying per
partition whether this ingester serves it (owns it and has replayed it) and which stream sequence
its blocks cover — read *after* the head, so a querier whose index is older knows to read the
partition's manifest again before trusting the blocks it knows.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import msgspec
import numpy as np
import pyarrow as pa

from nephoscope.metrics.series import SeriesDefinition
from nephoscope.metrics.store.cluster.blocks import definitions, series_table, value_meta_table
from nephoscope.metrics.summary import FIELDS, Points

MAGIC = b"NPHHEAD1"
_LENGTH = struct.Struct("<Q")


class HeadQuery(msgspec.Struct, forbid_unknown_fields=True):
    partitions: list[int]
    start_ms: int
    end_ms: int
    series: list[int] | None = None  # None: every series of the partitions
    points: bool = False
    ids: bool = False  # the series with points in the range
    value_meta: bool = False
    definitions: bool = False  # of every series the head's batches bring


@dataclass
class HeadAnswer:
    points: Points
    sequence: np.ndarray
    ids: np.ndarray
    value_meta: dict[tuple[int, int], str]
    definitions: list[SeriesDefinition]
    covered: dict[int, int]  # of the partitions served
    served: set[int]

    @staticmethod
    def empty() -> HeadAnswer:
        return HeadAnswer(Points.empty(), np.empty(0, np.int64), np.empty(0, np.int64), {}, [], {}, set())

    def merge(self, other: HeadAnswer) -> HeadAnswer:
        return HeadAnswer(Points.concat([self.points, other.points]), np.concatenate([self.sequence, other.sequence]),
                          np.union1d(self.ids, other.ids), {**self.value_meta, **other.value_meta},
                          self.definitions + other.definitions, {**self.covered, **other.covered},
                          self.served | other.served)


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def encode_answer(answer: HeadAnswer) -> bytes:
    points = pa.table({**{name: getattr(answer.points, name) for name in FIELDS}, "sequence": answer.sequence})
    meta = list(answer.value_meta.items())
    served = sorted(answer.served)
    sections = [points, pa.table({"id": pa.array(answer.ids, pa.int64())}),
                value_meta_table([k[0] for k, _ in meta], [k[1] for k, _ in meta], [m for _, m in meta]),
                series_table(answer.definitions),
                pa.table({"partition": pa.array(served, pa.int32()),
                          "covered": pa.array([answer.covered[p] for p in served], pa.int64())})]
    out = bytearray(MAGIC)
    for section in sections:
        data = _ipc(section)
        out += _LENGTH.pack(len(data)) + data
    return bytes(out)


def decode_answer(data: bytes) -> HeadAnswer:
    view = memoryview(data)
    if bytes(view[:len(MAGIC)]) != MAGIC:
        raise ValueError("not a head answer")
    position, tables = len(MAGIC), []
    for _ in range(5):
        (length,) = _LENGTH.unpack_from(view, position)
        position += _LENGTH.size
        tables.append(pa.ipc.open_stream(pa.py_buffer(view[position:position + length])).read_all())
        position += length
    points, ids, meta, series, partitions = tables
    columns = {name: points.column(name).to_numpy() for name in (*FIELDS, "sequence")}
    value_meta = dict(zip(zip(meta.column("series_id").to_pylist(), meta.column("ts").to_pylist()),
                          meta.column("meta").to_pylist()))
    served = partitions.column("partition").to_pylist()
    return HeadAnswer(Points(*(columns[name] for name in FIELDS)), columns["sequence"],
                      ids.column("id").to_numpy(), value_meta, definitions(series),
                      dict(zip(served, partitions.column("covered").to_pylist())), set(served))
