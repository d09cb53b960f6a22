"""API changes to alarms on a node of a cluster: routed to the evaluator partition holding the alarm.

On one node the alarm engine applies ``PATCH``/``PUT``/``DELETE /v2.0/alarms/{id}`` on its own thread,
in order with the points. Clustered, the alarm lives in the evaluator partition of its id
(``partials.evaluator_of``), held by whichever evaluator member leases it now; so the change is
published into that partition's reports (subject ``…partials.<evaluator>.api``), applied in order
with the partials (``merging.PartitionEvaluator``), persisted to the alarm repository, and answered
on a reply subject this node listens to. The answer says whether the alarm was found; the caller
reads the alarm as changed from the repository, which is shared.

A change published but not answered within ``timeout`` (no evaluator holds the partition right now)
is refused with 503; it is in the stream, so it is applied once an evaluator takes the partition,
and sending it again is harmless (setting a state twice makes one transition, a second deletion
finds nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from concurrent.futures import Future
from typing import Any

import nats

from nephoscope.alarms.cluster.merging import Report
from nephoscope.alarms.cluster.partials import evaluator_of
from nephoscope.alarms.cluster.streams import ensure_partials, partials_subject
from nephoscope.alarms.cluster.wire import encode
from nephoscope.alarms.engine import AlarmUpdate
from nephoscope.alarms.repository import AlarmRepository
from nephoscope.config import ClusterSettings
from nephoscope.engines.loop import LoopThread
from nephoscope.errors import Rejected
from nephoscope.engines.jetstream import connect

API_SOURCE = -1
"""The ``source`` of a change's report: not a partition, so no watermark or fold is touched."""


class RoutedChanges:
    """The alarm engine's change surface (``update_alarm``, ``delete_alarm``) for a clustered node."""

    def __init__(self, settings: ClusterSettings, repository: AlarmRepository, timeout: float = 15.0) -> None:
        self.settings = settings
        self.repository = repository
        self.timeout = timeout
        self._loop = LoopThread("alarm-changes")
        self._nc: Any = None

    def start(self) -> None:
        self._loop.start()
        self._loop.call(self._open())

    async def _open(self) -> None:
        self._nc = await connect(self.settings)
        self._js = self._nc.jetstream(timeout=self.settings.publish_timeout_seconds)
        await ensure_partials(self._js, self.settings)

    def stop(self) -> None:
        if self._nc is not None:
            try:
                self._loop.call(self._nc.close(), timeout=10)
            except Exception:  # noqa: BLE001 - closing anyway
                pass
        self._loop.stop()

    def update_alarm(self, scope: str, identifier: str, changes: dict) -> Future[AlarmUpdate]:
        """Set any of ``state``, ``lifecycle_state``, ``link``; resolves to an ``AlarmUpdate`` whose
        record is the alarm as the repository holds it after the change (None: not found)."""
        async def route() -> AlarmUpdate:
            if not await self._route(scope, identifier, {key: value for key, value in changes.items() if value}):
                return AlarmUpdate(None, [])
            return AlarmUpdate(await asyncio.to_thread(self.repository.get, scope, identifier), [])

        return self._loop.submit(route())

    def delete_alarm(self, scope: str, identifier: str) -> Future[bool]:
        """Resolves to True when the alarm existed."""
        return self._loop.submit(self._route(scope, identifier, {"delete": True}))

    async def _route(self, scope: str, identifier: str, fields: dict) -> bool:
        partition = evaluator_of(identifier, self.settings.partitions)
        reply = self._nc.new_inbox()
        subscription = await self._nc.subscribe(reply, max_msgs=1)
        try:
            change = {"alarm": identifier, "scope": scope, "reply": reply, **fields}
            report = Report(API_SOURCE, int(time.time() * 1000), change=change)
            try:
                await self._js.publish(partials_subject(self.settings, partition, "api"), encode(report),
                                       headers={"Nats-Msg-Id": f"api-{uuid.uuid4()}"})
            except Exception as error:  # noqa: BLE001 - JetStream away: nothing was queued
                raise Rejected(503, f"the change could not be queued for the alarm evaluators ({error!r}); "
                                    "retry shortly") from None
            try:
                answer = await subscription.next_msg(timeout=self.timeout)
            except (TimeoutError, nats.errors.TimeoutError):
                raise Rejected(503, f"no alarm evaluator answered within {self.timeout:.0f}s; the change is queued "
                                    f"and applies when one holds partition {partition}") from None
            return answer.data == b"1"
        finally:
            with contextlib.suppress(Exception):  # answered: unsubscribed after its one message already
                await subscription.unsubscribe()
