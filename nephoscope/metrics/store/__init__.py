"""The metric store: the seam (``interface``) and the embedded implementation.

Public, for the rest of the server: ``MetricStore`` (the interface), ``SeriesFilter``,
``LabelMatcher``, ``SeriesInfo``, ``StoreStats``, ``Overloaded`` and ``EmbeddedStore``. Everything else in
this package is the embedded store's own: the series registry (``registry``), the
write-ahead log (``wal``), the in-memory head (``head``), the chunk byte format
(``codec``), the decoded-chunk cache (``chunkcache``) and the DuckDB tables (``duckdb/``);
nothing outside the package imports them. Imports ``nephoscope.config``,
``nephoscope.tenancy``, ``nephoscope.metrics.series`` and ``nephoscope.metrics.summary``;
speaks no HTTP.
"""

from nephoscope.metrics.store.embedded import EmbeddedStore
from nephoscope.metrics.store.interface import (
                                                LabelMatcher,
                                                MetricStore,
                                                Overloaded,
                                                SeriesFilter,
                                                SeriesInfo,
                                                StoreStats,
)

__all__ = ["EmbeddedStore", "LabelMatcher", "MetricStore", "Overloaded", "SeriesFilter", "SeriesInfo", "StoreStats"]
