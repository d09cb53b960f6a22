"""The RabbitMQ consumer: OpenStack notifications off the broker, in batches, into a durable sink.

Built around what went wrong with telemetry on RabbitMQ before (see docs / telemetry anchors):

* **Our own queues.** oslo.messaging's notifier declares ``notifications.info`` & co. itself and
  other consumers (ceilometer) own them. We declare ``<queue_prefix>.<name>.<topic>`` per topic,
  bound to every configured control exchange with ``<topic>.*`` (all priorities), so we get a copy
  of every notification without stealing anybody's.
* **Never ack what is not stored.** The sink makes a batch durable before it returns; only then is
  the batch acknowledged (one ``multiple=True`` ack of its last delivery tag). A sink error hands
  the whole unacknowledged window back to the broker (``nack`` with requeue) after a pause; the
  broker redelivers it. A crash or a lost connection requeues it too.
* **Bounded memory.** ``basic.qos`` bounds what the broker hands us before we ack, and we ack only
  after the sink, so the in-memory buffer (buffered + in the sink) can never exceed
  ``min(prefetch, max_pending)``: a slow sink stops the flow and the backlog stays in the broker
  (on disk for durable classic queues), which is where a backlog belongs.
* **Duplicates.** A message id seen in a batch the sink stored is remembered (bounded, two
  generations of sets): a publisher resend or a redelivery after an ack was lost is dropped and
  acked. The id is the ``message_id`` inside the notification (inside ``oslo.message`` for the v2
  envelope; the body is parsed once with orjson to find it), the AMQP ``message_id`` property only
  when the body has none. Not the property first: oslo.messaging never sets it, and aiormq/aio-pika
  publishers stamp a *random* one on every publish, so a resent notification would carry a new
  property but the same envelope id — the one the store dedupes on. The memory is per process and
  bounded, so
  **end-to-end exactly-once rests on the store ignoring a message_id it already holds**; the
  consumer only keeps that rule from having to work hard.
* **Reconnects.** Exponential backoff with jitter capped at ``reconnect_max``; everything (exchanges,
  queues, bindings, qos, consumers) is declared again on every connection, because oslo.messaging's
  exchanges are not durable: a broker restart deletes them and our bindings with them. One warning
  per outage, never an exception out of the consumer.

Known gap, inherent to binding our own queue to non-durable exchanges: after a broker *restart*
(not a mere connection loss) notifications a service publishes before we have re-bound reach only
the service's own default queue (``notifications.info``), not ours. The first reconnect attempts are
therefore fast (0.2 s, doubling).

One ``NotificationConsumer`` per broker (e.g. one per Nova cell); ``ConsumerGroup`` runs several.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import AbstractChannel, AbstractConnection
from aio_pika.exceptions import ChannelNotFoundEntity, ChannelPreconditionFailed
from aiormq.abc import AbstractChannel as AmqpChannel
from aiormq.abc import DeliveredMessage
from yarl import URL

from nephoscope.retry import backoff

log = logging.getLogger(__name__)

DEFAULT_EXCHANGES = [
    "nova", "neutron", "cinder", "glance", "heat", "keystone", "openstack", "ironic", "magnum",
    "octavia", "designate", "manila", "sahara", "trove", "aodh", "swift",
]

# First reconnect after 0.2 s: a restarted broker has lost the (non-durable) oslo exchanges and our
# bindings, so every second before we re-bind is a second of notifications we do not get.
_BACKOFF_BASE = 0.2
_SINK_RETRY_BASE = 0.5
_CONNECT_TIMEOUT = 10.0


@dataclass
class RabbitSettings:
    """One broker to consume from."""

    url: str = "amqp://guest:guest@127.0.0.1:5672/"
    exchanges: list[str] = field(default_factory=lambda: list(DEFAULT_EXCHANGES))
    topics: list[str] = field(default_factory=lambda: ["notifications", "versioned_notifications"])
    queue_prefix: str = "nephoscope"
    prefetch: int = 1000  # unacked deliveries per connection (split over the topic queues)
    batch_size: int = 500  # messages per sink call
    batch_seconds: float = 0.2  # ... or whatever is buffered after this long
    max_pending: int = 20000  # hard bound on unacked messages in memory (applied on top of prefetch)
    reconnect_max: float = 30.0  # backoff cap, seconds
    name: str = ""  # a label for this broker, e.g. the Nova cell; goes on every RawMessage
    # oslo.messaging declares control exchanges durable only with amqp_durable_queues=True (default
    # False); a declare with other flags than the existing exchange's fails, so match the services.
    exchange_durable: bool = False
    # Message ids remembered for duplicate detection (between half and all of them are kept);
    # ~100-120 bytes per id, so the default costs up to ~120 MB once full.
    dedupe_size: int = 1_000_000
    # Extra queue arguments (e.g. {"x-queue-mode": "lazy"} on RabbitMQ < 3.12, or an x-max-length
    # fuse). Nothing bounds the queue by default: a bound drops notifications.
    queue_arguments: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.name or "default"

    def queue_name(self, topic: str) -> str:
        return f"{self.queue_prefix}.{self.label}.{topic}"

    @property
    def window(self) -> int:
        """The most unacked messages this consumer may hold (buffered plus in the sink)."""
        return min(self.prefetch, self.max_pending) if self.prefetch > 0 else self.max_pending


@dataclass(frozen=True, slots=True)
class RawMessage:
    """A notification as it came off the broker, envelope untouched."""

    body: bytes
    exchange: str
    routing_key: str
    message_id: str | None  # the oslo notification's message_id, else the AMQP property, else None
    broker: str  # RabbitSettings.name
    delivery_tag: int  # internal: valid only on the channel that delivered it


Sink = Callable[[list[RawMessage]], Awaitable[None]]


def extract_message_id(body: bytes) -> str | None:
    """The oslo notification's ``message_id``: v2 envelopes carry the notification as a JSON string
    under ``oslo.message``, v1 sends it bare. None when the body is not such a notification."""
    try:
        doc = orjson.loads(body)
        if isinstance(doc, dict) and isinstance(inner := doc.get("oslo.message"), str):
            doc = orjson.loads(inner)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    mid = doc.get("message_id")
    return mid if isinstance(mid, str) and mid else None


class _RecentIds:
    """Ids of stored messages, bounded: two generations of sets, the older dropped whole when the
    newer fills. O(1) per id, no per-entry linked-list overhead, remembers at least the last
    ``capacity / 2`` ids."""

    __slots__ = ("_half", "_new", "_old")

    def __init__(self, capacity: int) -> None:
        self._half = max(1, capacity // 2)
        self._new: set[str] = set()
        self._old: set[str] = set()

    def __contains__(self, mid: str) -> bool:
        return mid in self._new or mid in self._old

    def add(self, mid: str) -> None:
        self._new.add(mid)
        if len(self._new) >= self._half:
            self._old, self._new = self._new, set()

    def __len__(self) -> int:
        return len(self._new) + len(self._old)


class _Window:
    """The unacked deliveries of one channel, in delivery-tag order. Entries are (tag, message),
    message None for a duplicate that only needs its ack."""

    def __init__(self, channel: AmqpChannel) -> None:
        self.channel = channel
        self.entries: list[tuple[int, RawMessage | None]] = []
        self.ready = 0  # non-duplicate entries
        self.first_at = 0.0  # monotonic time the oldest entry arrived
        self.ids: set[str] = set()  # ids of non-duplicate entries, to catch a duplicate within the window
        self.wake = asyncio.Event()  # a batch is due, the connection is gone, or stop() was called
        self.lost = False
        self.consumer_tags: list[str] = []

    def clear(self) -> None:
        self.entries.clear()
        self.ids.clear()
        self.ready = 0


def _safe_url(url: str) -> str:
    try:
        parsed = URL(url)
        return str(parsed.with_user(None)) if parsed.user or parsed.password else url
    except ValueError:
        return "<unparsable url>"


class NotificationConsumer:
    """Consumes one broker's notifications into ``sink``; see the module docstring."""

    def __init__(self, settings: RabbitSettings, sink: Sink) -> None:
        if not settings.topics or not settings.exchanges:
            raise ValueError("RabbitSettings needs at least one topic and one exchange")
        if settings.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.settings = settings
        self._sink = sink
        self._seen = _RecentIds(settings.dedupe_size)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._connected = asyncio.Event()
        self._stop_event = asyncio.Event()
        self._window: _Window | None = None
        self._where = _safe_url(settings.url)
        self._counts: dict[str, int] = {
            "received": 0, "acked": 0, "redelivered": 0, "duplicates": 0, "reconnects": 0,
            "batches": 0, "sink_errors": 0, "nacked": 0, "pending_high_water": 0,
        }
        self._per_queue: dict[str, int] = {settings.queue_name(t): 0 for t in settings.topics}
        self._last_error = ""
        self._sessions = 0  # connections that got as far as consuming
        self._outage_since: float | None = None
        self._sink_failures = 0  # consecutive

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start consuming in the background; returns at once (the broker may be down: the
        consumer keeps retrying). ``wait_connected`` waits for the first connection."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._stop_event.clear()
            self._task = asyncio.create_task(self._run(), name=f"nephoscope-consumer-{self.settings.label}")

    async def wait_connected(self, timeout: float | None = None) -> bool:
        """True once queues are declared and consumers registered (False after ``timeout``)."""
        try:
            async with asyncio.timeout(timeout):
                await self._connected.wait()
            return True
        except TimeoutError:
            return False

    async def stop(self, timeout: float = 30.0) -> None:
        """Stop taking deliveries, hand what is buffered to the sink, ack it, close. After
        ``timeout`` the connection is dropped and the broker requeues whatever is still unacked."""
        task = self._task
        if task is None:
            return
        self._stopping = True
        self._stop_event.set()
        if self._window is None:
            # Not consuming (connecting, declaring or backing off): nothing is buffered, nothing
            # to drain, so do not wait out a connect timeout.
            task.cancel()
        else:
            self._window.wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise  # stop() itself was cancelled
        except TimeoutError:
            log.warning("rabbitmq %s: drain did not finish in %.0fs; unacked messages go back to the queue",
                        self.settings.label, timeout)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None

    def stats(self) -> dict[str, Any]:
        window = self._window
        return {
            **self._counts,
            "broker": self.settings.label,
            "connected": self._connected.is_set(),
            "pending": len(window.entries) if window else 0,  # unacked in memory (buffered + in the sink)
            "window": self.settings.window,
            "remembered_ids": len(self._seen),
            "queues": dict(self._per_queue),
            "last_error": self._last_error,
        }

    # -- connection loop -------------------------------------------------------------------------

    def _backoff(self, attempt: int, base: float) -> float:
        # "Equal jitter" (attempt 0 is the first retry): at least half the capped exponential, so a
        # fleet of consumers does not reconnect in lockstep, yet no attempt is immediate.
        return backoff(attempt + 1, base, self.settings.reconnect_max, jitter=0.5)

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            sessions_before = self._sessions
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - whatever the broker does, the server stays up
                self._last_error = f"{type(exc).__name__}: {exc}"
            if self._stopping:
                break
            if self._sessions != sessions_before:
                attempt = 0  # it was up, then dropped: a new outage, start the backoff over
            if self._outage_since is None:
                # Once per outage; the retries that follow log at debug level.
                self._outage_since = time.monotonic()
                log.warning("rabbitmq %s (%s) unavailable: %s; retrying with backoff up to %.0fs",
                            self.settings.label, self._where, self._last_error or "connection closed",
                            self.settings.reconnect_max)
            else:
                log.debug("rabbitmq %s still unavailable: %s", self.settings.label, self._last_error)
            with contextlib.suppress(TimeoutError):  # stop() cuts the pause short
                async with asyncio.timeout(self._backoff(attempt, _BACKOFF_BASE)):
                    await self._stop_event.wait()
            attempt += 1

    async def _session(self) -> None:
        """One connection: declare, consume, flush batches until the connection goes or stop()."""
        settings = self.settings
        connection = await aio_pika.connect(
            settings.url, timeout=_CONNECT_TIMEOUT,
            client_properties={"connection_name": f"nephoscope-consumer:{settings.label}"})
        try:
            queues = await self._declare(connection)
            channel = await connection.channel(publisher_confirms=False)
            # The hot path talks to aiormq's channel directly: aio-pika's queue.consume() adds an
            # IncomingMessage object and a second task per delivery, which costs throughput.
            raw = await channel.get_underlay_channel()
            window = _Window(raw)

            def lost(*_: Any) -> None:
                window.lost = True
                window.wake.set()

            connection.close_callbacks.add(lost)
            channel.close_callbacks.add(lost)
            # Per-consumer prefetch (global qos is deprecated in RabbitMQ 4): split the window over
            # the queues so that the sum can never exceed it (prefetch_count is 16 bits on the wire).
            await raw.basic_qos(prefetch_count=min(65535, max(1, settings.window // len(queues))))
            self._window = window
            for queue in queues:
                ok = await raw.basic_consume(queue, partial(self._on_message, window, queue), no_ack=False)
                if ok.consumer_tag:
                    window.consumer_tags.append(ok.consumer_tag)
            if self._sessions:
                self._counts["reconnects"] += 1
            if self._outage_since is not None:
                log.info("rabbitmq %s (%s): consuming again after %.1fs", settings.label, self._where,
                         time.monotonic() - self._outage_since)
                self._outage_since = None
            elif not self._sessions:
                log.info("rabbitmq %s (%s): consuming %s", settings.label, self._where, ", ".join(queues))
            self._sessions += 1
            self._last_error = ""
            self._connected.set()
            await self._flush_loop(window)
            if window.lost:
                raise ConnectionError("connection to the broker closed")
            await self._drain(window)
        finally:
            self._connected.clear()
            if self._window is not None:
                self._window.clear()  # the broker requeues whatever was not acked
                self._window = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 5)

    async def _declare(self, connection: AbstractConnection) -> list[str]:
        """Exchanges (only the missing ones are created), our queues, their bindings."""
        settings = self.settings
        channel: AbstractChannel = await connection.channel(publisher_confirms=False)
        try:
            for name in settings.exchanges:
                channel = await self._ensure_exchange(connection, channel, name)
            queues = []
            for topic in settings.topics:
                name = settings.queue_name(topic)
                arguments = {"x-queue-type": "classic", **settings.queue_arguments}
                try:
                    queue = await channel.declare_queue(name, durable=True, arguments=arguments)
                except ChannelPreconditionFailed as exc:
                    # The queue exists with other arguments (an operator converted it to a quorum
                    # queue, say): use it as it is rather than refuse to consume.
                    log.warning("rabbitmq %s: queue %s exists with other arguments (%s); using it as is",
                                settings.label, name, exc)
                    channel = await connection.channel(publisher_confirms=False)
                    queue = await channel.declare_queue(name, passive=True)
                for exchange in settings.exchanges:
                    await queue.bind(exchange, routing_key=f"{topic}.*")
                queues.append(name)
            return queues
        finally:
            with contextlib.suppress(Exception):
                await channel.close()

    async def _ensure_exchange(self, connection: AbstractConnection, channel: AbstractChannel, name: str) -> AbstractChannel:
        """Passive-declare first: an existing exchange is used whatever its flags (a declare with
        different flags would fail with PRECONDITION_FAILED). A 404 closes the channel, so the
        missing exchange is created on a fresh one, as oslo.messaging would create it."""
        try:
            await channel.declare_exchange(name, passive=True)
            return channel
        except ChannelNotFoundEntity:
            pass
        channel = await connection.channel(publisher_confirms=False)
        try:
            await channel.declare_exchange(name, type=aio_pika.ExchangeType.TOPIC,
                                           durable=self.settings.exchange_durable, auto_delete=False)
            return channel
        except ChannelPreconditionFailed:
            # A service created it between our two declares, with other flags: fine, it exists.
            channel = await connection.channel(publisher_confirms=False)
            await channel.declare_exchange(name, passive=True)
            return channel

    # -- deliveries and batches ------------------------------------------------------------------

    async def _on_message(self, window: _Window, queue: str, message: DeliveredMessage) -> None:
        # Runs as one task per delivery (aiormq's); tasks start in creation order and this never
        # awaits, so entries are appended in delivery-tag order — the multi-ack relies on that.
        delivery = message.delivery
        tag: int = delivery.delivery_tag  # type: ignore[union-attr]
        counts = self._counts
        counts["received"] += 1
        self._per_queue[queue] = self._per_queue.get(queue, 0) + 1
        if delivery.redelivered:  # type: ignore[union-attr]
            counts["redelivered"] += 1
        properties = message.header.properties
        mid = extract_message_id(message.body) or properties.message_id
        if mid is not None and (mid in self._seen or mid in window.ids):
            counts["duplicates"] += 1
            entry: RawMessage | None = None
        else:
            entry = RawMessage(body=message.body, exchange=message.exchange or "",
                               routing_key=message.routing_key or "", message_id=mid,
                               broker=self.settings.name, delivery_tag=tag)
            if mid is not None:
                window.ids.add(mid)
            window.ready += 1
        entries = window.entries
        entries.append((tag, entry))
        if len(entries) == 1:
            window.first_at = time.monotonic()
            window.wake.set()
        elif window.ready >= self.settings.batch_size:
            window.wake.set()
        counts["pending_high_water"] = max(counts["pending_high_water"], len(entries))

    async def _flush_loop(self, window: _Window) -> None:
        batch_seconds = self.settings.batch_seconds
        batch_size = self.settings.batch_size
        while not window.lost and not self._stopping:
            if not window.entries:
                window.wake.clear()
                await window.wake.wait()
                continue
            due = window.first_at + batch_seconds - time.monotonic()
            if window.ready < batch_size and due > 0:
                window.wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(due):
                        await window.wake.wait()
                continue
            await self._flush(window)

    async def _drain(self, window: _Window) -> None:
        """stop(): no new deliveries, then everything buffered through the sink and acked."""
        for tag in window.consumer_tags:
            with contextlib.suppress(Exception):
                await window.channel.basic_cancel(tag)
        # Deliveries already read off the socket run as tasks; let them land in the window.
        for _ in range(3):
            await asyncio.sleep(0)
        while window.entries and not window.lost:
            if not await self._flush(window):
                break  # the sink failed: what is left was handed back to the broker

    async def _flush(self, window: _Window) -> bool:
        """One batch through the sink; ack on success, hand the window back on failure."""
        entries = window.entries
        limit = self.settings.batch_size
        batch: list[RawMessage] = []
        count = 0
        for _, entry in entries:
            if entry is not None:
                if len(batch) == limit:
                    break
                batch.append(entry)
            count += 1
        last_tag = entries[count - 1][0]
        if batch:
            try:
                await self._sink(batch)
            except Exception as exc:  # noqa: BLE001 - a sink failure must not end the consumer
                await self._sink_failed(window, exc)
                return False
            self._counts["batches"] += 1
        # Stored: remember the ids before the ack, so a redelivery caused by a lost ack is dropped.
        for message in batch:
            if message.message_id is not None:
                self._seen.add(message.message_id)
                window.ids.discard(message.message_id)
        del entries[:count]
        window.ready -= len(batch)
        if entries:
            window.first_at = time.monotonic()
        await window.channel.basic_ack(last_tag, multiple=True)
        self._counts["acked"] += count
        self._sink_failures = 0
        return True

    async def _sink_failed(self, window: _Window, exc: Exception) -> None:
        self._counts["sink_errors"] += 1
        self._sink_failures += 1
        self._last_error = f"sink: {type(exc).__name__}: {exc}"
        if self._sink_failures == 1:
            log.warning("rabbitmq %s: sink failed (%s); messages go back to the queue and are redelivered",
                        self.settings.label, self._last_error, exc_info=exc)
        # Pause before handing back: the broker redelivers at once and a failing store should not
        # be hammered. The messages stay unacked (and counted against prefetch) meanwhile.
        delay = self._backoff(self._sink_failures - 1, _SINK_RETRY_BASE)
        window.wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                while not window.lost and not self._stopping:
                    await window.wake.wait()
                    window.wake.clear()
        if window.entries and not window.lost:
            count = len(window.entries)
            with contextlib.suppress(Exception):  # a closed channel requeues them anyway
                await window.channel.basic_nack(window.entries[-1][0], multiple=True, requeue=True)
                self._counts["nacked"] += count
        window.clear()


class ConsumerGroup:
    """One consumer per broker (e.g. per Nova cell), started and stopped together."""

    def __init__(self, settings: Sequence[RabbitSettings], sink: Sink) -> None:
        labels = [s.label for s in settings]
        if len(set(labels)) != len(labels):
            raise ValueError(f"brokers need distinct names to tell their messages apart: {labels}")
        self.consumers = [NotificationConsumer(s, sink) for s in settings]

    async def start(self) -> None:
        await asyncio.gather(*(c.start() for c in self.consumers))

    async def wait_connected(self, timeout: float | None = None) -> bool:
        results = await asyncio.gather(*(c.wait_connected(timeout) for c in self.consumers))
        return all(results)

    async def stop(self, timeout: float = 30.0) -> None:
        await asyncio.gather(*(c.stop(timeout) for c in self.consumers))

    def stats(self) -> dict[str, dict[str, Any]]:
        return {c.settings.label: c.stats() for c in self.consumers}
