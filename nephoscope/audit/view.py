"""The audit view: one shape for Nephoscope's chained records and OpenStack's CADF notifications,
their order, the page token, and how two sources are paged together.

Entries are ordered newest first by ``(time_ms, rank, id)``: rank 1 for Nephoscope's records (id:
the chain number), rank 0 for OpenStack's (id: the notification's message id). The page token is
that key of the last entry shown, so a page never repeats nor skips an entry, whichever source it
came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nephoscope.audit.cadf import details_of, initiator_of, outcome_of, reason_of, target_of
from nephoscope.audit.store import RecordFilter

NEPHOSCOPE, OPENSTACK = "nephoscope", "openstack"
SOURCES = (NEPHOSCOPE, OPENSTACK)

PageKey = tuple[int, int, Any]
"""(time_ms, rank, id): rank 1 with the chain number, rank 0 with an OpenStack message id."""


class InvalidToken(ValueError):
    """An ``offset`` that is not the token of a next link."""


def encode_token(key: PageKey) -> str:
    return f"{key[0]}:{'n' if key[1] else 'o'}:{key[2]}"


def decode_token(text: str) -> PageKey:
    time_ms, _, rest = text.partition(":")
    kind, _, identifier = rest.partition(":")
    if not (time_ms.isascii() and time_ms.isdigit()) or len(time_ms) > 15 or not identifier:
        raise InvalidToken("offset must be the token of a next link (<ms>:n:<number> or <ms>:o:<message id>)")
    if kind == "n" and identifier.isascii() and identifier.isdigit() and len(identifier) <= 19 \
            and int(identifier) < 2**63:
        return int(time_ms), 1, int(identifier)
    if kind == "o":
        return int(time_ms), 0, identifier
    raise InvalidToken("offset must be the token of a next link (<ms>:n:<number> or <ms>:o:<message id>)")


@dataclass(frozen=True)
class AuditQuery:
    where: RecordFilter = field(default_factory=RecordFilter)
    source: str | None = None  # one of SOURCES, or both


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit view; ``event`` is the CADF event as recorded or as received."""

    key: PageKey
    source: str
    time_ms: int
    project: str
    event: dict[str, Any]
    count: int = 1
    sequence: int | None = None
    hash: str | None = None
    service: str = NEPHOSCOPE
    publisher: str = ""
    event_type: str = ""
    channel: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The entry for the API. ``initiator``, ``target`` and ``reason`` are the CADF event's own
        (``typeURI``, ``host``, ``reasonCode``...) with the same few fields under plain names for
        every source: initiator id, name, project_id, address, agent, type; target id, name, type,
        address; reason type, code, rule, text."""
        event = self.event
        reason = reason_of(event)
        return {"id": event.get("id"), "source": self.source, "service": self.service, "publisher": self.publisher,
                "event_type": self.event_type,
                "channel": self.channel, "sequence": self.sequence, "hash": self.hash, "time_ms": self.time_ms,
                "project_id": self.project, "count": self.count, "action": event.get("action"),
                "outcome": outcome_of(event), "initiator": {**_part(event, "initiator"), **initiator_of(event)},
                "target": {**_part(event, "target"), **target_of(event)},
                "reason": None if reason is None else {**_part(event, "reason"), **reason},
                "details": details_of(event), "name": event.get("name"), "event": event}


def _part(event: dict[str, Any], name: str) -> dict[str, Any]:
    value = event.get(name)
    return value if isinstance(value, dict) else {}


def matches(entry: AuditEntry, where: RecordFilter) -> bool:
    """The filter's meaning, on an entry (the embedded store says the same in SQL)."""
    event = entry.event
    if where.initiator:
        who = initiator_of(event)
        if where.initiator not in (who["id"], who["name"], who["project_id"], who["address"]):
            return False
    if where.action:
        action = event.get("action") if isinstance(event.get("action"), str) else ""
        wanted = where.action
        if not (action.startswith(wanted[:-1]) if wanted.endswith("*") else action == wanted):
            return False
    if where.outcome and outcome_of(event) != where.outcome:
        return False
    if where.target:
        what, wanted = target_of(event), where.target
        if not (wanted in (what["id"], what["type"]) or what["type"].endswith("/" + wanted)):
            return False
    return True


def merge(parts: list[tuple[list[AuditEntry], PageKey | None]], limit: int) -> tuple[list[AuditEntry], PageKey | None]:
    """One page from the sources' answers. Each answer is (entries newest first, boundary): the
    source has looked at everything down to ``boundary`` (None: at everything). Below the highest
    boundary a source may still hold entries, so the page stops there and its token resumes there."""
    boundaries = [boundary for _, boundary in parts if boundary is not None]
    cut = max(boundaries) if boundaries else None
    entries = sorted((entry for found, _ in parts for entry in found), key=lambda entry: entry.key, reverse=True)
    if cut is not None:
        entries = [entry for entry in entries if entry.key >= cut]
    if len(entries) > limit:
        return entries[:limit], entries[limit - 1].key
    return entries, cut
