"""A JetStream stream as a replicated write-ahead log: publish acknowledged, follow in order, forget.

``StreamLog`` owns a NATS connection on an event loop of its own (a thread), so blocking callers
and request handlers on another loop can both use it. Messages go to ``<subject_prefix>.<partition>``
with ``Nats-Msg-Id`` (a retry within the stream's duplicate window is stored once); ``publish_encoded``
returns once JetStream acknowledged each (quorum-durable) and gives the stream sequences. ``follow``
reads the stream in order from a sequence with a pull consumer of its own (optionally only some
partitions' subjects), recreated from the last sequence seen whenever the node serving it goes
away. ``forget`` purges a partition's subject up to a sequence once its messages are in object
storage. What a payload means is the caller's (the metric store's batches, events, log records).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Collection, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import nats
from nats.js.api import (
    AckPolicy,
    PubAck,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    StorageType,
    StreamConfig,
    StreamState,
)
from nats.js.errors import BucketNotFoundError, NotFoundError

from nephoscope.config import ClusterSettings
from nephoscope.engines.loop import LoopThread

log = logging.getLogger(__name__)
T = TypeVar("T")

_PING_SECONDS = 1
"""Seconds between the client's pings to its server."""
_FETCH = 512
"""Messages a consumer asks for at once."""
_CONSUMER_REQUEST_SECONDS = 1.0
_CHECK_AFTER_IDLE = 3
"""Empty fetches (a second each) after which the consumer's existence is checked."""

Apply = Callable[[int, int, bytes, dict[str, str]], None]
"""``apply(sequence, partition, payload, headers)`` for each message followed."""


async def connect(settings: ClusterSettings) -> nats.NATS:
    """A connection to the cluster's NATS servers, as every clustered client of ours makes it:
    reconnecting for ever, quickly. A server cut off by a partition does not close its connections,
    they hang: pings every second, two unanswered, make the client move to another server within
    ~3 s (the default, two minutes, would stall every publish, lease and fetch for that long)."""
    return await nats.connect(servers=settings.servers, max_reconnect_attempts=-1, reconnect_time_wait=0.2,
                              connect_timeout=5, ping_interval=_PING_SECONDS, max_outstanding_pings=2)


async def ensure_stream(js: Any, config: StreamConfig) -> None:
    """Create the stream unless it exists; a fresh cluster elects its meta leader within a second or
    two, so early requests are retried (as the metric log does)."""
    for attempt in range(100):
        try:
            try:
                await js.stream_info(config.name)
            except NotFoundError:
                await js.add_stream(config)
            return
        except Exception as error:  # noqa: BLE001 - no leader yet
            if attempt == 99:
                raise
            log.debug("stream %s not ready yet: %s", config.name, error)
            await asyncio.sleep(0.2)


async def ensure_bucket(js: Any, config: KeyValueConfig) -> Any:
    for attempt in range(100):
        try:
            try:
                return await js.key_value(config.bucket)
            except BucketNotFoundError:
                return await js.create_key_value(config)
        except Exception as error:  # noqa: BLE001 - no leader yet
            if attempt == 99:
                raise
            log.debug("bucket %s not ready yet: %s", config.bucket, error)
            await asyncio.sleep(0.2)
    raise AssertionError("unreachable")


