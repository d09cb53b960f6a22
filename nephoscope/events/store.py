"""Events on disk: ``<data dir>/events.duckdb``, appended in batches, read tenant-scoped.

A batch is one transaction (DuckDB commits durably), so the consumer may acknowledge the
broker once ``add`` returned. A notification is stored once: ids already held (the broker
redelivers after a reconnect; a service may resend) are skipped, checked against the last day
of the table, so exactly-once holds across consumer and server restarts. Event types the catalog does not
know are counted with a sample, so nothing flows undocumented without anyone seeing it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

from nephoscope.events.failures import Failure
from nephoscope.events.model import Event
from nephoscope.model import ALL_TENANTS

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    message_id VARCHAR NOT NULL,
    event_type VARCHAR NOT NULL,
    ts BIGINT NOT NULL,
    service VARCHAR,
    host VARCHAR,
    priority VARCHAR,
    project_id VARCHAR,
    user_id VARCHAR,
    request_id VARCHAR,
    global_request_id VARCHAR,
    resource_id VARCHAR,
    resource_type VARCHAR,
    known BOOLEAN,
    traits VARCHAR,
    payload VARCHAR,
    exchange VARCHAR
);
CREATE TABLE IF NOT EXISTS failures (
    resource_id VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    occurrence VARCHAR NOT NULL,  -- the request id, or the message id when there is none
    resource_type VARCHAR,
    project_id VARCHAR,
    ts BIGINT NOT NULL,
    summary VARCHAR,
    exception VARCHAR,
    message VARCHAR,
    request_id VARCHAR,
    global_request_id VARCHAR,
    host VARCHAR,
    event_type VARCHAR,
    message_id VARCHAR,
    fault VARCHAR,
    PRIMARY KEY (resource_id, action, occurrence)
);
CREATE TABLE IF NOT EXISTS unknown_event_types (
    event_type VARCHAR PRIMARY KEY,
    count BIGINT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    sample VARCHAR NOT NULL
);
"""
DEDUPE_WINDOW_MS = 86_400_000  # a message id is stored once within a day of its timestamp
_COLUMNS = ("message_id", "event_type", "ts", "service", "host", "priority", "project_id", "user_id", "request_id",
            "global_request_id", "resource_id", "resource_type", "known", "traits", "payload", "exchange")


@dataclass(frozen=True, slots=True)
class EventQuery:
    event_type: str | None = None  # exact, or a prefix ending in "*" (instance.create.*)
    resource_id: str | None = None
    project_id: str | None = None  # admins: another project
    request_id: str | None = None  # matches request_id or global_request_id
    start_ms: int | None = None
    end_ms: int | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    message_id: str
    event_type: str
    timestamp_ms: int
    service: str
    host: str
    priority: str
    project_id: str
    user_id: str
    request_id: str
    global_request_id: str
    resource_id: str
    resource_type: str
    known: bool
    traits: dict
    payload: object
    exchange: str


def _row(event: Event) -> tuple:
    return (event.message_id, event.event_type, event.timestamp_ms, event.service, event.host, event.priority,
            event.project_id, event.user_id, event.request_id, event.global_request_id, event.resource_id,
            event.resource_type, event.known, orjson.dumps(event.traits, default=str).decode(),
            orjson.dumps(event.raw.payload, default=str).decode(), event.raw.exchange)


