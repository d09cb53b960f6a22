"""Physical lines to fields: which shape each line has, and what its header says.

One call handles a whole batch with Arrow's RE2 kernels. Shapes, tried in this order:

* a syslog envelope (RFC 5424, RFC 3164, rsyslog's ISO format): host, program and time are
  taken from it and its message is parsed as the line from here on; its priority's severity is
  the level of a message that names none itself (an oslo.log line's own level wins);
* an oslo.log text line (``date time pid LEVEL logger [context] [instance: uuid] message``,
  with Loghub's file-name prefix or not) — with a context block it starts a record; without
  one it is a traceback line of the record before it (``logging_exception_prefix``);
* an oslo.log JSON line (decoded later, in ``jsonlines``);
* an httpd or uWSGI access line;
* anything else: a plain line (a traceback continuation or an unparsed record; ``multiline``
  decides).

Nothing here merges lines or drops any: the output has one row per input line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nephoscope.formats import oslo_log
from nephoscope.logs.processing import patterns
from nephoscope.logs.processing.columns import choose, indices_where, list_item, null_if, scatter, spread
from nephoscope.logs.processing.times import formatted_times


class Kind(IntEnum):
    OSLO = 0  # oslo.log header with a context block: a record
    OSLO_BARE = 1  # oslo.log header without a context block: a traceback line (or an orphan)
    JSON = 2  # oslo.log JSONFormatter line
    ACCESS = 3  # httpd or uWSGI access line
    SYSLOG = 4  # a syslog envelope around something that is not an oslo.log line
    PLAIN = 5  # no known shape


_STRING_NULL = pa.scalar(None, pa.string())
# Syslog severities (PRI % 8: emerg, alert, crit, err, warning, notice, info, debug) as the levels
# oslo.log writes; its syslog handler sends them the other way (Python's SysLogHandler.priority_map).
_SEVERITY_LEVELS = pa.array(["CRITICAL", "CRITICAL", "CRITICAL", "ERROR", "WARNING", "INFO", "INFO", "DEBUG"])


@dataclass
class Lines:
    """Fields of every physical line, one row per line; null where a line has no such field."""

    raw: pa.Array
    kind: np.ndarray  # Kind codes, int8
    body: pa.Array  # the line, or the message of its syslog envelope
    file: pa.Array  # Loghub's file-name prefix
    date: pa.Array
    pid: pa.Array
    level: pa.Array
    logger: pa.Array
    context: pa.Array  # the context block's content ("-" when empty), null on bare lines
    instance: pa.Array
    message: pa.Array
    syslog_host: pa.Array
    syslog_app: pa.Array
    syslog_time: pa.Array
    syslog_pid: pa.Array
    access: dict[str, pa.Array] = field(default_factory=dict)  # fields of ACCESS lines (full length)

    def __len__(self) -> int:
        return len(self.raw)


def parse_lines(raw: pa.Array) -> Lines:
    """The fields of every line of ``raw`` (a string array without nulls)."""
    length = len(raw)
    nulls = pa.nulls(length, pa.string())
    body = raw
    syslog_host = syslog_app = syslog_time = syslog_pid = syslog_level = nulls
    enveloped = np.zeros(length, bool)
    syslog_rows = indices_where(pc.match_substring_regex(raw, patterns.SYSLOG_ANY))
    if len(syslog_rows):
        envelope = _syslog(raw.take(pa.array(syslog_rows)))
        found = indices_where(pc.is_valid(envelope["message"]))
        rows = syslog_rows[found]
        enveloped[rows] = True
        pick = pa.array(found)
        body = scatter(raw, rows, pc.fill_null(envelope["message"].take(pick), ""))
        syslog_host = spread(envelope["host"].take(pick), rows, length)
        syslog_app = spread(envelope["app"].take(pick), rows, length)
        syslog_time = spread(envelope["time"].take(pick), rows, length)
        syslog_pid = spread(envelope["procid"].take(pick), rows, length)
        syslog_level = spread(severity_levels(envelope["priority"].take(pick)), rows, length)

    fields = _oslo_headers(body)
    parsed = pc.is_valid(fields["pid"]).to_numpy(zero_copy_only=False)
    short_rows = np.flatnonzero(enveloped & ~parsed)
    if len(short_rows):  # syslog payloads whose oslo.log format leaves the date to syslog
        short = pc.extract_regex(body.take(pa.array(short_rows)), oslo_log.OSLO_SHORT_HEADER)
        matched = indices_where(pc.is_valid(short))
        if len(matched):
            rows = short_rows[matched]
            picked = short.take(pa.array(matched))
            for name in ("pid", "level", "logger", "context", "instance", "message"):
                fields[name] = scatter(fields[name], rows, pc.struct_field(picked, name))
            parsed[rows] = True

    context = fields["context"]
    bare = parsed & ~pc.is_valid(context).to_numpy(zero_copy_only=False)
    kind = np.full(length, Kind.PLAIN, np.int8)
    kind[parsed] = Kind.OSLO
    kind[bare] = Kind.OSLO_BARE
    is_json = pc.starts_with(body, patterns.JSON_START).to_numpy(zero_copy_only=False) & ~parsed
    kind[is_json] = Kind.JSON
    kind[enveloped & (kind == Kind.PLAIN)] = Kind.SYSLOG

    access: dict[str, pa.Array] = {}
    candidates = np.flatnonzero(kind == Kind.PLAIN)
    if len(candidates):
        access = _access_lines(body, candidates, kind)

    level = fields["level"]
    if pc.any(pc.is_in(level, value_set=pa.array(["WARN", "FATAL"]))).as_py():
        level = pc.replace_substring_regex(pc.replace_substring_regex(level, "^WARN$", "WARNING"), "^FATAL$", "CRITICAL")
    if syslog_level.null_count < length:
        level = pc.coalesce(level, syslog_level)
    return Lines(
        raw=raw, kind=kind, body=body,
        file=fields["file"], date=fields["date"], pid=fields["pid"],
        level=level, logger=fields["logger"], context=context,
        instance=fields["instance"], message=fields["message"],
        syslog_host=syslog_host, syslog_app=syslog_app, syslog_time=syslog_time, syslog_pid=syslog_pid,
        access=access,
    )


def _oslo_headers(body: pa.Array) -> dict[str, pa.Array]:
    """oslo.log header fields of every line (null where a line has no oslo.log header).

    The usual shape (``2017-05-16 00:00:00.008 25746 INFO logger [ctx] [instance: x] msg``,
    perhaps after Loghub's file name) is cut with plain splits, which are many times faster
    than RE2 capture groups; lines of another oslo.log shape (a ``T`` in the date, ...) go
    through the full regular expression. Lines of other formats (JSON, access, plain) are only
    matched against, never split.
    """
    length = len(body)
    nulls = pa.nulls(length, pa.string())
    has_file = pc.match_substring_regex(body, oslo_log.LOGHUB_PREFIXED)
    file = nulls
    text = body
    if pc.any(has_file).as_py():
        first = pc.split_pattern(body, " ", max_splits=1)
        file = choose(has_file, list_item(first, 0), _STRING_NULL)
        text = choose(has_file, list_item(first, 1), body)
    usual = pc.fill_null(pc.match_substring_regex(text, oslo_log.OSLO_USUAL_START), False)
    count = usual.true_count
    if count == length:
        fields = _split_usual(text)
        fields["file"] = file
    else:
        fields = {name: nulls for name in ("file", "date", "pid", "level", "logger", "context", "instance", "message")}
        if count:
            rows = indices_where(usual)
            pick = pa.array(rows)
            fields = {name: spread(values, rows, length) for name, values in _split_usual(text.take(pick)).items()}
            fields["file"] = spread(file.take(pick), rows, length)
        unusual = np.flatnonzero(~usual.to_numpy(zero_copy_only=False))
        candidates = body.take(pa.array(unusual))
        others = unusual[pc.match_substring_regex(candidates, oslo_log.OSLO_HEADER_START).to_numpy(zero_copy_only=False)]
        if len(others):  # oslo.log lines of a rarer shape
            found = pc.extract_regex(body.take(pa.array(others)), oslo_log.OSLO_HEADER)
            for name, current in list(fields.items()):
                values = pc.struct_field(found, name)
                if name in ("file", "context", "instance"):
                    values = null_if(values, "")
                fields[name] = scatter(current, others, values)
    return fields


def _split_usual(text: pa.Array) -> dict[str, pa.Array]:
    """Header fields of lines that all have the usual oslo.log shape (file name already removed)."""
    parts = pc.split_pattern(text, " ", max_splits=5)
    rest = pc.fill_null(list_item(parts, 5), "")
    # the context block: "[...] " after the logger, unless it is a traceback line's "[instance: "
    has_context = pc.and_(pc.starts_with(rest, "["), pc.invert(pc.starts_with(rest, "[instance: ")))
    pieces = pc.split_pattern(rest, "] ", max_splits=1)
    closed = pc.is_valid(list_item(pieces, 1))
    context = pc.utf8_slice_codeunits(list_item(pieces, 0), 1)
    if closed.true_count != len(closed):  # "[-]" at the very end of a line
        context = pc.if_else(closed, context, pc.utf8_rtrim(context, characters="]"))
    after = choose(has_context, pc.fill_null(list_item(pieces, 1), ""), rest)
    has_instance = pc.starts_with(after, "[instance: ")
    instance = pa.nulls(len(text), pa.string())
    message = after
    if pc.any(has_instance).as_py():
        instance_pieces = pc.split_pattern(after, "] ", max_splits=1)
        instance = choose(has_instance, pc.utf8_slice_codeunits(list_item(instance_pieces, 0), 11), _STRING_NULL)
        message = choose(has_instance, pc.fill_null(list_item(instance_pieces, 1), ""), after)
    return {
        "date": pc.binary_join_element_wise(list_item(parts, 0), list_item(parts, 1), " "),
        "pid": list_item(parts, 2), "level": list_item(parts, 3), "logger": list_item(parts, 4),
        "context": choose(has_context, context, _STRING_NULL), "instance": instance, "message": message,
    }


def severity_levels(priority: pa.Array) -> pa.Array:
    """The level of each syslog ``<PRI>`` (decimal text; null where there is none)."""
    numbers = pc.fill_null(pc.cast(priority, pa.int32()), -1).to_numpy(zero_copy_only=False)
    absent = numbers < 0
    return _SEVERITY_LEVELS.take(pa.array(np.where(absent, 0, numbers % 8), mask=absent))


def _syslog(lines: pa.Array) -> dict[str, pa.Array]:
    """Envelope fields of syslog lines (null message where neither RFC matched)."""
    result = {}
    modern = pc.extract_regex(lines, patterns.SYSLOG_5424)
    legacy = pc.extract_regex(lines, patterns.SYSLOG_3164)
    is_modern = pc.is_valid(modern)
    for name in ("priority", "time", "host", "app", "procid", "message"):
        modern_field = pc.struct_field(modern, name)
        if name == "message":  # an RFC 5424 line may have no message at all
            modern_field = pc.if_else(is_modern, pc.fill_null(modern_field, ""), _STRING_NULL)
        result[name] = pc.if_else(is_modern, modern_field, pc.struct_field(legacy, name))
    result["procid"] = null_if(result["procid"], "", "-")
    result["priority"] = null_if(result["priority"], "")  # RFC 3164 lines written to files have none
    return result


def _access_lines(body: pa.Array, candidates: np.ndarray, kind: np.ndarray) -> dict[str, pa.Array]:
    """Fields of httpd/uWSGI access lines among ``candidates``; marks them ACCESS in ``kind``."""
    length = len(body)
    subset = body.take(pa.array(candidates))
    httpd = pc.extract_regex(subset, patterns.HTTPD_ACCESS)
    uwsgi = pc.extract_regex(subset, patterns.UWSGI_ACCESS)
    is_httpd = pc.is_valid(httpd)
    is_uwsgi = pc.is_valid(uwsgi)
    found = indices_where(pc.or_(is_httpd, is_uwsgi))
    if not len(found):
        return {}
    rows = candidates[found]
    kind[rows] = Kind.ACCESS
    pick = pa.array(found)
    httpd, uwsgi, is_httpd = httpd.take(pick), uwsgi.take(pick), is_httpd.take(pick)

    def either(name: str) -> pa.Array:
        """The field of whichever access format the line is."""
        return pc.if_else(is_httpd, pc.struct_field(httpd, name), pc.struct_field(uwsgi, name))

    micros = pc.if_else(pc.not_equal(pc.struct_field(httpd, "micros"), ""), pc.struct_field(httpd, "micros"),
                        pc.struct_field(httpd, "tail_micros"))
    latency_ms = pc.if_else(
        is_httpd,
        pc.divide(null_if(micros, "").cast(pa.float64()), 1000.0),
        null_if(pc.struct_field(uwsgi, "millis"), "").cast(pa.float64()))
    columns = {
        "client": either("client"),
        "user": null_if(pc.if_else(is_httpd, pc.struct_field(httpd, "user"), _STRING_NULL), "-"),
        "time": pc.if_else(is_httpd, formatted_times(pc.struct_field(httpd, "time"), "%d/%b/%Y:%H:%M:%S %z"),
                           formatted_times(pc.struct_field(uwsgi, "time"), "%a %b %d %H:%M:%S %Y")),
        "method": either("method"),
        "path": either("path"),
        "status": either("status").cast(pa.int16()),
        "bytes": null_if(either("bytes"), "-", "").cast(pa.int64()),
        "latency_ms": latency_ms,
        "pid": pc.if_else(is_httpd, _STRING_NULL, pc.struct_field(uwsgi, "pid")),
    }
    return {name: spread(values, rows, length) for name, values in columns.items()}
