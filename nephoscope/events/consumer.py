"""The RabbitMQ consumer: OpenStack notifications off the broker, in batches, into a durable sink.

Built around what went wrong with telemetry on RabbitMQ before (docs/events.md, the telemetry
anchors):

* **Our own queues.** oslo.messaging's notifier declares ``notifications.info`` & co. itself and
  other consumers (ceilometer) own them. We declare ``<queue_prefix>.<name>.<topic>`` per topic,
  bound to every configured control exchange with ``<topic>.*`` (all priorities), so we get a copy
  of every notification without stealing anybody's.
* **Never ack what is not stored.** Batches go to the sink on the consumer's thread; the sink
  either makes a batch durable before it returns, or returns a future that completes when it is
  durable (a worker process's sink sends the batch to the server and goes on reading while the
  server stores it). Batches are settled in the order they were taken: a batch is acknowledged
  (one ``multiple=True`` ack of its last delivery tag) only when it and every batch before it were
  stored. A sink error hands everything unacknowledged back to the broker (``nack`` with requeue)
  after a pause; a crash or a lost connection requeues it too. Redeliveries are the store's to
  recognise (it stores a message id once), which is what makes the whole path exactly-once.
* **Bounded memory.** ``basic.qos`` bounds what the broker hands us before we ack, and we ack only
  after the sink, so what is buffered plus what is in the sink never exceeds the prefetch window:
  a slow sink stops the flow and the backlog stays in the broker (on disk for durable classic
  queues), which is where a backlog belongs.
* **Reconnects.** Exponential backoff with jitter capped at ``reconnect_max``; everything
  (exchanges, queues, bindings, qos, consumers) is declared again on every connection, because
  oslo.messaging's exchanges are not durable: a broker restart deletes them and our bindings with
  them. One warning per outage, never an exception out of the consumer.

Known gap, inherent to binding our own queue to non-durable exchanges: after a broker *restart*
(not a mere connection loss) notifications a service publishes before we have re-bound reach only
the service's own default queue (``notifications.info``), not ours. The first reconnect attempts are
therefore fast (0.2 s, doubling).

The client is pika's blocking connection on a thread of its own: it costs a third of the CPU per
message of an asyncio client (no task and no future per delivery), which matters because the broker
and the consumer share the machine; and its deliveries are read off the input by
``events.amqp_frames`` (a quarter to a fifth of pika's CPU per delivery again). Everything per message happens on
that one thread: handing work to other Python threads would only make them take turns at the GIL. One
``NotificationConsumer`` per broker (e.g. one per Nova cell); ``ConsumerGroup`` runs several.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import pika
import pika.exceptions

from nephoscope.events.amqp_frames import DeliveryReader
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
_HEARTBEAT = 30


@dataclass
class BrokerSettings:
    """One broker to consume from."""

    url: str = "amqp://guest:guest@127.0.0.1:5672/"
    exchanges: list[str] = field(default_factory=lambda: list(DEFAULT_EXCHANGES))
    topics: list[str] = field(default_factory=lambda: ["notifications", "versioned_notifications"])
    queue_prefix: str = "nephoscope"
    prefetch: int = 1000  # unacked deliveries per connection (split over the topic queues)
    batch_size: int = 250  # messages per sink call (a quarter of the window: see config.RabbitmqSettings)
    batch_seconds: float = 0.2  # ... or whatever is buffered after this long
    max_pending: int = 20000  # hard bound on unacked messages in memory (applied on top of prefetch)
    in_flight: int = 2  # batches a future-returning sink may hold at once (settled in order)
    reconnect_max: float = 30.0  # backoff cap, seconds
    name: str = ""  # a label for this broker, e.g. the Nova cell; goes on every RawMessage
    # oslo.messaging declares control exchanges durable only with amqp_durable_queues=True (default
    # False); a declare with other flags than the existing exchange's fails, so match the services.
    exchange_durable: bool = False
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


class RawMessage(NamedTuple):
    """A notification as it came off the broker, envelope untouched (a tuple: one is made per
    delivery, and a tuple is the cheapest record Python makes)."""

    body: bytes
    exchange: str
    routing_key: str
    broker: str  # BrokerSettings.name
    redelivered: bool = False


Sink = Callable[[list[RawMessage]], "Future[object] | None"]
"""Called on the consumer's thread with a batch: stores it durably before it returns (None), or
returns a future that completes once it is durable (or fails); raising means it could not."""


def safe_url(url: str) -> str:
    """The URL without its password, for logs and status pages."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = f"{parts.username}@{host}" if parts.username else host
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except ValueError:
        return "<unparsable url>"


