"""The records of notification delivery: methods, alarm transitions, deliveries, counters.

The settings are the ``[notify]`` section of the one configuration (``config.NotifySettings``,
overridable as ``NEPHOSCOPE_NOTIFY_<KEY>``, e.g. ``NEPHOSCOPE_NOTIFY_VALID_PERIODS=0,60,300``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from nephoscope.config import NotifySettings

METHOD_TYPES = NotifySettings().types
"""Registered notification method types, in the order ``/notification-methods/types`` lists them."""

DELIVERY_STATUSES = ("pending", "failed", "delivered", "dead")
"""pending: not yet tried; failed: tried, waiting for a retry; delivered; dead: gave up (dead letter)."""

ALARM_STATES = ("OK", "ALARM", "UNDETERMINED")


@dataclass(frozen=True, slots=True)
class NotificationMethod:
    id: str
    tenant: str
    name: str
    type: str
    address: str
    period: int
    created_at: float
    updated_at: float


@dataclass(slots=True)
class AlarmTransition:
    """One alarm state change, as the alarm engine reports it (Monasca's ``alarm-transitioned``)."""

    alarm_id: str
    alarm_definition_id: str
    alarm_name: str
    alarm_description: str
    tenant_id: str
    old_state: str
    new_state: str
    reason: str
    severity: str
    link: str
    lifecycle_state: str
    timestamp_ms: int
    metrics: list[dict] = field(default_factory=list)
    sub_alarms: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> AlarmTransition:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(slots=True)
class Delivery:
    """One notification of one transition through one method, with its retry state."""

    id: int
    idempotency_key: str
    tenant: str
    alarm_id: str
    method_id: str
    method_name: str
    method_type: str
    address: str
    transition: AlarmTransition
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str
    created_at: float
    updated_at: float
    delivered_at: float | None
    periodic: bool


@dataclass(slots=True)
class DeliveryStats:
    """Counters for self-metrics: totals since start, and the outbox depth now."""

    delivered: int = 0
    failed_attempts: int = 0
    dead_letters: int = 0
    queue_depth: int = 0
