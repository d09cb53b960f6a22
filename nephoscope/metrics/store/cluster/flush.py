"""Turning the head into blocks, recording what they cover, and retention on blocks.

A flush takes the head's batches (stream order), groups their points by partition and raw window,
and for each (partition, window) writes a new block: the current block's raw points merged with the
new ones (the latest write of a series and timestamp wins), rolled up afresh — a block is always a
complete recomputation, so writing it again is idempotent. Then the partition's manifest switches to
the new blocks and records the stream sequence they cover (a new manifest object, then its pointer
switched by compare-and-set: ``engines.pointers``); only then are the replaced blocks deleted and the
stream allowed to forget the covered messages. A crash anywhere in between
replays the messages after the manifest's sequence into blocks equal to those already written.

Retention rewrites a block without the chunks whose retention ended (by the series' archive policy)
and deletes a block left empty. ``sweep_orphans`` deletes blocks no manifest lists (a crash between a
block's upload and its manifest's, a flush whose lease was lost) once they are an hour old: a
block being committed is listed within seconds of its upload.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nephoscope.config import StoreSettings
from nephoscope.metrics.series import IngestBatch, SeriesDefinition
from nephoscope.metrics.store.cluster import manifest as manifests
from nephoscope.metrics.store.cluster.blocks import (
    RESOLUTIONS,
    decode_head,
    definitions,
    encode_block,
    encode_chunk_tables,
    series_table,
    value_meta_table,
)
from nephoscope.metrics.store.cluster.index import BlockIndex
from nephoscope.metrics.store.cluster.manifest import BlockEntry, Manifest
from nephoscope.engines.objects import ObjectStore
from nephoscope.engines.pointers import Moved, Pointed, Pointers
from nephoscope.metrics.store.duckdb.compaction import points_from_chunks
from nephoscope.metrics.store.head import batch_points
from nephoscope.metrics.summary import Points, latest_per_timestamp

log = logging.getLogger(__name__)


class LeaseLost(RuntimeError):
    """A flush found its partition owned by another node before committing its manifest (its lease
    gone, or the manifest switched by another writer since it was read)."""


def pointer_key(partition: int) -> str:
    return f"p{partition}"


@dataclass
class FlushReport:
    blocks: int = 0
    points: int = 0
    chunks: int = 0
    deleted: int = 0
    replaced: list[str] = field(default_factory=list)


def partition_of_batch(batch: IngestBatch, partitions: int) -> int:
    """Every part published holds one partition's series (``partitions.split``)."""
    if len(batch.points):
        return int(batch.points.series[0]) % partitions
    return batch.tenant_series[0].id % partitions if batch.tenant_series else 0


