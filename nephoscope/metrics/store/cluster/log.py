"""The write-ahead log of the cluster: a JetStream stream replicated across the NATS cluster.

``MetricLog`` owns a NATS connection on an event loop of its own (a thread,
``nephoscope.cluster.loop``), so blocking callers (``write_now``, the consumer) and request
handlers on another loop can both use it. Parts are
published to ``<prefix>.<partition>`` with ``Nats-Msg-Id``; ``publish`` returns once JetStream
acknowledged each (quorum-durable) and gives the stream sequences. ``follow`` reads the stream in
order from a sequence with a pull consumer of its own, recreated from the last sequence seen
whenever the node serving it goes away. Payloads are the embedded write-ahead log's record
encoding (``wal.encode_record``): one batch format on disk and on the wire.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import nats
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    StorageType,
    StreamConfig,
    StreamState,
)
from nats.js.errors import NotFoundError

from nephoscope.cluster.loop import LoopThread
from nephoscope.metrics.series import IngestBatch
from nephoscope.metrics.store.cluster.partitions import message_id
from nephoscope.config import ClusterSettings
from nephoscope.metrics.store.wal import decode_record, encode_record

log = logging.getLogger(__name__)
T = TypeVar("T")

_FETCH = 512
"""Messages a consumer asks for at once."""
_CONSUMER_REQUEST_SECONDS = 1.0
_CHECK_AFTER_IDLE = 3
"""Empty fetches (a second each) after which the consumer's existence is checked."""


