"""The immutable block: one partition's points of one raw window, as the embedded store's chunks.

A block holds, for every series of the partition with points in the window ``[start, start +
width)``, one chunk per resolution — raw (0), minutes (60) and hours (3600), complete because the
window holds whole hours — in the chunk format of ``codec`` (``chunk_rows`` builds them, exactly as
the embedded compaction does), plus the series index: which series are in it and their definitions,
and the window's value_meta. Layout of the object::

    magic "NPHBLK01" | u64 length | Arrow IPC stream: index (resolution, series_id, t_first,
    t_last, n, offset, length) | u64 length | Arrow IPC stream: series (id, tenant, name,
    dimensions as canonical JSON) | u64 length | Arrow IPC stream: value_meta (series_id, ts,
    meta) | payloads, concatenated

so a reader decodes the small sections (``decode_head``) and slices out only the chunks it needs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import orjson
import pyarrow as pa

from nephoscope.metrics.series import SeriesDefinition
from nephoscope.metrics.store.duckdb.compaction import chunk_rows
from nephoscope.metrics.summary import Points, rollup

MAGIC = b"NPHBLK01"
_LENGTH = struct.Struct("<Q")
RESOLUTIONS = (0, 60, 3600)
"""Kept in a block; days are rolled up from hours when read (summaries merge exactly)."""


@dataclass
class BlockHead:
    """A block's sections but the payloads; ``payload_start`` is where chunk offsets count from."""

    index: pa.Table
    series: pa.Table
    value_meta: pa.Table
    payload_start: int


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _table(data: bytes | memoryview) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


def series_table(definitions: list[SeriesDefinition]) -> pa.Table:
    return pa.table({
        "id": pa.array([d.id for d in definitions], pa.int64()),
        "tenant": pa.array([d.tenant for d in definitions], pa.string()),
        "name": pa.array([d.name for d in definitions], pa.string()),
        "dimensions": pa.array([orjson.dumps(d.dimensions, option=orjson.OPT_SORT_KEYS).decode() for d in definitions],
                               pa.string()),
    })


def definitions(table: pa.Table) -> list[SeriesDefinition]:
    return [SeriesDefinition(i, t, n, orjson.loads(d)) for i, t, n, d in zip(
        table.column("id").to_pylist(), table.column("tenant").to_pylist(), table.column("name").to_pylist(),
        table.column("dimensions").to_pylist())]


def value_meta_table(series: list[int], timestamp: list[int], meta: list[str]) -> pa.Table:
    return pa.table({"series_id": pa.array(series, pa.int64()), "ts": pa.array(timestamp, pa.int64()),
                     "meta": pa.array(meta, pa.string())})


def encode_block(points: Points, window_start: int, resolutions_kept: tuple[int, ...], series: pa.Table,
                 value_meta: pa.Table) -> bytes:
    """A block of ``points`` (raw, de-duplicated: one per series and timestamp) of one window.

    ``resolutions_kept`` leaves out what retention dropped; the roll-ups are computed from
    ``points`` whenever raw is kept (a block is always a complete recomputation).
    """
    tables = [chunk_rows(points if resolution == 0 else rollup(points, resolution * 1000), resolution, window_start)
              for resolution in resolutions_kept if len(points)]
    return encode_chunk_tables(tables, series, value_meta)


def encode_chunk_tables(tables: list[pa.Table], series: pa.Table, value_meta: pa.Table) -> bytes:
    """A block from chunk rows as ``chunk_rows`` makes them (resolution, window_start, series_id,
    t_first, t_last, n, payload)."""
    payloads: list[bytes] = []
    columns: dict[str, list[np.ndarray]] = {n: [] for n in ("resolution", "series_id", "t_first", "t_last", "n")}
    for table in tables:
        for name, parts in columns.items():
            parts.append(table.column(name).to_numpy())
        payloads += table.column("payload").to_pylist()
    lengths = np.fromiter((len(p) for p in payloads), np.int64, len(payloads))
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(payloads) else lengths
    merged = {name: np.concatenate(parts) if parts else np.empty(0, np.int64) for name, parts in columns.items()}
    index = pa.table({"resolution": pa.array(merged["resolution"], pa.int32()),
                      "series_id": pa.array(merged["series_id"], pa.int64()),
                      "t_first": pa.array(merged["t_first"], pa.int64()),
                      "t_last": pa.array(merged["t_last"], pa.int64()),
                      "n": pa.array(merged["n"], pa.int32()),
                      "offset": pa.array(offsets, pa.int64()), "length": pa.array(lengths, pa.int64())})
    sections = [_ipc(index), _ipc(series), _ipc(value_meta)]
    out = bytearray(MAGIC)
    for section in sections:
        out += _LENGTH.pack(len(section)) + section
    return bytes(out) + b"".join(payloads)


def decode_head(data: bytes | memoryview) -> BlockHead:
    """The sections of a block (``data`` holds at least them)."""
    view = memoryview(data)
    if bytes(view[:len(MAGIC)]) != MAGIC:
        raise ValueError("not a nephoscope block")
    position = len(MAGIC)
    tables = []
    for _ in range(3):
        (length,) = _LENGTH.unpack_from(view, position)
        position += _LENGTH.size
        tables.append(_table(view[position:position + length]))
        position += length
    return BlockHead(tables[0], tables[1], tables[2], position)

