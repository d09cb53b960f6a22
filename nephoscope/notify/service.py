"""What the API reaches as ``Services.notifications``: methods, outbox and worker together (the
worker records what it sends in the audit trail it is given)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nephoscope.audit import AuditTrail
from nephoscope.notify.model import DeliveryStats, NotifySettings
from nephoscope.notify.outbox import Outbox
from nephoscope.notify.repository import Database, DeliveryRepository, MethodRepository
from nephoscope.notify.senders import Senders
from nephoscope.notify.worker import DeliveryWorker


class NotificationService:
    """Opens ``<data_dir>/alarms.sqlite``; ``start()``/``stop()`` run the delivery worker."""

    def __init__(self, data_dir: Path, config: NotifySettings | None = None, audit: AuditTrail | None = None) -> None:
        self.config = config or NotifySettings()
        self.database = Database(Path(data_dir))
        self.methods = MethodRepository(self.database)
        self.outbox = Outbox(self.database, self.config)
        self.deliveries: DeliveryRepository = self.outbox.deliveries
        self.worker = DeliveryWorker(self.outbox, Senders(self.config), audit)

    async def start(self) -> None:
        await self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()
        await asyncio.to_thread(self.database.close)

    def stats(self) -> DeliveryStats:
        return self.outbox.stats()
