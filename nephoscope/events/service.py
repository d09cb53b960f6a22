"""What the server holds for events: the catalog, the store, the RabbitMQ consumers, and the
metrics derived from lifecycle events.

Notifications come from the consumers — worker processes (``events.workers``) or, with
``workers = 0``, consumers inside the server (``events.consumer``) — or from ``POST /v1/events``;
every path ends in ``store_batch``: one durable transaction, after which a consumer acknowledges
the broker. A message that is not an oslo.messaging notification is counted and logged, not
stored, and never blocks the rest of its batch.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from nephoscope.config import ClusterSettings, EventsSettings, RabbitmqSettings
from nephoscope.events.batch import EventBatch, from_bodies, from_events
from nephoscope.events.catalog import Catalog
from nephoscope.events.consumer import BrokerSettings, ConsumerGroup, RawMessage
from nephoscope.events.envelope import EnvelopeError, parse_notification
from nephoscope.events.lifecycle import LifecycleMetrics
from nephoscope.events.records import Event, Notification
from nephoscope.events.store import EventStore, StoredEvent
from nephoscope.events.workers import WorkerPool
from nephoscope.metrics.service import MetricService
from nephoscope.metrics.summary_rows import SummaryRow
from nephoscope.periodic import every

log = logging.getLogger(__name__)

_DELETED_KEPT_MS = 86_400_000  # deleted resources are forgotten a day later (their gauges went to 0)


def _queue_argument(value: str) -> object:
    return int(value) if value.lstrip("-").isdigit() else value


def brokers(config: RabbitmqSettings) -> list[BrokerSettings]:
    """One consumer setting per configured broker URL (none when consuming is off)."""
    if not config.enabled:
        return []
    names = config.names or [f"cell{index}" for index in range(len(config.urls))]
    if len(names) != len(config.urls):
        raise ValueError("rabbitmq.names must name every URL in rabbitmq.urls")
    arguments = {key: _queue_argument(value) for key, value in config.queue_arguments.items()}
    return [BrokerSettings(url=url, name=name, exchanges=list(config.exchanges), topics=list(config.topics),
                           queue_prefix=config.queue_prefix, prefetch=config.prefetch, batch_size=config.batch_size,
                           batch_seconds=config.batch_seconds, queue_arguments=dict(arguments))
            for url, name in zip(config.urls, names)]


@dataclasses.dataclass
class EventCounters:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    unparseable: int = 0
    failures: int = 0


class EventService:
    def __init__(self, data_dir: Path, brokers: list[BrokerSettings] | None = None,
                 settings: EventsSettings | None = None, workers: int = RabbitmqSettings.workers, region: str = "",
                 cluster: ClusterSettings | None = None,
                 owned_partitions: Callable[[], Collection[int]] | None = None) -> None:
        """``cluster`` (enabled): events go to the cluster's events stream and S3, this node writing
        the Parquet files of the partitions ``owned_partitions()`` names (all when not given)."""
        self.settings = settings or EventsSettings()
        definitions = [Path(p) for p in self.settings.definitions]
        self.catalog = Catalog.load(definitions or None)
        self.store = EventStore(data_dir, self.settings.memory_limit, self.settings.dedupe_ids,
                                self.settings.flush_events, self.settings.flush_seconds, cluster=cluster,
                                owned_partitions=owned_partitions)
        self.counters = EventCounters()
        self._lock = threading.Lock()
        self._failures: Counter[tuple[str, str]] = Counter()  # (project, resource type) since the last sample
        self._lifecycle = LifecycleMetrics(region)
        self._pool: WorkerPool | None = None
        self._consumers: ConsumerGroup | None = None
        if brokers and workers > 0:
            self._pool = WorkerPool(brokers, workers, self.store_batch, self.settings.definitions)
        elif brokers:
            self._consumers = ConsumerGroup(brokers, self._sink)

    async def start(self) -> None:
        if self._pool is not None:
            await asyncio.to_thread(self._pool.start)
        if self._consumers is not None:
            self._consumers.start()

    def wait_connected(self, timeout: float) -> bool:
        if self._pool is not None:
            return self._pool.wait_connected(timeout)
        if self._consumers is not None:
            return self._consumers.wait_connected(timeout)
        return True

    async def stop(self) -> None:
        if self._pool is not None:
            await asyncio.to_thread(self._pool.stop)
        if self._consumers is not None:
            await asyncio.to_thread(self._consumers.stop)
        await asyncio.to_thread(self.store.close)

    # -- the way in --

    def store_batch(self, batch: EventBatch) -> int:
        """Store a batch durably; returns how many of its events were new."""
        added = self.store.add_batch(batch)
        failures = batch.failure_table()
        with self._lock:
            self.counters.received += len(batch)
            self.counters.stored += added
            self.counters.duplicates += len(batch) - added
            self.counters.unparseable += batch.unparseable
            self.counters.failures += failures.num_rows
            if failures.num_rows:
                self._failures.update(zip(failures.column("project_id").to_pylist(),
                                          failures.column("resource_type").to_pylist()))
        for problem in batch.problems:
            log.warning("not an oslo.messaging notification on %s", problem)
        return added

    def _sink(self, messages: list[RawMessage]) -> None:
        """The in-process consumers' sink: returns once the batch is durable (then they acknowledge)."""
        self.store_batch(from_bodies(messages, self.catalog))

    def expand(self, stored: StoredEvent) -> tuple[dict[str, Any], Any]:
        """(traits, payload) of a stored event: the full set of traits is extracted on read, from
        the notification as received."""
        try:
            notification = parse_notification(stored.body, exchange=stored.exchange)
        except EnvelopeError:
            return {}, None
        return self.catalog.to_event(notification).traits, notification.payload

    def understand(self, notifications: list[Notification]) -> list[Event]:
        return [self.catalog.to_event(notification) for notification in notifications]

    def ingest(self, events: list[Event]) -> int:
        """Store understood events (``POST /v1/events``); durable on return, failures readable at
        once. Returns how many were new."""
        added = self.store_batch(from_events(events))
        self.store.apply_now()
        return added

    # -- metrics from lifecycle events --

    def lifecycle_rows(self) -> list[SummaryRow]:
        with self._lock:
            failures, self._failures = self._failures, Counter()
        return self._lifecycle.rows(self.store.resource_counts(), failures)

    def record_metrics(self, metrics: MetricService) -> None:
        """The lifecycle gauges into the metric store; resources deleted long ago are forgotten."""
        rows = self.lifecycle_rows()
        now_ms = int(time.time() * 1000)
        metrics.record_rows(now_ms, rows)
        self.store.forget_deleted(now_ms - _DELETED_KEPT_MS)

    def upkeep(self) -> None:
        """Flush events to Parquet parts when due, merge small parts, apply retention."""
        self.store.maintain(int(self.settings.retention_days * 86_400_000) or None, int(time.time() * 1000))

    async def run_periodic(self, metrics: MetricService, stop: asyncio.Event) -> None:
        await asyncio.gather(
            # a first figure soon after start, not a whole interval later: a dashboard opened at once shows it
            every(self.settings.metrics_interval, stop, lambda: self.record_metrics(metrics), "lifecycle metrics",
                  first=min(self.settings.metrics_interval, 15.0)),
            every(5.0, stop, self.upkeep, "events upkeep"))

    def stats(self) -> dict:
        stats: dict[str, Any] = dataclasses.asdict(self.counters)
        stats.update({f"table_{key}": value for key, value in self.store.table.stats().items()})
        if self._pool is not None:
            stats["consumers"] = self._pool.stats()
        if self._consumers is not None:
            stats["consumers"] = self._consumers.stats()
        return stats
