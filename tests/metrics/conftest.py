"""Metric store implementations under test, for the contract tests.

``store_factory`` is parametrized over every implementation of ``MetricStore``: the embedded
store and the cluster store (JetStream + S3, on the session's three-node NATS cluster and
SeaweedFS: ``nats_cluster``, ``seaweed``). A factory opens a store over one location; opening it
again reads what the first one made durable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nephoscope.config import ArchivePolicy, Config
from nephoscope.metrics.store import EmbeddedStore, MetricStore
from nephoscope.metrics.store.cluster import ClusterStore
from tests.support.cluster import cluster_settings  # the session's engines are tests/conftest.py's

StoreFactory = Callable[[], MetricStore]


def _config(location: Path, policies: list[ArchivePolicy]) -> Config:
    config = Config()
    config.server.data_dir = str(location)
    config.store.compaction_interval = 3600  # only explicit compaction in the contract tests
    config.store.flush_interval = 0.2
    config.store.policies = policies
    return config


def _embedded(request: pytest.FixtureRequest, location: Path, policies: list[ArchivePolicy],
              materialize_rollups: str = "on_expiry") -> StoreFactory:
    def open_store() -> MetricStore:
        config = _config(location, policies)
        config.store.materialize_rollups = materialize_rollups
        store = EmbeddedStore(config)
        store.open()
        return store

    return open_store


def _cluster(request: pytest.FixtureRequest, location: Path, policies: list[ArchivePolicy]) -> StoreFactory:
    nats, s3 = request.getfixturevalue("nats_cluster"), request.getfixturevalue("seaweed")
    # One stream and prefix per test location: reopening finds what the first store wrote.
    name = f"t{abs(hash(str(location))) % 10**12}"

    def open_store() -> MetricStore:
        store = ClusterStore(_config(location, policies), cluster_settings(nats, s3, name))
        store.open()
        return store

    return open_store


def _embedded_on_compaction(request: pytest.FixtureRequest, location: Path,
                            policies: list[ArchivePolicy]) -> StoreFactory:
    """The embedded store writing roll-ups at compaction: the same answers, other storage."""
    return _embedded(request, location, policies, "on_compaction")


IMPLEMENTATIONS = {"embedded": _embedded, "embedded-rollups-on-compaction": _embedded_on_compaction,
                   "cluster": _cluster}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., MetricStore]]:
    """``store_factory(policies=None)`` opens a store over this test's location; every store it
    opened is closed at the end."""
    opened: list[MetricStore] = []

    def open_store(policies: list[ArchivePolicy] | None = None) -> MetricStore:
        store = IMPLEMENTATIONS[request.param](request, tmp_path / "store", policies or [ArchivePolicy()])()
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
