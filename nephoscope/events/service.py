"""What the server holds for events: the catalog, the store and the RabbitMQ consumers.

Notifications come from the consumers (``sink``: parse, understand, store durably — only
then does the consumer acknowledge the broker) or from ``POST /v1/events``; both go through
``ingest``. A message that is not an oslo.messaging notification is counted and logged, not
stored, and never blocks the rest of its batch.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

from nephoscope.config import RabbitConfig
from nephoscope.events.catalog import Catalog
from nephoscope.events.consumer import ConsumerGroup, RabbitSettings, RawMessage
from nephoscope.events.envelope import EnvelopeError, parse_notification
from nephoscope.events.failures import failure_of
from nephoscope.events.model import Event, Notification
from nephoscope.events.store import EventStore

log = logging.getLogger(__name__)


def brokers(config: RabbitConfig) -> list[RabbitSettings]:
    """One consumer setting per configured broker URL (none when consuming is off)."""
    if not config.enabled:
        return []
    names = config.names or [f"cell{index}" for index in range(len(config.urls))]
    if len(names) != len(config.urls):
        raise ValueError("rabbitmq.names must name every URL in rabbitmq.urls")
    return [RabbitSettings(url=url, name=name, exchanges=list(config.exchanges), topics=list(config.topics),
                           queue_prefix=config.queue_prefix, prefetch=config.prefetch, batch_size=config.batch_size,
                           batch_seconds=config.batch_seconds) for url, name in zip(config.urls, names)]


@dataclasses.dataclass
class EventCounters:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    unparseable: int = 0
    failures: int = 0


class EventService:
    def __init__(self, data_dir: Path, brokers: list[RabbitSettings] | None = None,
                 catalog: Catalog | None = None) -> None:
        self.catalog = catalog or Catalog.load()
        self.store = EventStore(data_dir)
        self.counters = EventCounters()
        self._consumers = ConsumerGroup(brokers, self.sink) if brokers else None

    async def start(self) -> None:
        if self._consumers is not None:
            await self._consumers.start()

    async def stop(self) -> None:
        if self._consumers is not None:
            await self._consumers.stop()
        await asyncio.to_thread(self.store.close)

    def understand(self, notifications: list[Notification]) -> list[Event]:
        return [self.catalog.to_event(notification) for notification in notifications]

    def ingest(self, events: list[Event]) -> int:
        """Store events and their failure summaries; durable on return. Returns how many were new."""
        failures = [failure for failure in map(failure_of, events) if failure is not None]
        added = self.store.add(events, failures)
        self.counters.received += len(events)
        self.counters.stored += added
        self.counters.duplicates += len(events) - added
        self.counters.failures += len(failures)
        return added

    async def sink(self, messages: list[RawMessage]) -> None:
        """The consumers' sink: returns once the batch is durable (then they acknowledge)."""
        notifications = []
        for message in messages:
            try:
                notifications.append(parse_notification(message.body, exchange=message.exchange,
                                                        routing_key=message.routing_key))
            except EnvelopeError as error:
                self.counters.unparseable += 1
                log.warning("not an oslo.messaging notification on %s/%s: %s", message.exchange,
                            message.routing_key, error)
        if notifications:
            await asyncio.to_thread(self.ingest, self.understand(notifications))

    def stats(self) -> dict:
        stats = dataclasses.asdict(self.counters)
        if self._consumers is not None:
            stats["consumers"] = self._consumers.stats()
        return stats
