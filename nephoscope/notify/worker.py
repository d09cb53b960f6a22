"""The delivery worker: an asyncio task that sends due deliveries from the outbox.

It sleeps until the next due time (a retry, a periodic re-send) or until ``enqueue``
wakes it, claims due deliveries (a lease in SQLite), sends up to ``concurrency`` at
once and records each outcome — successes in one transaction per pass, so a burst of a
thousand webhooks is not a thousand fsyncs (a crash between sending and recording re-sends,
which the idempotency key in every body makes harmless). On start it releases the claims a
crash left behind.

Each delivery sent, and each given up as a dead letter, goes to the audit trail before the outbox
records it (``notify.audit_entries``): a crash in between re-sends and records again, never the
reverse. A failing audit trail is logged and does not stop the deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from nephoscope.audit import AuditTrail
from nephoscope.notify.audit_entries import delivery_entry
from nephoscope.notify.model import Delivery
from nephoscope.notify.outbox import Outbox
from nephoscope.notify.senders import DeliveryError, Senders

log = logging.getLogger(__name__)


class DeliveryWorker:
    def __init__(self, outbox: Outbox, senders: Senders, audit: AuditTrail | None = None) -> None:
        self.outbox = outbox
        self.senders = senders
        self.audit = audit
        self.config = outbox.config
        self._task: asyncio.Task | None = None
        self._event: asyncio.Event | None = None
        self._stopping = False
        self._inflight: set[asyncio.Task] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sent: list[Delivery] = []  # delivered, not yet recorded

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self.running:
            return
        await asyncio.to_thread(self.outbox.release_claims)
        await self.senders.open()
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        self._stopping = False
        self.outbox.add_waker(self._wake)
        self._task = asyncio.create_task(self._run(), name="notification-delivery")

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming; let sends in flight finish (up to ``timeout``), then close the transports."""
        if self._task is None:
            return
        self._stopping = True
        self.outbox.remove_waker(self._wake)
        if self._event is not None:
            self._event.set()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(self._task, timeout)
        self._task = None
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=timeout)
            for task in pending:  # their claims are released on the next start
                task.cancel()
        await self._record_sent()
        await self.senders.close()

    def _wake(self) -> None:
        loop, event = self._loop, self._event
        if loop is None or event is None or loop.is_closed():
            return
        try:
            if asyncio.get_running_loop() is loop:
                event.set()
                return
        except RuntimeError:
            pass
        loop.call_soon_threadsafe(event.set)

    async def _run(self) -> None:
        assert self._event is not None
        limit = max(1, self.config.concurrency)
        while not self._stopping:
            self._event.clear()
            wait = self.config.poll_interval
            try:
                await self._record_sent()
                free = limit - len(self._inflight)
                if free > 0:
                    for delivery in await asyncio.to_thread(self.outbox.claim_due, free):
                        task = asyncio.create_task(self._deliver(delivery))
                        self._inflight.add(task)
                        task.add_done_callback(self._inflight.discard)
                    if len(self._inflight) < limit:
                        next_due = await asyncio.to_thread(self.outbox.next_due)
                        if next_due is not None:
                            wait = min(wait, max(0.01, next_due - time.time()))
            except Exception:
                log.exception("notification outbox pass failed")
            if self._stopping:
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._event.wait(), wait)

    async def _deliver(self, delivery: Delivery) -> None:
        try:
            await self.senders.send(delivery)
        except asyncio.CancelledError:
            raise
        except DeliveryError as error:
            await self._failed(delivery, str(error))
        except Exception as error:
            log.exception("sending delivery %s failed unexpectedly", delivery.id)
            await self._failed(delivery, f"{type(error).__name__}: {error}")
        else:
            self._sent.append(delivery)
        finally:
            if self._event is not None:
                self._event.set()

    async def _record_sent(self) -> None:
        if self._sent:
            sent, self._sent = self._sent, []
            await asyncio.to_thread(self._succeeded, sent)

    def _succeeded(self, sent: list[Delivery]) -> None:
        self._audit([delivery_entry(delivery, delivered=True) for delivery in sent])
        self.outbox.succeeded(sent)

    def _audit(self, entries: list) -> None:  # noqa: ANN001 - audit entries
        if self.audit is None:
            return
        try:
            self.audit.record_many(entries)
        except Exception:  # noqa: BLE001 - the notifications still go out; the gap is in the log
            log.exception("audit: %d notification records could not be written", len(entries))

    async def _failed(self, delivery: Delivery, error: str) -> None:
        if self.outbox.is_last_attempt(delivery):
            await asyncio.to_thread(self._audit, [delivery_entry(delivery, delivered=False, error=error)])
        dead = await asyncio.to_thread(self.outbox.failed, delivery, error)
        if dead:
            log.warning("notification %s (%s to %s) is a dead letter after %d attempts: %s", delivery.id,
                        delivery.method_type, delivery.address, delivery.attempts + 1, error)
