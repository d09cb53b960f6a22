"""What Prometheus's metadata endpoints ask of the store: series, label names, label values.

``match[]`` selectors (each with its ``or`` alternatives) narrow them, in the caller's tenant
scope; without any, everything in the scope counts. Stored names are reported as stored
(``cpu.utilization_perc``), the label of the name being ``__name__``.
"""

from __future__ import annotations

from nephoscope.metrics.promql import labels as L
from nephoscope.metrics.store import LabelMatcher, MetricStore, SeriesFilter

LISTING_LIMIT = 1_000_000  # names or values listed at most (a guard, far above real catalogs)


def _filters(tenant: str, selectors: list[list[tuple[LabelMatcher, ...]]], start_ms: int | None,
             end_ms: int | None) -> list[SeriesFilter]:
    alternatives = [matchers for selector in selectors for matchers in selector] or [()]
    return [SeriesFilter(tenant, None, (), start_ms, end_ms, matchers) for matchers in alternatives]


def series(store: MetricStore, tenant: str, selectors: list[list[tuple[LabelMatcher, ...]]],
           start_ms: int | None, end_ms: int | None, limit: int | None = None) -> list[dict[str, str]]:
    """The label sets of the series any selector matches, in label order."""
    found: dict[int, L.Labels] = {}
    for series_filter in _filters(tenant, selectors, start_ms, end_ms):
        for info in store.find(series_filter):
            found.setdefault(info.id, L.of_series(info.name, info.dimensions))
    ordered = sorted(set(found.values()))
    return [dict(labels) for labels in (ordered[:limit] if limit else ordered)]


def label_names(store: MetricStore, tenant: str, selectors: list[list[tuple[LabelMatcher, ...]]],
                start_ms: int | None, end_ms: int | None, limit: int | None = None) -> list[str]:
    names: set[str] = set()
    for series_filter in _filters(tenant, selectors, start_ms, end_ms):
        dimensions = store.dimension_names(series_filter, None, LISTING_LIMIT)
        if dimensions or store.names(series_filter, None, 1):
            names.add(L.NAME)
        names.update(dimensions)
    ordered = sorted(names)
    return ordered[:limit] if limit else ordered


def label_values(store: MetricStore, tenant: str, name: str, selectors: list[list[tuple[LabelMatcher, ...]]],
                 start_ms: int | None, end_ms: int | None, limit: int | None = None) -> list[str]:
    values: set[str] = set()
    for series_filter in _filters(tenant, selectors, start_ms, end_ms):
        if name == L.NAME:
            values.update(store.names(series_filter, None, LISTING_LIMIT))
        else:
            values.update(store.dimension_values(series_filter, name, None, LISTING_LIMIT))
    ordered = sorted(values)
    return ordered[:limit] if limit else ordered
