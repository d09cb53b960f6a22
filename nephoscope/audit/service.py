"""What the server (and the command line) reaches as the audit trail: record, coalesce refusals,
page through the view, verify.

``record`` and ``record_many`` return once the records are durable: callers record before they
acknowledge (the API's change middleware before the answer leaves, the notification worker before
it marks deliveries done). ``refused`` only counts (``refusals``); ``flush`` — every second, and at
shutdown — writes what the counts have become.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nephoscope.audit.cadf import CONFIGURE, POLICY, RULES, SERVER, SUCCESS, Entry, Reason, Target, build_event
from nephoscope.audit.chain import Pending
from nephoscope.audit.openstack import OpenStackRecords
from nephoscope.audit.refusals import Refusal, RefusalCoalescer
from nephoscope.audit.store import AuditStorage, SqliteAuditStorage, StoredRecord
from nephoscope.audit.verify import Report, verify
from nephoscope.audit.view import (
    NEPHOSCOPE,
    OPENSTACK,
    AuditEntry,
    AuditQuery,
    PageKey,
    decode_token,
    encode_token,
    merge,
)
from nephoscope.config import AuditSettings

log = logging.getLogger(__name__)

RELOADED = {"policy": POLICY, "rules": RULES}
"""What a reload may concern: the policy file, the log classification rules."""


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_token: str | None


def entry_of_record(stored: StoredRecord) -> AuditEntry:
    record = stored.record
    return AuditEntry(key=(record["time_ms"], 1, stored.seq), source=NEPHOSCOPE, time_ms=record["time_ms"],
                      project=record.get("project") or "", event=record["event"], count=record.get("count", 1),
                      sequence=stored.seq, hash=stored.hash, channel="audit trail")


class AuditTrail:
    def __init__(self, storage: AuditStorage, settings: AuditSettings | None = None, observer: str = "nephoscope",
                 openstack: OpenStackRecords | None = None, clock: Callable[[], float] = time.time) -> None:
        self.storage = storage
        self.settings = settings or AuditSettings()
        self.observer = observer
        self.openstack = openstack
        self.clock = clock
        self.refusals = RefusalCoalescer(self.settings.refusal_keys_per_minute)

    @classmethod
    def open(cls, data_dir: Path, settings: AuditSettings | None = None, observer: str = "nephoscope",
             openstack: OpenStackRecords | None = None) -> AuditTrail:
        """The embedded trail, ``<data dir>/audit.sqlite``."""
        return cls(SqliteAuditStorage(data_dir), settings, observer, openstack)

    # -- recording --

    def record(self, entry: Entry) -> StoredRecord:
        return self.record_many([entry])[0]

    def record_many(self, entries: Sequence[Entry]) -> list[StoredRecord]:
        """Chain and store the entries in one durable transaction."""
        now = self.clock()
        pending = []
        for entry in entries:
            seconds = entry.time if entry.time is not None else now
            pending.append(Pending(int(seconds * 1000), entry.project, entry.count,
                                   build_event(entry, self.observer, seconds)))
        return self.storage.append(pending)

    def refused(self, refusal: Refusal) -> None:
        """Count a refused request (cheap: it is written by the next ``flush``)."""
        self.refusals.add(refusal)

    def flush(self, final: bool = False) -> int:
        """Write the refusals that are due; returns how many records that made."""
        entries = self.refusals.drain(self.clock(), final)
        if entries:
            try:
                self.record_many(entries)
            except Exception:  # noqa: BLE001 - counted refusals are lost, and the log says how many
                log.exception("audit: %d records of refused requests could not be written", len(entries))
                return 0
        return len(entries)

    def reloaded(self, what: str, source: str, outcome: str = SUCCESS, reason: str = "") -> StoredRecord:
        """A reload of the policy file or of the log classification rules (``what``: policy or rules),
        from ``source`` (its path); ``reason`` says what failed when it did."""
        return self.record(Entry(
            action=f"{CONFIGURE}/reload", outcome=outcome, initiator=SERVER, target=Target(RELOADED[what], source, what),
            project="", reason=Reason("reloaded" if outcome == SUCCESS else "invalid", "configuration", "", reason),
            name=f"reload {what}"))

    # -- reading --

    def page(self, scope: str, query: AuditQuery, token: str | None, limit: int) -> AuditPage:
        """A page of the view (Nephoscope's records and OpenStack's, newest first) after ``token``
        (raises ``InvalidToken`` for one that is not a next link's)."""
        before = decode_token(token) if token else None
        parts = []
        if query.source in (None, NEPHOSCOPE):
            parts.append(self._own(scope, query, before, limit))
        if query.source in (None, OPENSTACK) and self.openstack is not None:
            parts.append(self.openstack.page(scope, query.where, before, limit))
        entries, resume = merge(parts, limit)
        return AuditPage(entries, encode_token(resume) if resume is not None else None)

    def _own(self, scope: str, query: AuditQuery, before: PageKey | None,
             limit: int) -> tuple[list[AuditEntry], PageKey | None]:
        # At the same millisecond Nephoscope's records (rank 1) come before OpenStack's.
        position = None if before is None else (before[0], before[2]) if before[1] == 1 else (before[0], 0)
        found = [entry_of_record(stored) for stored in self.storage.query(scope, query.where, position, limit + 1)]
        return found, found[-1].key if len(found) > limit else None

    def verify(self) -> Report:
        return verify(self.storage.scan(), self.storage.head())

    def close(self) -> None:
        try:
            self.flush(final=True)
        finally:
            self.storage.close()