class StreamLog:
    def __init__(self, settings: ClusterSettings, stream: str | None = None, subject_prefix: str | None = None,
                 name: str = "cluster-log") -> None:
        """The stream ``stream`` (default ``settings.stream``) over subjects ``<subject_prefix>.*``."""
        self.settings = settings
        self.stream = stream or settings.stream
        self.subject_prefix = subject_prefix or settings.subject_prefix
        self._loop = LoopThread(name)
        self._nc: Any = None
        self._js: Any = None
        self._stop = False
        self._followers: list[Future[None]] = []
        # The highest sequence JetStream acknowledged to this process, per subject: a consumer of
        # those subjects that has not delivered it has stalled.
        self._acknowledged: dict[str, int] = {}
        self.caught_up = threading.Event()
        """Set once a consumer has seen every message the stream held when it asked."""
        self.idle = threading.Condition()
        self.idle_fetches = 0
        """Fetches that found nothing to deliver: after one that ended later than a moment, every
        message the stream held at that moment was delivered, or purged."""

    # -- lifecycle ---------------------------------------------------------------------------
    def open(self) -> None:
        """Connect and make sure the stream exists, replicated as configured."""
        self._loop.start()
        self.call(self._open())

    async def _open(self) -> None:
        self._nc = await connect(self.settings)
        self._js = self._nc.jetstream(timeout=self.settings.publish_timeout_seconds)
        # Consumers are (re)created with short requests, retried: after a node's death the first ones
        # wait for JetStream to elect new leaders, and a long timeout would only add to the wait.
        self._consumers = self._nc.jetstream(timeout=_CONSUMER_REQUEST_SECONDS)
        config = StreamConfig(name=self.stream, subjects=[f"{self.subject_prefix}.*"],
                              num_replicas=self.settings.replicas, storage=StorageType.FILE,
                              duplicate_window=self.settings.duplicate_window_seconds,
                              max_bytes=self.settings.stream_max_bytes, discard=DiscardPolicy.NEW)
        for attempt in range(100):  # a fresh cluster elects its meta leader within a second or two
            try:
                try:
                    await self._js.stream_info(self.stream)
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
        self._loop.stop()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        return self._loop.submit(coroutine)

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return self._loop.call(coroutine, timeout)

    def jetstream(self, timeout: float) -> Any:
        """A JetStream context on this log's connection with its own request timeout (for buckets
        beside the stream)."""
        return self._nc.jetstream(timeout=timeout)

    def subject(self, partition: int) -> str:
        return f"{self.subject_prefix}.{partition}"

    # -- writing -------------------------------------------------------------------------------
    async def publish_encoded(self, messages: list[tuple[str, bytes, str]]) -> list[int]:
        """Publish (subject, payload, message id) triples; their stream sequences once JetStream
        acknowledged every one. A duplicate (same id within the window) is acknowledged with the
        sequence first stored."""
        return [ack.seq for ack in await self.publish_acks(messages)]

    async def publish_acks(self, messages: list[tuple[str, bytes, str]]) -> list[PubAck]:
        """``publish_encoded``'s acknowledgements themselves (``duplicate`` tells a message JetStream
        already held under its id)."""
        acks = await asyncio.gather(*(self._publish_one(*message) for message in messages))
        for (subject, _, _), ack in zip(messages, acks):
            self._acknowledged[subject] = max(self._acknowledged.get(subject, 0), ack.seq)
        return list(acks)

    def _acknowledged_to(self, subjects: list[str]) -> int:
        """The highest sequence acknowledged to this process on ``subjects`` (a wildcard: on any)."""
        if any(subject.endswith("*") for subject in subjects):
            return max(self._acknowledged.values(), default=0)
        return max((self._acknowledged.get(subject, 0) for subject in subjects), default=0)

    async def _publish_one(self, subject: str, payload: bytes, msg_id: str) -> PubAck:
        # While a stream leader is being elected JetStream answers "no responders" or times out:
        # retry with the same message id (stored once) until the publish timeout has passed.
        deadline = self._loop.loop.time() + self.settings.publish_timeout_seconds
        while True:
            try:
                return await self._js.publish(subject, payload, headers={"Nats-Msg-Id": msg_id},
                                              timeout=max(0.5, deadline - self._loop.loop.time()))
            except Exception:
                if self._loop.loop.time() >= deadline:
                    raise
                await asyncio.sleep(0.1)

    # -- reading -------------------------------------------------------------------------------
    def follow(self, after: int, apply: Apply, partitions: Collection[int] | None = None,
               caught_up: threading.Event | None = None) -> Future[None]:
        """Call ``apply(sequence, partition, payload, headers)`` for every message after sequence
        ``after`` (of ``partitions`` only, when given), in stream order, on the log's thread, until
        ``close`` or the future is cancelled; ``caught_up`` (``self.caught_up`` by default) is set
        once it has read all the stream held (messages the stream forgot are skipped: they are in
        object storage)."""
        follower = self.submit(self._follow(after, apply, sorted(partitions) if partitions is not None else None,
                                            caught_up or self.caught_up))
        self._followers = [f for f in self._followers if not f.done()] + [follower]  # finished ones forgotten
        return follower

    async def _follow(self, after: int, apply: Apply, partitions: list[int] | None,
                      caught_up: threading.Event) -> None:
        last = after
        prefix_length = len(self.subject_prefix) + 1
        subjects = [f"{self.subject_prefix}.*"] if partitions is None else [self.subject(p) for p in partitions]
        while not self._stop:
            subscription = None
            try:
                config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=last + 1,
                                        ack_policy=AckPolicy.NONE, inactive_threshold=30.0, mem_storage=True,
                                        num_replicas=1)
                if len(subjects) > 1:
                    config.filter_subjects = subjects
                subscription = await self._consumers.pull_subscribe(subjects[0] if len(subjects) == 1 else "",
                                                                    durable=None, stream=self.stream, config=config)
                idle = 0
                while not self._stop:
                    try:
                        messages = await subscription.fetch(_FETCH, timeout=1.0)
                    except TimeoutError:
                        caught_up.set()  # nothing more to read
                        with self.idle:
                            self.idle_fetches += 1
                            self.idle.notify_all()
                        idle += 1
                        # A consumer whose server died answers nothing, which looks like an idle stream.
                        if self._acknowledged_to(subjects) > last:
                            # This process was told of a message the consumer has not delivered.
                            raise ConnectionError("the consumer stalled before sequence "
                                                  f"{self._acknowledged_to(subjects)}")
                        if idle % _CHECK_AFTER_IDLE == 0:  # ask for it now and then (raises when gone)
                            await asyncio.wait_for(subscription.consumer_info(), _CHECK_AFTER_IDLE)
                        continue
                    idle = 0
                    for message in messages:
                        sequence = message.metadata.sequence.stream
                        if sequence <= last:
                            continue
                        apply(sequence, int(message.subject[prefix_length:]), message.data, message.headers or {})
                        last = sequence
                    if messages and messages[-1].metadata.num_pending == 0:
                        caught_up.set()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - the node serving the consumer went away
                if self._stop:
                    return
                log.info("stream %s: consumer interrupted after sequence %d (%s); starting again", self.stream,
                         last, error)
                await asyncio.sleep(0.2)
            finally:
                if subscription is not None:
                    try:
                        await subscription.unsubscribe()
                    except Exception:  # its server may be gone: the consumer expires on its own
                        log.debug("unsubscribing the stream consumer failed", exc_info=True)

    def stream_state(self) -> StreamState:
        """The stream's state now: messages, bytes, first and last sequence."""
        return self.call(self._js.stream_info(self.stream)).state

    def stream_leader(self) -> str | None:
        """The server name of the stream's leader now (for operators, and the tests that kill it)."""
        cluster = self.call(self._js.stream_info(self.stream)).cluster
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
        """Let the stream drop the partition's messages up to ``covered`` (they are in object storage)."""
        self.call(self._js.purge_stream(self.stream, seq=covered + 1, subject=self.subject(partition)))
