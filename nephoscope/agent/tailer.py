"""Tailing log files for the edge agent: find them, read what is new, cut it into records, and
remember durably how far the logs API has acknowledged, across rotation, truncation and restarts.

This module owns the files' read positions and nothing else: the agent calls ``poll`` (records
to ship), ships them, then ``commit`` (persist the positions after what it shipped). Shipping,
batching and retries belong to ``nephoscope.agent.logship``.

Positions
    Two per file: *delivered* (just after the last record ``poll`` returned, in memory) and
    *committed* (what ``commit`` wrote to the state file). ``poll`` continues from delivered, so a
    record is never returned twice by one tailer; a new tailer continues from committed, so
    what was returned but not committed before a crash is read again (at-least-once), and what
    was committed is never read again. The state file is JSON, replaced atomically (temp file,
    fsync, rename, fsync of the directory). Files found by a poll are added to it at their
    starting offset straight away, so a file that is rotated away before the next commit is
    still found after a restart.

Files are identified by ``st_dev:st_ino`` and kept open by descriptor; a pattern is a glob,
expanded again on every poll.

Guarantees per case (while the tailer runs, every record exactly once, in order per file):
- Rename rotation (``app.log`` → ``app.log.1``, new ``app.log``): the old file is read to
  its end through the open descriptor, then the new file from 0. The old file stays open
  until it has been idle for ``close_rotated_after`` seconds, so late writes (before the
  application reopens its log) are read too. Those can only come after records of the new
  file. A file is found by a poll: one created and renamed away between two polls (two
  rotations within one poll interval) is never seen.
- Deleted, then recreated: like rename rotation. The deleted file is read to its end, then
  closed (so its disk space is freed).
- A file that appears later, or a new match of a glob: read from offset 0.
- copytruncate (same inode, truncated): noticed when the size drops below what was read, or
  when the bytes just before that point changed (truncated, then rewritten past it). What
  was read before is still returned and the file is read again from 0. Everything written
  after the truncation is read exactly once. Not read: lines written after the last poll and
  before the truncation (copytruncate itself drops the lines written between its copy and
  its truncate; the rest are only in the copy). Writers must open with O_APPEND (as
  logrotate requires), otherwise the file continues at the old offset after a hole.
- Restart: every file in the state is looked up by inode under its name and under
  rotation names next to it (``app.log.1``, ``app.log-20240102``, ...), and checked against
  the 32 bytes stored before its offset. Found: read on from the committed offset, older
  files first. If the name now holds another file, that file is read from 0 after the old one.
  Same inode but shorter, or different bytes before the offset (copytruncate while
  stopped): read from 0. The rest of the old content is then read, best effort, from a
  rotation-named sibling whose bytes before the offset match (the copy). Not found (deleted,
  compressed, moved to another directory): its unread rest is lost, with a warning. A file
  that was created and rotated away entirely while the agent was down (two rotations
  during one downtime) is never seen, so it is not read.
- Patterns must not match rotated copies (``app.log*`` with copytruncate would read each copy
  again as a new file, and ``.gz`` files as text).

Records: one line without its newline (``\\r\\n`` counts as a newline), invalid UTF-8 replaced.
A line without its newline yet is held until the newline arrives, unless it grows past
``max_record_bytes``: then it is cut at a character boundary and returned in pieces. With
``multiline`` on, continuation lines (indented lines, Python tracebacks, oslo.log traceback
lines that repeat one header) are merged into the record before them; see ``_Reader._classify``.
The last record of a file is held until a line that does not continue it arrives, or
``flush_after`` seconds pass with no new data, or a newer file of the same path gets data.
Multi-line messages whose later lines have no indentation and are not traceback lines
(e.g. ``Command: ...`` lines of ProcessExecutionError outside a traceback) stay separate records.

Reading: chunks of ``chunk_bytes`` with ``os.pread``. Lines are split with ``bytes.split`` over
runs of plain lines, so costs are per chunk, not per line (no system call per line).
One tailer is used by one thread.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any, Self

from nephoscope.formats import oslo_log

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
STATE_VERSION = 1
_FP_BYTES = 32  # bytes kept before a position, to recognise the same content after a restart or truncation
_HUGE = 1 << 62

# traceback states of the record being assembled
_NO_TB, _IN_TB, _TB_END = 0, 1, 2

_TRACEBACK = oslo_log.TRACEBACK_START.encode()
_CHAINED = frozenset(heading.encode() for heading in oslo_log.CHAINED_HEADINGS)
# A line that starts with whitespace (one regex pass is twice as fast as two bytes.find)
_INDENTED = re.compile(rb"\n[ \t]")
_EXCEPTION_LINE = re.compile((oslo_log.TRACEBACK_END + r"\Z").encode())
# oslo.log's header through its context and instance blocks (groups: timestamp, pid, level, logger).
_OSLO_HEADER = re.compile(oslo_log.HEADER_PREFIX.encode())


@dataclass(frozen=True, slots=True)
class LogRecord:
    path: str  # the file's path when it was found (a configured path or a glob's match), kept after rotation
    text: str  # one line without its newline, or merged lines joined with "\n"
    offset: int  # byte offset of the record's first byte in the physical file
    file_id: str  # "st_dev:st_ino" of the physical file


def _file_id(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}"


class _Reader:
    """One open physical file: bytes read but not yet returned, and the record being assembled.

    ``buf`` holds the file's bytes from ``buf_off`` to the end of what was read. ``buf[:base]``
    was returned already (kept until the next chunk, so no copy per record), ``buf[base:scan]``
    is the pending record (whole lines), ``buf[scan:]`` is not parsed yet (whole lines, and a
    partial line at the end).
    """

    def __init__(self, path: str, file_id: str, fd: int, seq: int, offset: int, before: bytes, now: float,
                 max_record_bytes: int, multiline: bool, errors: str, chunk_bytes: int) -> None:
        self.path = path
        self.file_id = file_id
        self.fd = fd
        self.seq = seq  # order of discovery: older files of one path are read first
        self.max_record_bytes = max_record_bytes
        self.multiline = multiline
        self.errors = errors
        self.chunk_bytes = chunk_bytes
        self.buf = b""
        self.buf_off = offset
        self.base = 0
        self.scan = 0
        self.prev = before[-_FP_BYTES:]  # the bytes just before buf_off
        self.tb = _NO_TB
        self.tb_header: bytes | None = None  # the oslo header that the traceback's lines repeat
        self.size_seen = -1
        self.changed_at = now  # when the file last changed size: the clock of flush_after and closing
        self.visible = True  # some pattern matches it now (False: rotated away or deleted)
        self.truncating = False  # truncation noticed; what was read before is being returned
        self._last_nl = -1
        self._marks = [-1, -1]  # starts of the next indented line and traceback line at or after scan

    # positions

    @property
    def delivered(self) -> int:
        return self.buf_off + self.base

    @property
    def read_end(self) -> int:
        return self.buf_off + len(self.buf)

    @property
    def has_pending(self) -> bool:
        return self.base < self.scan

    def fingerprint(self) -> bytes:
        """The bytes just before ``delivered``, stored with it in the state."""
        base = self.base
        if base >= _FP_BYTES:
            return self.buf[base - _FP_BYTES:base]
        return (self.prev + self.buf[:base])[-_FP_BYTES:]

    def _tail(self) -> bytes:
        if len(self.buf) >= _FP_BYTES:
            return self.buf[-_FP_BYTES:]
        return (self.prev + self.buf)[-_FP_BYTES:]

    def truncated(self, size: int) -> bool:
        """The file no longer holds what was read: shorter, or other bytes just before the end read."""
        end = self.read_end
        if size < end:
            return True
        tail = self._tail()
        if not tail:
            return False
        return os.pread(self.fd, len(tail), end - len(tail)) != tail

    def restart_at_zero(self) -> None:
        self.buf, self.buf_off, self.base, self.scan, self.prev = b"", 0, 0, 0, b""
        self.tb, self.tb_header = _NO_TB, None
        self._buffer_changed()

    def read_chunk(self) -> bool:
        data = os.pread(self.fd, self.chunk_bytes, self.read_end)
        if not data:
            return False
        base = self.base
        if base:  # drop what was returned; keep its last bytes for the fingerprint
            kept = self.buf[max(0, base - _FP_BYTES):base]
            self.prev = kept if len(kept) == _FP_BYTES else (self.prev + kept)[-_FP_BYTES:]
            self.buf = self.buf[base:] + data
            self.buf_off += base
            self.scan -= base
            self.base = 0
        else:
            self.buf += data
        self._buffer_changed()
        return True

    def _buffer_changed(self) -> None:
        self._last_nl = self.buf.rfind(b"\n")
        self._marks = [-1, -1]

    # emitting

    def _emit(self, out: list[LogRecord], start: int, stop: int) -> None:
        raw = self.buf[start:stop]
        if b"\r" in raw:
            raw = raw.replace(b"\r\n", b"\n")
            if raw.endswith(b"\r"):
                raw = raw[:-1]
        out.append(LogRecord(self.path, raw.decode("utf-8", self.errors), self.buf_off + start, self.file_id))

    def emit_pending(self, out: list[LogRecord], keep_tb: bool = False) -> None:
        if self.base < self.scan:
            self._emit(out, self.base, self.scan - 1)  # the pending record is whole lines: drop the last "\n"
            self.base = self.scan
        if not keep_tb:
            self.tb, self.tb_header = _NO_TB, None

    # parsing

    def parse(self, out: list[LogRecord], limit: int, final: bool = False) -> bool:
        """Cut records out of the buffer until ``out`` holds ``limit``; True when all possible was done.

        ``final``: the file will not be read again from here (closing, or truncated). The
        pending record and a partial line are returned too.
        """
        max_bytes = self.max_record_bytes
        while len(out) < limit:
            if self.tb == _NO_TB:
                self._fast(out, limit)
                if len(out) >= limit:
                    return False
            scan = self.scan
            nl = self.buf.find(b"\n", scan)
            if nl < 0:
                if len(self.buf) - scan > max_bytes:
                    self._cut(out)
                    continue
                break
            if nl - scan > max_bytes:
                self._cut(out)
                continue
            self._line(out, nl)
        else:
            return False
        if final:
            if self.base < self.scan:
                if len(out) >= limit:
                    return False
                self.emit_pending(out)
            if self.scan < len(self.buf):
                if len(out) >= limit:
                    return False
                self._emit(out, self.scan, len(self.buf))
                self.base = self.scan = len(self.buf)
        return True

    def _cut(self, out: list[LogRecord]) -> None:
        """The line at ``scan`` is longer than a record may be: return its first piece."""
        if self.base < self.scan:
            self.emit_pending(out)
            return
        buf, scan = self.buf, self.scan
        cut = scan + self.max_record_bytes
        back = cut
        while back > cut - 4 and back > scan and buf[back] & 0xC0 == 0x80:  # not inside a UTF-8 character
            back -= 1
        if back == scan or buf[back] & 0xC0 == 0x80:
            back = cut  # not UTF-8 anyway
        self._emit(out, scan, back)
        self.base = self.scan = back
        self.tb, self.tb_header = _NO_TB, None

    def _line(self, out: list[LogRecord], nl: int) -> None:
        """One whole line at ``scan``: it joins the pending record, or the pending record is done."""
        scan = self.scan
        if not self.multiline:
            self.scan = nl + 1
            self.emit_pending(out)
            return
        line = self.buf[scan:nl]
        if line.endswith(b"\r"):
            line = line[:-1]
        if self._classify(line, self.base < scan) and nl - self.base <= self.max_record_bytes:
            self.scan = nl + 1
            return
        # A new record (or a continuation that would make the record too big: it opens the next
        # record, and the traceback state set by _classify carries on in it).
        self.emit_pending(out, keep_tb=True)
        self.scan = nl + 1

    def _classify(self, line: bytes, pending: bool) -> bool:
        """Whether ``line`` continues the pending record; sets the traceback state of its record.

        Joins: an indented line; ``Traceback (most recent call last):``; inside a traceback,
        the exception line (``x.y.SomeError: message``), and after it blank lines and the
        "During handling ..." markers of chained exceptions. oslo.log lines: while a traceback
        is in progress, any line with the traceback's header (the prefix is identical on
        every traceback line, exception message lines included). A ``Traceback`` line joins
        the record before it when both come from the same log call (same timestamp, pid and
        logger: the message line has a context block, the traceback lines use the exception
        prefix).
        """
        first = line[:1]
        if first == b" " or first == b"\t":
            if pending:
                return True
            self.tb, self.tb_header = _NO_TB, None
            return False
        tb = self.tb
        if tb == _NO_TB and not line.endswith(_TRACEBACK):
            return False  # the common case, decided without a regular expression
        match = _OSLO_HEADER.match(line) if first.isdigit() else None
        if match is not None:
            header = match.group(0).rstrip(b" ")
            message = line[match.end():]
            if pending and tb != _NO_TB and header == self.tb_header:
                if message == _TRACEBACK:
                    self.tb = _IN_TB
                elif tb == _IN_TB and message and message[:1] not in b" \t":
                    self.tb = _TB_END
                return True
            if message == _TRACEBACK:
                joins = pending and self._emission(self.base) == (match[1], match[2], match[4])
                self.tb, self.tb_header = _IN_TB, header
                return joins
        elif line == _TRACEBACK:
            self.tb, self.tb_header = _IN_TB, None
            return pending
        elif pending and tb == _IN_TB and _EXCEPTION_LINE.match(line):
            self.tb = _TB_END
            return True
        elif pending and tb != _NO_TB and (not line or line in _CHAINED):
            return True
        self.tb, self.tb_header = _NO_TB, None
        return False

    def _emission(self, start: int) -> tuple[bytes, bytes, bytes] | None:
        """(timestamp, pid, logger) of the oslo.log line at ``start``: what one log call shares."""
        nl = self.buf.find(b"\n", start)
        match = _OSLO_HEADER.match(self.buf, start, nl if nl >= 0 else len(self.buf))
        return None if match is None else (match[1], match[2], match[4])

    def _plain_until(self, scan: int) -> int:
        """Start of the first line at or after ``scan`` that may continue a record (or the end
        of the last whole line). Every line before it is a record of its own."""
        stop = self._last_nl + 1
        if not self.multiline:
            return stop
        buf, marks = self.buf, self._marks
        if marks[0] < scan:  # stale: positions only move forward until the buffer changes
            found = _INDENTED.search(buf, scan - 1 if scan else 0)
            marks[0] = found.start() + 1 if found is not None else _HUGE
        if marks[1] < scan:
            at = buf.find(_TRACEBACK, scan)
            marks[1] = max(scan, buf.rfind(b"\n", 0, at) + 1) if at >= 0 else _HUGE
        return min(stop, marks[0], marks[1])

    def _fast(self, out: list[LogRecord], limit: int) -> None:
        """Return the run of plain lines at ``scan`` with one ``split`` (no per-line state)."""
        buf, scan = self.buf, self.scan
        room = limit - len(out)
        stop = self._plain_until(scan)
        cap = scan + 256 * room + 65536  # a small limit should not split the whole buffer every poll
        if stop > cap:
            stop = buf.rfind(b"\n", scan, cap) + 1
        if stop <= scan:
            return
        parts = buf[scan:stop - 1].split(b"\n")
        max_bytes = self.max_record_bytes
        if max(map(len, parts)) > max_bytes:  # a long line goes to _cut
            del parts[next(i for i, part in enumerate(parts) if len(part) > max_bytes):]
            if not parts:
                return
        if self.base < scan:  # the first line does not continue the pending record
            self.emit_pending(out)
            room -= 1
            if room <= 0:
                return
        keep = 1 if self.multiline else 0  # the last line may still get continuation lines
        n = min(len(parts) - keep, room)
        starts = list(accumulate([len(part) + 1 for part in parts[:n + keep]], initial=scan))
        if n > 0:
            texts = parts[:n]
            if b"\r" in buf[scan:starts[n]]:
                texts = [part[:-1] if part.endswith(b"\r") else part for part in texts]
            path, file_id, off, errors = self.path, self.file_id, self.buf_off, self.errors
            out.extend([LogRecord(path, text.decode("utf-8", errors), off + start, file_id)
                        for text, start in zip(texts, starts)])
        self.base = starts[n]
        self.scan = starts[n + 1] if keep and n == len(parts) - 1 else starts[n]


class LogTailer:
    """Read new records from the files matching ``patterns``, with positions kept in ``state_path``."""

    def __init__(self, patterns: Iterable[str], state_path: Path | str, *, start_at_end: bool = False,
                 max_record_bytes: int = 64 * 1024, multiline: bool = True, flush_after: float = 2.0,
                 close_rotated_after: float = 60.0, errors: str = "replace", chunk_bytes: int = CHUNK_BYTES) -> None:
        """``start_at_end``: files present at the first poll with no saved position, whose
        pattern is not in the state yet, start at their end (a first install does not ship
        the history). Once the state knows a pattern, new files of it start at 0, so files
        created while the agent was down are read in full.
        ``flush_after``: seconds without new data after which the last record of a file is
        returned even though continuation lines could still follow.
        ``close_rotated_after``: seconds without new data after which a file that no pattern
        matches any more (rotated away, deleted) is closed.
        """
        if max_record_bytes < 8:
            raise ValueError("max_record_bytes must be at least 8")
        self.patterns = list(patterns)
        self.state_path = Path(state_path)
        self.start_at_end = start_at_end
        self.max_record_bytes = max_record_bytes
        self.multiline = multiline
        self.flush_after = flush_after
        self.close_rotated_after = close_rotated_after
        self.errors = errors
        self.chunk_bytes = max(1, chunk_bytes)
        self._files: dict[str, _Reader] = {}
        self._seq = 0
        self._turn = 0  # which path goes first, so one busy file does not starve the others
        self._first_poll = True
        self._closed = False
        self._last_payload: bytes | None = None
        state = self._load_state()
        self._known_patterns: set[str] = set(state["patterns"]) if state else set()
        # what the state file says, by file id: (seq, entry); entries are path, file_id, offset, fp
        self._saved: dict[str, tuple[int, dict[str, Any]]] = {}
        for entry in state["files"] if state else []:
            self._saved.setdefault(entry["file_id"], (len(self._saved), entry))

    # public API

    def poll(self, max_records: int = 10_000, now: float | None = None) -> list[LogRecord]:
        """Records new since the previous poll (or since the committed positions, for the first),
        at most ``max_records`` (0: only look for new files). ``now`` (monotonic seconds) is for tests."""
        if self._closed:
            raise RuntimeError("poll() on a closed LogTailer")
        now = time.monotonic() if now is None else now
        out: list[LogRecord] = []
        if self._first_poll:
            self._restore(now)
        self._discover(now)
        self._first_poll = False
        self._remember_new()
        if max_records <= 0:
            return out
        groups: dict[str, list[_Reader]] = {}
        for reader in sorted(self._files.values(), key=lambda r: r.seq):
            groups.setdefault(reader.path, []).append(reader)
        order = list(groups.values())
        if order:
            turn = self._turn % len(order)
            order = order[turn:] + order[:turn]
        self._turn += 1
        for group in order:
            if not self._read_group(group, out, max_records, now):
                break
        return out

    def commit(self) -> None:
        """Persist the positions after every record returned so far (fsync'd, atomic)."""
        if self._closed:
            raise RuntimeError("commit() on a closed LogTailer")
        if self._first_poll:
            return  # nothing returned yet: the state file is still exact
        self._saved = {r.file_id: (r.seq, self._entry(r)) for r in self._files.values()}
        self._write_state()

    def close(self) -> None:
        """Close the files. Does not commit: what was not committed is read again next time."""
        for reader in self._files.values():
            os.close(reader.fd)
        self._files.clear()
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # reading

    def _read_group(self, group: list[_Reader], out: list[LogRecord], limit: int, now: float) -> bool:
        """The files of one path, oldest first; False when ``out`` is full."""
        for i, reader in enumerate(group):
            try:
                if not self._pump(reader, out, limit, now):
                    return False
                later = group[i + 1:]
                if reader.has_pending and (now - reader.changed_at >= self.flush_after
                                           or any(os.fstat(r.fd).st_size > 0 for r in later)):
                    # Idle, or superseded: the writer moved to a newer file, so nothing will continue
                    # this record; return it before the newer file's records (keeps the path in order).
                    if len(out) >= limit:
                        return False
                    reader.emit_pending(out)
                elif reader.has_pending and later:
                    # The newer files were empty a moment ago but may have data by now: reading
                    # them would put their records before this held one. They wait for the next poll.
                    return True
                if (not reader.visible and now - reader.changed_at >= self.close_rotated_after
                        and os.fstat(reader.fd).st_size == reader.read_end):
                    if not reader.parse(out, limit, final=True):  # a partial line will never be finished
                        return False
                    os.close(reader.fd)
                    del self._files[reader.file_id]
            except OSError as exc:
                log.warning("cannot read %s (file %s): %s", reader.path, reader.file_id, exc)
                return True  # the newer files of this path wait, to keep the path in order
        return True

    def _pump(self, reader: _Reader, out: list[LogRecord], limit: int, now: float) -> bool:
        """Read ``reader`` to its current size; False when ``out`` got full first."""
        size = os.fstat(reader.fd).st_size
        if reader.truncating or reader.truncated(size):
            if not reader.truncating:
                log.info("%s (file %s) was truncated at %d bytes: reading it again from 0",
                         reader.path, reader.file_id, reader.read_end)
            reader.truncating = True
            if not reader.parse(out, limit, final=True):  # what was read before the truncation is real
                return False
            reader.restart_at_zero()
            reader.truncating = False
            reader.size_seen = -1
        if size != reader.size_seen:
            reader.size_seen = size
            reader.changed_at = now
        if not reader.parse(out, limit):
            return False
        while reader.read_end < size:
            if not reader.read_chunk():
                break
            if not reader.parse(out, limit):
                return False
        return True

    # finding files

    def _open(self, path: str, offset: int | None, before: bytes, now: float, *, logical: str | None = None,
              expect: str | None = None) -> _Reader | None:
        """Open ``path`` (at ``offset``, or at its end when None); None if gone, not the expected
        file, or already open."""
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return None
        st = os.fstat(fd)
        file_id = _file_id(st)
        if file_id in self._files or not stat.S_ISREG(st.st_mode) or (expect is not None and file_id != expect):
            os.close(fd)
            return None
        if offset is None:
            offset = st.st_size
            n = min(_FP_BYTES, offset)
            before = os.pread(fd, n, offset - n) if n else b""
        reader = _Reader(logical or path, file_id, fd, self._seq, offset, before, now, self.max_record_bytes,
                         self.multiline, self.errors, self.chunk_bytes)
        self._seq += 1
        self._files[file_id] = reader
        return reader

    def _discover(self, now: float) -> None:
        found: dict[str, tuple[str, bool]] = {}  # file id -> (path, matched by a pattern the state knew)
        for pattern in self.patterns:
            known = pattern in self._known_patterns
            for path in sorted(glob.glob(pattern)):
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    file_id = _file_id(st)
                    if file_id not in found:
                        found[file_id] = (path, known)
                    elif known:
                        found[file_id] = (found[file_id][0], True)
        for reader in self._files.values():
            reader.visible = reader.file_id in found
        for file_id, (path, known) in found.items():
            if file_id not in self._files:
                at_end = self._first_poll and self.start_at_end and not known
                self._open(path, None if at_end else 0, b"", now)

    def _remember_new(self) -> None:
        """Put files opened since the last write into the state at their starting offsets, so
        one rotated away before the next commit is still found after a restart."""
        new = [reader for reader in self._files.values() if reader.file_id not in self._saved]
        if new:
            for reader in new:
                self._saved[reader.file_id] = (reader.seq, self._entry(reader))
            self._write_state()

    def _restore(self, now: float) -> None:
        """Reopen the files of the state where they are now (first poll of a new tailer)."""
        for _, entry in sorted(self._saved.values(), key=lambda item: item[0]):
            path, file_id, offset, fp = entry["path"], entry["file_id"], entry["offset"], entry["fp"]
            if file_id in self._files:
                continue
            located = self._locate(path, file_id)
            if located is None:
                log.warning("%s (file %s) is gone: its records after offset %d were not read", path, file_id, offset)
                continue
            size = os.fstat(located).st_size
            intact = size >= offset and (not fp or os.pread(located, len(fp), offset - len(fp)) == fp)
            os.close(located)
            if intact:
                self._open_id(path, file_id, offset, fp, now)
                continue
            # Same inode, other content: truncated (copytruncate) while we were stopped. The rest of
            # the old content may be in the copy, under a rotation name.
            log.info("%s (file %s) was truncated while stopped: reading it again from 0", path, file_id)
            copy = self._find_copy(path, file_id, offset, fp)
            if copy is not None:
                self._open(copy, offset, fp, now, logical=path)
            self._open_id(path, file_id, 0, b"", now)
        self._saved = {r.file_id: (r.seq, self._saved[r.file_id][1]) for r in self._files.values()
                       if r.file_id in self._saved}

    def _open_id(self, path: str, file_id: str, offset: int, fp: bytes, now: float) -> None:
        for name in [path, *self._siblings(path)]:
            if self._open(name, offset, fp, now, logical=path, expect=file_id) is not None:
                return

    @staticmethod
    def _siblings(path: str) -> list[str]:
        """Rotation names next to ``path``: ``app.log.1``, ``app.log-20240102``, ... (not ``path``)."""
        return sorted(glob.glob(glob.escape(path) + "?*"))

    def _locate(self, path: str, file_id: str) -> int | None:
        """An open descriptor of the file ``file_id``, under ``path`` or a rotation name."""
        for name in [path, *self._siblings(path)]:
            try:
                if _file_id(os.stat(name)) != file_id:
                    continue
                fd = os.open(name, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            except OSError:
                continue
            if _file_id(os.fstat(fd)) == file_id:
                return fd
            os.close(fd)
        return None

    def _find_copy(self, path: str, file_id: str, offset: int, fp: bytes) -> str | None:
        """The newest rotation-named file that holds the same bytes before ``offset``."""
        if offset <= 0 or len(fp) < min(offset, _FP_BYTES):
            return None
        candidates = []
        for name in self._siblings(path):
            try:
                st = os.stat(name)
            except OSError:
                continue
            if _file_id(st) != file_id and _file_id(st) not in self._files and st.st_size >= offset:
                candidates.append((st.st_mtime, name))
        for _, name in sorted(candidates, reverse=True):
            try:
                with open(name, "rb") as handle:
                    handle.seek(offset - len(fp))
                    if handle.read(len(fp)) == fp:
                        return name
            except OSError:
                continue
        return None

    # state

    @staticmethod
    def _entry(reader: _Reader) -> dict[str, Any]:
        return {"path": reader.path, "file_id": reader.file_id, "offset": reader.delivered,
                "fp": reader.fingerprint()}

    def _load_state(self) -> dict[str, Any] | None:
        try:
            raw = self.state_path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            state = json.loads(raw)
            files = [{"path": str(e["path"]), "file_id": str(e["file_id"]), "offset": int(e["offset"]),
                      "fp": bytes.fromhex(e.get("fp", ""))} for e in state["files"]]
            return {"patterns": [str(p) for p in state.get("patterns", [])], "files": files}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # Cannot happen through commit (atomic replace); someone edited it. Start as on a new install.
            log.error("ignoring unreadable tailer state %s: %s", self.state_path, exc)
            return None

    def _write_state(self) -> None:
        entries = [dict(entry, fp=entry["fp"].hex()) for _, entry in sorted(self._saved.values(), key=lambda i: i[0])]
        payload = json.dumps({"version": STATE_VERSION, "patterns": self.patterns, "files": entries}).encode()
        if payload == self._last_payload:
            return
        directory = self.state_path.parent
        directory.mkdir(parents=True, exist_ok=True)
        temporary = self.state_path.with_name(self.state_path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, self.state_path)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself must survive a power loss
        finally:
            os.close(dir_fd)
        self._last_payload = payload
