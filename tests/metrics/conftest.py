"""Metric store implementations under test, for the contract tests.

``store_factory`` is parametrized over every implementation of ``MetricStore``: a new one
is added here (a distributed store, later) and must pass the same contract tests. A factory
opens a store over one location; opening it again reads what the first one made durable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nephoscope.config import ArchivePolicy, Config
from nephoscope.metrics.store import EmbeddedStore, MetricStore

StoreFactory = Callable[[], MetricStore]


def _embedded(location: Path, policies: list[ArchivePolicy], materialize_rollups: str = "on_expiry") -> StoreFactory:
    def open_store() -> MetricStore:
        config = Config()
        config.store.materialize_rollups = materialize_rollups
        config.server.data_dir = str(location)
        config.store.compaction_interval = 3600  # only explicit compaction in the contract tests
        config.store.flush_interval = 0.2
        config.store.policies = policies
        store = EmbeddedStore(config)
        store.open()
        return store

    return open_store


def _embedded_on_compaction(location: Path, policies: list[ArchivePolicy]) -> StoreFactory:
    """The embedded store writing roll-ups at compaction: the same answers, other storage."""
    return _embedded(location, policies, "on_compaction")


IMPLEMENTATIONS = {"embedded": _embedded, "embedded-rollups-on-compaction": _embedded_on_compaction}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., MetricStore]]:
    """``store_factory(policies=None)`` opens a store over this test's location; every store it
    opened is closed at the end."""
    opened: list[MetricStore] = []

    def open_store(policies: list[ArchivePolicy] | None = None) -> MetricStore:
        store = IMPLEMENTATIONS[request.param](tmp_path / "store", policies or [ArchivePolicy()])()
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        try:
            store.close()
        except Exception:  # noqa: BLE001 - closed already by the test (a restart)
            pass


@pytest.fixture
def store(store_factory: Callable[..., MetricStore]) -> MetricStore:
    return store_factory()
