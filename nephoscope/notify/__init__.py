"""Alarm notifications: notification methods, the durable delivery outbox and its worker.

``NotificationService`` (``app.state.notifications``) holds the method repository, the
``Outbox`` (enqueue transitions, periodic re-sends, counters) and the ``DeliveryWorker``.
"""

from nephoscope.notify.model import (
                                     AlarmTransition,
                                     Delivery,
                                     DeliveryStats,
                                     NotificationMethod,
                                     NotifyConfig,
)
from nephoscope.notify.outbox import Outbox, idempotency_key
from nephoscope.notify.service import NotificationService

__all__ = ["AlarmTransition", "Delivery", "DeliveryStats", "NotificationMethod", "NotificationService",
           "NotifyConfig", "Outbox", "idempotency_key"]
