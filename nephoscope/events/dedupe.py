"""The message ids the events store holds, in memory: 64-bit hashes in sorted NumPy runs.

The store asks, for a whole batch at once, which ids it may already hold. Hashes can collide, so a
hit is only a *maybe*: the store confirms hits against the stored events before dropping anything.

Each added batch becomes a sorted run; runs are merged like a binary counter (a run is merged into
the one before it when it has grown as large), so adding costs O(log n) per id amortised and a
lookup is one ``searchsorted`` per run — a few dozen at most. Memory is bounded: two generations of
at most ``capacity / 2`` hashes each (8 bytes a hash); when the newer fills it becomes the older
and the older is forgotten, so at least the last ``capacity / 2`` ids are always remembered.
"""

from __future__ import annotations

import numpy as np


def _member(run: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    positions = np.searchsorted(run, hashes)
    positions[positions == len(run)] = 0
    return run[positions] == hashes


class RecentIds:
    def __init__(self, capacity: int = 4_000_000) -> None:
        self._half = max(1, capacity // 2)
        self._older: list[np.ndarray] = []
        self._newer: list[np.ndarray] = []
        self._newer_size = 0

    def __len__(self) -> int:
        return self._newer_size + sum(len(run) for run in self._older)

    def maybe_held(self, hashes: np.ndarray) -> np.ndarray:
        """For each hash, whether an id with that hash was added (True may be a collision)."""
        hashes = np.asarray(hashes, np.uint64)
        # Sorted needles: NumPy's binary search starts each one where the last ended, so a batch
        # walks every run once instead of jumping across it per hash (0.74 against 1.2 µs a hash
        # over 750,000 held ids).
        order = np.argsort(hashes)
        needles = hashes[order]
        found = np.zeros(len(hashes), bool)
        for run in (*self._newer, *self._older):
            found |= _member(run, needles)
        held = np.empty_like(found)
        held[order] = found
        return held

    def add(self, hashes: np.ndarray) -> None:
        hashes = np.unique(np.asarray(hashes, np.uint64))  # sorted
        if not len(hashes):
            return
        runs = self._newer
        runs.append(hashes)
        self._newer_size += len(hashes)
        while len(runs) > 1 and len(runs[-1]) >= len(runs[-2]):
            merged = np.concatenate(runs[-2:])
            merged.sort(kind="stable")
            runs[-2:] = [merged]
        if self._newer_size >= self._half:
            self._older, self._newer, self._newer_size = runs, [], 0
