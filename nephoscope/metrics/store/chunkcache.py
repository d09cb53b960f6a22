"""Decoded chunks, and roll-ups of raw chunks, kept in memory, least recently used first out.

Dashboards ask for the same windows every few seconds; decoding a chunk costs far
more than finding it. Entries are keyed by the payload's CRC-32 and length (and the
bucket width for a roll-up), so a rewritten chunk (late data, a new day merged) is
simply a different entry. A raw chunk's roll-up is kept instead of its points when
coarse queries read it: a fraction of the memory, and the work of rolling up done once.
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from nephoscope.metrics.store.codec import ChunkColumns, decode_chunks
from nephoscope.metrics.summary import Points, rollup

_FIELDS = ("timestamps", "count", "sum", "min", "max", "last")


class ChunkCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[int, ...], tuple[np.ndarray, ...]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def decode(self, payloads: Sequence[bytes], start_ms: int | None = None,
               end_ms: int | None = None) -> tuple[np.ndarray, ChunkColumns]:
        """Like ``codec.decode_chunks``: lengths per payload and the concatenated columns; with
        ``start_ms``/``end_ms``, only each chunk's points in ``[start, end)`` (a chunk's points are in
        time order: the edge chunks are sliced before the one concatenation, not masked after it)."""
        return self._lookup([(zlib.crc32(p), len(p)) for p in payloads], payloads, decode_chunks, start_ms, end_ms)

    def rollups(self, payloads: Sequence[bytes], width_ms: int) -> tuple[np.ndarray, ChunkColumns]:
        """Each chunk's points merged into buckets ``width_ms`` wide (``summary.rollup`` per chunk):
        lengths per payload and the concatenated columns, each chunk's buckets in time order."""

        def rolled(missing: Sequence[bytes]) -> tuple[np.ndarray, ChunkColumns]:
            lengths, columns = decode_chunks(missing)
            chunk = np.repeat(np.arange(len(missing), dtype=np.int64), lengths)
            # The chunk index stands in for the series: buckets never merge across chunks.
            buckets = rollup(Points(chunk, columns.timestamps, columns.count, columns.sum, columns.min,
                                    columns.max, columns.last), width_ms)
            return (np.bincount(buckets.series, minlength=len(missing)),
                    ChunkColumns(buckets.timestamp, buckets.count, buckets.sum, buckets.min, buckets.max, buckets.last))

        return self._lookup([(zlib.crc32(p), len(p), width_ms) for p in payloads], payloads, rolled)

    def _lookup(self, keys: list[tuple[int, ...]], payloads: Sequence[bytes],
                compute, start_ms: int | None = None,  # noqa: ANN001 - payloads -> (lengths, columns)
                end_ms: int | None = None) -> tuple[np.ndarray, ChunkColumns]:
        found: list[tuple[np.ndarray, ...] | None] = []
        with self._lock:
            for key in keys:
                entry = self._entries.get(key)
                if entry is not None:
                    self._entries.move_to_end(key)
                found.append(entry)
        missing = [i for i, entry in enumerate(found) if entry is None]
        self.hits += len(payloads) - len(missing)
        self.misses += len(missing)
        if missing:
            lengths, columns = compute([payloads[i] for i in missing])
            offsets = np.concatenate([[0], np.cumsum(lengths)])
            arrays = [getattr(columns, name) for name in _FIELDS]
            with self._lock:
                for position, index in enumerate(missing):
                    a, b = offsets[position], offsets[position + 1]
                    entry = tuple(array[a:b] for array in arrays)
                    found[index] = entry
                    self._store(keys[index], entry)
        if start_ms is not None and end_ms is not None:
            found = [_within(entry, start_ms, end_ms) for entry in found]
        lengths = np.fromiter((len(entry[0]) for entry in found), np.int64, len(found))
        if not found:
            empty = np.empty(0, np.int64), np.empty(0, np.float64)
            return lengths, ChunkColumns(empty[0], empty[0], *(empty[1],) * 4)
        merged = [np.concatenate([entry[i] for entry in found]) for i in range(len(_FIELDS))]
        return lengths, ChunkColumns(*merged)

    def _store(self, key: tuple[int, ...], entry: tuple[np.ndarray, ...]) -> None:
        size = sum(array.nbytes for array in entry)
        if size > self.max_bytes:
            return
        if key in self._entries:
            return
        self._entries[key] = entry
        self._bytes += size
        while self._bytes > self.max_bytes and self._entries:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= sum(array.nbytes for array in evicted)


def _within(entry: tuple[np.ndarray, ...], start_ms: int, end_ms: int) -> tuple[np.ndarray, ...]:
    """A decoded chunk's points in ``[start, end)`` (views, no copy)."""
    times = entry[0]
    if not len(times) or (times[0] >= start_ms and times[-1] < end_ms):
        return entry
    first, last = np.searchsorted(times, [start_ms, end_ms])
    return tuple(array[first:last] for array in entry)
