"""HTTP access lines: their fields, and endpoint templates for metrics.

oslo.log records whose message is an eventlet.wsgi or placement request-log line (``10.0.0.1
"GET /v2.1/servers HTTP/1.1" status: 200 len: 1893 time: 0.2477829``) get method, path,
status, bytes and latency here; httpd and uWSGI access lines got theirs in ``parsers``.

The masks have already cut such a message into its masked text (``<*> "GET <*> HTTP/<*>"
status: <*> len: <*> time: <*>``) and its values, so the fields are read from the values, at
positions worked out once per distinct masked text: no regular expression runs per line.

An endpoint template is the path without its query string and with every segment that is an
identifier replaced by ``{id}`` (UUIDs, 16-64 hex digit ids, numbers, dates, ``AUTH_<id>``,
``req-<uuid>``), so ``/v2.1/6f70.../servers/0f1e...`` and every other server read count as one
endpoint: ``/v2.1/{id}/servers/{id}``. Computed once per distinct path.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nephoscope.logs.processing import patterns
from nephoscope.logs.processing.columns import indices_where, list_item, null_if, scatter, spread
from nephoscope.logs.processing.masks import WILDCARD

# A masked eventlet.wsgi / placement access line; every field may be a value (<*>) or literal.
_MASKED_ACCESS = re.compile(
    r'(?P<client><\*>|\S+) "(?P<method>[A-Z]+) (?P<path><\*>|\S+)(?: HTTP/(?:<\*>|[\d.]+))?" '
    r"status: (?P<status><\*>)\s+len: (?P<bytes><\*>|-)(?: microversion: (?:<\*>|\S+))?"
    r"(?: time: (?P<seconds><\*>))?\Z")
_FIELDS = ("client", "path", "status", "bytes", "seconds")
HTTP_TYPES = {"client": pa.string(), "method": pa.string(), "path": pa.string(), "status": pa.int16(),
              "bytes": pa.int64(), "latency_ms": pa.float64()}

_ID_SEGMENT = (
    r"^(?:(?:req-|AUTH_)?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|(?:AUTH_)?[0-9a-fA-F]{16,64}|\d+|\d{4}-\d\d-\d\d)$"
)
ID = "{id}"


def _layout(masked: str) -> tuple[str, dict[str, int | str]] | None:
    """(method, field -> index among the values, or the literal text) of a masked access line."""
    match = _MASKED_ACCESS.match(masked)
    if match is None:
        return None
    layout: dict[str, int | str] = {}
    for name in _FIELDS:
        text = match.group(name)
        if text is None:
            continue
        layout[name] = masked.count(WILDCARD, 0, match.start(name)) if text == WILDCARD else text
    return match.group("method"), layout


def _numbers(values: pa.Array, data_type: pa.DataType) -> pa.Array:
    """Digit strings to numbers; anything else null (never an error)."""
    numeric = pc.match_substring_regex(values, r"^\d{1,15}(?:\.\d+)?$")
    return pc.if_else(numeric, values, pa.scalar(None, pa.string())).cast(data_type)


def from_masks(distinct: list[str], codes: np.ndarray, parameters: pa.Array, eligible: np.ndarray) -> dict[str, pa.Array]:
    """Access fields of the records whose masked text (``distinct[codes[row]]``) is an access line.

    ``codes`` is -1 for records that were not masked like this; ``eligible`` limits the rows
    (oslo.log records only). Null everywhere else."""
    length = len(codes)
    columns = {name: pa.nulls(length, value_type) for name, value_type in HTTP_TYPES.items()}
    layouts = {code: _layout(text) for code, text in enumerate(distinct) if WILDCARD in text and '" status: ' in text}
    for code, found in layouts.items():
        if found is None:
            continue
        rows = np.flatnonzero((codes == code) & eligible)
        if not len(rows):
            continue
        method, layout = found
        values = parameters.take(pa.array(rows))
        width = int(pc.max(pc.list_value_length(values)).as_py() or 0) + 1
        picked: dict[str, pa.Array] = {}
        for name, where in layout.items():
            picked[name] = (list_item(values, where, width) if isinstance(where, int)
                            else pa.array([where] * len(rows), pa.string()))
        columns["method"] = scatter(columns["method"], rows, pa.array([method] * len(rows), pa.string()))
        if "client" in picked:
            columns["client"] = scatter(columns["client"], rows, picked["client"])
        if "path" in picked:
            columns["path"] = scatter(columns["path"], rows, picked["path"])
        columns["status"] = scatter(columns["status"], rows, _numbers(picked["status"], pa.int16()))
        if "bytes" in picked:
            columns["bytes"] = scatter(columns["bytes"], rows, _numbers(picked["bytes"], pa.int64()))
        if "seconds" in picked:
            seconds = _numbers(picked["seconds"], pa.float64())
            columns["latency_ms"] = scatter(columns["latency_ms"], rows, pc.multiply(seconds, 1000.0))
    return columns


def wsgi_fields(messages: pa.Array) -> dict[str, pa.Array]:
    """Access fields of messages that are eventlet.wsgi / placement access lines (null elsewhere),
    by regular expression: for messages that were not masked."""
    length = len(messages)
    rows = indices_where(pc.match_substring(messages, patterns.WSGI_ACCESS_MARK))
    if not len(rows):
        return {}
    found = pc.extract_regex(messages.take(pa.array(rows)), patterns.WSGI_ACCESS)
    valid = indices_where(pc.is_valid(found))
    if not len(valid):
        return {}
    rows = rows[valid]
    found = found.take(pa.array(valid))
    seconds = null_if(pc.struct_field(found, "seconds"), "").cast(pa.float64())
    columns = {
        "client": pc.struct_field(found, "client"),
        "method": pc.struct_field(found, "method"),
        "path": pc.struct_field(found, "path"),
        "status": pc.struct_field(found, "status").cast(pa.int16()),
        "bytes": null_if(pc.struct_field(found, "bytes"), "-").cast(pa.int64()),
        "latency_ms": pc.multiply(seconds, 1000.0),
    }
    return {name: spread(values, rows, length) for name, values in columns.items()}


def endpoint_templates(paths: pa.Array) -> pa.Array:
    """The endpoint template of every path (null stays null)."""
    encoded = pc.dictionary_encode(paths)
    distinct = encoded.dictionary
    if len(distinct) == 0:
        return pa.nulls(len(paths), pa.string())
    without_query = pc.list_element(pc.split_pattern(distinct, "?", max_splits=1), 0)
    segments = pc.split_pattern(without_query, "/")
    flat = pc.list_flatten(segments)
    is_id = pc.match_substring_regex(flat, _ID_SEGMENT)
    masked = pc.if_else(is_id, pa.scalar(ID), flat)
    offsets = pc.subtract(segments.offsets, segments.offsets[0])
    rebuilt = pa.ListArray.from_arrays(offsets, masked)
    templates = pc.binary_join(rebuilt, "/")
    return templates.take(encoded.indices)


def status_classes(status: pa.Array) -> pa.Array:
    """``2xx``, ``4xx``, ``5xx``... of HTTP status codes."""
    hundreds = pc.divide(status.cast(pa.int32()), 100).cast(pa.string())
    return pc.binary_join_element_wise(hundreds, pa.scalar("xx"), "")
