"""oslo.log ``JSONFormatter`` lines to record fields.

Each line is one JSON object (``use_json = True``). Its ``msg`` is the unformatted format
string, i.e. the exact template, so these records skip template mining. ``context`` holds
the request context (request ids, user, project, resource uuid) and ``extra`` the keyword
arguments of the log call (``instance``, ``instance_uuid``, ...). ``traceback`` is the whole
traceback and ``error_summary`` its last line.

Decoding is Arrow's JSON reader over the whole batch, with an explicit schema of the fields
used (C++, the GIL released); a batch it refuses (a field of an unexpected type, a line that is
not JSON) is decoded line by line with msgspec instead. The instance comes from ``extra`` (read
with a regular expression, since ``extra`` holds anything a log call passed) or from
``context.resource_uuid``. The parameters of a JSON record are its masked values, as for text
lines (``args`` may hold anything). A line that is not an oslo.log JSON object is left to the
caller as unparsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as arrow_json

from nephoscope.formats import oslo_log
from nephoscope.logs.processing.columns import list_item
from nephoscope.logs.processing.multiline import EXCEPTION_LINE_RE, strip_error_summary
from nephoscope.logs.processing.times import TIMESTAMP


class _OsloJson(msgspec.Struct):
    message: Any = None
    msg: Any = None
    args: Any = None
    name: Any = None
    levelname: Any = None
    created: Any = None
    asctime: Any = None
    process: Any = None
    hostname: Any = None
    traceback: Any = None
    error_summary: Any = None
    funcname: Any = None
    funcName: Any = None
    pathname: Any = None
    lineno: Any = None
    context: Any = None
    extra: Any = None


_DECODER = msgspec.json.Decoder(_OsloJson)

COLUMNS = ("ok", "time_ms", "level", "logger", "pid", "host", "message", "template",
           "request_id", "global_request_id", "user", "project", "instance_id", "traceback",
           "exception_type", "exception_message", "function", "source_file", "source_line")
STRING_COLUMNS = ("level", "logger", "host", "message", "template", "request_id", "global_request_id", "user",
                  "project", "instance_id", "traceback", "exception_type", "exception_message", "function",
                  "source_file")

_CONTEXT = pa.struct([(name, pa.string()) for name in (
    "request_id", "global_request_id", "user", "user_id", "project_id", "project", "tenant", "resource_uuid")])
_SCHEMA = pa.schema([
    ("message", pa.string()), ("msg", pa.string()), ("name", pa.string()), ("levelname", pa.string()),
    ("created", pa.float64()), ("process", pa.int64()), ("hostname", pa.string()), ("traceback", pa.string()),
    ("error_summary", pa.string()), ("funcname", pa.string()), ("funcName", pa.string()),
    ("pathname", pa.string()), ("lineno", pa.int64()), ("context", _CONTEXT),
])
# ``extra`` holds what the log call passed: ``instance`` (a dict with ``uuid``, or a string) or ``instance_uuid``
_EXTRA_INSTANCE = (r'"instance(?:_uuid)?": (?:\{[^{}]*?"uuid": )?"(?P<id>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-'
                   r'[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"')
_EXCEPTION_TYPE = "^" + oslo_log.EXCEPTION_TYPE + "$"


@dataclass
class JsonFields:
    """One column per field, one row per input line (``ok`` false: not an oslo.log JSON object)."""

    columns: dict[str, pa.Array]


def decode_columns(lines: pa.Array) -> JsonFields:
    """Fields of every line: Arrow's JSON reader when the batch fits the schema, else msgspec."""
    try:
        return _arrow(lines)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return decode([line.as_py() for line in lines])


