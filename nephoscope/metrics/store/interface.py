"""What the rest of the server needs of a metric store: the seam every implementation plugs into.

A store appends batches durably, says which series are new to it, finds series by tenant,
name and dimension matchers (Monasca's) or Prometheus label matchers, reads points (or their roll-up summaries) of series over a
time range at a resolution, lists names, dimension names and values, and applies the
archive policies (retention). The embedded DuckDB/pcodec store is one implementation; a
distributed one must pass the same contract tests (``tests/metrics/test_store_contract.py``).

Every read takes a tenant scope (``SeriesFilter.tenant``); ``ALL_TENANTS`` is the only way
across it. Nothing here speaks HTTP: an overloaded store raises ``Overloaded`` and the metric
service decides what that means to a client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from nephoscope.config import ArchivePolicy
from nephoscope.metrics.series import IngestBatch, SeriesDefinition
from nephoscope.metrics.summary import Points


class Overloaded(Exception):
    """The store cannot take this write now.

    ``backlog`` is true when work already accepted is waiting (flushing or a subscriber is
    behind): retry shortly. False means the write queue itself is full.
    """

    def __init__(self, message: str, backlog: bool) -> None:
        super().__init__(message)
        self.message = message
        self.backlog = backlog


MATCH_OPS = ("=", "!=", "=~", "!~")


@dataclass(frozen=True, slots=True)
class LabelMatcher:
    """A Prometheus label matcher, as PromQL selectors and ``match[]`` carry them.

    ``label`` is a dimension key, or ``__name__`` for the metric name. ``op`` is one of
    ``MATCH_OPS``; regular expressions are RE2, fully anchored. A series lacks a label the way
    Prometheus has it: its value is the empty string, so ``{zone=""}`` matches series without a
    ``zone`` dimension and ``{zone=~"a|"}`` matches those too.

    The metric name matches when the stored name does, or its Prometheus-escaped form does (every
    character outside ``[a-zA-Z0-9_:]`` replaced by ``_``): ``cpu_utilization_perc`` finds the
    Monasca series ``cpu.utilization_perc``. A negative matcher excludes a name when either form
    matches.
    """

    label: str
    op: str
    value: str

    def __post_init__(self) -> None:
        if self.op not in MATCH_OPS:
            raise ValueError(f"unknown label matcher operator {self.op!r} (one of {', '.join(MATCH_OPS)})")


@dataclass(frozen=True, slots=True)
class SeriesFilter:
    """Which series: a tenant scope, an optional name, dimension matchers, label matchers and a
    time range.

    A dimension matcher is ``(key, allowed values)``; ``None`` means the key exists with any
    value. ``matchers`` are Prometheus label matchers, all of which must hold. With a time range
    only series with points in ``[start_ms, end_ms)`` match.
    """

    tenant: str
    name: str | None = None
    dimensions: tuple[tuple[str, tuple[str, ...] | None], ...] = ()
    start_ms: int | None = None
    end_ms: int | None = None
    matchers: tuple[LabelMatcher, ...] = ()

    @property
    def has_time(self) -> bool:
        return self.start_ms is not None or self.end_ms is not None


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    id: int
    tenant: str
    name: str
    dimensions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoreStats:
    """The store's own figures, for health checks and self-metrics."""

    series: int
    head_points: int  # acknowledged, held in memory until flushed
    pending_points: int  # waiting for the write-ahead log
    points_accepted: int
    requests_accepted: int
    size_bytes: int


@runtime_checkable
class MetricStore(Protocol):
    """The metric store as the server sees it. Blocking methods may be called from any thread."""

    @property
    def policies(self) -> list[ArchivePolicy]:
        """The archive policies: which resolutions are kept, and for how long."""

    # -- lifecycle
    def open(self) -> None:
        """Recover what was acknowledged before a crash, then start background work."""

    def close(self) -> None:
        """Stop background work; everything acknowledged is on disk when it returns."""

    # -- writing
    def admit(self) -> None:
        """Raise ``Overloaded`` when a write now would only be refused later (cheap, early)."""

    async def write(self, batch: IngestBatch) -> int:
        """Make ``batch`` durable; returns its sequence. Raises ``Overloaded``."""

    def write_now(self, batch: IngestBatch) -> int:
        """``write`` for in-process producers on a thread of their own (blocks until durable)."""

    def new_series(self, definitions: Sequence[SeriesDefinition]) -> list[SeriesDefinition]:
        """Those of ``definitions`` the store does not know yet (a batch must carry them)."""

    def subscribe(self, listener: Callable[[IngestBatch], None], backlog: Callable[[], int] | None = None) -> None:
        """Call ``listener`` with every batch once it is durable; it must only hand the batch over.
        While ``backlog()`` (points the subscriber has yet to process) is too high, ``admit`` refuses."""

    # -- reading
    def find(self, series_filter: SeriesFilter, after_id: int | None = None,
             limit: int | None = None) -> list[SeriesInfo]:
        """Matching series ordered by (name, dimensions, id); ``after_id`` continues a page."""

    def names(self, series_filter: SeriesFilter, after: str | None, limit: int) -> list[str]:
        """Distinct metric names in the scope, sorted, after ``after``."""

    def dimension_names(self, series_filter: SeriesFilter, after: str | None, limit: int) -> list[str]:
        """Distinct dimension names of the matching series, sorted, after ``after``."""

    def dimension_values(self, series_filter: SeriesFilter, key: str, after: str | None, limit: int) -> list[str]:
        """Distinct values of dimension ``key`` among the matching series, sorted, after ``after``."""

    def read(self, series: Iterable[int], start_ms: int, end_ms: int, resolution: int) -> Points:
        """Points of ``series`` in ``[start_ms, end_ms)`` at ``resolution`` seconds (0: as written),
        one per series and timestamp, in no particular order (``summary.ordered`` sorts them)."""

    def value_meta(self, series: Sequence[int], start_ms: int, end_ms: int) -> dict[tuple[int, int], dict]:
        """Monasca value_meta of individual measurements, by (series, timestamp)."""

    # -- maintenance
    def compact(self, force: bool = False) -> dict:
        """Build roll-ups and apply retention now (``force``: every window, open ones too)."""

    def storage_report(self) -> dict:
        """Where the disk goes: bytes and points per resolution, file sizes."""

    def stats(self) -> StoreStats:
        """Series, points in memory and waiting, what was accepted, bytes on disk."""


@runtime_checkable
class HeadServer(Protocol):
    """A cluster ingester's store: answers a querier's question for its heads (wire bytes both ways)."""

    def heads_answer(self, body: bytes) -> bytes:
        """Raises ``nephoscope.errors.Rejected`` (400) for a malformed question."""
