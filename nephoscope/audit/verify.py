"""Checking the chain: recompute every record's hash and follow the links, naming what was altered,
removed or inserted.

Rows are read in the order of their stored number. Each record's content carries the number it
was written with and the hash of the record before it; the store keeps beside it the hash it had
when written, the fields it indexes, and the chain's head (the last number and hash). So:

- a record whose content no longer hashes to its stored hash, or whose indexed fields disagree
  with its content, was **altered**; one whose hash was recomputed too is found by the next record,
  which no longer follows it (and by the head, for the last one);
- a number missing from the content's sequence was **removed** (at the end: the head says more);
- a record that the next one skips (both follow the same predecessor), or one past the head, was
  **inserted**; records stored under other numbers than they were written with were renumbered.

Findings come in the order of the chain, one per problem (a run of removed or renumbered records
is one finding), the first problem first.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from nephoscope.audit.chain import GENESIS, columns, digest

ALTERED, REMOVED, INSERTED = "altered", "removed", "inserted"


@dataclass(frozen=True, slots=True)
class StoredRow:
    """One row as a store holds it: its number, the record's text, its hash, its indexed fields."""

    seq: int
    text: str
    hash: str
    columns: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Finding:
    seq: int  # the first record concerned (as the chain numbers it)
    kind: str  # altered, removed or inserted
    message: str


@dataclass
class Report:
    records: int = 0
    head: tuple[int, str] | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.findings


@dataclass(frozen=True, slots=True)
class _Accepted:
    seq: int  # as written (the content's)
    hash: str
    prev: str
    row: int  # as stored


def _span(first: int, last: int) -> str:
    return f"record {first}" if first == last else f"records {first}–{last}"


def _were(first: int, last: int) -> str:
    return "was" if first == last else "were"


def _parse(text: str) -> dict | None:
    try:
        record = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(record, dict) or type(record.get("seq")) is not int or not isinstance(record.get("prev"), str):
        return None
    return record


