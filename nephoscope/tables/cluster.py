"""``ClusterTable``: an append-only record table over a JetStream stream and Parquet files in S3.

The clustered twin of ``appendable.AppendTable`` (the same ``interface.RecordTable`` surface), so
the events and logs stores run unchanged over it:

* **Append** cuts the table's rows by partition (a hash of ``partition_column``: the resource for
  events, the project for log lines) and publishes one message per partition to
  ``<subject_prefix>.<partition>``. Its ``Nats-Msg-Id`` is a digest of the ``id_column`` values it
  carries (the notifications' message ids: a batch delivered again, by a redelivery or to another
  consumer, is the same message within the duplicate window, whatever its order), else the caller's
  ``identity`` (a client's retry), else the payload's digest. Records of other kinds (failures,
  lifecycle rows) travel beside them. It returns once JetStream acknowledged every message
  (quorum-durable) and this table's follower has applied them (read-your-writes). One message per
  notification, with its own id, was measured 48 times slower than the embedded store
  (docs/benchmarks.md): rows travel in batches.
* **Follow**: every table follows the stream in order from the sequence its manifests cover; rows
  pass ``admit`` (the events store's dedupe: a notification already held in the partition is turned
  away, whatever batch it came in; every follower decides alike, in stream order) and join an
  in-memory tail per partition; other records go to ``on_committed`` (positions are
  ``(stream sequence, 0)``).
* **Flush** (the partitions this node owns, ``owned()``; all by default): the partition's tail is
  written as one immutable Parquet file (zstd, sorted by ``ts``) to S3, then the partition's
  manifest (its files and the stream sequence they cover) is written under a name of its own and
  the partition's pointer switched to it by compare-and-set (``engines.pointers``: a writer that did
  not read the latest writes nothing current), and only then does the stream forget the covered
  messages. A partition owned elsewhere has
  its manifest re-read instead, and the tail it covers dropped. A crash between the file and the
  manifest leaves an orphan nobody reads; the messages are replayed into a new file.
* **Read**: a snapshot is the overlapping files (downloaded once into a bounded local cache
  directory: parts never change) plus the tail not covered by a manifest, handed to DuckDB as the
  embedded table's snapshot is. When the follower found sequences missing (purged before this node
  read them: it lagged behind another node's flush), or the manifests are over a second old, they
  are re-read first.

Upkeep, on the owned partitions: a partition's small files of one UTC day (one per flush: 8,640 a
day at the default 10 s) are merged once there are more than ``max_parts_per_day``, row group by row
group, into files of up to ``full_part_bytes``; retention drops whole files once their newest row
and their writing are older than it (as the embedded table does). Files replaced or dropped are
deleted from S3 only ``retired_seconds`` later: a node that read the manifest just before still
finds them (reads re-read manifests older than a second). Files no manifest lists (a crash between a
file and its manifest, or before a retired file's deletion) are swept once an hour old.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nephoscope.config import ClusterSettings
from nephoscope.engines.jetstream import StreamLog
from nephoscope.engines.objects import ObjectStore
from nephoscope.engines.pointers import Moved, Pointed, Pointers
from nephoscope.errors import Rejected
from nephoscope.tables.appendable import Position, Snapshot, ipc_bytes, kind_of, kind_of_schema

log = logging.getLogger(__name__)

_APPLY_SECONDS = 120.0
"""How long opening may take to replay the stream, and an append to see its own rows applied."""
_REFRESH_SECONDS = 1.0
_DAY_MS = 86_400_000
"""A read re-reads the manifests when they are older than this: a node whose follower lagged behind
another node's flush (the stream forgot messages before it read them) finds them in the files."""


class PartFile(msgspec.Struct):
    key: str
    first_ms: int
    last_ms: int
    rows: int
    bytes: int
    written_ms: int = 0  # when its rows arrived (0 in manifests written before it was kept)

    def expired(self, cutoff_ms: int) -> bool:
        """Past a retention whose cutoff is ``cutoff_ms``: its newest row and its writing both older
        (late rows, an import or a backlog, are kept for the retention from their arrival)."""
        return max(self.last_ms, self.written_ms) < cutoff_ms