def _arrow(lines: pa.Array) -> JsonFields:
    document = pc.binary_join_element_wise(lines, pa.scalar("\n"), "").buffers()[2]
    table = arrow_json.read_json(
        pa.BufferReader(document), read_options=arrow_json.ReadOptions(use_threads=False, block_size=1 << 26),
        parse_options=arrow_json.ParseOptions(explicit_schema=_SCHEMA, unexpected_field_behavior="ignore"))
    if table.num_rows != len(lines):
        raise pa.ArrowInvalid("a JSON line did not give one row")
    table = table.combine_chunks()

    def column(name: str) -> pa.Array:
        return table.column(name).chunk(0) if table.column(name).num_chunks else pa.nulls(len(lines), _SCHEMA.field(name).type)

    context = column("context")

    def context_field(name: str) -> pa.Array:
        return pc.struct_field(context, name)

    message = pc.coalesce(column("message"), column("msg"))
    traceback = pc.if_else(pc.equal(column("traceback"), ""), pa.scalar(None, pa.string()), column("traceback"))
    summary = pc.if_else(pc.equal(column("error_summary"), ""), pa.scalar(None, pa.string()), column("error_summary"))
    summary = pc.coalesce(summary, _last_lines(traceback))
    pieces = pc.split_pattern(summary, ": ", max_splits=1)
    first = _item(pieces, 0)
    typed = pc.fill_null(pc.match_substring_regex(first, _EXCEPTION_TYPE), False)
    extra_instance = pc.struct_field(pc.extract_regex(lines, _EXTRA_INSTANCE), "id")
    columns = {
        "ok": pc.is_valid(message),
        "time_ms": pc.multiply(column("created"), 1000.0).cast(pa.int64(), safe=False).cast(TIMESTAMP),
        "level": column("levelname"), "logger": column("name"), "pid": column("process"),
        "host": column("hostname"), "message": message, "template": column("msg"),
        "request_id": context_field("request_id"), "global_request_id": context_field("global_request_id"),
        "user": pc.coalesce(context_field("user"), context_field("user_id")),
        "project": pc.coalesce(context_field("project_id"), context_field("project"), context_field("tenant")),
        "instance_id": pc.coalesce(extra_instance, context_field("resource_uuid")),
        "traceback": traceback,
        "exception_type": pc.if_else(typed, first, pa.scalar(None, pa.string())),
        "exception_message": pc.if_else(typed, _item(pieces, 1), pa.scalar(None, pa.string())),
        "function": pc.coalesce(column("funcname"), column("funcName")), "source_file": column("pathname"),
        "source_line": column("lineno").cast(pa.int32(), safe=False),
    }
    return JsonFields(columns)


_item = list_item


def _last_lines(traceback: pa.Array) -> pa.Array:
    """The last non-blank line of each traceback (its ``Type: message`` line)."""
    pieces = pc.split_pattern(pc.utf8_rtrim_whitespace(traceback), "\n", max_splits=1, reverse=True)
    return pc.coalesce(_item(pieces, 1), _item(pieces, 0))


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _uuid_of(value: Any) -> str | None:
    if isinstance(value, dict):
        return _text(value.get("uuid") or value.get("id"))
    return _text(value)


def decode(lines: list[str]) -> JsonFields:
    """Fields of every line, one msgspec decode per line: for batches the Arrow reader refuses."""
    columns: dict[str, list] = {name: [] for name in COLUMNS}
    for line in lines:
        try:
            record = _DECODER.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError):
            record = None
        if record is None or (record.message is None and record.msg is None):
            for name in COLUMNS:
                columns[name].append(False if name == "ok" else None)
            continue
        context = record.context if isinstance(record.context, dict) else {}
        extra = record.extra if isinstance(record.extra, dict) else {}
        message = _text(record.message) or _text(record.msg) or ""
        template = record.msg if isinstance(record.msg, str) else None
        traceback = _text(record.traceback)
        exception_type = exception_message = None
        summary = _text(record.error_summary)
        last = summary or (traceback.rstrip().rsplit("\n", 1)[-1] if traceback else None)
        if last:
            match = EXCEPTION_LINE_RE.match(last)
            if match:
                exception_type, exception_message = match.group(1), match.group(2)
                message = strip_error_summary(message, exception_type, exception_message)
        created = record.created
        columns["ok"].append(True)
        columns["time_ms"].append(int(created * 1000) if isinstance(created, (int, float)) else None)
        columns["level"].append(_text(record.levelname))
        columns["logger"].append(_text(record.name))
        columns["pid"].append(record.process if isinstance(record.process, int) else None)
        columns["host"].append(_text(record.hostname))
        columns["message"].append(message)
        columns["template"].append(template)
        columns["request_id"].append(_text(context.get("request_id")))
        columns["global_request_id"].append(_text(context.get("global_request_id")))
        columns["user"].append(_text(context.get("user") or context.get("user_id")))
        columns["project"].append(_text(context.get("project_id") or context.get("project") or context.get("tenant")))
        columns["instance_id"].append(_uuid_of(extra.get("instance")) or _text(extra.get("instance_uuid"))
                                      or _text(context.get("resource_uuid")))
        columns["traceback"].append(traceback)
        columns["exception_type"].append(exception_type)
        columns["exception_message"].append(exception_message)
        columns["function"].append(_text(record.funcname or record.funcName))
        columns["source_file"].append(_text(record.pathname))
        columns["source_line"].append(record.lineno if isinstance(record.lineno, int) else None)
    arrays = {name: pa.array(columns[name], pa.string()) for name in STRING_COLUMNS}
    arrays["ok"] = pa.array(columns["ok"], pa.bool_())
    arrays["time_ms"] = pa.array(columns["time_ms"], pa.int64()).cast(TIMESTAMP)
    arrays["pid"] = pa.array(columns["pid"], pa.int64())
    arrays["source_line"] = pa.array(columns["source_line"], pa.int32())
    return JsonFields(arrays)