class MetricLog:
    def __init__(self, settings: ClusterSettings) -> None:
        self.settings = settings
        self._thread = LoopThread("cluster-log")
        self._loop = self._thread.loop
        self._nc: Any = None
        self._js: Any = None
        self._stop = False
        self._followers: list[Future[None]] = []
        # The highest sequence JetStream acknowledged to this process, per subject (a consumer that
        # has not delivered it has stalled) and over all.
        self._acknowledged: dict[str, int] = {}
        self.caught_up = threading.Event()
        """Set once a consumer has seen every message the stream held when it asked."""

    # -- lifecycle ---------------------------------------------------------------------------
    def open(self) -> None:
        """Connect and make sure the stream exists, replicated as configured."""
        self._thread.start()
        self.call(self._open())

    async def _open(self) -> None:
        self._nc = await nats.connect(servers=self.settings.servers, max_reconnect_attempts=-1,
                                      reconnect_time_wait=0.2, connect_timeout=5)
        self._js = self._nc.jetstream(timeout=self.settings.publish_timeout_seconds)
        # Consumers are (re)created with short requests, retried: after a node's death the first ones
        # wait for JetStream to elect new leaders, and a long timeout would only add to the wait.
        self._consumers = self._nc.jetstream(timeout=_CONSUMER_REQUEST_SECONDS)
        config = StreamConfig(name=self.settings.stream, subjects=[f"{self.settings.subject_prefix}.*"],
                              num_replicas=self.settings.replicas, storage=StorageType.FILE,
                              duplicate_window=self.settings.duplicate_window_seconds,
                              max_bytes=self.settings.stream_max_bytes, discard=DiscardPolicy.NEW)
        for attempt in range(100):  # a fresh cluster elects its meta leader within a second or two
            try:
                try:
                    await self._js.stream_info(self.settings.stream)
                except NotFoundError:
                    await self._js.add_stream(config)
                return
            except NotFoundError:
                raise
            except Exception as error:
                if attempt == 99:
                    raise
                log.debug("stream not ready yet: %s", error)
                await asyncio.sleep(0.2)

    def close(self) -> None:
        if self._stop:
            return
        self._stop = True
        for follower in self._followers:
            follower.cancel()
        if self._nc is not None:
            try:
                self.call(self._nc.close(), timeout=10)
            except Exception:
                log.debug("closing the NATS connection failed", exc_info=True)
        self._thread.stop()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        return self._thread.submit(coroutine)

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return self.submit(coroutine).result(timeout)

    # -- writing -------------------------------------------------------------------------------
    async def publish(self, parts: list[tuple[int, IngestBatch]]) -> list[int]:
        """Publish every part at once; their stream sequences once JetStream acknowledged all.

        A retried part (same bytes) is acknowledged as a duplicate with the sequence first stored.
        """
        messages = []
        for partition, part in parts:
            payload = encode_record(0, part)
            messages.append((f"{self.settings.subject_prefix}.{partition}", payload, message_id(partition, payload)))
        return await self.publish_encoded(messages)

    async def publish_encoded(self, messages: list[tuple[str, bytes, str]]) -> list[int]:
        """Publish (subject, payload, message id) triples; their stream sequences."""
        acks = await asyncio.gather(*(self._publish_one(*message) for message in messages))
        sequences = [ack.seq for ack in acks]
        for (subject, _, _), sequence in zip(messages, sequences):
            self._acknowledged[subject] = max(self._acknowledged.get(subject, 0), sequence)
        return sequences

    def _acknowledged_to(self, subject: str) -> int:
        if subject.endswith("*"):
            return max(self._acknowledged.values(), default=0)
        return self._acknowledged.get(subject, 0)

    async def _publish_one(self, subject: str, payload: bytes, msg_id: str):
        # While a stream leader is being elected JetStream answers "no responders" or times out:
        # retry with the same message id (stored once) until the publish timeout has passed.
        deadline = self._loop.time() + self.settings.publish_timeout_seconds
        while True:
            try:
                return await self._js.publish(subject, payload, headers={"Nats-Msg-Id": msg_id},
                                              timeout=max(0.5, deadline - self._loop.time()))
            except Exception:
                if self._loop.time() >= deadline:
                    raise
                await asyncio.sleep(0.1)

    # -- reading -------------------------------------------------------------------------------
    def follow(self, after: int, apply: Callable[[int, int, IngestBatch], None], partition: int | None = None,
               caught_up: threading.Event | None = None) -> Future[None]:
        """Call ``apply(sequence, partition, batch)`` for every message after sequence ``after`` (of
        one ``partition``, or of all), in stream order, on the log's thread, until ``close`` or the
        future is cancelled; ``caught_up`` (``self.caught_up`` by default) is set once it has read all
        the stream held (messages the stream forgot are skipped: they are in blocks)."""
        subject = f"{self.settings.subject_prefix}.{'*' if partition is None else partition}"
        follower = self.submit(self._follow(after, apply, subject, caught_up or self.caught_up))
        self._followers = [f for f in self._followers if not f.done()] + [follower]
        return follower

    async def _follow(self, after: int, apply: Callable[[int, int, IngestBatch], None], subject: str,
                      caught_up: threading.Event) -> None:
        last = after
        prefix_length = len(self.settings.subject_prefix) + 1
        while not self._stop:
            subscription = None
            try:
                config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=last + 1,
                                        ack_policy=AckPolicy.NONE, inactive_threshold=30.0, mem_storage=True,
                                        num_replicas=1)
                subscription = await self._consumers.pull_subscribe(subject, durable=None,
                                                             stream=self.settings.stream, config=config)
                idle = 0
                while not self._stop:
                    try:
                        messages = await subscription.fetch(_FETCH, timeout=1.0)
                    except TimeoutError:
                        caught_up.set()  # nothing more to read
                        idle += 1
                        # A consumer whose server died answers nothing, which looks like an idle stream.
                        if self._acknowledged_to(subject) > last:
                            # This process was told of a message the consumer has not delivered.
                            raise ConnectionError("the consumer stalled before sequence "
                                                  f"{self._acknowledged_to(subject)}")
                        if idle % _CHECK_AFTER_IDLE == 0:  # ask for it now and then (raises when gone)
                            await asyncio.wait_for(subscription.consumer_info(), _CHECK_AFTER_IDLE)
                        continue
                    idle = 0
                    for message in messages:
                        sequence = message.metadata.sequence.stream
                        if sequence <= last:
                            continue
                        _, batch = decode_record(message.data)
                        apply(sequence, int(message.subject[prefix_length:]), batch)
                        last = sequence
                    if messages and messages[-1].metadata.num_pending == 0:
                        caught_up.set()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - the node serving the consumer went away
                if self._stop:
                    return
                log.info("stream consumer interrupted after sequence %d (%s); starting again", last, error)
                await asyncio.sleep(0.2)
            finally:
                if subscription is not None:
                    try:
                        await subscription.unsubscribe()
                    except Exception:  # its server may be gone: the consumer expires on its own
                        log.debug("unsubscribing the stream consumer failed", exc_info=True)

    def stream_state(self) -> StreamState:
        """The stream's state now: messages, bytes, first and last sequence."""
        return self.call(self._js.stream_info(self.settings.stream)).state

    def stream_leader(self) -> str | None:
        """The server name of the stream's leader now (for operators, and the tests that kill it)."""
        cluster = self.call(self._js.stream_info(self.settings.stream)).cluster
        return cluster.leader if cluster is not None else None

    def stream_bytes(self) -> int:
        """Bytes the stream holds now (on each replica)."""
        return self.stream_state().bytes

    @property
    def connected_url(self) -> str | None:
        """The server this client talks to now (it moves when that server goes away)."""
        url = self._nc.connected_url if self._nc is not None else None
        return url.geturl() if url is not None else None

    def forget(self, partition: int, covered: int) -> None:
        """Let the stream drop the partition's messages up to ``covered`` (they are in blocks now)."""
        self.call(self._js.purge_stream(self.settings.stream, seq=covered + 1,
                                        subject=f"{self.settings.subject_prefix}.{partition}"))
