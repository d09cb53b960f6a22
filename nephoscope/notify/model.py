"""The records of notification delivery: methods, alarm transitions, deliveries, counters, settings.

``NotifyConfig`` has a default for every setting and reads ``NEPHOSCOPE_NOTIFY_<FIELD>``
from the environment (for example ``NEPHOSCOPE_NOTIFY_PAGERDUTY_URL`` or
``NEPHOSCOPE_NOTIFY_VALID_PERIODS=0,60,300``), so the server runs with nothing set.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field

METHOD_TYPES = ("EMAIL", "PAGERDUTY", "WEBHOOK", "SLACK")
"""Registered notification method types, in the order ``/notification-methods/types`` lists them."""

DELIVERY_STATUSES = ("pending", "failed", "delivered", "dead")
"""pending: not yet tried; failed: tried, waiting for a retry; delivered; dead: gave up (dead letter)."""

ALARM_STATES = ("OK", "ALARM", "UNDETERMINED")


@dataclass
class NotifyConfig:
    # Periods (seconds) a method may have; 0 means "send once per transition".
    valid_periods: tuple[int, ...] = (0, 60)
    types: tuple[str, ...] = METHOD_TYPES
    # Seconds to wait for a webhook, Slack or PagerDuty endpoint (Monasca: 5).
    webhook_timeout: float = 5.0
    pagerduty_url: str = "https://events.pagerduty.com/v2/enqueue"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_from: str = "nephoscope@localhost"
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_timeout: float = 15.0
    # Attempts per delivery before it becomes a dead letter.
    max_attempts: int = 8
    # Retry n waits min(backoff_max, backoff_base * 2**(n-1)) seconds, shortened by up to `jitter` (a fraction).
    backoff_base: float = 2.0
    backoff_max: float = 600.0
    jitter: float = 0.2
    # Longest idle sleep of the worker between looks at the outbox (it is also woken on enqueue).
    poll_interval: float = 1.0
    # Deliveries sent at the same time.
    concurrency: int = 16
    # A claimed delivery not finished within this many seconds is tried again (crash mid-send).
    lease_seconds: float = 120.0

    @classmethod
    def from_environ(cls, environ: typing.Mapping[str, str] | None = None) -> "NotifyConfig":
        environ = os.environ if environ is None else environ
        config = cls()
        hints = typing.get_type_hints(cls)
        for item in dataclasses.fields(cls):
            raw = environ.get(f"NEPHOSCOPE_NOTIFY_{item.name.upper()}")
            if raw is None:
                continue
            target = hints[item.name]
            try:
                if target is bool:
                    value: object = raw.strip().lower() in {"1", "true", "yes", "on"}
                elif target in (int, float, str):
                    value = target(raw)
                elif item.name == "valid_periods":
                    value = tuple(sorted({int(part) for part in raw.split(",") if part.strip()} | {0}))
                else:
                    value = tuple(part.strip().upper() for part in raw.split(",") if part.strip())
            except ValueError as error:
                raise ValueError(f"NEPHOSCOPE_NOTIFY_{item.name.upper()}: {error}") from None
            setattr(config, item.name, value)
        return config


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
    def from_dict(cls, data: dict) -> "AlarmTransition":
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
