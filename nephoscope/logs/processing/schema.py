"""The normalized log record: one schema for every service and every input format.

Batches are ``pyarrow.Table`` with ``RECORD_SCHEMA`` (the hot path never builds per-record
objects); :class:`LogRecord` is the same record as a msgspec Struct, for tests, the API and
anything that handles a few records at a time.
"""

from __future__ import annotations

import msgspec
import pyarrow as pa

CATEGORIES = ("error", "telemetry", "noise", "audit", "info")



def _field(name: str, data_type: pa.DataType, doc: str = "") -> pa.Field:
    return pa.field(name, data_type, metadata={"doc": doc} if doc else None)


RECORD_SCHEMA = pa.schema([
    _field("time", pa.timestamp("ms", tz="UTC"), doc="when the line was written (UTC; naive times read as UTC)"),
    _field("region", pa.string()),
    _field("service", pa.string(), doc="nova, neutron, cinder, ..."),
    _field("component", pa.string(), doc="the program: nova-compute, neutron-server, ..."),
    _field("host", pa.string()),
    _field("pid", pa.int32()),
    _field("level", pa.string(), doc="DEBUG, INFO, AUDIT, WARNING, ERROR, CRITICAL, TRACE (WARN/FATAL folded)"),
    _field("logger", pa.string()),
    _field("request_id", pa.string()),
    _field("global_request_id", pa.string()),
    _field("user", pa.string()),
    _field("project", pa.string()),
    _field("instance_id", pa.string()),
    _field("volume_id", pa.string()),
    _field("resource_ids", pa.list_(pa.string()), doc="every UUID among the parameters"),
    _field("message", pa.string(), doc="the message: no header, no [instance: ] prefix, no DEBUG suffix"),
    _field("template_id", pa.string()),
    _field("template", pa.string()),
    _field("parameters", pa.list_(pa.string()), doc="the values the masks took out, in order"),
    _field("exception_type", pa.string()),
    _field("exception_message", pa.string()),
    _field("traceback", pa.string()),
    _field("function", pa.string()),
    _field("source_file", pa.string()),
    _field("source_line", pa.int32()),
    _field("http_method", pa.string()),
    _field("http_path", pa.string()),
    _field("http_status", pa.int16()),
    _field("http_bytes", pa.int64()),
    _field("http_latency_ms", pa.float64()),
    _field("client", pa.string()),
    _field("category", pa.string(), doc="error, telemetry, noise, audit or info"),
    _field("rule", pa.string(), doc="the rule that decided the category, or default:<reason>"),
    _field("is_new_template", pa.bool_(), doc="this record founded its template"),
    _field("format", pa.string(), doc="oslo, oslo-json, httpd-access, syslog or unparsed"),
    _field("lines", pa.int32(), doc="physical lines merged into the record"),
    _field("raw", pa.string(), doc="the physical lines, joined with newlines"),
])


class LogRecord(msgspec.Struct, kw_only=True):
    """One normalized record (the row form of ``RECORD_SCHEMA``; ``time`` in epoch milliseconds)."""

    time: int | None = None
    region: str | None = None
    service: str | None = None
    component: str | None = None
    host: str | None = None
    pid: int | None = None
    level: str | None = None
    logger: str | None = None
    request_id: str | None = None
    global_request_id: str | None = None
    user: str | None = None
    project: str | None = None
    instance_id: str | None = None
    volume_id: str | None = None
    resource_ids: list[str] = []
    message: str = ""
    template_id: str | None = None
    template: str | None = None
    parameters: list[str] = []
    exception_type: str | None = None
    exception_message: str | None = None
    traceback: str | None = None
    function: str | None = None
    source_file: str | None = None
    source_line: int | None = None
    http_method: str | None = None
    http_path: str | None = None
    http_status: int | None = None
    http_bytes: int | None = None
    http_latency_ms: float | None = None
    client: str | None = None
    category: str = "info"
    rule: str | None = None
    is_new_template: bool = False
    format: str = "unparsed"
    lines: int = 1
    raw: str = ""


def to_records(table: pa.Table) -> list[LogRecord]:
    """The rows of a record batch as :class:`LogRecord` (for a few rows: tests, API answers)."""
    table = table.set_column(table.schema.get_field_index("time"), "time",
                             table.column("time").cast(pa.int64()))
    # a null is the field's default (None, or an empty list for the list fields)
    return [LogRecord(**{k: v for k, v in row.items() if v is not None}) for row in table.to_pylist()]


def empty_table() -> pa.Table:
    return RECORD_SCHEMA.empty_table()
