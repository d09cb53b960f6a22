"""Timestamps of the line formats, as Arrow ``timestamp[ms, UTC]`` columns.

Fast path: Arrow's ISO-8601 cast over the whole column. Anything it refuses (an odd format,
an impossible date) is parsed once per distinct value in Python, and what still fails is null:
one bad date never fails a batch.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from nephoscope.logs.processing.columns import map_distinct

TIMESTAMP = pa.timestamp("ms", tz="UTC")


def iso_times(values: pa.Array, utc_offset_s: int = 0) -> pa.Array:
    """``2017-05-16 00:00:00.008`` (oslo.log) and other ISO-8601 strings to UTC milliseconds.
    Times without a zone are local times ``utc_offset_s`` seconds ahead of UTC (0: UTC)."""
    if len(values) == 0:
        return pa.array([], TIMESTAMP)
    if pc.any(pc.match_substring(values, ",")).as_py():
        values = pc.replace_substring(values, ",", ".")
    try:
        parsed = pc.cast(values, pa.timestamp("ns")).cast(pa.timestamp("ms"), safe=False)
        naive = True
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        parsed = map_distinct(values, _python_iso, pa.int64()).cast(pa.timestamp("ms"))
        naive = False  # the Python parser already applied zones; naive values were read as UTC
    milliseconds = parsed.cast(pa.int64())
    if utc_offset_s and naive:
        milliseconds = pc.subtract(milliseconds, utc_offset_s * 1000)
    return milliseconds.cast(TIMESTAMP)


def _python_iso(value: str | None) -> int | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace(" ", "T", 1))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def formatted_times(values: pa.Array, format: str) -> pa.Array:
    """Times in a ``strptime`` format (``%z`` honoured; without it, UTC); unparsable ones null."""
    if len(values) == 0:
        return pa.array([], TIMESTAMP)
    parsed = pc.strptime(values, format=format, unit="ms", error_is_null=True)
    return parsed.cast(pa.int64()).cast(TIMESTAMP)


def syslog_times(values: pa.Array, year: int | None = None) -> pa.Array:
    """RFC 5424 / rsyslog ISO times, and RFC 3164 ``May 16 00:00:00`` (in ``year``, default this year)."""
    year = year or datetime.now(UTC).year

    def parse(value: str | None) -> int | None:
        if not value:
            return None
        if value[:1].isdigit():
            return _python_iso(value)
        try:
            moment = datetime.strptime(f"{year} {' '.join(value.split())}", "%Y %b %d %H:%M:%S")
        except ValueError:
            return None
        return int(moment.replace(tzinfo=UTC).timestamp() * 1000)

    return map_distinct(values, parse, pa.int64()).cast(TIMESTAMP)
