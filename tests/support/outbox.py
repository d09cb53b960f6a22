"""The notification service on an event loop of its own, as the server runs it, for the delivery
tests (``tests/notify/``): fast retry settings, alarm transitions to enqueue, and optionally the
audit trail its worker records into. The ``running`` fixture is in ``tests/notify/conftest.py``."""

from __future__ import annotations

import asyncio
import threading
import uuid
from pathlib import Path

from nephoscope.audit import AuditTrail
from nephoscope.notify import AlarmTransition, NotificationService, NotifySettings
from nephoscope.notify.model import NotificationMethod


class Running:
    """A ``NotificationService`` whose worker runs on an event loop in a thread."""

    def __init__(self, data_dir: Path, config: NotifySettings, start_worker: bool = True,
                 audit: AuditTrail | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.service = NotificationService(data_dir, config, audit)
        if start_worker:
            self.call(self.service.start())

    def call(self, coroutine):  # noqa: ANN001, ANN201 - any coroutine, its result
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    def stop(self) -> None:
        self.call(self.service.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def method(self, tenant: str, type_: str, address: str, period: int = 0, name: str = "") -> NotificationMethod:
        return self.service.methods.create(tenant, name or f"{type_}-{uuid.uuid4().hex[:8]}", type_, address, period)


def make_config(**overrides) -> NotifySettings:  # noqa: ANN003 - NotifySettings fields
    values = {"backoff_base": 0.05, "backoff_max": 2.0, "jitter": 0.2, "max_attempts": 4, "poll_interval": 0.2,
              "webhook_timeout": 2.0, "valid_periods": (0, 1, 60)}
    values.update(overrides)
    return NotifySettings(**values)


def transition(tenant: str = "proj-a", new_state: str = "ALARM", old_state: str = "OK", alarm_id: str | None = None,
               timestamp_ms: int | None = None, severity: str = "HIGH") -> AlarmTransition:
    return AlarmTransition(
        alarm_id=alarm_id or str(uuid.uuid4()), alarm_definition_id="def-1", alarm_name="cpu high",
        alarm_description="CPU above 90%", tenant_id=tenant, old_state=old_state, new_state=new_state,
        reason="Thresholds were exceeded for the sub-alarms: avg(cpu.percent) > 90.0",
        severity=severity, link="http://dashboards.example/alarms/1", lifecycle_state="OPEN",
        timestamp_ms=timestamp_ms or 1_424_451_007_123,
        metrics=[{"id": "m1", "name": "cpu.percent", "dimensions": {"hostname": "h1", "service": "compute"}}],
        sub_alarms=[{"sub_alarm_expression": {"function": "AVG", "metric_name": "cpu.percent"}}])
