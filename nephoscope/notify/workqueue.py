"""Clustered notification: alarm transitions through a JetStream work queue, delivered once each.

The alarm evaluators publish each transition with actions (``publish``) to the stream
``<stream>_ALARM_TRANSITIONS`` (retention *work queue*, replicated ``replicas`` times) with
``Nats-Msg-Id`` = the transition's id (alarm id, new state and the time the evaluator decided it —
deterministic, so an evaluator's successor replaying the same input publishes the same id and
JetStream stores it once). ``TransitionNotifier`` is one notifier process: notifiers share one
durable pull consumer, so each message goes to one of them at a time; it is acknowledged (and so
leaves the queue) only after every method of the transition was delivered. A notifier killed
mid-delivery never acknowledges: after ``ack_wait`` JetStream hands the message to another.

Each method's delivery is recorded, once it succeeded, in the key-value bucket
``<stream>_alarm_deliveries`` under the outbox's idempotency key (``outbox.idempotency_key``: alarm
id, transition time, new state, method), and a redelivered message skips the methods recorded
there: a notifier dying after sending but before acknowledging causes no second send. A notifier
dying *during* a send cannot know whether the receiver got it; the other one sends again with the
same ``Idempotency-Key`` header and ``idempotency_key`` in the body, so the receiver's effect is
once (the same contract as the single node's outbox after a crash). A failed attempt is retried
with the outbox's backoff (a delayed negative acknowledgement) up to ``max_attempts``, then
dropped as a dead letter (logged, audited).

Periodic re-sends are the embedded outbox's (not clustered yet).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import KeyNotFoundError

from nephoscope.audit import AuditTrail
from nephoscope.engines.loop import LoopThread
from nephoscope.config import ClusterSettings
from nephoscope.notify.audit_entries import delivery_entry
from nephoscope.notify.model import AlarmTransition, Delivery, NotifySettings
from nephoscope.notify.outbox import idempotency_key
from nephoscope.notify.repository import MethodRepository
from nephoscope.notify.senders import DeliveryError, Senders
from nephoscope.retry import backoff
from nephoscope.engines.jetstream import connect, ensure_bucket, ensure_stream

log = logging.getLogger(__name__)

_CONSUMER = "notifiers"
_FETCH = 16


def stream_name(settings: ClusterSettings) -> str:
    return f"{settings.stream}_ALARM_TRANSITIONS"


def subject(settings: ClusterSettings) -> str:
    return f"{settings.stream}.alarms.transitions"


def deliveries_bucket(settings: ClusterSettings) -> str:
    return f"{settings.stream}_alarm_deliveries"


def transition_id(transition: AlarmTransition) -> str:
    """The message id of a transition: the same input gives the same id on any evaluator."""
    return f"{transition.alarm_id}.{transition.new_state}.{transition.timestamp_ms}"


async def ensure_transitions(js: Any, settings: ClusterSettings) -> None:
    await ensure_stream(js, StreamConfig(
        name=stream_name(settings), subjects=[subject(settings)], retention=RetentionPolicy.WORK_QUEUE,
        num_replicas=settings.replicas, storage=StorageType.FILE,
        duplicate_window=settings.duplicate_window_seconds))


def encode(transition: AlarmTransition, method_ids: list[str]) -> bytes:
    return orjson.dumps({"transition": transition.to_dict(), "methods": method_ids})


def decode(payload: bytes) -> tuple[AlarmTransition, list[str]]:
    data = orjson.loads(payload)
    return AlarmTransition.from_dict(data["transition"]), list(data["methods"])


async def publish(js: Any, settings: ClusterSettings, transition: AlarmTransition, method_ids: list[str]) -> bool:
    """Queue a transition for the notifiers; False when JetStream already had its id (a replay)."""
    deadline = time.monotonic() + settings.publish_timeout_seconds
    while True:  # a leader election answers "no responders" for a moment: retry with the same id
        try:
            ack = await js.publish(subject(settings), encode(transition, method_ids),
                                   headers={"Nats-Msg-Id": transition_id(transition)})
            return not ack.duplicate
        except Exception:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.1)


class TransitionNotifier:
    """One notifier process's share of the transition queue (``start``/``stop`` from any thread)."""

    def __init__(self, settings: ClusterSettings, notify: NotifySettings, methods: MethodRepository,
                 audit: AuditTrail | None = None, ack_wait_seconds: float | None = None) -> None:
        self.settings = settings
        self.notify = notify
        self.methods = methods
        self.audit = audit
        # Longer than a send may take (a webhook's timeout, with room): a slow send is not handed over.
        self.ack_wait = ack_wait_seconds if ack_wait_seconds is not None else 2 * notify.webhook_timeout + 10
        self.senders = Senders(notify)
        self.delivered = 0
        self.dead_letters = 0
        self._loop = LoopThread("notifier")
        self._task: Any = None
        self._stopping = False
        self._nc: Any = None

    def start(self) -> None:
        self._loop.start()
        self._loop.call(self._open())
        self._task = self._loop.submit(self._run())

    def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                self._task.result(timeout=self.ack_wait + 5)
        with contextlib.suppress(Exception):
            self._loop.call(self._close(), timeout=10)
        self._loop.stop()

    async def _open(self) -> None:
        self._nc = await connect(self.settings)
        self._js = self._nc.jetstream(timeout=self.settings.publish_timeout_seconds)
        await ensure_transitions(self._js, self.settings)
        self._kv = await ensure_bucket(self._js, KeyValueConfig(
            bucket=deliveries_bucket(self.settings), history=1, ttl=7 * 86400, replicas=self.settings.replicas,
            storage=StorageType.FILE))
        await self.senders.open()

    async def _close(self) -> None:
        await self.senders.close()
        if self._nc is not None:
            await self._nc.close()

    async def _run(self) -> None:
        subscription = None
        while not self._stopping:
            try:
                if subscription is None:
                    config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=self.ack_wait, max_deliver=-1,
                                            max_ack_pending=1000)
                    subscription = await self._js.pull_subscribe(subject(self.settings), durable=_CONSUMER,
                                                                 stream=stream_name(self.settings), config=config)
                try:
                    messages = await subscription.fetch(_FETCH, timeout=0.5)
                except TimeoutError:
                    continue
                outcomes = await asyncio.gather(*(self._handle(m) for m in messages), return_exceptions=True)
                for outcome in outcomes:  # unacknowledged: handed out again after ack_wait
                    if isinstance(outcome, Exception):
                        log.warning("a transition could not be handled: %s", outcome)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - a node went away: bind again
                log.info("transition queue interrupted (%s); binding again", error)
                subscription = None
                await asyncio.sleep(0.2)

    async def _handle(self, message: Any) -> None:
        transition, method_ids = decode(message.data)
        attempts = message.metadata.num_delivered
        methods = await asyncio.to_thread(self.methods.get_many, transition.tenant_id, method_ids)
        failures = []
        for method in methods:
            key = idempotency_key(transition, method.id)
            with contextlib.suppress(KeyNotFoundError):
                await self._kv.get(key)
                continue  # delivered before a notifier died without acknowledging
            now = time.time()
            delivery = Delivery(0, key, transition.tenant_id, transition.alarm_id, method.id, method.name, method.type,
                                method.address, transition, "pending", attempts - 1, now, "", now, now, None, False)
            try:
                await self.senders.send(delivery)
            except DeliveryError as error:
                failures.append((delivery, str(error)))
                continue
            await self._kv.put(key, orjson.dumps({"at": time.time()}))
            self.delivered += 1
            await asyncio.to_thread(self._audit, delivery_entry(delivery, delivered=True))
        await self._settle(message, transition, failures)

    async def _settle(self, message: Any, transition: AlarmTransition, failures: list[tuple[Delivery, str]]) -> None:
        """Acknowledge, retry later, or give up (every method was tried once in this delivery)."""
        attempts = message.metadata.num_delivered
        if not failures:
            await message.ack()
        elif attempts >= self.notify.max_attempts:
            for delivery, error in failures:
                log.warning("notification of %s to %s is a dead letter after %d attempts: %s", transition.alarm_id,
                            delivery.address, attempts, error)
                await asyncio.to_thread(self._audit, delivery_entry(delivery, delivered=False, error=error))
            self.dead_letters += len(failures)
            await message.term()
        else:
            await message.nak(delay=backoff(attempts, self.notify.backoff_base, self.notify.backoff_max,
                                            self.notify.jitter))

    def _audit(self, entry: Any) -> None:
        if self.audit is None:
            return
        try:
            self.audit.record_many([entry])
        except Exception:  # noqa: BLE001 - the notification went out; the gap is in the log
            log.exception("audit: a notification record could not be written")
