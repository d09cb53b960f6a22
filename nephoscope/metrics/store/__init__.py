"""The metric store: the seam (``interface``) and the embedded implementation.

Public, for the rest of the server: ``MetricStore`` (the interface), ``SeriesFilter``,
``LabelMatcher``, ``SeriesInfo``, ``StoreStats``, ``Overloaded``, ``HeadServer`` and ``EmbeddedStore``;
and, imported on first use (nats-py is the optional ``cluster`` extra), the cluster store
(``cluster/``): ``ClusterStore``, ``ClusterNode`` and ``cluster_store``. Everything else in
this package is the embedded store's own: the series registry (``registry``), the
write-ahead log (``wal``), the in-memory head (``head``), the chunk byte format
(``codec``), the decoded-chunk cache (``chunkcache``) and the DuckDB tables (``duckdb/``);
nothing outside the package imports them. Imports ``nephoscope.config``,
``nephoscope.tenancy``, ``nephoscope.metrics.series`` and ``nephoscope.metrics.summary``; the
cluster store also ``nephoscope.cluster`` (leases) and ``nephoscope.errors``. Speaks no HTTP.
"""

from nephoscope.metrics.store.embedded import EmbeddedStore
from nephoscope.metrics.store.interface import (
                                                HeadServer,
                                                LabelMatcher,
                                                MetricStore,
                                                Overloaded,
                                                SeriesFilter,
                                                SeriesInfo,
                                                StoreStats,
)

_CLUSTER = ("ClusterNode", "ClusterStore", "cluster_store")


def __getattr__(name: str) -> object:
    """The cluster store's names, imported when first asked for (they need nats-py)."""
    if name in _CLUSTER:
        from nephoscope.metrics.store import cluster

        return getattr(cluster, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ClusterNode", "ClusterStore", "EmbeddedStore", "HeadServer", "LabelMatcher", "MetricStore", "Overloaded",
           "SeriesFilter", "SeriesInfo", "StoreStats", "cluster_store"]
