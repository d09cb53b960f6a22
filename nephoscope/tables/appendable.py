"""An append-only table on disk: an Arrow write-ahead log and Parquet parts, read through DuckDB.

Records arrive as Arrow IPC streams, each tagged by its schema's ``kind`` metadata: rows of the
table itself (its ``schema`` says the kind, e.g. ``events``), and beside them any other records
the owner derives from them (failures, lifecycle rows, ...). They are appended to the current log
file bytes for bytes, then fsynced: that is the durable point (a caller acknowledges its source
after it). Writers that arrive while another is writing are committed with it: one write and one
fsync for all of them (group commit). The table's rows are kept in memory (the *tail*) and flushed
in the background to Parquet parts (zstd, sorted by ``ts``, one folder per UTC day), after which
the log files they came from are deleted. Parts of a day are merged when they grow many; whole
parts are dropped by retention once their newest row *and* their writing are older than it (a part's
file time says when it was written): rows that arrive late, an import of old notifications or a
backlog, are kept for the retention from their arrival rather than deleted at the next upkeep.
At start the log is replayed: rows into the tail, the other records handed back with their
position, so the owner can apply what it had not applied yet (a torn last write is cut off).

Layout::

    <directory>/log/<sequence>.arrow                     concatenated IPC streams, one per batch
    <directory>/parts/<YYYY-MM-DD>/<first>-<last>-<sequence>[-m<merged at>].parquet

The schema must have an int64 ``ts`` column (epoch milliseconds).

Readers take a ``snapshot`` (the part files overlapping their time range plus the tail as one
Arrow table) and hand both to DuckDB; files are only deleted when no snapshot is open. Columnar
all the way: nothing here touches an event in Python.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Part:
    path: Path
    day: str
    first_ms: int
    last_ms: int
    sequence: int
    size: int  # bytes on disk, known when the part is written or found (parts never change)
    written_ms: int  # when its rows arrived: the file's time (a merge keeps its sources' newest)

    @classmethod
    def parse(cls, path: Path) -> Part | None:
        try:
            first, last, sequence = path.stem.split("-")[:3]  # merged parts add "-m<time>"
            return cls.found(path, int(first), int(last), int(sequence))
        except (ValueError, OSError):
            return None

    @classmethod
    def found(cls, path: Path, first_ms: int, last_ms: int, sequence: int) -> Part:
        stat = path.stat()
        return cls(path, path.parent.name, first_ms, last_ms, sequence, stat.st_size, stat.st_mtime_ns // 1_000_000)

    def expired(self, cutoff_ms: int) -> bool:
        """Past a retention whose cutoff is ``cutoff_ms``: its newest row and its writing both older."""
        return max(self.last_ms, self.written_ms) < cutoff_ms


Position = tuple[int, int]
"""Where a log record ends: (log file sequence, byte offset)."""


@dataclass
class Snapshot:
    files: list[str]
    tail: pa.Table  # the table's schema, possibly empty

    @property
    def relation(self) -> str:
        """The snapshot's rows as one SQL relation, for a DuckDB cursor on which the tail is
        registered as ``tail``; its parameters (the part files) are ``parameters``, first."""
        if not self.files:
            return "tail"
        return "(SELECT * FROM read_parquet(?) UNION ALL BY NAME SELECT * FROM tail)"

    @property
    def parameters(self) -> list:
        return [self.files] if self.files else []


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def ipc_bytes(table: pa.Table) -> bytes:
    """``table`` as one Arrow IPC stream: what ``append`` writes to the log."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def kind_of_schema(schema: pa.Schema) -> str:
    return (schema.metadata or {}).get(b"kind", b"").decode()


def kind_of(table: pa.Table) -> str:
    return kind_of_schema(table.schema)


def read_log(path: Path) -> tuple[list[tuple[int, pa.Table]], int]:
    """The records of a log file with the offset each ends at, and the length of its intact
    prefix (a crash may tear the end)."""
    records: list[tuple[int, pa.Table]] = []
    good = 0
    data = path.read_bytes()
    reader = pa.BufferReader(data)
    while good < len(data):
        try:
            stream = pa.ipc.open_stream(reader)
            table = stream.read_all()
        except (pa.ArrowInvalid, OSError, EOFError):
            break
        good = reader.tell()
        records.append((good, table))
    return records, good