class EventStore:
    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / "events.duckdb"
        self._connection = duckdb.connect(str(self.path))
        self._connection.execute(_SCHEMA)
        self._lock = threading.Lock()  # one writer; readers use their own cursors

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def add(self, events: Sequence[Event], failures: Sequence[Failure] = ()) -> int:
        """Store the events not already held, and their failures (one per resource, action and
        request); returns how many events were new. Durable on return."""
        if not events:
            return 0
        unique: dict[str, Event] = {}
        for event in events:
            unique.setdefault(event.message_id, event)
        rows = [_row(event) for event in unique.values()]
        table = pa.table({name: [row[i] for row in rows] for i, name in enumerate(_COLUMNS)})
        unknown = [event for event in unique.values() if not event.known]
        with self._lock:
            cursor = self._connection.cursor()
            cursor.register("incoming", table)
            try:
                cursor.execute("BEGIN")
                # Ids already stored (a redelivery after a reconnect, a resend) are skipped. Only the
                # last day is searched: rows arrive in time order, so DuckDB skips older row groups
                # by their min/max and the check does not slow down as the table grows.
                since = min(event.timestamp_ms for event in unique.values()) - DEDUPE_WINDOW_MS
                added = cursor.execute(
                    f"INSERT INTO events ({', '.join(_COLUMNS)}) SELECT {', '.join(_COLUMNS)} FROM incoming "
                    "WHERE message_id NOT IN (SELECT message_id FROM events WHERE ts >= ? AND message_id IN "
                    "(SELECT message_id FROM incoming))", [since]).fetchall()[0][0]
                if unknown:
                    self._count_unknown(cursor, unknown)
                if failures:
                    cursor.executemany(
                        "INSERT INTO failures VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                        [(f.resource_id, f.action, f.request_id or f.message_id, f.resource_type, f.project_id,
                          f.timestamp_ms, f.summary, f.exception, f.message, f.request_id, f.global_request_id,
                          f.host, f.event_type, f.message_id, orjson.dumps(f.fault, default=str).decode())
                         for f in failures])
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            finally:
                cursor.unregister("incoming")
                cursor.close()
        return int(added)

    @staticmethod
    def _count_unknown(cursor: duckdb.DuckDBPyConnection, events: list[Event]) -> None:
        by_type: dict[str, list[Event]] = {}
        for event in events:
            by_type.setdefault(event.event_type, []).append(event)
        for event_type, group in by_type.items():
            sample = orjson.dumps({"event_type": event_type, "publisher_id": group[0].raw.publisher_id,
                                   "payload": group[0].raw.payload}, default=str).decode()
            first = min(e.timestamp_ms for e in group)
            last = max(e.timestamp_ms for e in group)
            cursor.execute(
                "INSERT INTO unknown_event_types VALUES (?, ?, ?, ?, ?) ON CONFLICT (event_type) DO UPDATE SET "
                "count = count + excluded.count, first_seen = least(first_seen, excluded.first_seen), "
                "last_seen = greatest(last_seen, excluded.last_seen)", [event_type, len(group), first, last, sample])

    def query(self, scope: str, query: EventQuery, after: tuple[int, str] | None, limit: int) -> list[StoredEvent]:
        """Events in ``scope`` (a project, or every project for admins), newest first, paged by
        ``after`` = (timestamp, message id) of the last event of the previous page."""
        clauses, parameters = ["TRUE"], []
        if scope != ALL_TENANTS:
            clauses.append("project_id = ?")
            parameters.append(scope)
        if query.project_id is not None:
            clauses.append("project_id = ?")
            parameters.append(query.project_id)
        if query.event_type:
            if query.event_type.endswith("*"):
                clauses.append("starts_with(event_type, ?)")
                parameters.append(query.event_type[:-1])
            else:
                clauses.append("event_type = ?")
                parameters.append(query.event_type)
        if query.resource_id is not None:
            clauses.append("resource_id = ?")
            parameters.append(query.resource_id)
        if query.request_id is not None:
            clauses.append("(request_id = ? OR global_request_id = ?)")
            parameters += [query.request_id, query.request_id]
        if query.start_ms is not None:
            clauses.append("ts >= ?")
            parameters.append(query.start_ms)
        if query.end_ms is not None:
            clauses.append("ts < ?")
            parameters.append(query.end_ms)
        if after is not None:
            clauses.append("(ts, message_id) < (?, ?)")
            parameters += list(after)
        sql = (f"SELECT {', '.join(_COLUMNS)} FROM events WHERE {' AND '.join(clauses)} "
               f"ORDER BY ts DESC, message_id DESC LIMIT {int(limit)}")
        cursor = self._connection.cursor()
        try:
            rows = cursor.execute(sql, parameters).fetchall()
        finally:
            cursor.close()
        return [StoredEvent(r[0], r[1], r[2], r[3] or "", r[4] or "", r[5] or "", r[6] or "", r[7] or "", r[8] or "",
                            r[9] or "", r[10] or "", r[11] or "", bool(r[12]), orjson.loads(r[13]), orjson.loads(r[14]),
                            r[15] or "") for r in rows]

    def failures(self, scope: str, resource_id: str | None = None, start_ms: int | None = None,
                 end_ms: int | None = None, limit: int = 1000) -> list[Failure]:
        """Failures in ``scope``, newest first."""
        clauses, parameters = ["TRUE"], []
        if scope != ALL_TENANTS:
            clauses.append("project_id = ?")
            parameters.append(scope)
        for clause, value in (("resource_id = ?", resource_id), ("ts >= ?", start_ms), ("ts < ?", end_ms)):
            if value is not None:
                clauses.append(clause)
                parameters.append(value)
        cursor = self._connection.cursor()
        try:
            rows = cursor.execute(
                "SELECT resource_id, resource_type, project_id, ts, action, summary, exception, message, request_id, "
                f"global_request_id, host, event_type, message_id, fault FROM failures WHERE {' AND '.join(clauses)} "
                f"ORDER BY ts DESC, resource_id LIMIT {int(limit)}", parameters).fetchall()
        finally:
            cursor.close()
        return [Failure(r[0], r[1] or "", r[2] or "", r[3], r[4], r[5] or "", r[6] or "", r[7] or "", r[8] or "",
                        r[9] or "", r[10] or "", r[11] or "", r[12] or "", orjson.loads(r[13])) for r in rows]

    def unknown_types(self) -> list[dict]:
        cursor = self._connection.cursor()
        try:
            rows = cursor.execute("SELECT event_type, count, first_seen, last_seen, sample FROM unknown_event_types "
                                  "ORDER BY count DESC, event_type").fetchall()
        finally:
            cursor.close()
        return [{"event_type": r[0], "count": r[1], "first_seen_ms": r[2], "last_seen_ms": r[3],
                 "sample": orjson.loads(r[4])} for r in rows]

    def count(self) -> int:
        cursor = self._connection.cursor()
        try:
            return int(cursor.execute("SELECT count(*) FROM events").fetchall()[0][0])
        finally:
            cursor.close()
