"""The metrics domain as the API and the other domains see it: one object, ``MetricService``.

It decodes wire formats into batches (with the series cache), writes them durably through
the store, records the points the server makes itself (self-metrics, metrics derived from
events and logs), and answers the Monasca reads. It is where the store's overload signal
becomes an answer: ``Overloaded`` with work waiting is 429, a full write queue is 503 (both
``Rejected``, which the API turns into an error with Retry-After).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from nephoscope.config import ArchivePolicy, PrometheusSettings, StoreSettings
from nephoscope.errors import Rejected
from nephoscope.metrics import query
from nephoscope.metrics.ingest import native, otlp
from nephoscope.metrics.ingest.monasca import MonascaDecoder
from nephoscope.metrics.ingest.promlabels import SeriesOwner
from nephoscope.metrics.ingest.remote_write import RemoteWrite, RemoteWriteDecoder
from nephoscope.metrics.ingest.seriescache import SeriesCache
from nephoscope.metrics.ingest.timewindow import TimeWindow
from nephoscope.metrics.metadata import FamilyMetadata, MetadataStore
from nephoscope.metrics.series import IngestBatch
from nephoscope.metrics.store import MetricStore, Overloaded, SeriesFilter, SeriesInfo, StoreStats
from nephoscope.metrics.summary_rows import SummaryRow, summary_batch
from nephoscope.tenancy import ALL_TENANTS

log = logging.getLogger(__name__)


def _refusal(error: Overloaded) -> Rejected:
    return Rejected(429 if error.backlog else 503, error.message)


class MetricService:
    def __init__(self, store: MetricStore, settings: StoreSettings, prometheus: PrometheusSettings | None = None,
                 metadata: MetadataStore | None = None) -> None:
        self.store = store
        self.settings = settings
        self.prometheus = prometheus or PrometheusSettings()
        self.series_cache = SeriesCache()
        self.monasca = MonascaDecoder(store.new_series, self.series_cache)
        self.remote_write = RemoteWriteDecoder(store.new_series, self.series_cache)
        self.otlp = otlp.OtlpDecoder(store.new_series, self.series_cache, self.prometheus)
        self.metadata = metadata
        self._dropped_reported = 0.0
        # A cached series must already be in the log: remember it only once its batch is durable.
        store.subscribe(self._remember)

    def _remember(self, batch: IngestBatch) -> None:
        if batch.learned:
            self.series_cache.remember(batch.tenant, batch.learned)

    @property
    def policies(self) -> list[ArchivePolicy]:
        return self.store.policies

    # -- writing ---------------------------------------------------------------------------------
    def window(self) -> TimeWindow:
        """The timestamps accepted now: within raw retention, not too far in the future."""
        oldest = min(policy.raw for policy in self.store.policies)
        return TimeWindow.around_now(oldest, self.settings.max_future_seconds)

    def admit(self) -> None:
        """Refuse early (before reading a body) when the store is overloaded."""
        try:
            self.store.admit()
        except Overloaded as error:
            raise _refusal(error) from None

    async def write(self, batch: IngestBatch) -> int:
        """Make ``batch`` durable; returns how many points it held."""
        if not len(batch.points):
            return 0
        try:
            await self.store.write(batch)
        except Overloaded as error:
            raise _refusal(error) from None
        return len(batch.points)

    async def ingest_monasca(self, body: bytes, tenant: str) -> int:
        """A Monasca ``POST /v2.0/metrics`` body, all or nothing; durable on return."""
        return await self.write(self.monasca.decode(body, tenant, self.window()))

    async def ingest_native(self, batch: native.NativeBatch, tenant: str, binary: bool) -> int:
        """A parsed native columnar batch; durable on return."""
        return await self.write(native.to_ingest_batch(batch, tenant, self.store.new_series, self.window(),
                                                       self.series_cache, binary))

    def series_owner(self, project: str, may_delegate: bool) -> SeriesOwner:
        """Whose series a Prometheus or OTLP request writes (docs/prometheus.md, tenancy)."""
        return SeriesOwner(project, may_delegate, self.prometheus.project_label)

    async def ingest_remote_write(self, data: bytes, proto: str, owner: SeriesOwner) -> RemoteWrite:
        """An uncompressed remote write body holding ``proto``; its samples and metadata durable on return."""
        decoded = self.remote_write.decode(data, proto, owner, self.window())
        await self.write(decoded.batch)
        await self._record_metadata(owner, decoded.metadata)
        if (decoded.too_old or decoded.too_new) and time.monotonic() - self._dropped_reported > 60:
            # Senders are told only through the written count: say it in the log too, once a minute.
            self._dropped_reported = time.monotonic()
            log.warning("remote write for project %s: %d samples older than the raw-data retention and %d too far "
                        "in the future were dropped (the rest of the request was stored)", owner.project,
                        decoded.too_old, decoded.too_new)
        return decoded

    async def ingest_otlp(self, request: otlp.Request, owner: SeriesOwner) -> otlp.Otlp:
        """An OTLP ``ExportMetricsServiceRequest``; what it stores durable on return."""
        decoded = self.otlp.decode(request, owner, self.window())
        await self.write(decoded.batch)
        await self._record_metadata(owner, decoded.metadata)
        return decoded

    async def _record_metadata(self, owner: SeriesOwner, entries: list[FamilyMetadata]) -> None:
        if self.metadata is None or not entries:
            return
        # A delegate (a service user writing for every project) describes every project's series.
        scope = ALL_TENANTS if owner.delegate else owner.project
        changed = self.metadata.changes(scope, entries)
        if changed:
            await asyncio.to_thread(self.metadata.record, scope, changed)

    def metric_metadata(self, scope: str, metric: str | None, limit: int | None,
                        limit_per_metric: int | None) -> dict[str, list[FamilyMetadata]]:
        """Metric family metadata visible to a read scope (a project, or ``ALL_TENANTS``)."""
        if self.metadata is None:
            return {}
        return self.metadata.families(scope, metric, limit, limit_per_metric)

    def record(self, batch: IngestBatch) -> None:
        """Points the server makes itself, from a thread of its own; durable on return.
        ``batch`` may define every series it names: those the store knows are left out."""
        if not len(batch.points):
            return
        batch.tenant_series = self.store.new_series(batch.tenant_series)
        self.store.write_now(batch)

    def record_rows(self, timestamp_ms: int, rows: Sequence[SummaryRow]) -> None:
        if rows:
            self.record(summary_batch(timestamp_ms, rows))

    # -- reading (blocking: call from a worker thread) --------------------------------------------
    def find(self, series_filter: SeriesFilter, after_id: int | None = None,
             limit: int | None = None) -> list[SeriesInfo]:
        return self.store.find(series_filter, after_id, limit)

    def names(self, series_filter: SeriesFilter, after: str | None, limit: int) -> list[str]:
        return self.store.names(series_filter, after, limit)

    def dimension_names(self, series_filter: SeriesFilter, after: str | None, limit: int) -> list[str]:
        return self.store.dimension_names(series_filter, after, limit)

    def dimension_values(self, series_filter: SeriesFilter, key: str, after: str | None, limit: int) -> list[str]:
        return self.store.dimension_values(series_filter, key, after, limit)

    def groups(self, series_filter: SeriesFilter, equality_dimensions: dict[str, str], merge: bool,
               group_by: list[str]) -> list[query.Group]:
        """The groups a measurements or statistics query answers (raises ``query.MultipleMetrics``)."""
        matches = self.store.find(SeriesFilter(series_filter.tenant, series_filter.name, series_filter.dimensions))
        return query.groups_for(matches, equality_dimensions, merge, group_by)

    def measurements(self, group: query.Group, start_ms: int, end_ms: int, limit: int) -> query.Measurements:
        return query.measurements(self.store, group, start_ms, end_ms, limit)

    def statistics(self, group: query.Group, begin_ms: int, end_ms: int, start_ms: int, period_s: int,
                   requested: list[str], limit: int):  # noqa: ANN201 - see query.statistics
        return query.statistics(self.store, group, begin_ms, end_ms, start_ms, period_s, requested, limit)

    # -- maintenance -------------------------------------------------------------------------------
    def compact(self, force: bool = False) -> dict:
        return self.store.compact(force)

    def storage_report(self) -> dict:
        return self.store.storage_report()

    def stats(self) -> StoreStats:
        return self.store.stats()

    def close(self) -> None:
        if self.metadata is not None:
            self.metadata.close()
