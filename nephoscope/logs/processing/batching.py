"""Cutting a stream of lines into batches without splitting a record: a traceback (or any
multi-line record) always lands in one batch with the line it belongs to.

``record_batches`` cuts a list of lines (a file read whole or in chunks) into independent
batches the pipeline can process in parallel; ``LogStream`` feeds one source piece by piece
and holds back the last record until the next piece shows where it ends. The cut points are
found by looking at a few lines before each cut, in Python: cost per batch, not per line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import pyarrow as pa

from nephoscope.formats import oslo_log
from nephoscope.logs.processing.pipeline import BATCH_LINES, LogPipeline
from nephoscope.logs.processing.schema import RECORD_SCHEMA
from nephoscope.logs.processing.sources import Source

_SAFE_START = re.compile(oslo_log.CONTEXT_LINE_START + r"|\{")  # oslo.log with context, or a JSON record
_CONTINUATION_LIKE = re.compile(
    r"[ \t]|$|" + "|".join((oslo_log.TRACEBACK_LINE, *oslo_log.CHAINED_LINES))
    + "|" + oslo_log.TRACEBACK_END + "$|" + oslo_log.BARE_LINE_START)


def record_start(lines: Sequence[str], end: int, lookback: int = 10_000) -> int:
    """The last index before ``end`` at which a record surely starts: cut a batch there and no
    record is split. Scans back from ``end - 1``, at most ``lookback`` lines; ``end`` when none."""
    for index in range(end - 1, max(0, end - lookback) - 1, -1):
        line = lines[index]
        if _SAFE_START.match(line) or not _CONTINUATION_LIKE.match(line):
            return index
    return end


def record_batches(lines: Sequence[str], size: int = BATCH_LINES) -> Iterator[Sequence[str]]:
    """``lines`` in batches of about ``size`` lines, each cut where a record starts."""
    start = 0
    total = len(lines)
    while start < total:
        end = min(total, start + size)
        if end < total:
            cut = record_start(lines, end + 1)  # the last sure start at or before index ``end``
            if start < cut <= end:
                end = cut
        yield lines[start:end]
        start = end


class LogStream:
    """One source read in pieces: holds the last record of each piece until the next piece (or
    ``flush``) shows it complete, so tracebacks that straddle two reads are merged."""

    def __init__(self, pipeline: LogPipeline, source: Source | None = None, max_held_lines: int = 10_000) -> None:
        self.pipeline = pipeline
        self.source = source
        self.max_held_lines = max_held_lines
        self._held: list[str] = []

    def feed(self, lines: Sequence[str]) -> pa.Table:
        pending = self._held + list(lines)
        if not pending:
            return RECORD_SCHEMA.empty_table()
        # hold from the last sure record start on; with none in sight, hold nothing
        cut = record_start(pending, len(pending), self.max_held_lines)
        self._held = pending[cut:]
        return self.pipeline.process(pending[:cut], self.source) if cut else RECORD_SCHEMA.empty_table()

    def flush(self) -> pa.Table:
        held, self._held = self._held, []
        return self.pipeline.process(held, self.source) if held else RECORD_SCHEMA.empty_table()
