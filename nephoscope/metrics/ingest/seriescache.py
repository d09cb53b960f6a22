"""Known series by the raw bytes that named them, per tenant.

Clients send the same series in the same bytes request after request, so the raw
bytes (a metric's name plus its dimensions object as received) identify a series
that was already validated and hashed: a known series then costs one dict lookup.
Entries are added only once a request's batch is durable (the store calls
``remember``), so a rejected, refused or empty request teaches the cache nothing and a
cache hit always means the series definition is already in the WAL.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from nephoscope.metrics.series import SeriesDefinition


class SeriesCache:
    def __init__(self, limit: int = 2_000_000) -> None:
        self._tenants: dict[str, dict[Hashable, int]] = {}
        self._size = 0
        self._limit = limit

    def resolve(self, tenant: str, keys: list[Hashable],
                define: Callable[[int, Hashable], SeriesDefinition]) -> tuple[list[int], dict[Hashable, SeriesDefinition]]:
        """Series ids for ``keys``; ``define(index, key)`` validates and defines a series seen first.

        Returns the ids and the series defined by this call (remembered once the batch is durable).
        """
        ids = self.lookup(tenant, keys)
        defined: dict[Hashable, SeriesDefinition] = {}
        if None in ids:
            for index, identifier in enumerate(ids):
                if identifier is None:
                    key = keys[index]
                    definition = defined.get(key)
                    if definition is None:
                        definition = defined[key] = define(index, key)
                    ids[index] = definition.id
        return ids, defined  # type: ignore[return-value]

    def lookup(self, tenant: str, keys: list[Hashable]) -> list[int | None]:
        """The known series id of each key, None for keys not seen yet (one dict lookup each)."""
        get = (self._tenants.get(tenant) or {}).get
        return list(map(get, keys))

    def remember(self, tenant: str, defined: dict[Hashable, SeriesDefinition]) -> None:
        if not defined:
            return
        if self._size + len(defined) > self._limit:
            self._tenants.clear()
            self._size = 0
        cache = self._tenants.setdefault(tenant, {})
        for key, definition in defined.items():
            cache[key] = definition.id
        self._size += len(defined)