class AppendTable:
    def __init__(self, directory: Path, schema: pa.Schema, flush_rows: int = 100_000, flush_seconds: float = 300.0,
                 max_parts_per_day: int = 24, flush_bytes: int = 64 * 2**20, full_part_bytes: int = 128 * 2**20,
                 on_committed: Callable[[list[tuple[Position, pa.Table]]], None] | None = None) -> None:
        self.directory = Path(directory)
        self.schema = schema
        self.kind = kind_of_schema(schema)
        self._log_dir = self.directory / "log"
        self._parts_dir = self.directory / "parts"
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.flush_bytes = flush_bytes  # the tail's memory is bounded by this (and flush_rows)
        self.max_parts_per_day = max_parts_per_day
        self.full_part_bytes = full_part_bytes  # a part this big is never merged again
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # the group-commit leader
        self._queue: list[tuple[list[tuple[bytes, pa.Table]], threading.Event, list]] = []
        self._offset = 0  # bytes written to the current log file
        self._readers = 0
        self._no_readers = threading.Condition(self._lock)
        self._tail: list[pa.Table] = []
        self._tail_rows = 0
        self._tail_bytes = 0
        self._tail_since = time.monotonic()
        self._flushing: list[pa.Table] = []  # being written to a part; still read from memory
        self._log_files: list[Path] = []  # the files holding the tail (the last one is appended to)
        self._log_handle: object | None = None
        self._sequence = 0
        self._parts: list[Part] = []
        self._maintenance = threading.Lock()  # one flush, merge or drop at a time
        # Told, in log order and before the writers return, of every record that is not events.
        self._on_committed = on_committed

    # -- opening and closing --

    def open(self) -> list[tuple[Position, pa.Table]]:
        """Replay the log: events into the tail; the other records are returned, in order, with
        the position each ends at."""
        others: list[tuple[Position, pa.Table]] = []
        self._log_dir.mkdir(parents=True, exist_ok=True)
        self._parts_dir.mkdir(parents=True, exist_ok=True)
        parts = [Part.parse(path) for path in self._parts_dir.glob("*/*.parquet")]
        self._parts = sorted((p for p in parts if p is not None), key=lambda p: (p.first_ms, p.sequence))
        for leftover in self._parts_dir.glob("*/*.tmp"):
            leftover.unlink()  # a part being written when the process died; its events are in the log
        logs = sorted(self._log_dir.glob("*.arrow"), key=lambda p: int(p.stem))
        sequences = [p.sequence for p in self._parts] + [int(p.stem) for p in logs]
        self._sequence = max(sequences, default=0)
        flushed_through = max((p.sequence for p in self._parts), default=0)
        for path in logs:
            # A file at or below the last part's sequence was flushed (the crash came before it was
            # removed): its events are in the parts; its other records may not be applied yet.
            flushed = int(path.stem) <= flushed_through
            records, good = read_log(path)
            if good < path.stat().st_size:
                log.warning("events log %s: cutting a torn write at byte %d", path, good)
                with open(path, "r+b") as handle:
                    handle.truncate(good)
                    os.fsync(handle.fileno())
            for offset, table in records:
                if kind_of(table) != self.kind:
                    others.append(((int(path.stem), offset), table))
                elif not flushed:
                    self._hold(table)
            self._log_files.append(path)
        self._new_log_file()
        return others

    def _new_log_file(self) -> None:
        self._sequence += 1
        path = self._log_dir / f"{self._sequence}.arrow"
        self._log_handle = open(path, "ab", buffering=0)  # noqa: SIM115 - kept open until rotated
        self._offset = 0
        _fsync_directory(self._log_dir)
        self._log_files.append(path)

    def close(self, before_delete: Callable[[Position], None] | None = None) -> None:
        self.flush(before_delete)
        with self._lock:
            if self._log_handle is not None:
                self._log_handle.close()  # type: ignore[attr-defined]
                self._log_handle = None

    # -- writing --

    def append(self, records: list[tuple[bytes | bytearray, pa.Table]], identity: str | None = None) -> Position:
        """Durably append records (each an IPC stream and its table); returns where they end.
        Appends that arrive while another is being written share its write and fsync. (``identity``
        is for a clustered table's duplicate window; one process has none to consult.)"""
        done = threading.Event()
        answer: list = []
        with self._lock:
            self._queue.append((records, done, answer))
        with self._write_lock:
            if not done.is_set():
                self._commit_queued()
        if isinstance(answer[0], BaseException):
            raise answer[0]
        return answer[0]

    def _commit_queued(self) -> None:
        with self._lock:
            queued, self._queue = self._queue, []
            handle = self._log_handle
            sequence = self._sequence
        others: list[tuple[Position, pa.Table]] = []
        try:
            ends = []
            offset = self._offset
            for records, _, _ in queued:
                for ipc, table in records:
                    handle.write(ipc)  # type: ignore[attr-defined]
                    offset += len(ipc)
                    if kind_of(table) != self.kind:
                        others.append(((sequence, offset), table))
                ends.append((sequence, offset))
            os.fsync(handle.fileno())  # type: ignore[attr-defined]
        except BaseException as error:  # noqa: BLE001 - every waiter learns it
            for _, done, answer in queued:
                answer.append(error)
                done.set()
            raise
        with self._lock:
            self._offset = offset
            for records, _, _ in queued:
                for _ipc, table in records:
                    if kind_of(table) == self.kind:
                        self._hold(table)
        if others and self._on_committed is not None:
            self._on_committed(others)
        for (_, done, answer), end in zip(queued, ends):
            answer.append(end)
            done.set()

    def _hold(self, table: pa.Table) -> None:
        """Keep ``table`` in the tail (memory, until flushed to a part)."""
        self._tail.append(table)
        self._tail_rows += table.num_rows
        self._tail_bytes += table.get_total_buffer_size()  # Table.nbytes walks every buffer: 38 µs a batch

    def flush_due(self) -> bool:
        return bool(self._tail_rows) and (self._tail_rows >= self.flush_rows or self._tail_bytes >= self.flush_bytes
                                          or time.monotonic() - self._tail_since >= self.flush_seconds)

    def flush(self, before_delete: Callable[[Position], None] | None = None) -> None:
        """Write the tail as Parquet parts (one per UTC day it covers), then drop its log files
        (``before_delete`` is told the end of what is about to go, to apply it first)."""
        with self._maintenance:
            with self._write_lock, self._lock:  # no commit is writing to the file being rotated
                if not self._tail_rows and not self._offset and len(self._log_files) == 1:
                    return
                self._flushing = self._tail
                self._tail, self._tail_rows, self._tail_bytes, self._tail_since = [], 0, 0, time.monotonic()
                covered = self._log_files
                end = (self._sequence, self._offset)
                self._log_handle.close()  # type: ignore[attr-defined]
                self._log_files = []
                self._new_log_file()
                sequence = self._sequence - 1  # the last log file the flushed tail was appended to
            new_parts = []
            if self._flushing:
                new_parts = self._write_parts(pa.concat_tables(self._flushing), sequence)
            with self._lock:
                self._parts = sorted([*self._parts, *new_parts], key=lambda p: (p.first_ms, p.sequence))
                self._flushing = []
            if before_delete is not None:
                before_delete(end)
            for path in covered:
                path.unlink(missing_ok=True)

    def _write_parts(self, table: pa.Table, sequence: int) -> list[Part]:
        timestamps = table.column("ts").to_numpy()
        if len(timestamps) > 1 and not np.all(timestamps[1:] >= timestamps[:-1]):
            # Records mostly arrive in time order; only when they did not is the whole tail copied.
            order = np.argsort(timestamps, kind="stable")
            table, timestamps = table.take(pa.array(order)), timestamps[order]
        days = (timestamps // _DAY_MS).astype(np.int64)
        parts = []
        for day in np.unique(days):
            rows = np.flatnonzero(days == day)
            piece = table.slice(int(rows[0]), len(rows))  # sorted by time: a day is contiguous
            parts.append(self._write_part(piece, sequence))
        return parts

    def _write_part(self, table: pa.Table, sequence: int) -> Part:
        timestamps = table.column("ts")
        first, last = pc.min(timestamps).as_py(), pc.max(timestamps).as_py()
        folder = self._parts_dir / _day(first)
        folder.mkdir(exist_ok=True)
        path = folder / f"{first}-{last}-{sequence}.parquet"
        temporary = path.with_suffix(".tmp")
        pq.write_table(table, temporary, compression="zstd", row_group_size=65_536)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        temporary.rename(path)
        _fsync_directory(folder)
        return Part.found(path, first, last, sequence)

    # -- upkeep --

    def merge_small_parts(self) -> int:
        """Days with more than ``max_parts_per_day`` parts get their small parts (below
        ``full_part_bytes``) merged into one, row group by row group (memory stays at one row group
        whatever the day's size); returns merges done. Full parts are left as they are: merging a
        day's every part each time would rewrite a busy day over and over (each merge copying all
        that came before), while this way a row is rewritten about once."""
        merged = 0
        with self._maintenance:
            by_day: dict[str, list[Part]] = {}
            for part in list(self._parts):
                by_day.setdefault(part.day, []).append(part)
            for day, parts in by_day.items():
                small = [part for part in parts if part.size < self.full_part_bytes]
                if len(parts) <= self.max_parts_per_day or len(small) < 2:
                    continue
                new = self._merge(small)
                self._replace(small, [new])
                merged += 1
                log.info("%s: merged %d parts of %s into one of %.0f MB", self.kind, len(small), day, new.size / 2**20)
        return merged

    def _merge(self, parts: list[Part]) -> Part:
        first = min(p.first_ms for p in parts)
        last = max(p.last_ms for p in parts)
        sequence = max(p.sequence for p in parts)
        folder = parts[0].path.parent
        # A name of its own: the merged part may cover exactly what one of its sources covered.
        path = folder / f"{first}-{last}-{sequence}-m{time.time_ns()}.parquet"
        temporary = path.with_suffix(".tmp")
        with pq.ParquetWriter(temporary, self.schema, compression="zstd") as writer:
            for part in sorted(parts, key=lambda p: (p.first_ms, p.sequence)):
                source = pq.ParquetFile(part.path)
                for group in range(source.num_row_groups):
                    writer.write_table(source.read_row_group(group).cast(self.schema))
        written_ns = max(p.written_ms for p in parts) * 1_000_000
        # Merging is not arriving: retention counts from the rows' arrival.
        os.utime(temporary, ns=(written_ns, written_ns))
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        temporary.rename(path)
        _fsync_directory(folder)
        return Part.found(path, first, last, sequence)

    def drop_before(self, cutoff_ms: int) -> int:
        """Delete the parts holding only rows older than ``cutoff_ms`` and written before it;
        returns rows dropped."""
        with self._maintenance:
            old = [part for part in self._parts if part.expired(cutoff_ms)]
            dropped = sum(pq.ParquetFile(part.path).metadata.num_rows for part in old)
            self._replace(old, [])
        if old:
            log.info("%s: retention dropped %d parts (%d rows, the newest of %s)", self.kind, len(old), dropped,
                     max(part.day for part in old))
        return dropped

    def _replace(self, old: list[Part], new: list[Part]) -> None:
        if not old and not new:
            return
        with self._lock:
            while self._readers:
                self._no_readers.wait()
            self._parts = sorted([p for p in self._parts if p not in old] + new, key=lambda p: (p.first_ms, p.sequence))
            for part in old:
                if part not in new:
                    part.path.unlink(missing_ok=True)
        for folder in {part.path.parent for part in old}:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty

    # -- reading --

    @contextlib.contextmanager
    def snapshot(self, start_ms: int | None = None, end_ms: int | None = None) -> Iterator[Snapshot]:
        """The part files that may hold events in ``[start_ms, end_ms)`` and the tail in memory; the
        files stay on disk until the ``with`` block ends."""
        with self._lock:
            files = [str(p.path) for p in self._parts
                     if (start_ms is None or p.last_ms >= start_ms) and (end_ms is None or p.first_ms < end_ms)]
            tables = [*self._flushing, *self._tail]
            self._readers += 1
        try:
            tail = pa.concat_tables(tables) if tables else self.schema.empty_table()
            yield Snapshot(files, tail)
        finally:
            with self._lock:
                self._readers -= 1
                if not self._readers:
                    self._no_readers.notify_all()

    def newest_values(self, column: str, limit: int) -> np.ndarray:
        """``column`` of (about) the ``limit`` newest rows (e.g. to rebuild a dedupe memory)."""
        with self.snapshot() as snap:
            chunks = [snap.tail.column(column).to_numpy()] if snap.tail.num_rows else []
            total = sum(len(c) for c in chunks)
            for path in reversed(snap.files):
                if total >= limit:
                    break
                values = pq.read_table(path, columns=[column]).column(column).to_numpy()
                chunks.append(values)
                total += len(values)
        return np.concatenate(chunks) if chunks else np.empty(0, self.schema.field(column).type.to_pandas_dtype())

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"parts": len(self._parts), "tail_rows": self._tail_rows + sum(t.num_rows for t in self._flushing),
                    "bytes": sum(part.size for part in self._parts)}
