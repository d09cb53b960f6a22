"""Following one request across services: the request ids of a chain, and its timeline.

A request that crosses nova, glance, neutron and cinder gets a new request id at every service
boundary. The ids are linked three ways, all read from the logs alone (log-analysis reference §5):

* **global request ids** — nova sends ``X-OpenStack-Request-ID: <its id>`` to the services it
  calls; they log it as the first id of the context block (``[req-G req-L …]``), so a callee's
  records carry the caller's id as ``global_request_id``;
* **the RPC context** — nova-api, -conductor, -scheduler and -compute share one request id, so
  those are one id already;
* **keystoneauth's mapping lines** — ``GET call to image for <url> used request id req-X``
  (DEBUG, logger ``keystoneauth.session``) link the caller's id in the context block to the
  callee's id in the message, when operators log at that level.

``chain`` starts from any id of the chain and follows the links to a fixed point; ``timeline``
orders every record of the chain by time, with the time between steps and where it failed.
Both work on any ``find`` (the log store's, or a table in memory for ``nephoscope trace`` on
files).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Find = Callable[[list[str]], pa.Table]
"""Records whose ``request_id`` or ``global_request_id`` is one of the ids (RECORD_SCHEMA + ts)."""

# keystoneauth: "<METHOD> call to <service> for <url> used request id req-<uuid>"
USED_REQUEST_ID = r"used request id (?P<id>req-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
MAX_IDS = 500  # a chain larger than this is cut: something is logging one id for everything
MAX_ROUNDS = 8
_ERROR_LEVELS = ("ERROR", "CRITICAL")


@dataclass
class Step:
    time_ms: int
    since_start_ms: int
    since_previous_ms: int
    service: str
    component: str
    host: str
    level: str
    logger: str
    request_id: str
    global_request_id: str
    category: str
    message: str
    exception: str  # "Type: message" when the record carries one
    template_id: str


@dataclass
class Trace:
    request_id: str  # what was asked for
    request_ids: list[str]  # every id of the chain, in the order they were found
    steps: list[Step] = field(default_factory=list)
    services: list[str] = field(default_factory=list)  # in the order they first appear
    hosts: list[str] = field(default_factory=list)
    duration_ms: int = 0
    failed_at: Step | None = None  # the first true error of the chain
    truncated: bool = False


def _ids(table: pa.Table) -> set[str]:
    found: set[str] = set()
    for name in ("request_id", "global_request_id"):
        found.update(value for value in pc.unique(table.column(name)).to_pylist() if value)
    messages = table.column("message")
    mapped = pc.extract_regex(messages.combine_chunks() if isinstance(messages, pa.ChunkedArray) else messages,
                              USED_REQUEST_ID)
    found.update(value for value in pc.unique(pc.struct_field(mapped, [0])).to_pylist() if value)
    return found


def chain(find: Find, request_id: str) -> tuple[list[str], pa.Table, bool]:
    """Every request id linked to ``request_id``, the records that carry them, and whether the
    chain was cut at ``MAX_IDS``."""
    known = [request_id]
    frontier = [request_id]
    tables: list[pa.Table] = []
    truncated = False
    for _ in range(MAX_ROUNDS):
        if not frontier:
            break
        found = find(frontier)
        if found.num_rows:
            tables.append(found)
        new = sorted(_ids(found) - set(known)) if found.num_rows else []
        room = MAX_IDS - len(known)
        if len(new) > room:
            new, truncated = new[:room], True
        known += new
        frontier = new
    if not tables:
        return known, pa.table({}), truncated
    records = pa.concat_tables(tables, promote_options="default")
    # a record found in two rounds (it carries two ids of the chain) counts once
    seq = records.column("seq").to_numpy()
    _, first = np.unique(seq, return_index=True)
    return known, records.take(pa.array(sorted(first))), truncated


def _text(value: object) -> str:
    return "" if value is None else str(value)


def timeline(request_id: str, request_ids: list[str], records: pa.Table, truncated: bool = False) -> Trace:
    """The steps of the chain in time order (ties in the order they were stored)."""
    trace = Trace(request_id=request_id, request_ids=request_ids, truncated=truncated)
    if not records.num_rows:
        return trace
    ordered = records.sort_by([("ts", "ascending"), ("seq", "ascending")])
    rows = ordered.select(["ts", "service", "component", "host", "level", "logger", "request_id",
                           "global_request_id", "category", "message", "exception_type", "exception_message",
                           "template_id"]).to_pylist()
    start = rows[0]["ts"]
    previous = start
    for row in rows:
        exception = ": ".join(part for part in (row["exception_type"], row["exception_message"]) if part)
        step = Step(time_ms=row["ts"], since_start_ms=row["ts"] - start, since_previous_ms=row["ts"] - previous,
                    service=_text(row["service"]), component=_text(row["component"]), host=_text(row["host"]),
                    level=_text(row["level"]), logger=_text(row["logger"]), request_id=_text(row["request_id"]),
                    global_request_id=_text(row["global_request_id"]), category=_text(row["category"]),
                    message=_text(row["message"]), exception=exception, template_id=_text(row["template_id"]))
        trace.steps.append(step)
        previous = row["ts"]
        if trace.failed_at is None and (step.category == "error" or step.level in _ERROR_LEVELS):
            trace.failed_at = step
    trace.services = list(dict.fromkeys(step.service for step in trace.steps if step.service))
    trace.hosts = list(dict.fromkeys(step.host for step in trace.steps if step.host))
    trace.duration_ms = trace.steps[-1].time_ms - start
    return trace


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def to_document(trace: Trace) -> dict:
    """The trace as JSON-ready data (the API's answer, and what ``nephoscope trace`` prints)."""
    steps = []
    for step in trace.steps:
        data = dataclasses.asdict(step)
        data["time"] = _iso(step.time_ms)
        steps.append(data)
    failed = None
    if trace.failed_at is not None:
        failed = {**dataclasses.asdict(trace.failed_at), "time": _iso(trace.failed_at.time_ms),
                  "index": next(i for i, step in enumerate(trace.steps) if step is trace.failed_at)}
    return {"request_id": trace.request_id, "request_ids": trace.request_ids, "services": trace.services,
            "hosts": trace.hosts, "duration_ms": trace.duration_ms, "failed_at": failed,
            "truncated": trace.truncated, "steps": steps}


def trace(find: Find, request_id: str) -> Trace:
    ids, records, truncated = chain(find, request_id)
    return timeline(request_id, ids, records, truncated)


def in_memory(records: pa.Table) -> Find:
    """``find`` over a table in memory (``nephoscope trace`` on files)."""
    if "seq" not in records.column_names:
        records = records.append_column("seq", pa.array(range(records.num_rows), pa.int64()))
    if "ts" not in records.column_names:
        records = records.append_column("ts", pc.fill_null(pc.cast(records.column("time"), pa.int64()), 0))

    def find(ids: Iterable[str]) -> pa.Table:
        wanted = pa.array(list(ids), pa.string())
        mask = pc.or_(pc.fill_null(pc.is_in(records.column("request_id"), value_set=wanted), False),
                      pc.fill_null(pc.is_in(records.column("global_request_id"), value_set=wanted), False))
        return records.filter(mask)
    return find
