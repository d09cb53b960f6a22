"""The hash chain: a record's canonical bytes, its SHA-256, and how a record follows the one before.

A record is ``{"seq", "prev", "time_ms", "project", "count", "event"}``: ``seq`` counts from 1
without gaps, ``prev`` is the SHA-256 (hex) of the previous record's canonical bytes (``GENESIS``
for the first) and ``event`` the CADF event. The canonical bytes are the record as JSON with the
keys of every object sorted, no whitespace, UTF-8 (orjson); the record's hash is their SHA-256.
Changing, removing or inserting a record therefore breaks the chain at that record, which is
what ``audit.verify`` looks for.

``columns`` are the fields a store indexes for queries; they are derived from the record, never
written apart from it, and the verifier checks that they still agree with it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from nephoscope.audit.cadf import initiator_of, outcome_of, target_of

GENESIS = "0" * 64
"""What the first record's ``prev`` holds."""

COLUMNS = ("time_ms", "project", "initiator_project", "initiator", "initiator_name", "address", "action",
           "outcome", "target_type", "target_id")
"""The indexed fields of a record, in the order stores keep them."""


def canonical(record: dict[str, Any]) -> bytes:
    """Sorted keys at every depth, no whitespace, UTF-8: the same bytes for the same record."""
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


def digest(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


@dataclass(frozen=True, slots=True)
class Pending:
    """A record before it joins the chain: its time, whose it is, how many it stands for, the event."""

    time_ms: int
    project: str
    count: int
    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Link:
    """A record chained after ``prev``: what a store writes (``text`` is the canonical bytes)."""

    seq: int
    hash: str
    text: str
    record: dict[str, Any]


def follow(head: tuple[int, str] | None, pending: Pending) -> Link:
    """The record that comes after ``head`` (seq, hash), or the first one."""
    seq, prev = head if head is not None else (0, GENESIS)
    record = {"seq": seq + 1, "prev": prev, "time_ms": pending.time_ms, "project": pending.project,
              "count": pending.count, "event": pending.event}
    text = canonical(record)
    return Link(seq + 1, hashlib.sha256(text).hexdigest(), text.decode(), record)


def columns(record: dict[str, Any]) -> dict[str, Any]:
    """The indexed fields, derived from the record."""
    event = record.get("event") if isinstance(record.get("event"), dict) else {}
    initiator, target = initiator_of(event), target_of(event)
    return {"time_ms": record.get("time_ms"), "project": record.get("project") or "",
            "initiator_project": initiator["project_id"], "initiator": initiator["id"],
            "initiator_name": initiator["name"], "address": initiator["address"],
            "action": event.get("action") if isinstance(event.get("action"), str) else "",
            "outcome": outcome_of(event), "target_type": target["type"], "target_id": target["id"]}