@dataclass(slots=True)
class _Batch:
    last_tag: int
    size: int
    future: Future[None]


class _Session:
    """What one connection holds: the channel, the deliveries not yet handed to the sink and the
    batches in the sink, oldest first."""

    def __init__(self, connection: pika.BlockingConnection, channel: Any) -> None:
        self.connection = connection
        self.channel = channel
        self.reader = DeliveryReader(connection, channel.channel_number)
        self.buffer: list[tuple[int, RawMessage]] = []
        self.first_at = 0.0  # monotonic time the oldest buffered delivery arrived
        self.in_sink: collections.deque[_Batch] = collections.deque()
        self.consumer_tags: list[str] = []

    @property
    def pending(self) -> int:
        return len(self.buffer) + sum(batch.size for batch in self.in_sink)


class NotificationConsumer:
    """Consumes one broker's notifications into ``sink``; see the module docstring.

    ``start()`` runs it on a thread of its own and returns at once (the broker may be down: the
    consumer keeps retrying); ``stop()`` drains what it holds into the sink and acknowledges it.
    """

    def __init__(self, settings: BrokerSettings, sink: Sink) -> None:
        if not settings.topics or not settings.exchanges:
            raise ValueError("BrokerSettings needs at least one topic and one exchange")
        if settings.batch_size < 1 or settings.in_flight < 1:
            raise ValueError("batch_size and in_flight must be >= 1")
        self.settings = settings
        self._sink = sink
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._session: _Session | None = None
        self._where = safe_url(settings.url)
        self._counts: dict[str, int] = {
            "received": 0, "acked": 0, "redelivered": 0, "reconnects": 0, "batches": 0,
            "sink_errors": 0, "nacked": 0, "pending_high_water": 0,
        }
        self._per_queue: dict[str, int] = {settings.queue_name(t): 0 for t in settings.topics}
        self._last_error = ""
        self._sessions = 0  # connections that got as far as consuming
        self._outage_since: float | None = None
        self._sink_failures = 0  # consecutive
        self._drain_deadline = 0.0

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=f"nephoscope-consumer-{self.settings.label}",
                                        daemon=True)
        self._thread.start()

    def wait_connected(self, timeout: float | None = None) -> bool:
        """True once queues are declared and consumers registered (False after ``timeout``)."""
        return self._connected.wait(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking deliveries, hand what is buffered to the sink, ack it, close. After
        ``timeout`` the connection is dropped and the broker requeues whatever is still unacked."""
        thread = self._thread
        if thread is None:
            return
        self._drain_deadline = time.monotonic() + timeout
        self._stopping.set()
        session = self._session
        if session is not None:
            with contextlib.suppress(Exception):  # wake the connection's wait at once
                session.connection.add_callback_threadsafe(lambda: None)
        thread.join(timeout + _CONNECT_TIMEOUT + 5)
        if thread.is_alive():
            log.warning("rabbitmq %s: consumer thread did not end in time", self.settings.label)
        self._thread = None

    def stats(self) -> dict[str, Any]:
        session = self._session
        return {
            **self._counts,
            "broker": self.settings.label,
            "connected": self._connected.is_set(),
            "pending": session.pending if session else 0,  # unacked in memory (buffered + in the sink)
            "direct_reads": bool(session and session.reader.taking),  # deliveries by events.amqp_frames
            "window": self.settings.window,
            "queues": dict(self._per_queue),
            "last_error": self._last_error,
        }

    # -- connection loop -------------------------------------------------------------------------

    def _backoff(self, attempt: int, base: float) -> float:
        # "Equal jitter" (attempt 0 is the first retry): at least half the capped exponential, so a
        # fleet of consumers does not reconnect in lockstep, yet no attempt is immediate.
        return backoff(attempt + 1, base, self.settings.reconnect_max, jitter=0.5)

    def _run(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            sessions_before = self._sessions
            try:
                self._consume()
            except Exception as exc:  # noqa: BLE001 - whatever the broker does, the consumer stays up
                self._last_error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            if self._stopping.is_set():
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
            self._stopping.wait(self._backoff(attempt, _BACKOFF_BASE))
            attempt += 1

    def _parameters(self) -> pika.URLParameters:
        parameters = pika.URLParameters(self.settings.url)
        parameters.heartbeat = _HEARTBEAT
        parameters.socket_timeout = _CONNECT_TIMEOUT
        parameters.blocked_connection_timeout = 300
        parameters.connection_attempts = 1
        parameters.client_properties = {"connection_name": f"nephoscope-consumer:{self.settings.label}"}
        return parameters

    def _consume(self) -> None:
        """One connection: declare, consume, settle batches until the connection goes or stop()."""
        settings = self.settings
        connection = pika.BlockingConnection(self._parameters())
        session: _Session | None = None
        try:
            queues = self._declare(connection)
            channel = connection.channel()
            # Per-consumer prefetch (global qos is deprecated in RabbitMQ 4): split the window over
            # the queues so that the sum can never exceed it (prefetch_count is 16 bits on the wire).
            channel.basic_qos(prefetch_count=min(65535, max(1, settings.window // len(queues))))
            session = _Session(connection, channel)
            session.reader.install()
            for queue in queues:
                # Registered with the reader before the broker may deliver (right after ConsumeOk).
                tag = f"{queue}:{os.getpid()}"
                on_delivery = self._on_delivery_for(session, queue)
                session.reader.add_consumer(tag, on_delivery)
                session.consumer_tags.append(channel.basic_consume(
                    queue, self._pika_delivery(on_delivery), auto_ack=False, consumer_tag=tag))
            self._session = session
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
            self._loop(session)
            self._drain(session)
        finally:
            self._connected.clear()
            self._session = None
            # Whatever was not acked goes back to the queue when the connection closes; batches
            # still in the sink will be redelivered and recognised by the store.
            with contextlib.suppress(Exception):
                if connection.is_open:
                    connection.close()

    def _declare(self, connection: pika.BlockingConnection) -> list[str]:
        """Exchanges (only the missing ones are created), our queues, their bindings."""
        settings = self.settings
        channel = connection.channel()
        try:
            for name in settings.exchanges:
                channel = self._ensure_exchange(connection, channel, name)
            queues = []
            for topic in settings.topics:
                name = settings.queue_name(topic)
                arguments = {"x-queue-type": "classic", **settings.queue_arguments}
                try:
                    channel.queue_declare(name, durable=True, arguments=arguments)
                except pika.exceptions.ChannelClosedByBroker as exc:
                    if exc.reply_code != 406:
                        raise
                    # The queue exists with other arguments (an operator converted it to a quorum
                    # queue, say): use it as it is rather than refuse to consume.
                    log.warning("rabbitmq %s: queue %s exists with other arguments (%s); using it as is",
                                settings.label, name, exc.reply_text)
                    channel = connection.channel()
                    channel.queue_declare(name, passive=True)
                for exchange in settings.exchanges:
                    channel.queue_bind(name, exchange, routing_key=f"{topic}.*")
                queues.append(name)
            return queues
        finally:
            with contextlib.suppress(Exception):
                if channel.is_open:
                    channel.close()

    def _ensure_exchange(self, connection: pika.BlockingConnection, channel: Any, name: str) -> Any:
        """Passive-declare first: an existing exchange is used whatever its flags (a declare with
        different flags would fail with PRECONDITION_FAILED). A 404 closes the channel, so the
        missing exchange is created on a fresh one, as oslo.messaging would create it."""
        try:
            channel.exchange_declare(name, passive=True)
            return channel
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code != 404:
                raise
        channel = connection.channel()
        try:
            channel.exchange_declare(name, exchange_type="topic", durable=self.settings.exchange_durable,
                                     auto_delete=False)
            return channel
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code != 406:
                raise
            # A service created it between our two declares, with other flags: fine, it exists.
            channel = connection.channel()
            channel.exchange_declare(name, passive=True)
            return channel

    # -- deliveries and batches ------------------------------------------------------------------

    def _on_delivery_for(self, session: _Session, queue: str) -> Callable[[int, bool, str, str, bytes], None]:
        counts = self._counts
        per_queue = self._per_queue
        broker = self.settings.name
        buffer = session.buffer
        batch_size = self.settings.batch_size
        connection = session.connection

        def on_delivery(delivery_tag: int, redelivered: bool, exchange: str, routing_key: str, body: bytes) -> None:
            counts["received"] += 1
            per_queue[queue] = per_queue.get(queue, 0) + 1
            if redelivered:
                counts["redelivered"] += 1
            if not buffer:
                session.first_at = time.monotonic()
            buffer.append((delivery_tag, RawMessage(body, exchange, routing_key, broker, redelivered)))
            # The reader's deliveries do not end connection.process_data_events() the way pika's own
            # do: wake it when there is a batch to time or to hand over.
            if len(buffer) == 1 or len(buffer) == batch_size:
                self._wake(connection)
        return on_delivery

    @staticmethod
    def _pika_delivery(on_delivery: Callable[[int, bool, str, str, bytes], None]) -> Callable[..., None]:
        """The same, for a delivery pika decoded itself (when the reader has stopped taking)."""
        def on_message(_channel: Any, method: Any, _properties: Any, body: bytes) -> None:
            on_delivery(method.delivery_tag, bool(method.redelivered), method.exchange or "",
                        method.routing_key or "", body)
        return on_message

    def _loop(self, session: _Session) -> None:
        settings = self.settings
        connection = session.connection
        while not self._stopping.is_set():
            self._settle(session)
            self._submit_due(session, force=False)
            pending = session.pending
            if pending > self._counts["pending_high_water"]:
                self._counts["pending_high_water"] = pending
            if len(session.in_sink) >= settings.in_flight:
                # As many batches in the sink as allowed: nothing to do until one is durable (its
                # completion wakes the connection) or a delivery arrives. Never spin.
                wait = 1.0
            elif session.buffer:
                wait = max(0.0, session.first_at + settings.batch_seconds - time.monotonic())
            else:
                wait = settings.batch_seconds
            connection.process_data_events(time_limit=wait)

    def _submit_due(self, session: _Session, force: bool) -> None:
        """Hand buffered deliveries to the sink: full batches at once, a partial one when its oldest
        message has waited ``batch_seconds`` (or ``force``)."""
        settings = self.settings
        buffer = session.buffer
        while buffer and len(session.in_sink) < settings.in_flight:
            due = force or len(buffer) >= settings.batch_size or \
                time.monotonic() - session.first_at >= settings.batch_seconds
            if not due:
                return
            taken = buffer[:settings.batch_size]
            del buffer[:settings.batch_size]
            if buffer:
                session.first_at = time.monotonic()
            # In the sink before it is called, so a sink that blocks still counts as pending.
            settled: Future[object] = Future()  # completes when the batch is durable (or failed)
            session.in_sink.append(_Batch(taken[-1][0], len(taken), settled))
            try:
                result = self._sink([message for _, message in taken])
            except Exception as error:  # noqa: BLE001 - settled (nacked) in order like any failure
                settled.set_exception(error)
                continue
            if result is None:
                settled.set_result(None)
            else:
                connection = session.connection
                result.add_done_callback(lambda done, settled=settled: self._settled(done, settled, connection))

    def _settled(self, done: Future[object], settled: Future[object], connection: pika.BlockingConnection) -> None:
        error = done.exception()
        if error is not None:
            settled.set_exception(error)
        else:
            settled.set_result(None)
        self._wake(connection)

    @staticmethod
    def _wake(connection: pika.BlockingConnection) -> None:
        with contextlib.suppress(Exception):  # the connection may be gone: its batches are requeued anyway
            connection.add_callback_threadsafe(lambda: None)

    def _settle(self, session: _Session) -> None:
        """Acknowledge, in order, the batches the sink has finished; a failed one hands everything
        back to the broker."""
        in_sink = session.in_sink
        while in_sink and in_sink[0].future.done():
            batch = in_sink.popleft()
            error = batch.future.exception()
            if error is not None:
                self._sink_failed(session, batch, error)
                return
            session.channel.basic_ack(batch.last_tag, multiple=True)
            self._counts["acked"] += batch.size
            self._counts["batches"] += 1
            self._sink_failures = 0

    def _sink_failed(self, session: _Session, failed: _Batch, error: BaseException) -> None:
        self._counts["sink_errors"] += 1
        self._sink_failures += 1
        self._last_error = f"sink: {type(error).__name__}: {error}"
        if self._sink_failures == 1:
            log.warning("rabbitmq %s: sink failed (%s); messages go back to the queue and are redelivered",
                        self.settings.label, self._last_error, exc_info=error)
        # Pause before handing back (the broker redelivers at once and a failing store should not be
        # hammered), serving the connection meanwhile; the messages stay unacked during the pause.
        session.connection.sleep(self._backoff(self._sink_failures - 1, _SINK_RETRY_BASE))
        tags = [failed.last_tag, *(batch.last_tag for batch in session.in_sink)]
        if session.buffer:
            tags.append(session.buffer[-1][0])
        count = failed.size + sum(batch.size for batch in session.in_sink) + len(session.buffer)
        # Batches still in the sink may yet be stored: the broker redelivers them and the store
        # recognises their ids. Their completion is not waited for.
        session.in_sink.clear()
        session.buffer.clear()
        session.channel.basic_nack(max(tags), multiple=True, requeue=True)
        self._counts["nacked"] += count

    def _drain(self, session: _Session) -> None:
        """stop(): no new deliveries, then everything buffered through the sink and acked."""
        session.reader.stop_taking()  # late deliveries to cancelled consumers: pika rejects them
        for tag in session.consumer_tags:
            with contextlib.suppress(Exception):
                session.channel.basic_cancel(tag)  # deliveries not yet dispatched are nacked by pika
        while (session.buffer or session.in_sink) and time.monotonic() < self._drain_deadline:
            failures = self._counts["sink_errors"]
            self._submit_due(session, force=True)
            session.connection.process_data_events(time_limit=0.05)
            self._settle(session)
            if self._counts["sink_errors"] != failures:
                break  # what was left went back to the broker
        if session.buffer or session.in_sink:
            log.warning("rabbitmq %s: drain did not finish in time; unacked messages go back to the queue",
                        self.settings.label)


class ConsumerGroup:
    """One consumer per broker (e.g. per Nova cell), started and stopped together."""

    def __init__(self, settings: Sequence[BrokerSettings], sink: Sink) -> None:
        labels = [s.label for s in settings]
        if len(set(labels)) != len(labels):
            raise ValueError(f"brokers need distinct names to tell their messages apart: {labels}")
        self.consumers = [NotificationConsumer(s, sink) for s in settings]

    def start(self) -> None:
        for consumer in self.consumers:
            consumer.start()

    def wait_connected(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        return all(consumer.wait_connected(None if deadline is None else max(0.0, deadline - time.monotonic()))
                   for consumer in self.consumers)

    def stop(self, timeout: float = 30.0) -> None:
        threads = [threading.Thread(target=consumer.stop, args=(timeout,)) for consumer in self.consumers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def stats(self) -> dict[str, dict[str, Any]]:
        return {c.settings.label: c.stats() for c in self.consumers}