class Flusher:
    def __init__(self, objects: ObjectStore, index: BlockIndex, store: StoreSettings, partitions: int,
                 may_commit: Callable[[int], bool] | None = None, pointers: Pointers | None = None) -> None:
        """``pointers``: which manifest object is current, switched by compare-and-set (None: the
        legacy ``manifest.json`` replaced in place, for a store that is the only writer)."""
        self.objects = objects
        self.pointers = pointers
        self._reads: dict[int, Pointed[Manifest]] = {}  # per partition, the manifest as read or written last
        # Whether this node may still write a partition's manifest (it holds the partition's lease),
        # asked just before each manifest PUT; None: the one writer of every partition.
        self.may_commit = may_commit
        self.index = index
        self.width = store.raw_window * 1000
        self.policies = store.policies
        self.partitions = partitions
        self.manifests: dict[int, Manifest] = {}
        self.orphan_seconds = 3600.0  # an unlisted block this old is an orphan
        self.sweep_interval = 600.0  # seconds between sweeps (each lists the partitions' blocks)
        self._swept = time.monotonic()

    # -- opening -----------------------------------------------------------------------------
    def load(self) -> dict[int, int]:
        """Read every partition's manifest and index its blocks; the sequence each covers."""
        return {partition: self.load_partition(partition) for partition in range(self.partitions)}

    def load_partition(self, partition: int) -> int:
        """Read one partition's manifest and index its blocks; the sequence it covers."""
        self.manifests.pop(partition, None)
        return self.refresh(partition)

    def refresh(self, partition: int) -> int:
        """Read the partition's manifest again (another node may have written it: a querier's view,
        an ingester taking a partition over) and index the blocks that changed; what it covers."""
        manifest = self._read(partition)
        known = self.manifests.get(partition)
        old = known.blocks if known is not None else {}
        for name, entry in manifest.blocks.items():
            if name not in old or old[name].key != entry.key:
                head = decode_head(self.objects.get_immutable(entry.key))
                self.index.replace_block(partition, entry.window_start, entry.window_start + self.width, entry.key,
                                         head)
        for name, entry in old.items():
            if name not in manifest.blocks:
                self.index.drop_block(partition, entry.window_start)
        self.manifests[partition] = manifest
        return manifest.covered

    def _read(self, partition: int) -> Manifest:
        if self.pointers is None:
            read = Pointed(None, None, None)
            with contextlib.suppress(FileNotFoundError):
                read = Pointed(self.objects.get_document(manifests.manifest_key(partition), manifests.decode), None, None)
        else:
            read = self.pointers.read(pointer_key(partition), self.objects, manifests.decode,
                                      manifests.manifest_key(partition))
        self._reads[partition] = read
        return read.document if read.document is not None else Manifest(partition)

    def _commit(self, partition: int, manifest: Manifest) -> None:
        """Make ``manifest`` the partition's current one: written under a name of its own, then the
        pointer switched from the revision read last. Another writer switched it since: ``LeaseLost``
        (the caller's head stays; its next flush reads again)."""
        data = manifests.encode(manifest)
        if self.pointers is None:
            self.objects.put(manifests.manifest_key(partition), data)
            return
        name = manifests.manifest_object_key(partition, manifest.covered)
        previous = self._reads.get(partition, Pointed(None, None, None))
        try:
            revision = self.pointers.publish(pointer_key(partition), self.objects, name, data, previous)
        except Moved as error:
            self.manifests.pop(partition, None)
            raise LeaseLost(f"partition {partition}'s manifest was switched by another node") from error
        self._reads[partition] = Pointed(manifest, revision, name)
        # Readers holding the old name read the pointer again; the legacy object goes once switched.
        self.objects.delete(previous.name or manifests.manifest_key(partition))

    # -- flushing ------------------------------------------------------------------------------
    def flush(self, batches: list[tuple[int, IngestBatch]]) -> FlushReport:
        """Write the batches (sequence ascending) into blocks; manifests cover their last sequence."""
        report = FlushReport()
        covered = batches[-1][0]
        by_partition: dict[int, list[tuple[int, IngestBatch]]] = {}
        for sequence, batch in batches:
            by_partition.setdefault(partition_of_batch(batch, self.partitions), []).append((sequence, batch))
        for partition, taken in sorted(by_partition.items()):
            self._flush_partition(partition, taken, covered, report)
        return report

    def _flush_partition(self, partition: int, taken: list[tuple[int, IngestBatch]], covered: int,
                         report: FlushReport) -> None:
        points = Points.concat([batch_points(batch) for _, batch in taken])
        sequence = np.concatenate([np.full(len(batch.points), s, np.int64) for s, batch in taken])
        new_series = [d for _, batch in taken for d in batch.tenant_series]
        meta = [(s, t, m) for _, batch in taken for s, t, m in zip(batch.value_meta.series,
                                                                     batch.value_meta.timestamp, batch.value_meta.meta)]
        if partition not in self.manifests:  # never read, or dropped by a commit that lost: read it now
            self.refresh(partition)
        manifest = self.manifests[partition]
        windows = (points.timestamp // self.width) * self.width
        written = []
        for window in np.unique(windows).tolist():
            inside = windows == window
            data = self._merged_block(manifest, window, points.take(inside), sequence[inside], new_series,
                                      [row for row in meta if window <= row[1] < window + self.width])
            key = manifests.block_key(partition, window, covered, time.time_ns())
            self.objects.put_immutable(key, data)
            written.append((window, key, data, decode_head(data)))
        replaced = []
        for window, key, data, head in written:
            old = manifest.blocks.get(str(window))
            if old is not None:
                replaced.append(old.key)
            manifest.blocks[str(window)] = BlockEntry(key, window, sorted(set(head.index.column("resolution").to_pylist())),
                                                      head.series.num_rows, len(data))
        if self.may_commit is not None and not self.may_commit(partition):
            # The partition moved to another ingester meanwhile: its blocks, not these, are current
            # (these become orphans, which nothing reads).
            self.manifests.pop(partition, None)
            raise LeaseLost(f"partition {partition} is no longer this node's to write")
        manifest.covered = covered
        self._commit(partition, manifest)
        for window, key, _, head in written:
            self.index.replace_block(partition, window, window + self.width, key, head)
            report.blocks += 1
            report.chunks += head.index.num_rows
        report.points += len(points)
        report.replaced += replaced
        for key in replaced:
            self.objects.delete(key)

    def _merged_block(self, manifest: Manifest, window: int, points: Points, sequence: np.ndarray,
                      new_series: list[SeriesDefinition], meta: list[tuple[int, int, str]]) -> bytes:
        old_points, old_series, old_meta = Points.empty(), None, []
        entry = manifest.blocks.get(str(window))
        if entry is not None:
            data = self.objects.get_immutable(entry.key)
            head = decode_head(data)
            raw = head.index.filter(pc.equal(head.index.column("resolution"), 0))
            offsets = raw.column("offset").to_numpy() + head.payload_start
            lengths = raw.column("length").to_numpy()
            old_points = points_from_chunks(raw.column("series_id").to_numpy(),
                                            [data[o:o + n] for o, n in zip(offsets.tolist(), lengths.tolist())])
            old_series = head.series
            vm = head.value_meta
            old_meta = list(zip(vm.column("series_id").to_pylist(), vm.column("ts").to_pylist(),
                                vm.column("meta").to_pylist()))
            if 0 not in entry.resolutions:
                log.warning("late points for window %d of partition %d, whose raw data retention dropped: its "
                            "roll-ups are recomputed from the late points only", window, manifest.partition)
        merged = latest_per_timestamp(Points.concat([old_points, points]),
                                      np.concatenate([np.full(len(old_points), -1, np.int64), sequence]))
        ids = np.unique(merged.series).tolist()
        in_block = set(ids)
        known = {d.id: d for d in (definitions(old_series) if old_series is not None else [])}
        known.update({d.id: d for d in new_series if d.id in in_block})
        missing = [i for i in ids if i not in known]
        if missing:
            known.update({d.id: d for d in definitions(self.index.definitions(np.asarray(missing, np.int64)))})
        latest_meta = {(s, t): m for s, t, m in old_meta + meta}  # a resent measurement's meta replaces
        return encode_block(merged, window, RESOLUTIONS, series_table([known[i] for i in ids if i in known]),
                            value_meta_table([k[0] for k in latest_meta], [k[1] for k in latest_meta],
                                             list(latest_meta.values())))

    # -- retention -----------------------------------------------------------------------------
    def sweep_orphans(self, partitions: set[int] | None = None, due: bool = False) -> int:
        """Delete the blocks of ``partitions`` (None: all this node knows) that their manifests, read
        again, do not list and that are older than ``orphan_seconds``; at most every
        ``sweep_interval`` unless ``due``. Returns the blocks deleted."""
        if not due and time.monotonic() - self._swept < self.sweep_interval:
            return 0
        self._swept = time.monotonic()
        deleted = 0
        for partition in sorted(self.manifests if partitions is None else partitions):
            self.refresh(partition)
            listed = {entry.key for entry in self.manifests[partition].blocks.values()}
            listed.add(self._reads[partition].name or "")  # refreshed just above
            for key in [*self.objects.older_than(f"p{partition}/blocks/", self.orphan_seconds),
                        *self.objects.older_than(f"p{partition}/manifests/", self.orphan_seconds)]:
                if key not in listed:
                    self.objects.delete(key)
                    deleted += 1
        if deleted:
            log.info("swept %d orphan blocks (uploaded, never listed by a manifest)", deleted)
        return deleted

    def apply_retention(self, now_ms: int, partitions: set[int] | None = None) -> int:
        """Drop chunks whose retention ended (of ``partitions``, None: all this node knows); returns
        the chunks dropped."""
        dropped = 0
        for partition, manifest in list(self.manifests.items()):
            if partitions is not None and partition not in partitions:
                continue
            changed, replaced = False, []
            for name, entry in list(manifest.blocks.items()):
                data = self.objects.get_immutable(entry.key)
                head = decode_head(data)
                index = head.index
                keep = self._kept(index, head.series, entry.window_start, now_ms)
                if keep.all():
                    continue
                dropped += int((~keep).sum())
                changed = True
                replaced.append(entry.key)
                if not keep.any():
                    del manifest.blocks[name]
                    self.index.drop_block(partition, entry.window_start)
                    continue
                kept = index.filter(pa.array(keep))
                offsets = kept.column("offset").to_numpy() + head.payload_start
                payloads = [data[o:o + n] for o, n in zip(offsets.tolist(), kept.column("length").to_numpy().tolist())]
                table = pa.table({"resolution": kept.column("resolution"),
                                  "window_start": pa.array(np.full(kept.num_rows, entry.window_start, np.int64)),
                                  "series_id": kept.column("series_id"), "t_first": kept.column("t_first"),
                                  "t_last": kept.column("t_last"), "n": kept.column("n"),
                                  "payload": pa.array(payloads, pa.binary())})
                block = encode_chunk_tables([table], head.series, head.value_meta)
                key = manifests.block_key(partition, entry.window_start, manifest.covered, time.time_ns())
                self.objects.put_immutable(key, block)
                new_head = decode_head(block)
                manifest.blocks[name] = BlockEntry(key, entry.window_start,
                                                   sorted(set(kept.column("resolution").to_pylist())),
                                                   entry.series, len(block))
                self.index.replace_block(partition, entry.window_start, entry.window_start + self.width, key,
                                         new_head)
            if changed:
                if self.may_commit is not None and not self.may_commit(partition):
                    self.manifests.pop(partition, None)  # moved meanwhile: its new owner's manifest stands
                    continue
                try:
                    self._commit(partition, manifest)
                except LeaseLost:
                    continue  # switched meanwhile by another writer: its manifest stands
                for key in replaced:
                    self.objects.delete(key)
        return dropped

    def _kept(self, index: pa.Table, series: pa.Table, window_start: int, now_ms: int) -> np.ndarray:
        """Which chunks of a block are still within their series' retention."""
        names = dict(zip(series.column("id").to_pylist(), series.column("name").to_pylist()))
        policy = self.index.registry.policy_index
        ids = index.column("series_id").to_numpy()
        resolution = index.column("resolution").to_numpy()
        # Per series (not per point): the policy of each series' name, then its retention per resolution.
        retention = np.array([self.policies[policy(names.get(i, ""))].retention(int(r))
                              for i, r in zip(ids.tolist(), resolution.tolist())], np.int64)
        # A block's buckets all end with its window: the whole chunk expires at once.
        window_end = window_start + self.width
        return (retention > 0) & (window_end > now_ms - retention * 1000)

    def stored_bytes(self) -> int:
        return sum(entry.bytes for manifest in self.manifests.values() for entry in manifest.blocks.values())
