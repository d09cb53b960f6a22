"""What the server keeps of events: the events themselves (``tables.appendable``: an Arrow log and
Parquet parts), and in ``<data dir>/events.duckdb`` the small tables derived from them — failure
summaries, unknown event types with a sample, and ``resources``, the latest state of every
instance and volume (``events.lifecycle`` turns it into metrics).

``add_batch`` is the one way in. A notification is stored once: the ids of stored events are
remembered as 64-bit hashes (``events.dedupe``, bounded, rebuilt at start), a batch's hashes are
checked at once, and the rare hit is confirmed against the stored events of the same time before
anything is dropped. So a redelivery after a reconnect or a restart, or a service's resend, is
recognised without searching the table for every batch.

One fsync per batch (shared by concurrent batches): the events *and* the records derived from
them (failures, lifecycle rows, unknown types) go to the events log together; the caller may
acknowledge when ``add_batch`` returns. The derived records are applied to DuckDB by a background
thread, many batches per transaction, together with the log position they reach (``applied``), so
after a crash exactly what was not applied is applied again from the log. Derived tables lag
ingest by at most ``apply_seconds``; ``apply_now`` forces it (``POST /v1/events`` reads its writes).

Reads are tenant-scoped: a project sees the events and failures whose ``project_id`` is its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import orjson
import pyarrow as pa

from nephoscope.events.batch import EVENT_SCHEMA, EventBatch
from nephoscope.events.dedupe import RecentIds
from nephoscope.config import ClusterSettings
from nephoscope.engines.outages import describe, is_outage
from nephoscope.events.failures import Failure
from nephoscope.tables.appendable import AppendTable, Position, ipc_bytes, kind_of
from nephoscope.tables.cluster import ClusterTable
from nephoscope.tables.interface import RecordTable
from nephoscope.tables.where import Where, page_end
from nephoscope.tenancy import ALL_TENANTS

log = logging.getLogger(__name__)

_SCHEMA = """
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
CREATE TABLE IF NOT EXISTS applied (
    sequence BIGINT NOT NULL,  -- the events log position the derived tables include
    "offset" BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS resources (
    resource_id VARCHAR PRIMARY KEY,
    resource_type VARCHAR NOT NULL,
    project_id VARCHAR,
    state VARCHAR,
    flavor VARCHAR,
    vcpus BIGINT,
    memory_mb BIGINT,
    size_gb DOUBLE,
    deleted BOOLEAN NOT NULL,
    ts BIGINT NOT NULL
);
"""
_READ_COLUMNS = ("message_id", "event_type", "ts", "service", "host", "priority", "project_id", "user_id",
                 "request_id", "global_request_id", "resource_id", "resource_type", "known", "exchange", "body")
# The newest state of each resource in the batch, merged into what is known: a field the newer
# event lacks keeps its known value; an older event never overwrites a newer one.
_LIFECYCLE_UPSERT = """
INSERT INTO resources
SELECT resource_id,
       arg_max(resource_type, ts),
       arg_max(project_id, ts) FILTER (WHERE project_id IS NOT NULL),
       arg_max(state, ts) FILTER (WHERE state IS NOT NULL),
       arg_max(flavor, ts) FILTER (WHERE flavor IS NOT NULL),
       arg_max(vcpus, ts) FILTER (WHERE vcpus IS NOT NULL),
       arg_max(memory_mb, ts) FILTER (WHERE memory_mb IS NOT NULL),
       arg_max(size_gb, ts) FILTER (WHERE size_gb IS NOT NULL),
       arg_max(deleted, ts),
       max(ts)
FROM lifecycle
GROUP BY resource_id
ON CONFLICT (resource_id) DO UPDATE SET
    project_id = coalesce(excluded.project_id, resources.project_id),
    state = coalesce(excluded.state, resources.state),
    flavor = coalesce(excluded.flavor, resources.flavor),
    vcpus = coalesce(excluded.vcpus, resources.vcpus),
    memory_mb = coalesce(excluded.memory_mb, resources.memory_mb),
    size_gb = coalesce(excluded.size_gb, resources.size_gb),
    deleted = excluded.deleted,
    ts = excluded.ts
WHERE excluded.ts >= resources.ts
"""
_UNKNOWN_UPSERT = """
INSERT INTO unknown_event_types
SELECT event_type, sum(count), min(first_ms), max(last_ms), any_value(sample) FROM unknown GROUP BY event_type
ON CONFLICT (event_type) DO UPDATE SET
    count = unknown_event_types.count + excluded.count,
    first_seen = least(unknown_event_types.first_seen, excluded.first_seen),
    last_seen = greatest(unknown_event_types.last_seen, excluded.last_seen)
"""


@dataclass(frozen=True, slots=True)
class EventQuery:
    event_type: str | None = None  # exact, or a prefix ending in "*" (instance.create.*)
    event_types: tuple[str, ...] = ()  # any of these (each exact or a prefix ending in "*")
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
    exchange: str
    body: str  # the notification's JSON text as received


@dataclass(frozen=True, slots=True)
class ResourceCount:
    """Live (not deleted) resources of one project, type, state and flavor."""

    project_id: str
    resource_type: str
    state: str
    flavor: str
    count: int
    vcpus: int
    memory_mb: int
    size_gb: float


class EventStore:
    def __init__(self, data_dir: Path, memory_limit: str = "512MB", dedupe_ids: int = 4_000_000,
                 flush_rows: int = 100_000, flush_seconds: float = 300.0, apply_seconds: float = 0.5,
                 cluster: ClusterSettings | None = None,
                 owned_partitions: Callable[[], Collection[int]] | None = None) -> None:
        """Embedded (the events log and parts under ``data_dir``) unless ``cluster`` is enabled: then
        events go to the cluster's events stream and S3 (``tables.cluster``), this node flushing the
        partitions ``owned_partitions()`` names (all when not given); ``data_dir`` keeps the derived tables and
        the local cache of Parquet files."""
        self.path = Path(data_dir) / "events.duckdb"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Its own bounded buffer pool: reading a backlog's parts must not grow the server unbounded.
        self._connection = duckdb.connect(str(self.path), config={"memory_limit": memory_limit})
        self._connection.execute(_SCHEMA)
        self._lock = threading.Lock()  # the dedupe decision of one batch at a time
        self._pending: list[tuple[Position, pa.Table]] = []  # derived records not applied yet
        self._pending_lock = threading.Lock()
        self._apply_lock = threading.Lock()
        self._recent = RecentIds(dedupe_ids)
        self.table: RecordTable
        if cluster is not None and cluster.enabled:
            # Whether a notification is new is decided where it is applied, in stream order, by every
            # node alike (``_admit``); the memory starts from the newest ids in the S3 files.
            self.table = ClusterTable(cluster, EVENT_SCHEMA, stream=cluster.events_stream,
                                      subject_prefix=cluster.events_subject_prefix,
                                      object_prefix=cluster.events_prefix, cache_dir=Path(data_dir) / "events-cache",
                                      partition_column="resource_id", id_column="message_id",
                                      on_committed=self._committed, admit=self._admit,
                                      prepare=lambda: self._recent.add(self.table.newest_values("id_hash",
                                                                                                dedupe_ids // 2)),
                                      owned=owned_partitions)
        else:
            self.table = AppendTable(Path(data_dir) / "events", EVENT_SCHEMA, flush_rows, flush_seconds,
                                     on_committed=self._committed)
        replayed = self.table.open()
        applied = self._connection.execute('SELECT sequence, "offset" FROM applied').fetchall()
        through = tuple(applied[0]) if applied else (0, 0)
        with self._pending_lock:
            self._pending = [(position, table) for position, table in replayed if position > through] + self._pending
        self.apply_now()
        if isinstance(self.table, AppendTable):
            self._recent.add(self.table.newest_values("id_hash", dedupe_ids // 2))
        self._apply_seconds = apply_seconds
        self._closing = threading.Event()
        self._applier = threading.Thread(target=self._apply_loop, name="nephoscope-events-apply", daemon=True)
        self._applier.start()

    def close(self) -> None:
        self._closing.set()
        self._applier.join(10)
        self.table.close(before_delete=lambda _end: self.apply_now())
        self.apply_now()
        self._connection.close()

    # -- writing --

    def add_batch(self, batch: EventBatch) -> int:
        """Store the events not already held, with their failures, lifecycle rows and unknown
        types; returns how many events were new. Durable on return."""
        records: list[tuple[bytes | bytearray, pa.Table]] = []
        added = 0
        if batch.size:
            clustered = isinstance(self.table, ClusterTable)
            with self._lock:
                table = batch.table()
                hashes = table.column("id_hash").to_numpy()
                keep = self._new(table, hashes)
                if not clustered:  # clustered, what is held is learnt where the stream is applied
                    self._recent.add(hashes[keep])  # before the append: a concurrent copy is recognised
            if keep.all():
                records.append((batch.events, table))
            elif keep.any():
                table = table.filter(pa.array(keep))
                records.append((ipc_bytes(table), table))
            added = int(keep.sum())
        records += batch.derived()
        if records and isinstance(self.table, ClusterTable):
            # Another node may have stored some of them first: JetStream or ``_admit`` says so.
            added -= self.table.append_counted(records)[1]
        elif records:
            self.table.append(records)
        return added

    def _admit(self, table: pa.Table) -> pa.Table:
        """Clustered: the rows of a message followed from the stream that are not held yet (the
        first of each message id), remembered; the same decision on every node, in stream order."""
        with self._lock:
            hashes = table.column("id_hash").to_numpy()
            keep = self._new(table, hashes)
            self._recent.add(hashes[keep])
        return table if keep.all() else table.filter(pa.array(keep))

    def _committed(self, records: list[tuple[Position, pa.Table]]) -> None:
        with self._pending_lock:
            self._pending.extend(records)

    def _apply_loop(self) -> None:
        """Apply derived records every ``apply_seconds``; flush the tail to a part when it is due."""
        while not self._closing.wait(self._apply_seconds):
            try:
                self.apply_now()
                if self.table.flush_due():
                    self.table.flush(before_delete=lambda _end: self.apply_now())
            except Exception as error:  # noqa: BLE001 - retried at the next turn; the log keeps the records
                if is_outage(error):
                    log.warning("events: applying derived records or flushing deferred: %s", describe(error))
                else:
                    log.exception("events: could not apply failures and lifecycle records, or flush")

    def apply_now(self) -> None:
        """Apply every committed derived record to the DuckDB tables, in one transaction."""
        with self._apply_lock:
            with self._pending_lock:
                pending, self._pending = self._pending, []
            if not pending:
                return
            by_kind: dict[str, list[pa.Table]] = {}
            for _, table in pending:
                by_kind.setdefault(kind_of(table), []).append(table)
            cursor = self._connection.cursor()
            try:
                cursor.execute("BEGIN")
                try:
                    self._apply(cursor, by_kind)
                    end = max(position for position, _ in pending)
                    cursor.execute("DELETE FROM applied")
                    cursor.execute("INSERT INTO applied VALUES (?, ?)", list(end))
                    cursor.execute("COMMIT")
                except BaseException:
                    cursor.execute("ROLLBACK")
                    with self._pending_lock:
                        self._pending = pending + self._pending
                    raise
            finally:
                cursor.close()

    @staticmethod
    def _apply(cursor: duckdb.DuckDBPyConnection, by_kind: dict[str, list[pa.Table]]) -> None:
        if "failures" in by_kind:
            cursor.register("new_failures", pa.concat_tables(by_kind["failures"]))
            cursor.execute("INSERT INTO failures SELECT * FROM new_failures ON CONFLICT DO NOTHING")
            cursor.unregister("new_failures")
        if "lifecycle" in by_kind:
            cursor.register("lifecycle", pa.concat_tables(by_kind["lifecycle"]))
            cursor.execute(_LIFECYCLE_UPSERT)
            cursor.unregister("lifecycle")
        if "unknown" in by_kind:
            cursor.register("unknown", pa.concat_tables(by_kind["unknown"]))
            cursor.execute(_UNKNOWN_UPSERT)
            cursor.unregister("unknown")

    def _new(self, table: pa.Table, hashes: np.ndarray) -> np.ndarray:
        """Which rows to store: the first of each message id in the batch, and not one already held."""
        keep = np.ones(len(hashes), bool)
        _, first = np.unique(hashes, return_index=True)
        if len(first) != len(hashes):  # the same hash twice in the batch: decide on the ids themselves
            seen: set[str] = set()
            for index, message_id in enumerate(table.column("message_id").to_pylist()):
                keep[index] = message_id not in seen
                seen.add(message_id)
        maybe = np.flatnonzero(self._recent.maybe_held(hashes) & keep)
        if not len(maybe):
            return keep
        # A hash hit is a redelivery almost always, but could be a collision: look. A redelivered
        # notification carries the same timestamp, so only the parts of its time are read.
        candidates = table.take(pa.array(maybe)).select(["message_id", "id_hash", "ts"])
        timestamps = candidates.column("ts").to_numpy()
        with self.table.snapshot(int(timestamps.min()), int(timestamps.max()) + 1) as snap:
            cursor = self._connection.cursor()
            try:
                cursor.register("candidates", candidates)
                cursor.register("tail", snap.tail)
                held = {row[0] for row in cursor.execute(
                    f"SELECT DISTINCT message_id FROM {snap.relation} "
                    "WHERE id_hash IN (SELECT id_hash FROM candidates) "
                    "AND message_id IN (SELECT message_id FROM candidates)", snap.parameters).fetchall()}
            finally:
                cursor.close()
        for index, message_id in zip(maybe, candidates.column("message_id").to_pylist()):
            if message_id in held:
                keep[index] = False
        return keep

    # -- upkeep --

    def maintain(self, retention_ms: int | None, now_ms: int) -> None:
        """Flush the tail when due (the applier does it too), merge small parts, drop parts past
        retention."""
        if self.table.flush_due():
            self.table.flush(before_delete=lambda _end: self.apply_now())
        self.table.merge_small_parts()
        if retention_ms:
            self.table.drop_before(now_ms - retention_ms)

    def forget_deleted(self, before_ms: int) -> int:
        """Drop resources deleted before ``before_ms`` (their metrics have gone to zero)."""
        with self._apply_lock:
            cursor = self._connection.cursor()
            try:
                return int(cursor.execute("DELETE FROM resources WHERE deleted AND ts < ?", [before_ms]).fetchall()[0][0])
            finally:
                cursor.close()

    # -- reading --

    def query(self, scope: str, query: EventQuery, after: tuple[int, str] | None, limit: int) -> list[StoredEvent]:
        """Events in ``scope`` (a project, or every project for admins), newest first, paged by
        ``after`` = (timestamp, message id) of the last event of the previous page."""
        where = Where()
        if scope != ALL_TENANTS:
            where.equal("project_id", scope)
        where.equal("project_id", query.project_id)
        if query.event_type and query.event_type.endswith("*"):
            where.add("starts_with(event_type, ?)", query.event_type[:-1])
        elif query.event_type:
            where.equal("event_type", query.event_type)
        if query.event_types:
            prefixes = [name[:-1] for name in query.event_types if name.endswith("*")]
            exact = [name for name in query.event_types if not name.endswith("*")]
            where.add("(" + " OR ".join(["starts_with(event_type, ?)"] * len(prefixes) + ["event_type = ?"] * len(exact))
                      + ")", *prefixes, *exact)
        where.equal("resource_id", query.resource_id)
        where.request(query.request_id)
        where.time_range(query.start_ms, query.end_ms)
        where.before(after, "message_id")
        with self.table.snapshot(query.start_ms, page_end(query.end_ms, after)) as snap:
            cursor = self._connection.cursor()
            try:
                cursor.register("tail", snap.tail)
                rows = cursor.execute(
                    f"SELECT {', '.join(_READ_COLUMNS)} FROM {snap.relation} WHERE {where} "
                    f"ORDER BY ts DESC, message_id DESC LIMIT {int(limit)}",
                    [*snap.parameters, *where.parameters]).fetchall()
            finally:
                cursor.close()
        return [StoredEvent(r[0], r[1], r[2], r[3] or "", r[4] or "", r[5] or "", r[6] or "", r[7] or "", r[8] or "",
                            r[9] or "", r[10] or "", r[11] or "", bool(r[12]), r[13] or "", r[14] or "") for r in rows]

    def add_log_failures(self, rows: list[dict]) -> int:
        """Failures learnt from log lines (``logs.failures``); their project is the line's, else
        the resource's owner as the events know it. Returns how many were new."""
        if not rows:
            return 0
        table = pa.table({name: [row[name] for row in rows] for name in rows[0]})
        table = table.set_column(table.schema.get_field_index("fault"), "fault",
                                 pa.array([orjson.dumps(row["fault"]).decode() for row in rows], pa.string()))
        with self._apply_lock:
            cursor = self._connection.cursor()
            try:
                cursor.register("log_failures", table)
                return int(cursor.execute(
                    "INSERT INTO failures SELECT f.resource_id, f.action, f.occurrence, f.resource_type, "
                    "coalesce(f.project_id, r.project_id), f.ts, f.summary, f.exception, f.message, f.request_id, "
                    "f.global_request_id, f.host, f.event_type, f.message_id, f.fault FROM log_failures f "
                    "LEFT JOIN resources r USING (resource_id) ON CONFLICT DO NOTHING").fetchall()[0][0])
            finally:
                cursor.close()

    def failures(self, scope: str, resource_id: str | None = None, start_ms: int | None = None,
                 end_ms: int | None = None, limit: int = 1000, after: tuple[int, str] | None = None) -> list[Failure]:
        """Failures in ``scope``, newest first: one per resource and request, the notification's
        when there is one, with what the logs said about it as ``detail``."""
        where = Where()
        if scope != ALL_TENANTS:
            where.equal("project_id", scope)
        where.equal("resource_id", resource_id)
        where.time_range(start_ms, end_ms)
        outer, outer_parameters = "n = 1", []
        if after is not None:  # the page after (timestamp, resource id), in the newest-first order
            outer += " AND (ts < ? OR (ts = ? AND resource_id > ?))"
            outer_parameters = [after[0], after[0], after[1]]
        cursor = self._connection.cursor()
        try:
            rows = cursor.execute(
                "SELECT resource_id, resource_type, project_id, ts, action, summary, exception, message, request_id, "
                "global_request_id, host, event_type, message_id, fault, detail, sources FROM ("
                "  SELECT *, row_number() OVER same AS n,"
                "    coalesce(max(CASE WHEN action = 'log' THEN message END) OVER same, '') AS detail,"
                "    list(DISTINCT CASE WHEN action = 'log' THEN 'logs' ELSE 'events' END) OVER same AS sources"
                f"  FROM failures WHERE {where}"
                "  WINDOW same AS (PARTITION BY resource_id, occurrence ORDER BY (action = 'log'), ts"
                "                  ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
                f") WHERE {outer} ORDER BY ts DESC, resource_id LIMIT {int(limit)}",
                [*where.parameters, *outer_parameters]).fetchall()
        finally:
            cursor.close()
        return [Failure(r[0], r[1] or "", r[2] or "", r[3], r[4], r[5] or "", r[6] or "", r[7] or "", r[8] or "",
                        r[9] or "", r[10] or "", r[11] or "", r[12] or "", orjson.loads(r[13]),
                        r[14] if r[4] != "log" and r[14] != r[7] else "", tuple(sorted(r[15]))) for r in rows]

    def unknown_types(self) -> list[dict]:
        cursor = self._connection.cursor()
        try:
            rows = cursor.execute("SELECT event_type, count, first_seen, last_seen, sample FROM unknown_event_types "
                                  "ORDER BY count DESC, event_type").fetchall()
        finally:
            cursor.close()
        return [{"event_type": r[0], "count": r[1], "first_seen_ms": r[2], "last_seen_ms": r[3],
                 "sample": orjson.loads(r[4])} for r in rows]

    def owned_resources(self, project_id: str) -> tuple[str, ...]:
        """The instances and volumes the events say belong to ``project_id`` (deleted ones too,
        until they are forgotten)."""
        cursor = self._connection.cursor()
        try:
            return tuple(row[0] for row in cursor.execute(
                "SELECT resource_id FROM resources WHERE project_id = ?", [project_id]).fetchall())
        finally:
            cursor.close()

    def resource_counts(self) -> list[ResourceCount]:
        """Live instances and volumes by project, type, state and flavor, with their sizes."""
        cursor = self._connection.cursor()
        try:
            rows = cursor.execute(
                "SELECT coalesce(project_id, ''), resource_type, coalesce(state, 'unknown'), coalesce(flavor, ''), "
                "count(*), coalesce(sum(vcpus), 0), coalesce(sum(memory_mb), 0), coalesce(sum(size_gb), 0) "
                "FROM resources WHERE NOT deleted GROUP BY ALL ORDER BY ALL").fetchall()
        finally:
            cursor.close()
        return [ResourceCount(*row) for row in rows]

    def count(self) -> int:
        with self.table.snapshot() as snap:
            cursor = self._connection.cursor()
            try:
                cursor.register("tail", snap.tail)
                return int(cursor.execute(f"SELECT count(*) FROM {snap.relation}",
                                          snap.parameters).fetchall()[0][0])
            finally:
                cursor.close()


