"""Alarm notifications: notification methods, the durable delivery outbox and its worker.

``NotificationService`` holds the method repository, the ``Outbox`` (enqueue transitions,
periodic re-sends, counters) and the ``DeliveryWorker`` with its senders (webhook, e-mail,
Slack, PagerDuty), which records each delivery and dead letter in the audit trail
(``audit_entries``). Clustered, transitions come through a JetStream work queue instead and each
is delivered once across notifier deaths (``workqueue``). Imports ``nephoscope.config``,
``nephoscope.tenancy``, ``nephoscope.retry``, ``nephoscope.sql`` (the metadata database), ``nephoscope.audit`` and
``nephoscope.cluster`` (the loop thread; nats-py); never the alarms (they import it) or the API.
"""

from nephoscope.notify.model import (
                                     AlarmTransition,
                                     Delivery,
                                     DeliveryStats,
                                     NotificationMethod,
                                     NotifySettings,
)
from nephoscope.notify.outbox import Outbox, idempotency_key
from nephoscope.notify.service import NotificationService

__all__ = ["AlarmTransition", "Delivery", "DeliveryStats", "NotificationMethod", "NotificationService",
           "NotifySettings", "Outbox", "idempotency_key"]