class TableManifest(msgspec.Struct):
    partition: int
    covered: int = 0
    parts: list[PartFile] = []


def manifest_key(partition: int) -> str:
    """The manifest of a partition never switched through a pointer (written before pointers)."""
    return f"p{partition}/manifest.json"


def manifest_object_key(partition: int, covered: int) -> str:
    return f"p{partition}/manifests/{covered:020d}-{time.time_ns()}.json"


def part_key(partition: int, first_ms: int, covered: int) -> str:
    return f"p{partition}/parts/{first_ms}-{covered:020d}-{time.time_ns()}.parquet"


def partition_of(values: pa.Array | pa.ChunkedArray, partitions: int) -> np.ndarray:
    """The partition of each value: a stable hash (blake2b) of the text, computed once per distinct
    value (a batch holds few resources and projects), so every node agrees."""
    encoded = pc.dictionary_encode(pc.fill_null(pc.cast(values, pa.string()), ""))
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks() if encoded.num_chunks else pa.array([], pa.string()).dictionary_encode()
    by_value = np.array([int.from_bytes(hashlib.blake2b(v.encode(), digest_size=8).digest(), "little") % partitions
                         for v in encoded.dictionary.to_pylist()], np.int64)
    return by_value[encoded.indices.to_numpy(zero_copy_only=False)] if len(by_value) else np.zeros(0, np.int64)


def _read_ipc(payload: bytes) -> pa.Table:
    return pa.ipc.open_stream(payload).read_all()


class _FileCache:
    """Parquet files of S3 on local disk, bounded in bytes; a file in an open snapshot stays."""

    def __init__(self, objects: ObjectStore, directory: Path, limit: int) -> None:
        self.objects = objects
        self.directory = directory
        self.limit = limit
        self._files: dict[str, int] = {}  # key -> bytes, least recently used first
        self._lock = threading.Lock()
        self._pinned: dict[str, int] = {}
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.parquet"):
            stale.unlink()  # a cache from another run: the manifests say what is current

    def path(self, key: str) -> Path:
        return self.directory / key.replace("/", "_")

    def keep(self, key: str, data: bytes) -> None:
        target = self.path(key)
        temporary = target.with_suffix(".tmp")
        temporary.write_bytes(data)
        temporary.rename(target)
        with self._lock:
            self._files[key] = len(data)

    @contextlib.contextmanager
    def pinned(self, keys: list[str]) -> Iterator[list[str]]:
        """Local paths of ``keys`` (fetched when missing), kept until the block ends."""
        with self._lock:
            for key in keys:
                self._pinned[key] = self._pinned.get(key, 0) + 1
        try:
            paths = []
            for key in keys:
                with self._lock:
                    held = key in self._files
                    if held:
                        self._files[key] = self._files.pop(key)  # most recently used
                if not held:
                    self.keep(key, self.objects.get(key))
                paths.append(str(self.path(key)))
            yield paths
        finally:
            with self._lock:
                for key in keys:
                    self._pinned[key] -= 1
                    if not self._pinned[key]:
                        del self._pinned[key]
                self._evict()

    def _evict(self) -> None:
        total = sum(self._files.values())
        for key in list(self._files):
            if total <= self.limit:
                return
            if key in self._pinned:
                continue
            total -= self._files.pop(key)
            self.path(key).unlink(missing_ok=True)

    def forget(self, key: str) -> None:
        with self._lock:
            if self._files.pop(key, None) is not None and key not in self._pinned:
                self.path(key).unlink(missing_ok=True)


