"""Which sub-alarms each series feeds, as arrays: the evaluator's per-batch lookup.

A route is a (series id, sub-alarm id) pair, decided once when a series or a definition
appears (``matching``). Batches look their series up with two ``searchsorted`` calls, so
the per-point cost does not depend on how many definitions or alarms exist. Pairs are kept
sorted by series; new ones go to a small sorted tail merged in when it grows.
"""

from __future__ import annotations

import numpy as np

_TAIL_LIMIT = 4096
_EMPTY = np.empty(0, np.int64)


def _expand(keys: np.ndarray, targets: np.ndarray, series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    left = np.searchsorted(keys, series, "left")
    counts = np.searchsorted(keys, series, "right") - left
    total = int(counts.sum())
    if total == 0:
        return _EMPTY, _EMPTY
    points = np.repeat(np.arange(len(series), dtype=np.int64), counts)
    within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return points, targets[np.repeat(left, counts) + within]


class Routes:
    def __init__(self) -> None:
        self._keys, self._targets = _EMPTY, _EMPTY
        self._tail_keys, self._tail_targets = _EMPTY, _EMPTY

    def __len__(self) -> int:
        return len(self._keys) + len(self._tail_keys)

    def series(self) -> np.ndarray:
        """Every routed series id (with repeats)."""
        return np.concatenate([self._keys, self._tail_keys])

    def targets_of(self, series_id: int) -> set[int]:
        found = set()
        for keys, targets in ((self._keys, self._targets), (self._tail_keys, self._tail_targets)):
            left = int(np.searchsorted(keys, series_id, "left"))
            right = int(np.searchsorted(keys, series_id, "right"))
            found.update(targets[left:right].tolist())
        return found

    def add(self, series_ids: list[int], targets: list[int]) -> None:
        """Add pairs (``series_ids[i]``, ``targets[i]``); pairs already present are ignored."""
        if not series_ids:
            return
        pairs = {(s, t) for s, t in zip(series_ids, targets)}
        for series_id in {s for s, _ in pairs}:
            for existing in self.targets_of(series_id):
                pairs.discard((series_id, existing))
        if not pairs:
            return
        keys = np.concatenate([self._tail_keys, np.fromiter((s for s, _ in pairs), np.int64, len(pairs))])
        values = np.concatenate([self._tail_targets, np.fromiter((t for _, t in pairs), np.int64, len(pairs))])
        order = np.argsort(keys, kind="stable")
        self._tail_keys, self._tail_targets = keys[order], values[order]
        if len(self._tail_keys) > _TAIL_LIMIT:
            self._merge()

    def _merge(self) -> None:
        keys = np.concatenate([self._keys, self._tail_keys])
        values = np.concatenate([self._targets, self._tail_targets])
        order = np.argsort(keys, kind="stable")
        self._keys, self._targets = keys[order], values[order]
        self._tail_keys, self._tail_targets = _EMPTY, _EMPTY

    def remove_targets(self, targets: np.ndarray | list[int]) -> None:
        """Drop every route to these sub-alarms (their alarm or definition is gone)."""
        dead = np.asarray(targets, np.int64)
        if not len(dead):
            return
        self._merge()
        keep = ~np.isin(self._targets, dead)
        self._keys, self._targets = self._keys[keep], self._targets[keep]

    def expand(self, series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For a batch's series column: (point index, sub-alarm id), one row per route of each point."""
        points, targets = _expand(self._keys, self._targets, series)
        if len(self._tail_keys):
            tail_points, tail_targets = _expand(self._tail_keys, self._tail_targets, series)
            if len(tail_points):
                points, targets = np.concatenate([points, tail_points]), np.concatenate([targets, tail_targets])
        return points, targets
