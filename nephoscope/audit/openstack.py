"""OpenStack's own CADF notifications in the audit view: keystone's ``identity.*`` (with
``notification_format = cadf``) and keystonemiddleware's audit middleware (``audit.http.response``).

They arrive from RabbitMQ through the events pipeline and stay where it keeps them (the events
store, under ``[events] retention_days``); they are not part of Nephoscope's hash chain — they are
what the services reported, kept as received — and are read from the events store when the audit
view is asked, newest first, filtered here on their CADF fields. A notification whose payload is
not a CADF event (keystone's ``basic`` format) stays in ``GET /v1/events`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from nephoscope.audit.store import RecordFilter
from nephoscope.audit.view import OPENSTACK, AuditEntry, PageKey, matches
from nephoscope.events.envelope import EnvelopeError, parse_notification
from nephoscope.events.store import EventQuery, StoredEvent

if TYPE_CHECKING:
    from nephoscope.events.service import EventService


class OpenStackRecords:
    """Pages of OpenStack's CADF notifications from the events store. A page reads at most
    ``scan_limit`` notifications; when the filters leave fewer entries, its boundary says where
    the next page resumes."""

    def __init__(self, events: EventService, event_types: Sequence[str], scan_limit: int = 20_000,
                 chunk: int = 1000) -> None:
        self.events = events
        self.event_types = tuple(event_types)
        self.scan_limit = scan_limit
        self.chunk = chunk

    def page(self, scope: str, where: RecordFilter, before: PageKey | None,
             limit: int) -> tuple[list[AuditEntry], PageKey | None]:
        if not self.event_types:
            return [], None
        after = None
        if before is not None:  # at the same millisecond, Nephoscope's records (rank 1) come first
            after = (before[0], before[2]) if before[1] == 0 else (before[0] + 1, "")
        query = EventQuery(event_types=self.event_types, start_ms=where.start_ms, end_ms=where.end_ms)
        found: list[AuditEntry] = []
        scanned = 0
        while True:
            batch = self.events.store.query(scope, query, after, self.chunk)
            for stored in batch:
                entry = entry_of(stored)
                if entry is not None and matches(entry, where):
                    found.append(entry)
                    if len(found) > limit:
                        return found, entry.key
            scanned += len(batch)
            if len(batch) < self.chunk:
                return found, None
            last = batch[-1]
            if scanned >= self.scan_limit:
                return found, (last.timestamp_ms, 0, last.message_id)
            after = (last.timestamp_ms, last.message_id)


def entry_of(stored: StoredEvent) -> AuditEntry | None:
    """The notification as an audit entry, or None when its payload is not a CADF event."""
    try:
        notification = parse_notification(stored.body, exchange=stored.exchange)
    except EnvelopeError:
        return None
    payload = notification.payload
    if not isinstance(payload, dict) or not isinstance(payload.get("action"), str):
        return None
    channel = f"rabbitmq:{stored.exchange}" if stored.exchange else "POST /v1/events"
    return AuditEntry(key=(stored.timestamp_ms, 0, stored.message_id), source=OPENSTACK, time_ms=stored.timestamp_ms,
                      project=stored.project_id, event=payload, service=stored.service,
                      publisher=notification.publisher_id, event_type=stored.event_type, channel=channel)
