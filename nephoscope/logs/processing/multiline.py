"""Multi-line records: which physical lines continue the record before them, and what the
merged record carries (its raw text, the traceback, the exception).

Decided for the whole batch with array operations; Python touches only the continuation
lines themselves (tracebacks are rare next to ordinary lines). A line continues the record
before it when

* it is not the first line of an input element (an element holding ``\\n`` was merged
  upstream, e.g. by the agent's tailer);
* it is an oslo.log line without a context block (``logging_exception_prefix``) and the line
  before it has the same date, pid and logger: both come from one log call;
* it has no header and looks like a Python traceback line (indented, ``Traceback (most recent
  call last):``, the chained-exception markers, a blank line), or is the exception line
  (``x.y.SomeError: message``) right after such a line.

Anything else starts a record; so does a continuation line with nothing before it (an orphan).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nephoscope.formats import oslo_log
from nephoscope.logs.processing.parsers import Kind, Lines

_BARE = int(Kind.OSLO_BARE)  # compared per continuation line: a plain int, not the enum
EXCEPTION_LINE_RE = re.compile("(" + oslo_log.EXCEPTION_TYPE + r")(?::(?: (.*))?)?\Z")


def _same_as_previous(values: pa.Array) -> np.ndarray:
    """Whether each row equals the row before it (false for the first row and for nulls)."""
    same = np.zeros(len(values), bool)
    if len(values) > 1:
        equal = pc.equal(values.slice(1), values.slice(0, len(values) - 1))
        same[1:] = pc.fill_null(equal, False).to_numpy(zero_copy_only=False)
    return same


def continuation_flags(lines: Lines, element_first: np.ndarray | None = None) -> np.ndarray:
    """Whether each line continues the record before it (see the module's rules)."""
    kind = lines.kind
    length = len(kind)
    continues = np.zeros(length, bool)
    if element_first is not None:
        continues |= ~element_first
    bare = kind == Kind.OSLO_BARE
    if bare.any():
        same_call = _same_as_previous(lines.date) & _same_as_previous(lines.pid) & _same_as_previous(lines.logger)
        continues |= bare & same_call
    plain = np.flatnonzero(kind == Kind.PLAIN)
    if len(plain):
        subset = lines.body.take(pa.array(plain))
        traceback_like = pc.match_substring_regex(subset, oslo_log.PLAIN_CONTINUATION).to_numpy(zero_copy_only=False)
        continues[plain[traceback_like]] = True
        exception_line = pc.match_substring_regex(subset, oslo_log.EXCEPTION_LINE).to_numpy(zero_copy_only=False)
        after = plain[exception_line & ~traceback_like]
        after = after[after > 0]
        continues[after[continues[after - 1]]] = True
    if length:
        continues[0] &= element_first is not None and not element_first[0]
    return continues


def owners(continues: np.ndarray) -> np.ndarray:
    """For every line, the row of the record it belongs to (itself when it starts one)."""
    rows = np.arange(len(continues))
    owner = np.maximum.accumulate(np.where(continues, -1, rows)) if len(rows) else rows
    return np.where(owner < 0, rows, owner)  # an orphan continuation starts its own record


@dataclass
class Merged:
    """What merging adds to the records that have continuation lines (rows of the record table)."""

    rows: np.ndarray  # record numbers with continuation lines, ascending
    raw: list[str]  # all their physical lines, joined with "\n"
    message: list[str]  # the first line's message plus non-traceback continuation text
    traceback: list[str | None]
    exception_type: list[str | None]
    exception_message: list[str | None]
    line_count: np.ndarray  # physical lines per record (every record)


def merge(lines: Lines, owner: np.ndarray, starts: np.ndarray, messages: pa.Array) -> Merged:
    """Texts of the records that have continuation lines; ``messages`` are the start lines' messages."""
    continuation = np.flatnonzero(owner != np.arange(len(owner)))
    record_of_start = np.full(len(owner), -1, np.int64)
    record_of_start[starts] = np.arange(len(starts))
    line_count = np.bincount(record_of_start[owner], minlength=len(starts)).astype(np.int32)
    if not len(continuation):
        return Merged(np.empty(0, np.int64), [], [], [], [], [], line_count)
    raws = lines.raw.take(pa.array(continuation)).to_pylist()
    kinds = lines.kind[continuation]
    texts = lines.message.take(pa.array(continuation)).to_pylist()
    bodies = lines.body.take(pa.array(continuation)).to_pylist()
    groups: dict[int, list[int]] = {}
    for position, row in enumerate(continuation):
        groups.setdefault(int(owner[row]), []).append(position)
    record_rows = []
    merged_raw, merged_message, tracebacks, types, exception_messages = [], [], [], [], []
    first_raws = lines.raw.take(pa.array(list(groups))).to_pylist()
    first_messages = messages.take(pa.array(record_of_start[list(groups)])).to_pylist()
    for (start, positions), first_raw, first_message in zip(groups.items(), first_raws, first_messages):
        record_rows.append(record_of_start[start])
        merged_raw.append("\n".join([first_raw, *(raws[p] for p in positions)]))
        # a bare oslo line's text is its message (no header); a plain line is its whole body
        parts = [(texts[p] if kinds[p] == _BARE and texts[p] is not None else bodies[p]) or "" for p in positions]
        message, traceback, exception_type, exception_message = _split_traceback(first_message or "", parts)
        merged_message.append(message)
        tracebacks.append(traceback)
        types.append(exception_type)
        exception_messages.append(exception_message)
    order = np.argsort(record_rows, kind="stable")
    pick = lambda values: [values[i] for i in order]
    return Merged(np.asarray(record_rows, np.int64)[order], pick(merged_raw), pick(merged_message), pick(tracebacks),
                  pick(types), pick(exception_messages), line_count)


def _split_traceback(first: str, parts: list[str]) -> tuple[str, str | None, str | None, str | None]:
    """(message, traceback, exception type, exception message) of a record's continuation text."""
    try:
        begin = next(i for i, part in enumerate(parts) if part.startswith(oslo_log.TRACEBACK_START))
    except StopIteration:
        return "\n".join([first, *parts]).rstrip("\n"), None, None, None
    message = "\n".join([first, *parts[:begin]]).rstrip("\n")
    traceback_lines = parts[begin:]
    while traceback_lines and not traceback_lines[-1].strip():
        traceback_lines.pop()
    exception_type = exception_message = None
    for line in reversed(traceback_lines):
        match = EXCEPTION_LINE_RE.match(line)
        if match and not line[:1].isspace():
            exception_type, exception_message = match.group(1), match.group(2)
            break
    if exception_type:
        message = strip_error_summary(message, exception_type, exception_message)
    return message, "\n".join(traceback_lines), exception_type, exception_message


def strip_error_summary(message: str, exception_type: str, exception_message: str | None) -> str:
    """``message`` without the ``: Type: first line`` oslo.log appends to WARNING+ records
    logged with an exception (``error_summary``), so the template does not carry the exception."""
    short = exception_type.rsplit(".", 1)[-1]
    first_line = (exception_message or "").split("\n", 1)[0]
    for summary in (f": {short}: {first_line}", f": {exception_type}: {first_line}", f": {short}"):
        if first_line == "" and summary.endswith(": "):
            continue
        if message.endswith(summary):
            return message[: -len(summary)]
    return message
