"""The delivery outbox: what must be sent, once per transition and method, until it is sent or dead.

``enqueue`` persists one delivery per (transition, method) under an idempotency key, so
enqueueing the same transition twice yields one delivery. Failed attempts are retried
with exponential backoff and jitter up to ``max_attempts``, then kept as dead letters.
Methods with a period re-send while the alarm stays in the state (``schedule_periodic``,
``cancel_periodic``). Everything lives in SQLite, so a restart picks up where it stopped.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

from nephoscope.notify.model import (
    AlarmTransition,
    Delivery,
    DeliveryStats,
    NotifySettings,
)
from nephoscope.notify.repository import Database, DeliveryRepository, MethodRepository
from nephoscope.retry import backoff


def idempotency_key(transition: AlarmTransition, method_id: str, extra: str = "") -> str:
    """sha256 of alarm id, transition time, new state and method (plus ``extra`` for periodic re-sends)."""
    text = "\x1f".join((transition.alarm_id, str(transition.timestamp_ms), transition.new_state, method_id, extra))
    return hashlib.sha256(text.encode()).hexdigest()


def transition_key(transition: AlarmTransition) -> str:
    return idempotency_key(transition, "", "transition")


class Outbox:
    """Persistent deliveries and periodic schedules, plus the counters the worker keeps."""

    def __init__(self, database: Database, config: NotifySettings) -> None:
        self.config = config
        self.methods = MethodRepository(database)
        self.deliveries = DeliveryRepository(database)
        self._lock = threading.Lock()
        self._delivered = 0
        self._failed_attempts = 0
        self._dead_letters = 0
        self._wakers: list[Callable[[], None]] = []

    # Producers ---------------------------------------------------------------------------------

    def enqueue(self, transition: AlarmTransition, method_ids: list[str], periodic: bool = True) -> list[int]:
        """Persist one delivery per method of the transition's project; returns the ids newly created.

        Unknown methods and methods of other projects are skipped. With ``periodic`` (the
        default), schedules of the alarm's previous transitions stop, and methods with a
        period > 0 are scheduled to re-send this one.
        """
        return self.enqueue_many([(transition, method_ids)], periodic)

    def enqueue_many(self, items: list[tuple[AlarmTransition, list[str]]], periodic: bool = True) -> list[int]:
        """``enqueue`` for many transitions in one transaction (a mass state change costs one fsync)."""
        now = time.time()
        rows, cancels, schedules = [], [], []
        known: dict[tuple[str, tuple[str, ...]], list] = {}  # a mass transition shares a few method lists
        for transition, method_ids in items:
            wanted = (transition.tenant_id, tuple(method_ids))
            if wanted not in known:
                known[wanted] = self.methods.get_many(transition.tenant_id, list(method_ids)) if method_ids else []
            methods = known[wanted]
            rows += [(idempotency_key(transition, method.id), method, transition, False) for method in methods]
            if periodic:
                key = transition_key(transition)
                cancels.append((transition.alarm_id, key))
                schedules += [(transition, key, method, now + method.period) for method in methods if method.period > 0]
        if not (rows or cancels):
            return []
        created = self.deliveries.enqueue(rows, cancels, schedules, now)
        self._wake()
        return created

    def schedule_periodic(self, transition: AlarmTransition, method_id: str, period: int) -> bool:
        """Re-send ``transition`` through the method every ``period`` seconds until cancelled.

        ``period`` must be the method's own period (a method whose period changes stops
        re-sending, as in Monasca). Returns False for an unknown method or a mismatch.
        """
        methods = self.methods.get_many(transition.tenant_id, [method_id])
        if not methods or period <= 0 or methods[0].period != period:
            return False
        self.deliveries.schedule_periodic(transition, transition_key(transition), methods[0], time.time() + period)
        self._wake()
        return True

    def cancel_periodic(self, alarm_id: str) -> int:
        """Stop every periodic re-send of the alarm (it changed state or was deleted)."""
        return self.deliveries.cancel_periodic(alarm_id)

    # The worker's side -------------------------------------------------------------------------

    def claim_due(self, limit: int) -> list[Delivery]:
        now = time.time()
        self.deliveries.fire_periodic(now, idempotency_key)
        return self.deliveries.claim_due(now, limit, self.config.lease_seconds)

    def release_claims(self) -> int:
        return self.deliveries.release_claims()

    def next_due(self) -> float | None:
        return self.deliveries.next_due()

    def succeeded(self, deliveries: list[Delivery]) -> None:
        self.deliveries.mark_delivered([delivery.id for delivery in deliveries], time.time())
        with self._lock:
            self._delivered += len(deliveries)

    def is_last_attempt(self, delivery: Delivery) -> bool:
        """Whether a failure of this attempt makes the delivery a dead letter."""
        return delivery.attempts + 1 >= self.config.max_attempts

    def failed(self, delivery: Delivery, error: str) -> bool:
        """Record a failed attempt; returns True when it became a dead letter."""
        attempts = delivery.attempts + 1
        now = time.time()
        dead = self.is_last_attempt(delivery)
        retry_at = None if dead else now + backoff(attempts, self.config.backoff_base, self.config.backoff_max, self.config.jitter)
        self.deliveries.mark_failed(delivery.id, error, retry_at, now)
        with self._lock:
            self._failed_attempts += 1
            self._dead_letters += int(dead)
        return dead

    def retry_dead(self, tenant: str, delivery_id: int) -> bool:
        done = self.deliveries.retry(tenant, delivery_id, time.time())
        if done:
            self._wake()
        return done

    def stats(self) -> DeliveryStats:
        with self._lock:
            return DeliveryStats(self._delivered, self._failed_attempts, self._dead_letters, self.deliveries.depth())

    # Wake-ups ----------------------------------------------------------------------------------

    def add_waker(self, waker: Callable[[], None]) -> None:
        self._wakers.append(waker)

    def remove_waker(self, waker: Callable[[], None]) -> None:
        if waker in self._wakers:
            self._wakers.remove(waker)

    def _wake(self) -> None:
        for waker in list(self._wakers):
            waker()