class _Walk:
    def __init__(self, head: tuple[int, str] | None) -> None:
        self.head = head
        self.report = Report(head=head)
        self.last = _Accepted(0, GENESIS, "", 0)
        self.recent: deque[_Accepted] = deque(maxlen=64)  # to recognise a record the next one skips
        self.renumbered: tuple[int, int, int] | None = None  # (first row, last row, offset) of a run
        self.appended: tuple[int, int] | None = None  # rows past the head
        self.at_head: _Accepted | None = None  # the record numbered as the head

    def add(self, seq: int, kind: str, message: str) -> None:
        self.report.findings.append(Finding(seq, kind, message))

    def row(self, row: StoredRow) -> None:
        self.report.records += 1
        if self.head is not None and row.seq > self.head[0]:
            self._past_head(row.seq)  # whatever it holds: the chain's own appends move the head
            return
        self._close_appended()
        if row.seq < 1:  # the chain numbers from 1
            self.add(row.seq, INSERTED, f"record {row.seq} was inserted before the chain's first record")
            return
        record = _parse(row.text)
        if record is None:
            self.add(row.seq, ALTERED, f"record {row.seq} was altered: its content is not a record of the chain")
            self._accept(_Accepted(self.last.seq + 1, row.hash, "", row.seq))
            return
        content = digest(record)
        if content != row.hash:
            # The content (its number too) cannot be trusted; the stored hash is what the next record follows.
            self.add(row.seq, ALTERED, f"record {row.seq} was altered: its content no longer matches its hash")
            self._accept(_Accepted(self.last.seq + 1, row.hash, "", row.seq))
            return
        written = record["seq"]
        if written != self.last.seq + 1 or record["prev"] != self.last.hash:
            copied = next((item for item in self.recent if item.hash == content), None)
            if copied is not None:  # the same record twice: the second one was put there
                self.add(row.seq, INSERTED, f"record {row.seq} was inserted: it is a copy of record {copied.row}")
                return
            self._broken_link(written, record["prev"], row.seq)
        self._renumbering(row.seq, written)
        if columns(record) != row.columns:
            changed = ", ".join(name for name, value in columns(record).items() if row.columns.get(name) != value)
            self.add(written, ALTERED, f"record {written} was altered: its indexed fields ({changed}) no longer "
                                       "agree with its content")
        self._accept(_Accepted(written, content, record["prev"], row.seq))

    def _accept(self, accepted: _Accepted) -> None:
        self.last = accepted
        self.recent.append(accepted)
        if self.head is not None and accepted.seq == self.head[0]:
            self.at_head = accepted

    def _broken_link(self, written: int, prev: str, row: int) -> None:
        expected = self.last.seq + 1
        if written > expected:
            self.add(expected, REMOVED, f"{_span(expected, written - 1)} {_were(expected, written - 1)} removed "
                                        f"(record {written} follows record {self.last.seq})")
            return
        # The record follows an earlier one than the last accepted: those in between were inserted.
        skipped = [item for item in self.recent if item.seq >= written]
        if skipped and skipped[0].prev == prev:
            first, last = skipped[0].row, skipped[-1].row
            self.add(first, INSERTED, f"{_span(first, last)} {_were(first, last)} inserted: the record after "
                                      f"{'it' if first == last else 'them'} (written as {written}) follows record "
                                      f"{written - 1} directly")
            return
        if written == expected:
            self.add(self.last.seq, ALTERED, f"record {self.last.seq} was altered or replaced: record {written} "
                                             "no longer follows it")
            return
        self.add(row, ALTERED, f"record {row} was altered or replaced: it says it is record {written}, "
                               f"which does not follow record {self.last.seq}")

    def _past_head(self, row: int) -> None:
        if self.appended is not None and self.appended[1] == row - 1:
            self.appended = (self.appended[0], row)
            return
        self._close_appended()
        self.appended = (row, row)

    def _close_appended(self) -> None:
        if self.appended is not None:
            first, last = self.appended
            self.add(first, INSERTED, f"{_span(first, last)} {_were(first, last)} inserted after the chain's head "
                                      f"(record {self.head[0] if self.head else 0})")
            self.appended = None

    def _renumbering(self, row: int, written: int) -> None:
        offset = row - written
        run = self.renumbered
        if run is not None and run[2] == offset and run[1] == row - 1:
            self.renumbered = (run[0], row, offset)
            return
        self._close_renumbered()
        if offset:
            self.renumbered = (row, row, offset)

    def _close_renumbered(self) -> None:
        if self.renumbered is not None:
            first, last, offset = self.renumbered
            self.add(first - offset, ALTERED,
                     f"{_span(first - offset, last - offset)} {_were(first, last)} renumbered: stored as "
                     f"{first}{'' if first == last else f'–{last}'}")
            self.renumbered = None

    def finish(self) -> Report:
        self._close_renumbered()
        self._close_appended()
        head, last = self.head, self.last
        if head is None:
            if self.report.records:
                self.add(last.seq, REMOVED, "the chain's head (its last number and hash) was removed")
        elif head[0] > max(last.seq, last.row):
            first = last.seq + 1
            self.add(first, REMOVED, f"{_span(first, head[0])} {_were(first, head[0])} removed from the end "
                                     f"(the chain's head is record {head[0]})")
        else:
            at_head = self.at_head or (last if last.row == head[0] else None)
            if at_head is not None and at_head.hash != head[1]:
                real = next((item for item in self.recent if item.hash == head[1]), None)
                if real is not None:  # the head's number was moved on, not its hash: the rest was appended
                    first = real.row + 1
                    self.add(first, INSERTED, f"{_span(first, last.row)} {_were(first, last.row)} inserted after "
                                              f"the chain's head (record {real.seq}, whose hash the head holds)")
                else:
                    self.add(head[0], ALTERED, f"record {head[0]} was altered or replaced: its hash is not the one "
                                               "the chain's head recorded")
        self.report.findings.sort(key=lambda finding: finding.seq)
        return self.report


def verify(rows: Iterable[StoredRow], head: tuple[int, str] | None) -> Report:
    """Walk ``rows`` (in stored order) against the recorded ``head``."""
    walk = _Walk(head)
    for row in rows:
        walk.row(row)
    return walk.finish()
