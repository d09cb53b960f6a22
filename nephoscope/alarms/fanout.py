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


def _expand(keys: np.ndarray, starts: np.ndarray, targets: np.ndarray,
            series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``keys`` unique and sorted; the targets of ``keys[i]`` are ``targets[starts[i]:starts[i + 1]]``."""
    if not len(keys):
        return _EMPTY, _EMPTY
    position = np.searchsorted(keys, series)
    np.minimum(position, len(keys) - 1, out=position)
    found = keys[position] == series
    if not found.any():
        return _EMPTY, _EMPTY
    points = np.flatnonzero(found)
    position = position[points]
    counts = starts[position + 1] - starts[position]
    if (counts == 1).all():  # the common case: one sub-alarm per series
        return points, targets[starts[position]]
    total = int(counts.sum())
    within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(points, counts), targets[np.repeat(starts[position], counts) + within]


def _index(pair_keys: np.ndarray, pair_targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs sorted by key -> (unique keys, start offsets with a final end, targets)."""
    order = np.argsort(pair_keys, kind="stable")
    pair_keys, pair_targets = pair_keys[order], pair_targets[order]
    if not len(pair_keys):
        return _EMPTY, np.zeros(1, np.int64), _EMPTY
    first = np.flatnonzero(np.concatenate([[True], pair_keys[1:] != pair_keys[:-1]]))
    return pair_keys[first], np.append(first, len(pair_keys)).astype(np.int64), pair_targets


class Routes:
    def __init__(self) -> None:
        self._pairs = (_EMPTY, _EMPTY)  # (series, target) of the main index, sorted by series
        self._main = _index(_EMPTY, _EMPTY)
        self._tail_pairs = (_EMPTY, _EMPTY)
        self._tail = _index(_EMPTY, _EMPTY)

    def __len__(self) -> int:
        return len(self._pairs[0]) + len(self._tail_pairs[0])

    def series(self) -> np.ndarray:
        """Every routed series id (with repeats)."""
        return np.concatenate([self._pairs[0], self._tail_pairs[0]])

    def targets_of(self, series_id: int) -> set[int]:
        return set(_expand(*self._main, np.array([series_id], np.int64))[1].tolist()) | set(
            _expand(*self._tail, np.array([series_id], np.int64))[1].tolist())

    def add(self, series_ids: list[int], targets: list[int]) -> None:
        """Add pairs (``series_ids[i]``, ``targets[i]``); pairs already present are ignored."""
        if not series_ids:
            return
        pairs = set(zip(series_ids, targets))
        for series_id in {s for s, _ in pairs}:
            for existing in self.targets_of(series_id):
                pairs.discard((series_id, existing))
        if not pairs:
            return
        keys = np.concatenate([self._tail_pairs[0], np.fromiter((s for s, _ in pairs), np.int64, len(pairs))])
        values = np.concatenate([self._tail_pairs[1], np.fromiter((t for _, t in pairs), np.int64, len(pairs))])
        self._tail_pairs = (keys, values)
        if len(keys) > _TAIL_LIMIT:
            self._merge()
        else:
            self._tail = _index(keys, values)

    def _merge(self) -> None:
        keys = np.concatenate([self._pairs[0], self._tail_pairs[0]])
        values = np.concatenate([self._pairs[1], self._tail_pairs[1]])
        self._main = _index(keys, values)
        self._pairs = (np.repeat(self._main[0], np.diff(self._main[1])), self._main[2])
        self._tail_pairs = (_EMPTY, _EMPTY)
        self._tail = _index(_EMPTY, _EMPTY)

    def remove_targets(self, targets: np.ndarray | list[int]) -> None:
        """Drop every route to these sub-alarms (their alarm or definition is gone)."""
        dead = np.asarray(targets, np.int64)
        if not len(dead):
            return
        self._merge()
        keep = ~np.isin(self._pairs[1], dead)
        self._main = _index(self._pairs[0][keep], self._pairs[1][keep])
        self._pairs = (np.repeat(self._main[0], np.diff(self._main[1])), self._main[2])

    def expand(self, series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For a batch's series column: (point index, sub-alarm id), one row per route of each point."""
        points, targets = _expand(*self._main, series)
        if len(self._tail_pairs[0]):
            tail_points, tail_targets = _expand(*self._tail, series)
            if len(tail_points):
                points, targets = np.concatenate([points, tail_points]), np.concatenate([targets, tail_targets])
        return points, targets
