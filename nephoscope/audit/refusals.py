"""Refused requests (401, 403), coalesced so that a flood cannot fill the disk or slow the server.

A scanner with a bad token can send thousands of requests a second. Each refusal only adds to a
tally in memory (a dict lookup under a lock, on the request's own path); ``drain``, called once a
second, turns the tallies into records:

- identical refusals — the same client address, who (key or user, if known), status, policy rule
  and reason — within the same UTC minute are one tally: its first record is written at the next
  drain (counting the refusals seen until then), and one more record with the count of the rest
  when the minute ends;
- at most ``keys_per_minute`` tallies are itemized per minute; refusals beyond them are counted in
  one overflow record per status and minute (with how many client addresses they came from).

So a minute produces at most ``2 × keys_per_minute + 2`` records, and memory holds at most one
minute's tallies (plus minutes waiting for their last drain), whatever arrives.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from nephoscope.audit.cadf import API, DENIED, UNKNOWN, Entry, Initiator, Reason, Target

log = logging.getLogger(__name__)

_ACTIONS = {"GET": "read", "HEAD": "read", "OPTIONS": "read", "POST": "create", "PUT": "update", "PATCH": "update",
            "DELETE": "delete"}
_ADDRESSES_COUNTED = 1000  # distinct addresses remembered per overflow record (more are "at least")
_WINDOWS_KEPT = 5  # closed minutes waiting for a drain (a failing disk must not grow memory)


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refused request: who (as far as known), from where, what it asked, and why not."""

    status: int
    initiator: Initiator
    method: str
    path: str
    reason: str
    rule: str = ""
    time: float = 0.0


@dataclass(slots=True)
class _Tally:
    first: Refusal
    unwritten: int = 1  # refusals not yet in a record
    total: int = 1
    last_time: float = 0.0
    written: bool = False  # the first record is out


@dataclass(slots=True)
class _Overflow:
    count: int = 0
    addresses: set[str] = field(default_factory=set)
    first_time: float = 0.0
    last_time: float = 0.0


@dataclass(slots=True)
class _Window:
    minute: int
    tallies: dict[tuple, _Tally] = field(default_factory=dict)
    overflow: dict[int, _Overflow] = field(default_factory=dict)


def action_of(method: str) -> str:
    """The CADF action a request asked for (GET is read, POST create, ...)."""
    return _ACTIONS.get(method.upper(), UNKNOWN)


class RefusalCoalescer:
    def __init__(self, keys_per_minute: int) -> None:
        self.keys_per_minute = max(1, keys_per_minute)
        self._lock = threading.Lock()
        self._window: _Window | None = None
        self._closed: list[_Window] = []

    def add(self, refusal: Refusal) -> None:
        minute = int(refusal.time // 60)
        who = refusal.initiator
        key = (who.address, who.id, who.project, refusal.status, refusal.rule, refusal.reason)
        with self._lock:
            window = self._window
            if window is None or minute > window.minute:
                if window is not None:
                    self._close(window)
                window = self._window = _Window(minute)
            tally = window.tallies.get(key)
            if tally is not None:
                tally.unwritten += 1
                tally.total += 1
                tally.last_time = max(tally.last_time, refusal.time)
            elif len(window.tallies) < self.keys_per_minute:
                window.tallies[key] = _Tally(refusal, last_time=refusal.time)
            else:
                overflow = window.overflow.get(refusal.status)
                if overflow is None:
                    overflow = window.overflow[refusal.status] = _Overflow(first_time=refusal.time)
                overflow.count += 1
                overflow.last_time = max(overflow.last_time, refusal.time)
                if len(overflow.addresses) < _ADDRESSES_COUNTED:
                    overflow.addresses.add(who.address)

    def _close(self, window: _Window) -> None:
        self._closed.append(window)
        if len(self._closed) > _WINDOWS_KEPT:
            dropped = self._closed.pop(0)
            log.error("audit: the refusals of minute %d were dropped (the audit trail could not be written)",
                      dropped.minute)

    def drain(self, now: float, final: bool = False) -> list[Entry]:
        """Records due now: first records of new tallies, and whole closed minutes (every open one
        too with ``final``, at shutdown)."""
        with self._lock:
            closing, self._closed = self._closed, []
            window = self._window
            if window is not None and (final or int(now // 60) > window.minute):
                closing.append(window)
                self._window = window = None
            entries = []
            if window is not None:
                for tally in window.tallies.values():
                    if not tally.written:
                        entries.append(_entry(tally, repeated=False))
            for closed in closing:
                for tally in closed.tallies.values():
                    if not tally.written or tally.unwritten:
                        entries.append(_entry(tally, repeated=tally.written))
                for status, overflow in closed.overflow.items():
                    entries.append(_overflow_entry(status, overflow, self.keys_per_minute))
        return entries


def _entry(tally: _Tally, repeated: bool) -> Entry:
    first = tally.first
    count = tally.unwritten
    tally.unwritten = 0
    tally.written = True
    return Entry(
        action=action_of(first.method), outcome=DENIED, initiator=first.initiator,
        target=Target(API, first.path, f"{first.method} {first.path}"), project=first.initiator.project,
        reason=Reason(str(first.status), "HTTP", first.rule, first.reason), count=count,
        time=tally.last_time if repeated else first.time,
        name="repeated refusals" if repeated else "refused request",
        details={"method": first.method, "path": first.path, "count": count, "total_in_minute": tally.total,
                 "first_ms": int(first.time * 1000), "last_ms": int(tally.last_time * 1000), "repeated": repeated})


def _overflow_entry(status: int, overflow: _Overflow, keys_per_minute: int) -> Entry:
    addresses = len(overflow.addresses)
    clients = f"{addresses}{'+' if addresses >= _ADDRESSES_COUNTED else ''} client addresses"
    text = (f"{overflow.count} more refusals from {clients}, counted but not itemized: more than "
            f"{keys_per_minute} distinct refusals in the minute (audit.refusal_keys_per_minute)")
    return Entry(action=UNKNOWN, outcome=DENIED, initiator=Initiator(UNKNOWN, name=clients),
                 target=Target(API, "*", "any request"), project="", count=overflow.count,
                 reason=Reason(str(status), "HTTP", "", text), time=overflow.last_time, name="refusals over the limit",
                 details={"count": overflow.count, "addresses": sorted(overflow.addresses)[:20],
                          "first_ms": int(overflow.first_time * 1000), "last_ms": int(overflow.last_time * 1000)})
