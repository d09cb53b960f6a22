"""The write-ahead log: an acknowledged write survives kill -9.

Requests hand their batch to ``submit``; one writer thread appends every waiting
record, calls fsync once for the whole group (group commit: many requests share
one fsync), applies the records in order through ``on_durable`` and only then
resolves the requests' futures. A torn record at the tail (a crash mid-write) is
detected by its CRC and discarded on replay: it was never acknowledged.

Record frame: ``u32 length | u32 crc32(payload) | payload`` where payload is a
msgpack-encoded ``WalRecord``. Segments are ``wal/<first sequence>.wal``; a segment
is deleted once the store reports every record in it flushed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import cramjam
import msgspec
import numpy as np

from nephoscope.metrics.series import IngestBatch, PointBatch, SeriesDefinition, ValueMeta
from nephoscope.metrics.store.interface import Overloaded

log = logging.getLogger(__name__)
_HEADER = struct.Struct("<II")
_SEGMENT_BYTES = 64 * 1024 * 1024
_COMPRESS_ABOVE = 32 * 1024


class WalRecord(msgspec.Struct, array_like=True):
    sequence: int
    series: list[tuple[int, str, str, dict[str, str]]]
    ids: bytes
    timestamps: bytes
    value: bytes | None
    summary: list[bytes] | None  # count, sum, min, max, last
    meta_series: list[int]
    meta_timestamp: list[int]
    meta_text: list[str]
    compressed: bool = False


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(WalRecord)


def _pack(array: np.ndarray | None, compress: bool) -> bytes | None:
    if array is None:
        return None
    data = array.tobytes()
    return bytes(cramjam.zstd.compress(data, level=1)) if compress else data


def encode_record(sequence: int, batch: IngestBatch) -> bytes:
    points = batch.points
    compress = len(points) * 16 > _COMPRESS_ABOVE
    summary = None
    if points.value is None:
        summary = [_pack(column, compress) for column in (points.count, points.sum, points.min, points.max, points.last)]
    record = WalRecord(
        sequence,
        [(d.id, d.tenant, d.name, d.dimensions) for d in batch.tenant_series],
        _pack(points.series, compress),
        _pack(points.timestamp, compress),
        _pack(points.value, compress),
        summary,
        batch.value_meta.series,
        batch.value_meta.timestamp,
        batch.value_meta.meta,
        compress,
    )
    return _ENCODER.encode(record)


def decode_record(payload: bytes) -> tuple[int, IngestBatch]:
    record = _DECODER.decode(payload)

    def unpack(data: bytes | None, dtype: type) -> np.ndarray | None:
        if data is None:
            return None
        raw = bytes(cramjam.zstd.decompress(data)) if record.compressed else data
        return np.frombuffer(raw, dtype=dtype).copy()

    series = unpack(record.ids, np.int64)
    timestamps = unpack(record.timestamps, np.int64)
    if record.summary is None:
        points = PointBatch(series, timestamps, value=unpack(record.value, np.float64))
    else:
        count, total, low, high, last = record.summary
        points = PointBatch(series, timestamps, count=unpack(count, np.int64), sum=unpack(total, np.float64),
                            min=unpack(low, np.float64), max=unpack(high, np.float64), last=unpack(last, np.float64))
    definitions = [SeriesDefinition(i, t, n, d) for i, t, n, d in record.series]
    meta = ValueMeta(record.meta_series, record.meta_timestamp, record.meta_text)
    return record.sequence, IngestBatch(definitions, points, meta)


class WriteAheadLog:
    def __init__(self, directory: Path, on_durable: Callable[[int, IngestBatch], None], max_pending_points: int,
                 next_sequence: int) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._on_durable = on_durable
        self._max_pending = max_pending_points
        self._sequence = next_sequence
        self._pending: list[tuple[int, bytes, IngestBatch, asyncio.Future | None]] = []
        self._pending_points = 0
        self._condition = threading.Condition()
        self._closed = False
        self._segments: list[tuple[int, Path]] = []  # (first sequence, path), oldest first
        self._file = None
        self._file_size = 0
        self._last_written = next_sequence - 1
        self._rotate = False
        self.fsyncs = 0
        self.bytes_written = 0
        self._thread = threading.Thread(target=self._run, name="wal-writer", daemon=True)

    # -- startup -----------------------------------------------------------------------
    def replay(self, after_sequence: int) -> Iterator[tuple[int, IngestBatch]]:
        """Records newer than ``after_sequence``, oldest first; truncates a torn tail."""
        paths = sorted(self.directory.glob("*.wal"), key=lambda p: int(p.stem))
        for path in paths:
            self._segments.append((int(path.stem), path))
            data = path.read_bytes()
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, checksum = _HEADER.unpack_from(data, offset)
                payload = data[offset + _HEADER.size: offset + _HEADER.size + length]
                if len(payload) < length or zlib.crc32(payload) != checksum:
                    break
                sequence, batch = decode_record(payload)
                offset += _HEADER.size + length
                self._sequence = max(self._sequence, sequence + 1)
                if sequence > after_sequence:
                    yield sequence, batch
            if offset < len(data):
                log.warning("WAL segment %s: discarding %d bytes of an unacknowledged torn write",
                            path.name, len(data) - offset)
                with open(path, "r+b") as handle:
                    handle.truncate(offset)
                    os.fsync(handle.fileno())
        self._last_written = self._sequence - 1

    def start(self) -> None:
        self._open_segment()
        self._thread.start()

    # -- writing -----------------------------------------------------------------------
    @property
    def pending_points(self) -> int:
        return self._pending_points

    def submit(self, batch: IngestBatch) -> asyncio.Future:
        """Queue a batch; the future resolves with its sequence once it is durable and applied."""
        points = len(batch.points)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._condition:
            if self._closed:
                raise Overloaded("the server is shutting down", backlog=False)
            if self._pending_points + points > self._max_pending and self._pending:
                raise Overloaded(f"{self._pending_points} points are waiting for the disk", backlog=False)
            sequence = self._sequence
            self._sequence += 1
            payload = encode_record(sequence, batch)
            self._pending.append((sequence, payload, batch, future))
            self._pending_points += points
            self._condition.notify()
        return future

    def write_now(self, batch: IngestBatch) -> int:
        """Synchronous variant for in-process producers (self-metrics): returns when durable."""
        done = threading.Event()
        with self._condition:
            sequence = self._sequence
            self._sequence += 1
            self._pending.append((sequence, encode_record(sequence, batch), batch, done))  # type: ignore[arg-type]
            self._pending_points += len(batch.points)
            self._condition.notify()
        done.wait()
        return sequence

    def _open_segment(self) -> None:
        if self._file is not None:
            self._file.close()
        first = self._last_written + 1
        path = self.directory / f"{first:020d}.wal"
        self._file = open(path, "ab")
        self._file_size = self._file.tell()
        with self._condition:
            if not self._segments or self._segments[-1][1] != path:
                self._segments.append((first, path))
            self._rotate = False
        self._fsync_directory()

    def _fsync_directory(self) -> None:
        descriptor = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._pending and not self._closed:
                    self._condition.wait()
                if not self._pending and self._closed:
                    return
                group, self._pending = self._pending, []
            try:
                self._write_group(group)
            except BaseException as error:  # noqa: BLE001 - a failed disk must fail the requests, not hang them
                log.exception("WAL write failed")
                with self._condition:
                    self._pending_points -= sum(len(item[2].points) for item in group)
                for _, _, _, waiter in group:
                    self._fail(waiter, error)

    def _write_group(self, group: list) -> None:
        if self._file_size > _SEGMENT_BYTES or self._rotate:
            self._open_segment()
        frames = []
        for _, payload, _, _ in group:
            frames.append(_HEADER.pack(len(payload), zlib.crc32(payload)))
            frames.append(payload)
        data = b"".join(frames)
        self._file.write(data)
        self._file.flush()
        os.fdatasync(self._file.fileno())
        self.fsyncs += 1
        self.bytes_written += len(data)
        self._file_size += len(data)
        for sequence, _, batch, _ in group:
            self._on_durable(sequence, batch)
            self._last_written = sequence
        with self._condition:
            self._pending_points -= sum(len(item[2].points) for item in group)
        for sequence, _, _, waiter in group:
            self._resolve(waiter, sequence)

    @staticmethod
    def _resolve(waiter, sequence: int) -> None:  # noqa: ANN001
        if isinstance(waiter, threading.Event):
            waiter.set()
        elif waiter is not None and not waiter.done():
            waiter.get_loop().call_soon_threadsafe(_set_result, waiter, sequence)

    @staticmethod
    def _fail(waiter, error: BaseException) -> None:  # noqa: ANN001
        if isinstance(waiter, threading.Event):
            waiter.set()
        elif waiter is not None:
            waiter.get_loop().call_soon_threadsafe(_set_exception, waiter, error)

    # -- truncation ----------------------------------------------------------------------
    def release(self, flushed_sequence: int) -> None:
        """Delete segments whose records are all flushed to the store."""
        with self._condition:
            # Rotation happens on the writer thread, before its next group.
            if self._last_written <= flushed_sequence and self._file_size > _SEGMENT_BYTES // 8:
                self._rotate = True
            segments = list(self._segments)
        for position, (first, path) in enumerate(segments[:-1]):
            next_first = segments[position + 1][0]
            if next_first - 1 <= flushed_sequence:
                path.unlink(missing_ok=True)
                with self._condition:
                    self._segments.remove((first, path))

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        if self._file is not None:
            self._file.close()

    def disk_bytes(self) -> int:
        return sum(path.stat().st_size for _, path in self._segments if path.exists())


def _set_result(future: asyncio.Future, value: int) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future, error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