class ClusterTable:
    def __init__(self, settings: ClusterSettings, schema: pa.Schema, *, stream: str, subject_prefix: str,
                 object_prefix: str, cache_dir: Path, partition_column: str, id_column: str | None = None,
                 on_committed: Callable[[list[tuple[Position, pa.Table]]], None] | None = None,
                 admit: Callable[[pa.Table], pa.Table] | None = None,
                 prepare: Callable[[], None] | None = None,
                 owned: Callable[[], Collection[int]] | None = None) -> None:
        self.settings = settings
        self.schema = schema
        self.kind = kind_of_schema(schema)
        self.partitions = settings.partitions
        self.partition_column = partition_column
        self.id_column = id_column
        self.log = StreamLog(settings, stream, subject_prefix, name=f"cluster-{self.kind}")
        self.objects = ObjectStore(settings, object_prefix)
        self.pointers = Pointers(self.log, f"{stream}_manifests", settings.replicas)
        self._names: dict[int, str | None] = {}  # per partition, the manifest object read or written last
        self.cache = _FileCache(self.objects, Path(cache_dir), settings.block_cache_bytes)
        self._on_committed = on_committed
        self._admit = admit
        self._prepare = prepare  # called once the manifests are read, before the stream is replayed
        self._refused: dict[int, int] = {}  # rows ``admit`` turned away, by message sequence
        self.owned: Callable[[], Collection[int]] = owned or (lambda: range(self.partitions))
        self._lock = threading.Lock()
        self._manifests: dict[int, TableManifest] = {}
        self._tail: dict[int, list[tuple[int, pa.Table]]] = {p: [] for p in range(self.partitions)}
        self._seen: dict[int, int] = {}  # the last sequence applied per partition (rows or others)
        self._applied = 0
        self._applied_changed = threading.Condition()
        self._followed = 0  # the last stream sequence the follower handed over
        # Set when the follower skipped sequences: messages purged before this node saw them, so
        # the manifests it holds are older than the files that have them (re-read before a read).
        self._stale = False
        self._refreshed = time.monotonic()
        self._opening: list[tuple[Position, pa.Table]] | None = []
        self._maintenance = threading.Lock()
        self._last_flush = time.monotonic()
        self.max_parts_per_day = 24  # small files of a partition's day beyond which they are merged
        self.full_part_bytes = 128 * 2**20  # a file this big is never merged again
        self.retired_seconds = 60.0  # a replaced or dropped file is deleted from S3 this much later
        self._retired: list[tuple[float, str]] = []  # (when, key)
        self.orphan_seconds = 3600.0  # an unlisted file this old is an orphan
        self.sweep_interval = 600.0
        self._swept = time.monotonic()

    # -- lifecycle ----------------------------------------------------------------------------
    def open(self) -> list[tuple[Position, pa.Table]]:
        """Read the manifests, replay the stream after what they cover; the other records replayed."""
        self.log.open()
        self.pointers.open()
        for partition in range(self.partitions):
            self._manifests[partition] = self._read_manifest(partition)
        if self._prepare is not None:
            self._prepare()
        after = min(m.covered for m in self._manifests.values())
        self._applied = self._followed = after
        nothing_after = self.log.stream_state().last_seq <= after
        self.log.follow(after, self._apply)
        if not nothing_after and not self.log.caught_up.wait(_APPLY_SECONDS):
            raise TimeoutError(f"stream {self.log.stream} was not replayed within {_APPLY_SECONDS}s")
        with self._lock:
            replayed, self._opening = self._opening or [], None
        if self._stale:
            self.refresh()
        return replayed

    def close(self, before_delete: Callable[[Position], None] | None = None) -> None:
        try:
            self.flush(before_delete)
        finally:
            self.log.close()

    def _read_manifest(self, partition: int) -> TableManifest:
        return self._read_for_write(partition).document

    def _read_for_write(self, partition: int) -> Pointed[TableManifest]:
        """The partition's manifest with the pointer it was read through (what a commit swaps from)."""
        read = self.pointers.read(f"p{partition}", self.objects,
                                  lambda data: msgspec.json.decode(data, type=TableManifest), manifest_key(partition))
        with self._lock:
            self._names[partition] = read.name
        return read if read.document is not None else Pointed(TableManifest(partition), None, None)

    def _commit(self, partition: int, manifest: TableManifest, read: Pointed[TableManifest]) -> None:
        """Make ``manifest`` the partition's current one (``Pointers.publish``: ``Moved`` when another
        writer switched it since ``read``); the replaced manifest is retired."""
        name = manifest_object_key(partition, manifest.covered)
        self.pointers.publish(f"p{partition}", self.objects, name, msgspec.json.encode(manifest), read)
        with self._lock:
            self._names[partition] = name
            self._manifests[partition] = manifest
        self._retire([read.name or manifest_key(partition)])

    # -- writing ------------------------------------------------------------------------------
    def append(self, records: list[tuple[bytes | bytearray, pa.Table]], identity: str | None = None) -> Position:
        """Publish the records; returns once JetStream acknowledged them and they are applied here."""
        return self.append_counted(records, identity)[0]

    def append_counted(self, records: list[tuple[bytes | bytearray, pa.Table]],
                       identity: str | None = None) -> tuple[Position, int]:
        """``append``, and how many of the table's own rows were not stored: held already (JetStream
        knew the message's id, or ``admit`` turned them away when they were applied)."""
        messages: list[tuple[str, bytes, str]] = []
        own_rows: list[int] = []
        for index, (_, table) in enumerate(records):
            if not table.num_rows:
                continue
            own = kind_of(table) == self.kind
            column = self.partition_column if self.partition_column in table.column_names else None
            where = partition_of(table.column(column), self.partitions) if column else np.zeros(table.num_rows,
                                                                                                 np.int64)
            present = np.unique(where).tolist()
            for partition in present:
                part = table.filter(pa.array(where == partition)) if len(present) > 1 else table
                payload = ipc_bytes(part)
                if own and self.id_column is not None:
                    # Named by the ids it carries: the same notifications sent again (a redelivered
                    # batch) are the same message, whatever order they come in.
                    ids = np.sort(part.column(self.id_column).to_numpy(zero_copy_only=False).astype(str))
                    name = hashlib.blake2b("\0".join(ids.tolist()).encode(), digest_size=16).hexdigest()
                elif identity is not None:
                    name = f"{identity}-{index}-{partition}"
                else:
                    name = hashlib.blake2b(payload, digest_size=16).hexdigest()
                messages.append((self.log.subject(partition), payload, f"{self.kind}-{name}"))
                own_rows.append(part.num_rows if own else 0)
        if not messages:
            return (self._applied, 0), 0
        try:
            acks = self.log.call(self.log.publish_acks(messages))
        except Exception as error:
            # No quorum, a leader election, the stream full: nothing is known stored, so the request
            # is refused to be retried (503); a copy stored meanwhile has the same message id.
            raise Rejected(503, f"the {self.kind} stream did not acknowledge ({type(error).__name__}: {error}); "
                                "retry shortly") from error
        target = max(ack.seq for ack in acks)
        with self._applied_changed:
            if not self._applied_changed.wait_for(lambda: self._applied >= target, _APPLY_SECONDS):
                raise Rejected(503, f"sequence {target} was acknowledged but not applied within {_APPLY_SECONDS}s; "
                                    "retry shortly (it is stored once)")
            refused = sum(self._refused.pop(ack.seq, 0) for ack, rows in zip(acks, own_rows)
                          if rows and not ack.duplicate)
        return (target, 0), refused + sum(rows for ack, rows in zip(acks, own_rows) if ack.duplicate)

    def _apply(self, sequence: int, partition: int, payload: bytes, _headers: dict[str, str]) -> None:
        """On the log's thread, in stream order."""
        if sequence > self._followed + 1:
            self._stale = True
        self._followed = sequence
        manifest = self._manifests.get(partition)
        if manifest is not None and sequence <= manifest.covered:
            self._advance(sequence)
            return
        table = _read_ipc(payload)
        if kind_of(table) == self.kind:
            if self._admit is not None:
                kept = self._admit(table)
                if kept.num_rows < table.num_rows:
                    with self._applied_changed:
                        self._refused[sequence] = table.num_rows - kept.num_rows
                        while len(self._refused) > 10_000:  # nobody waited for these (another node's)
                            del self._refused[next(iter(self._refused))]
                table = kept
            with self._lock:
                if table.num_rows:
                    self._tail[partition].append((sequence, table))
                self._seen[partition] = sequence
        else:
            with self._lock:
                self._seen[partition] = sequence
                opening = self._opening
                if opening is not None:
                    opening.append(((sequence, 0), table))
            if opening is None and self._on_committed is not None:
                self._on_committed([((sequence, 0), table)])
        self._advance(sequence)

    def sync(self, timeout: float = _APPLY_SECONDS) -> None:
        """Return once everything the stream held when called is applied here (another node's writes
        too), or was purged before this node read it (then in files: the manifests are re-read)."""
        with self.log.idle:
            idle = self.log.idle_fetches
        target = self.log.stream_state().last_seq
        deadline = time.monotonic() + timeout
        while True:
            with self._applied_changed:
                if self._applied_changed.wait_for(lambda: self._applied >= target, 0.05):
                    return
            with self.log.idle:
                if self.log.idle_fetches > idle:  # nothing left to deliver: the rest was purged
                    self._stale = True
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"stream {self.log.stream}: sequence {target} not applied within {timeout}s")

    def _advance(self, sequence: int) -> None:
        with self._applied_changed:
            self._applied = max(self._applied, sequence)
            self._applied_changed.notify_all()

    # -- flushing -----------------------------------------------------------------------------
    def flush_due(self) -> bool:
        return time.monotonic() - self._last_flush >= self.settings.flush_interval

    def flush(self, before_delete: Callable[[Position], None] | None = None) -> None:
        """Write the owned partitions' tails to S3 (manifest, then the stream forgets); re-read the
        other partitions' manifests and drop the tail they cover."""
        with self._maintenance:
            self._last_flush = time.monotonic()
            if before_delete is not None:
                before_delete((self._applied, 0))  # derived records are applied before the stream forgets
            owned = set(self.owned())
            for partition in range(self.partitions):
                if partition in owned:
                    try:
                        self._flush_partition(partition)
                    except Moved:  # another node wrote the manifest since: its tail is covered there
                        log.info("%s partition %d: the manifest was switched by another node; flushed there",
                                 self.kind, partition)
                        self._refresh_partition(partition)
                else:
                    self._refresh_partition(partition)

    def refresh(self) -> None:
        """Re-read every partition's manifest (files another node wrote) and drop the tail they cover."""
        self._stale = False
        self._refreshed = time.monotonic()
        for partition in range(self.partitions):
            self._refresh_partition(partition)

    def _refresh_partition(self, partition: int) -> None:
        manifest = self._read_manifest(partition)
        with self._lock:
            self._manifests[partition] = manifest
            self._tail[partition] = [(s, t) for s, t in self._tail[partition] if s > manifest.covered]

    def _flush_partition(self, partition: int) -> None:
        # The manifest as it is now: the partition may have been flushed by its previous owner.
        read = self._read_for_write(partition)
        manifest = read.document
        with self._lock:
            self._manifests[partition] = manifest
            taken = [(s, t) for s, t in self._tail[partition] if s > manifest.covered]
            seen = self._seen.get(partition, 0)
        if seen <= manifest.covered:
            return
        covered = seen
        new_parts = []
        if taken:
            table = pa.concat_tables([t for _, t in taken]).sort_by("ts")
            timestamps = table.column("ts")
            first_ms, last_ms = int(pc.min(timestamps).as_py()), int(pc.max(timestamps).as_py())
            sink = io.BytesIO()
            pq.write_table(table, sink, compression="zstd")
            data = sink.getvalue()
            key = part_key(partition, first_ms, covered)
            self.objects.put(key, data)
            self.cache.keep(key, data)  # the newest files are the ones read most
            new_parts.append(PartFile(key, first_ms, last_ms, table.num_rows, len(data), int(time.time() * 1000)))
        updated = TableManifest(partition, covered, [*manifest.parts, *new_parts])
        self._commit(partition, updated, read)
        with self._lock:
            self._tail[partition] = [(s, t) for s, t in self._tail[partition] if s > covered]
        self.log.forget(partition, covered)

    def merge_small_parts(self) -> int:
        """Merge each owned partition's small files of a day when they are more than
        ``max_parts_per_day`` (a merged file is at most about ``full_part_bytes``); merges done."""
        merged = 0
        with self._maintenance:
            self._delete_retired()
            if time.monotonic() - self._swept >= self.sweep_interval:
                self._sweep_orphans()
            for partition in sorted(set(self.owned())):
                with self._lock:
                    if not self._small_groups(self._manifests[partition]):
                        continue  # nothing to merge (as last read): no request to S3
                read = self._read_for_write(partition)  # a previous owner may have written since
                manifest = read.document
                groups = self._small_groups(manifest)
                if not groups:
                    continue
                replaced, new_parts = set(), []
                for group in groups:
                    new_parts.append(self._merge(partition, manifest.covered, group))
                    replaced.update(part.key for part in group)
                kept = [part for part in manifest.parts if part.key not in replaced]
                updated = TableManifest(partition, manifest.covered, sorted([*kept, *new_parts],
                                                                            key=lambda p: p.first_ms))
                try:
                    self._commit(partition, updated, read)
                except Moved:  # another writer's manifest stands: the merged files are nobody's
                    for part in new_parts:
                        self.objects.delete(part.key)
                    continue
                self._retire(replaced)
                merged += len(groups)
                log.info("%s partition %d: merged %d small files into %d", self.kind, partition, len(replaced),
                         len(new_parts))
        return merged

    def _sweep_orphans(self) -> int:
        """Delete the owned partitions' files that their manifests do not list, once
        ``orphan_seconds`` old (a file being committed is listed within seconds of its upload)."""
        self._swept = time.monotonic()
        retired = {key for _, key in self._retired}
        deleted = 0
        for partition in sorted(set(self.owned())):
            listed = {part.key for part in self._read_manifest(partition).parts}
            listed.add(self._names.get(partition) or "")
            for key in [*self.objects.older_than(f"p{partition}/parts/", self.orphan_seconds),
                        *self.objects.older_than(f"p{partition}/manifests/", self.orphan_seconds)]:
                if key not in listed and key not in retired:
                    self.objects.delete(key)
                    deleted += 1
        if deleted:
            log.info("%s: swept %d orphan files (written, never listed by a manifest)", self.kind, deleted)
        return deleted

    def _small_groups(self, manifest: TableManifest) -> list[list[PartFile]]:
        """The runs of small files to merge: of days holding more than ``max_parts_per_day``."""
        by_day: dict[int, list[PartFile]] = {}
        for part in manifest.parts:
            if part.bytes < self.full_part_bytes:
                by_day.setdefault(part.first_ms // _DAY_MS, []).append(part)
        return [group for small in by_day.values() if len(small) > self.max_parts_per_day
                for group in self._merge_groups(small)]

    def _merge_groups(self, small: list[PartFile]) -> list[list[PartFile]]:
        """Runs of files in time order whose sum stays within ``full_part_bytes`` (two or more)."""
        groups: list[list[PartFile]] = [[]]
        size = 0
        for part in sorted(small, key=lambda p: p.first_ms):
            if groups[-1] and size + part.bytes > self.full_part_bytes:
                groups.append([])
                size = 0
            groups[-1].append(part)
            size += part.bytes
        return [group for group in groups if len(group) > 1]

    def _merge(self, partition: int, covered: int, group: list[PartFile]) -> PartFile:
        sink = io.BytesIO()
        with self.cache.pinned([part.key for part in group]) as files, \
                pq.ParquetWriter(sink, self.schema, compression="zstd") as writer:
            for path in files:  # memory: one row group at a time, and the merged file's bytes
                source = pq.ParquetFile(path)
                for number in range(source.num_row_groups):
                    writer.write_table(source.read_row_group(number).cast(self.schema))
        data = sink.getvalue()
        first_ms = min(part.first_ms for part in group)
        key = part_key(partition, first_ms, covered)
        self.objects.put(key, data)
        self.cache.keep(key, data)
        # A merge is not an arrival: retention counts from the newest of its files' arrivals.
        return PartFile(key, first_ms, max(part.last_ms for part in group), sum(part.rows for part in group),
                        len(data), max(part.written_ms for part in group))

    def _retire(self, keys: Collection[str]) -> None:
        now = time.monotonic()
        self._retired += [(now, key) for key in keys]
        for key in keys:
            self.cache.forget(key)
        self._delete_retired()

    def _delete_retired(self) -> None:
        cutoff = time.monotonic() - self.retired_seconds
        due = [key for retired, key in self._retired if retired <= cutoff]
        self._retired = [(retired, key) for retired, key in self._retired if retired > cutoff]
        for key in due:
            try:
                self.objects.delete(key)
            except OSError as error:  # gone already, or S3 away: an orphan at worst
                log.warning("%s: could not delete %s: %s", self.kind, key, error)

    def drop_before(self, cutoff_ms: int) -> int:
        """Drop the owned partitions' files whose rows all precede ``cutoff_ms``; files dropped."""
        dropped = 0
        with self._maintenance:
            for partition in set(self.owned()):
                with self._lock:
                    if not any(p.expired(cutoff_ms) for p in self._manifests[partition].parts):
                        continue  # nothing to drop (as last read): no request to S3
                read = self._read_for_write(partition)  # a previous owner may have written since
                manifest = read.document
                old = [p for p in manifest.parts if p.expired(cutoff_ms)]
                if not old:
                    continue
                kept = [p for p in manifest.parts if not p.expired(cutoff_ms)]
                try:
                    self._commit(partition, TableManifest(partition, manifest.covered, kept), read)
                except Moved:  # another writer's manifest stands
                    continue
                self._retire([part.key for part in old])
                dropped += len(old)
                log.info("%s partition %d: retention dropped %d files (%d rows, newest row %d ms)", self.log.stream,
                         partition, len(old), sum(p.rows for p in old), max(p.last_ms for p in old))
        return dropped

    # -- reading ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def snapshot(self, start_ms: int | None = None, end_ms: int | None = None) -> Iterator[Snapshot]:
        """The S3 files that may hold rows in ``[start_ms, end_ms)``, as local paths, and the tail."""
        if self._stale or time.monotonic() - self._refreshed > _REFRESH_SECONDS:
            self.refresh()
        with self._lock:
            keys = [p.key for m in self._manifests.values() for p in m.parts
                    if (start_ms is None or p.last_ms >= start_ms) and (end_ms is None or p.first_ms < end_ms)]
            tables = [t for partition, entries in self._tail.items() for s, t in entries
                      if s > self._manifests[partition].covered]
        tail = pa.concat_tables(tables) if tables else self.schema.empty_table()
        with self.cache.pinned(keys) as files:
            yield Snapshot(files, tail)

    def newest_values(self, column: str, limit: int) -> np.ndarray:
        with self.snapshot() as snap:
            chunks = [snap.tail.column(column).to_numpy()] if snap.tail.num_rows else []
            for path in snap.files:
                chunks.append(pq.read_table(path, columns=[column]).column(column).to_numpy())
        values = np.concatenate(chunks) if chunks else np.empty(0, self.schema.field(column).type.to_pandas_dtype())
        return values[-limit:] if len(values) > limit else values

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"parts": sum(len(m.parts) for m in self._manifests.values()),
                    "tail_rows": sum(t.num_rows for entries in self._tail.values() for _, t in entries),
                    "bytes": sum(p.bytes for m in self._manifests.values() for p in m.parts)}

    def covered(self) -> dict[int, int]:
        """The stream sequence each partition's files cover (for operators and tests)."""
        with self._lock:
            return {p: m.covered for p, m in self._manifests.items()}
