"""Events in columns: what the consumers hand to the events store, Arrow tables per batch.

A batch is built where the notifications are parsed (a consumer worker process, or the API for
``POST /v1/events``) and crosses to the store's process as Arrow data: the events as an Arrow IPC
stream (written to the store's log as it is, bytes for bytes), the few failures, lifecycle rows
and unknown types beside it. Building it is the only per-notification Python work on the way to
disk (parse, catalog core traits, failure check, one value per column); everything after is
columnar.

An event keeps the notification's JSON text as received (``body``); the catalog's full set of
traits is extracted from it when the event is read, only the core ones (``CORE_TRAITS``) when it
is stored. Bodies off the broker are decoded only as far as storing reads them
(``events.projection``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson
import pyarrow as pa

from nephoscope.events.catalog import Catalog
from nephoscope.events.envelope import EnvelopeError, parse_notification
from nephoscope.events.failures import Failure, failure_of
from nephoscope.events.projection import Projection, needs_whole_document, projection_of
from nephoscope.events.records import Event, Notification
from nephoscope.tables.appendable import ipc_bytes

# Every table's schema says its kind: the events log holds them side by side (tables.appendable).
EVENT_SCHEMA = pa.schema([
    ("message_id", pa.string()), ("id_hash", pa.uint64()), ("event_type", pa.string()), ("ts", pa.int64()),
    ("service", pa.string()), ("host", pa.string()), ("priority", pa.string()), ("project_id", pa.string()),
    ("user_id", pa.string()), ("request_id", pa.string()), ("global_request_id", pa.string()),
    ("resource_id", pa.string()), ("resource_type", pa.string()), ("known", pa.bool_()),
    ("exchange", pa.string()), ("body", pa.string()),
], metadata={"kind": "events"})
FAILURE_SCHEMA = pa.schema([
    ("resource_id", pa.string()), ("action", pa.string()), ("occurrence", pa.string()),
    ("resource_type", pa.string()), ("project_id", pa.string()), ("ts", pa.int64()), ("summary", pa.string()),
    ("exception", pa.string()), ("message", pa.string()), ("request_id", pa.string()),
    ("global_request_id", pa.string()), ("host", pa.string()), ("event_type", pa.string()),
    ("message_id", pa.string()), ("fault", pa.string()),
], metadata={"kind": "failures"})
LIFECYCLE_SCHEMA = pa.schema([
    ("resource_id", pa.string()), ("resource_type", pa.string()), ("project_id", pa.string()),
    ("state", pa.string()), ("flavor", pa.string()), ("vcpus", pa.int64()), ("memory_mb", pa.int64()),
    ("size_gb", pa.float64()), ("deleted", pa.bool_()), ("ts", pa.int64()),
], metadata={"kind": "lifecycle"})
UNKNOWN_SCHEMA = pa.schema([
    # an event type the catalog has no definition for, as seen in one batch; sample: JSON of the
    # event type, publisher id and payload of one notification
    ("event_type", pa.string()), ("count", pa.int64()), ("first_ms", pa.int64()), ("last_ms", pa.int64()),
    ("sample", pa.string()),
], metadata={"kind": "unknown"})
LIFECYCLE_TYPES = frozenset({"instance", "volume"})
_PROBLEMS_KEPT = 5
_blake2b = hashlib.blake2b


def id_hash(message_id: str) -> int:
    """The 64-bit hash of a message id the store remembers (stable across processes and restarts)."""
    return int.from_bytes(_blake2b(message_id.encode(), digest_size=8).digest(), "little")


@dataclass
class EventBatch:
    """Arrow IPC streams (``b""`` when there are no rows): what travels from a worker to the server
    and is written to the events log as it is. Tables are read from them on demand (zero copy)."""

    events: bytes | bytearray  # EVENT_SCHEMA rows (a bytearray as read off a worker's pipe)
    size: int  # rows in ``events``
    failures: bytes | bytearray = b""  # FAILURE_SCHEMA
    lifecycle: bytes | bytearray = b""  # LIFECYCLE_SCHEMA
    unknown: bytes | bytearray = b""  # UNKNOWN_SCHEMA
    unparseable: int = 0  # messages that were not oslo.messaging notifications (not stored)
    problems: list[str] = field(default_factory=list)  # why, for the first few

    def __len__(self) -> int:
        return self.size

    def table(self) -> pa.Table:
        return read_ipc(self.events)

    def derived(self) -> list[tuple[bytes | bytearray, pa.Table]]:
        """The failures, lifecycle rows and unknown types (those with rows), with their streams."""
        return [(stream, read_ipc(stream)) for stream in (self.failures, self.lifecycle, self.unknown) if stream]

    def failure_table(self) -> pa.Table:
        return read_ipc(self.failures) if self.failures else FAILURE_SCHEMA.empty_table()

    # The pipe carries the streams with send_bytes (no pickling of megabytes), the rest pickled.
    def parts(self) -> tuple[tuple, list[bytes | bytearray]]:
        return (self.size, self.unparseable, self.problems), [self.events, self.failures, self.lifecycle, self.unknown]

    @classmethod
    def from_parts(cls, header: tuple, streams: list[bytes | bytearray]) -> EventBatch:
        size, unparseable, problems = header
        events, failures, lifecycle, unknown = streams
        return cls(events, size, failures, lifecycle, unknown, unparseable, problems)


def read_ipc(stream: bytes | bytearray) -> pa.Table:
    return pa.ipc.open_stream(stream).read_all()


def _stream(build: Callable[[Sequence], pa.Table], rows: Sequence) -> bytes:
    """The IPC stream of the table ``build`` makes of ``rows``; none at all for no rows (building an
    empty table cost up to 60 µs a batch)."""
    return ipc_bytes(build(rows)) if rows else b""


def _json(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()


def _text(event: Event) -> str:
    source = event.raw.source
    if type(source) is str:
        return source
    if source is not None:
        return bytes(source).decode("utf-8", "replace")
    raw = event.raw
    return _json({"message_id": raw.message_id, "event_type": raw.event_type, "publisher_id": raw.publisher_id,
                  "priority": raw.priority, "timestamp": raw.timestamp_ms, "payload": raw.payload,
                  **{f"_context_{key}": value for key, value in raw.context.items()}})


def _failure_columns(failures: Sequence[Failure]) -> pa.Table:
    return pa.table({
        "resource_id": [f.resource_id for f in failures],
        "action": [f.action for f in failures],
        # one failure per resource, action and request (the message when there is no request id)
        "occurrence": [f.request_id or f.message_id for f in failures],
        "resource_type": [f.resource_type for f in failures],
        "project_id": [f.project_id for f in failures],
        "ts": [f.timestamp_ms for f in failures],
        "summary": [f.summary for f in failures],
        "exception": [f.exception for f in failures],
        "message": [f.message for f in failures],
        "request_id": [f.request_id for f in failures],
        "global_request_id": [f.global_request_id for f in failures],
        "host": [f.host for f in failures],
        "event_type": [f.event_type for f in failures],
        "message_id": [f.message_id for f in failures],
        "fault": [_json(f.fault) for f in failures],
    }, schema=FAILURE_SCHEMA)


def _number(value: object, kind: type) -> int | float | None:
    return value if type(value) is kind else (kind(value) if type(value) in (int, float) else None)


def _lifecycle_columns(rows: Sequence[Event]) -> pa.Table:
    """The lifecycle rows of events of a lifecycle type with a resource id."""
    states = [event.traits.get("state") or event.traits.get("status") for event in rows]
    return pa.table({
        "resource_id": [event.resource_id for event in rows],
        "resource_type": [event.resource_type for event in rows],
        "project_id": [event.project_id or None for event in rows],
        "state": [state.lower() if type(state) is str else None for state in states],
        "flavor": [event.traits.get("flavor_name") for event in rows],
        "vcpus": [_number(event.traits.get("vcpus"), int) for event in rows],
        "memory_mb": [_number(event.traits.get("memory_mb"), int) for event in rows],
        "size_gb": [_number(event.traits.get("size"), float) for event in rows],
        "deleted": [event.event_type.endswith("delete.end") or (type(state) is str and state.lower() == "deleted")
                    for event, state in zip(rows, states)],
        "ts": [event.timestamp_ms for event in rows],
    }, schema=LIFECYCLE_SCHEMA)


def _unknown_types(unknown: Sequence[Event]) -> pa.Table:
    groups: dict[str, list[Event]] = {}
    for event in unknown:
        groups.setdefault(event.event_type, []).append(event)
    return pa.table({
        "event_type": list(groups),
        "count": [len(group) for group in groups.values()],
        "first_ms": [min(e.timestamp_ms for e in group) for group in groups.values()],
        "last_ms": [max(e.timestamp_ms for e in group) for group in groups.values()],
        "sample": [_json({"event_type": event_type, "publisher_id": group[0].raw.publisher_id,
                          "payload": group[0].raw.payload}) for event_type, group in groups.items()],
    }, schema=UNKNOWN_SCHEMA)


def event_table(events: Sequence[Event]) -> pa.Table:
    return pa.table({
        "message_id": [e.message_id for e in events],
        "id_hash": [id_hash(e.message_id) for e in events],
        "event_type": [e.event_type for e in events],
        "ts": [e.timestamp_ms for e in events],
        "service": [e.service for e in events],
        "host": [e.host for e in events],
        "priority": [e.priority for e in events],
        "project_id": [e.project_id for e in events],
        "user_id": [e.user_id for e in events],
        "request_id": [e.request_id for e in events],
        "global_request_id": [e.global_request_id for e in events],
        "resource_id": [e.resource_id for e in events],
        "resource_type": [e.resource_type for e in events],
        "known": [e.known for e in events],
        "exchange": [e.raw.exchange for e in events],
        "body": [_text(e) for e in events],
    }, schema=EVENT_SCHEMA)


def from_events(events: Sequence[Event], unparseable: int = 0, problems: list[str] | None = None) -> EventBatch:
    """The batch of understood events: their columns, their failures and lifecycle rows, the
    unknown types among them."""
    failures = [failure for failure in map(failure_of, events) if failure is not None]
    lifecycle = [event for event in events if event.resource_type in LIFECYCLE_TYPES and event.resource_id]
    unknown = [event for event in events if not event.known]
    return EventBatch(ipc_bytes(event_table(events)), len(events), _stream(_failure_columns, failures),
                      _stream(_lifecycle_columns, lifecycle), _stream(_unknown_types, unknown), unparseable,
                      problems or [])


def _event(message: tuple, to_event: Callable[[Notification, bool], Event], projection: Projection) -> Event:
    """The event of one raw message, its ``oslo.message`` projected (``events.projection``); the
    whole document decides what the projection cannot, and says why a body is refused."""
    body, exchange, routing_key = message[0], message[1], message[2]
    try:
        event = to_event(parse_notification(body, exchange=exchange, routing_key=routing_key,
                                            message_loads=projection.decode), True)
        if not needs_whole_document(event):
            return event
    except EnvelopeError:
        pass
    event = _whole_event(message, to_event)
    projection.learn(event.raw)
    return event


def _whole_event(message: tuple, to_event: Callable[[Notification, bool], Event]) -> Event:
    return to_event(parse_notification(message[0], exchange=message[1], routing_key=message[2]), True)


def from_bodies(bodies: Sequence[tuple], catalog: Catalog, *, whole: bool = False) -> EventBatch:
    """The batch of raw notification bodies ``(body, exchange, routing key, ...)`` (``RawMessage``s
    as they came off the broker, or plain tuples). A body that is not an oslo.messaging
    notification is counted (and the first few reasons kept), never stored, and never blocks the
    rest of its batch. ``whole`` decodes every document whole instead of projecting it (the same
    batch, more slowly: for comparisons)."""
    events = []
    unparseable = 0
    problems: list[str] = []
    to_event = catalog.to_event
    projection = projection_of(catalog)
    for message in bodies:
        try:
            events.append(_whole_event(message, to_event) if whole else _event(message, to_event, projection))
        except EnvelopeError as error:
            unparseable += 1
            if len(problems) < _PROBLEMS_KEPT:
                problems.append(f"{message[1]}/{message[2]}: {error}")
    return from_events(events, unparseable, problems)
