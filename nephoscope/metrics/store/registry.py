"""The in-memory series registry: which series exist, and under which archive policy.

Series identity is a 64-bit hash of (tenant, name, sorted dimensions), so ids are
the same after a restart and on every node. The registry only answers "is this id
known?" for ingest; everything else about series lives in the store's tables.
"""

from __future__ import annotations

import fnmatch
import threading

from nephoscope.config import ArchivePolicy
from nephoscope.metrics.series import SeriesDefinition


class SeriesRegistry:
    def __init__(self, policies: list[ArchivePolicy]) -> None:
        self.policies = policies
        self._known: set[int] = set()
        self._lock = threading.Lock()
        self._policy_cache: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._known)

    def __contains__(self, identifier: int) -> bool:
        return identifier in self._known

    def add_known(self, identifiers) -> None:  # noqa: ANN001 - any iterable of ints
        with self._lock:
            self._known.update(int(i) for i in identifiers)

    def unknown(self, definitions: list[SeriesDefinition]) -> list[SeriesDefinition]:
        """The definitions not registered yet: those the WAL must record before their points."""
        known = self._known
        return [d for d in definitions if d.id not in known]

    def policy_index(self, name: str) -> int:
        """Index of the first archive policy whose pattern matches the metric name."""
        index = self._policy_cache.get(name)
        if index is None:
            index = next(
                (i for i, policy in enumerate(self.policies) if fnmatch.fnmatchcase(name, policy.pattern)),
                len(self.policies) - 1,
            )
            if len(self._policy_cache) < 100_000:
                self._policy_cache[name] = index
        return index
