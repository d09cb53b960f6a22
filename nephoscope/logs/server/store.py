"""Log records on disk: ``<data dir>/logs``, an append-only columnar table (``tables.appendable``:
an Arrow log fsynced per group of writers, then Parquet parts per UTC day), read through DuckDB.

The stored row is the normalized record (``schema.RECORD_SCHEMA``) plus what the store adds:
``ts`` (epoch ms, the table's time column), ``seq`` (unique and increasing: the order lines were
stored in, a page token's tie-breaker), ``tenant`` (the project that sent the lines) and ``scope``
(the project the line is about: its ``project`` field, else the sender's).

Reads are tenant-scoped: a project sees the lines whose ``scope`` is its own (lines carrying its
project id, and what it sent itself); admins may read every project. Which categories and loggers
a project may see at all is the caller's policy (``LogQuery.visible_categories`` ...).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from nephoscope.config import ClusterSettings
from nephoscope.logs.processing.hygiene import UNKNOWN_SERVICE, HygieneAccumulator, HygieneReport
from nephoscope.logs.processing.schema import RECORD_SCHEMA
from nephoscope.tables.appendable import AppendTable, Snapshot, ipc_bytes
from nephoscope.tables.cluster import ClusterTable
from nephoscope.tables.interface import RecordTable
from nephoscope.tables.where import Where, page_end
from nephoscope.tenancy import ALL_TENANTS

STORED_SCHEMA = pa.schema([
    *RECORD_SCHEMA,
    pa.field("ts", pa.int64()),
    pa.field("seq", pa.int64()),
    pa.field("tenant", pa.string()),
    pa.field("scope", pa.string()),
], metadata={"kind": "logs"})
# seq = batch number << 20 | row (a batch holds < 1M lines). Batch numbers are the wall clock in ms,
# or one more than the last when batches come faster: increasing across restarts, and inside int64
# until the 23rd century.
_SEQ_SHIFT = 20


@dataclass(frozen=True, slots=True)
class LogQuery:
    start_ms: int | None = None
    end_ms: int | None = None
    service: str | None = None
    host: str | None = None
    level: str | None = None
    category: str | None = None
    template_id: str | None = None
    template_aliases: tuple[str, ...] = ()  # ids merged into template_id (its older lines carry them)
    request_id: str | None = None  # the request id or the global request id
    resource_id: str | None = None  # an instance, a volume, or any UUID among the parameters
    logger: str | None = None
    text: str | None = None  # case-insensitive substring of the message
    # What a scope may see at all (user-visible logs): None means everything.
    visible_categories: tuple[str, ...] | None = None
    hidden_loggers: tuple[str, ...] = field(default_factory=tuple)  # prefixes
    # Resources the scope owns (instances, volumes: from the events): their lines are its lines too.
    owned_ids: tuple[str, ...] = ()
    request_ids: tuple[str, ...] = ()  # any of these as request id or global request id


def _where(scope: str, query: LogQuery) -> Where:
    where = Where()
    if scope != ALL_TENANTS:
        where.add("(scope = ? OR instance_id IN (SELECT id FROM owned) OR volume_id IN (SELECT id FROM owned))", scope)
    if query.request_ids:
        where.add("(request_id IN (SELECT id FROM requested) OR global_request_id IN (SELECT id FROM requested))")
    for column, value in (("service", query.service), ("host", query.host), ("level", query.level),
                          ("category", query.category), ("logger", query.logger)):
        where.equal(column, value)
    if query.template_id is not None:
        ids = (query.template_id, *query.template_aliases)
        where.add(f"template_id IN ({', '.join('?' * len(ids))})", *ids)
    where.request(query.request_id)
    if query.resource_id is not None:
        where.add("(instance_id = ? OR volume_id = ? OR list_contains(resource_ids, ?))", *[query.resource_id] * 3)
    where.time_range(query.start_ms, query.end_ms)
    if query.text:
        where.add("contains(lower(message), ?)", query.text.lower())
    if query.visible_categories is not None:
        where.add(f"category IN ({', '.join('?' * len(query.visible_categories)) or 'NULL'})",
                  *query.visible_categories)
    for prefix in query.hidden_loggers:
        where.add("NOT starts_with(coalesce(logger, ''), ?)", prefix)
    return where


class LogStore:
    def __init__(self, data_dir: Path, memory_limit: str = "512MB", flush_rows: int = 500_000,
                 flush_seconds: float = 300.0, cluster: ClusterSettings | None = None,
                 owned_partitions: Callable[[], Collection[int]] | None = None) -> None:
        """Embedded (``<data_dir>/logs``) unless ``cluster`` is enabled: then records go to the
        cluster's logs stream, partitioned by project, and to Parquet in S3 (``tables.cluster``), this
        node flushing the partitions ``owned_partitions()`` names (all when not given)."""
        self.table: RecordTable
        if cluster is not None and cluster.enabled:
            self.table = ClusterTable(cluster, STORED_SCHEMA, stream=cluster.logs_stream,
                                      subject_prefix=cluster.logs_subject_prefix, object_prefix=cluster.logs_prefix,
                                      cache_dir=Path(data_dir) / "logs-cache", partition_column="scope",
                                      owned=owned_partitions)
        else:
            self.table = AppendTable(Path(data_dir) / "logs", STORED_SCHEMA, flush_rows, flush_seconds)
        self.table.open()
        # Only reads: DuckDB runs queries over the parts and the tail; nothing is stored in it.
        self._connection = duckdb.connect(config={"memory_limit": memory_limit})
        self._last_batch = 0
        self._lock = threading.Lock()
        # the id a stored template id now answers to (the miner's, when templates merged later)
        self.canonical: Callable[[str], str] = lambda identifier: identifier
        self.current_text: Callable[[str], str | None] = lambda identifier: None  # a template's text now

    def close(self) -> None:
        self.table.close()
        self._connection.close()

    def append(self, records: pa.Table, tenant: str) -> int:
        """Store normalized records sent by ``tenant``; durable on return (clustered: acknowledged
        by JetStream, and a retry of the same records by the same tenant stored once)."""
        if not records.num_rows:
            return 0
        identity = None
        if isinstance(self.table, ClusterTable):  # named before the store stamps arrival time and order
            identity = hashlib.blake2b(tenant.encode() + b"\0" + ipc_bytes(records), digest_size=16).hexdigest()
        with self._lock:
            batch = self._last_batch = max(self._last_batch + 1, int(time.time() * 1000))
        rows = records.num_rows
        scope = pc.if_else(pc.is_valid(records.column("project")), records.column("project"), tenant)
        table = records.cast(RECORD_SCHEMA)
        # A line with no time of its own (unparsed, or a bare message) is stamped when it arrived.
        timestamps = pc.fill_null(table.column("time"), pa.scalar(int(time.time() * 1000),
                                                                  RECORD_SCHEMA.field("time").type))
        table = table.set_column(table.schema.get_field_index("time"), "time", timestamps)
        table = table.append_column("ts", pc.cast(timestamps, pa.int64()))
        table = table.append_column("seq", pa.array(range(batch << _SEQ_SHIFT, (batch << _SEQ_SHIFT) + rows),
                                                    pa.int64()))
        table = table.append_column("tenant", pa.array([tenant] * rows, pa.string()))
        table = table.append_column("scope", scope.cast(pa.string()))
        table = table.replace_schema_metadata(STORED_SCHEMA.metadata)
        self.table.append([(ipc_bytes(table), table)], identity)
        return rows

    def maintain(self, retention_ms: int | None, now_ms: int) -> None:
        if self.table.flush_due():
            self.table.flush()
        self.table.merge_small_parts()
        if retention_ms:
            self.table.drop_before(now_ms - retention_ms)

    def _run(self, snapshot: Snapshot, sql: str, where: Where, query: LogQuery) -> pa.Table:
        """``sql`` over ``snapshot.relation`` filtered by ``where``, with the query's id lists as tables."""
        cursor = self._connection.cursor()
        try:
            cursor.register("tail", snapshot.tail)
            cursor.register("owned", pa.table({"id": pa.array(query.owned_ids, pa.string())}))
            cursor.register("requested", pa.table({"id": pa.array(query.request_ids, pa.string())}))
            return cursor.sql(sql, params=[*snapshot.parameters, *where.parameters]).to_arrow_table()
        finally:
            cursor.close()

    def search(self, scope: str, query: LogQuery, after: tuple[int, int] | None, limit: int) -> pa.Table:
        """Records, newest first, paged by ``after`` = (ts, seq) of the last record of the last page."""
        where = _where(scope, query)
        where.before(after, "seq")
        with self.table.snapshot(query.start_ms, page_end(query.end_ms, after)) as snapshot:
            source = snapshot.relation
            return self._run(snapshot, f"SELECT * EXCLUDE (tenant) FROM {source} WHERE {where} "
                                       f"ORDER BY ts DESC, seq DESC LIMIT {int(limit)}", where, query)

    def matching(self, scope: str, query: LogQuery, limit: int = 100_000) -> pa.Table:
        """Every record matching (oldest first, at most ``limit``): for traces and explanations."""
        where = _where(scope, query)
        with self.table.snapshot(query.start_ms, query.end_ms) as snapshot:
            source = snapshot.relation
            return self._run(snapshot, f"SELECT * EXCLUDE (tenant) FROM {source} WHERE {where} "
                                       f"ORDER BY ts, seq LIMIT {int(limit)}", where, query)

    def facets(self, scope: str, query: LogQuery, top: int = 20) -> dict[str, list[dict]]:
        """Counts of the matching records by category, service and level, and the top templates."""
        where = _where(scope, query)
        with self.table.snapshot(query.start_ms, query.end_ms) as snapshot:
            source = snapshot.relation
            result: dict[str, list[dict]] = {}
            for column in ("category", "service", "level"):
                table = self._run(snapshot, f"SELECT {column} AS value, count(*) AS count FROM {source} WHERE {where} "
                                            "GROUP BY ALL ORDER BY count DESC, value", where, query)
                result[column] = table.to_pylist()
            table = self._run(snapshot, f"SELECT template_id, any_value(template) AS template, "
                                        f"any_value(category) AS category, count(*) AS count FROM {source} "
                                        f"WHERE {where} GROUP BY template_id", where, query)
            result["template"] = self._fold(table.to_pylist())[:top]
        return result

    def _fold(self, rows: list[dict]) -> list[dict]:
        """Rows grouped by stored template id, regrouped by the id each answers to now (a template
        merged into another after some of its lines were stored), with its text now, most records first."""
        folded: dict[str, dict] = {}
        for row in sorted(rows, key=lambda r: -r["count"]):
            identifier = self.canonical(row["template_id"])
            into = folded.get(identifier)
            if into is None:
                folded[identifier] = {**row, "template_id": identifier}
                continue
            into["count"] += row["count"]
            if "first_ms" in row:
                into["first_ms"] = min(into["first_ms"], row["first_ms"])
                into["last_ms"] = max(into["last_ms"], row["last_ms"])
                into["services"] = sorted({*into["services"], *row["services"]})
                into["new_in_range"] = into["new_in_range"] or row["new_in_range"]
        for identifier, row in folded.items():
            row["template"] = self.current_text(identifier) or row["template"]
        return sorted(folded.values(), key=lambda r: (-r["count"], r["template_id"]))

    def templates(self, scope: str, query: LogQuery, limit: int) -> list[dict]:
        """Templates seen in the range, with counts, first and last time, services and category."""
        where = _where(scope, query)
        with self.table.snapshot(query.start_ms, query.end_ms) as snapshot:
            source = snapshot.relation
            rows = self._run(snapshot, (
                "SELECT template_id, any_value(template) AS template, count(*) AS count, min(ts) AS first_ms, "
                "max(ts) AS last_ms, list(DISTINCT service ORDER BY service) AS services, "
                "mode(category) AS category, bool_or(is_new_template) AS new_in_range "
                f"FROM {source} WHERE {where} GROUP BY template_id"), where, query).to_pylist()
        return self._fold(rows)[:limit]

    def hygiene(self, scope: str, query: LogQuery, top: int = 5) -> HygieneReport:
        """Per service: volume by category, noise share, lines without request ids, unparsed
        share, the top templates — what the services' logging should change. The records are
        grouped in SQL; the report is ``processing.hygiene``'s, as offline."""
        where = _where(scope, query)
        service = f"coalesce(service, '{UNKNOWN_SERVICE}') AS service"
        accumulator = HygieneAccumulator()
        with self.table.snapshot(query.start_ms, query.end_ms) as snapshot:
            source = snapshot.relation

            def grouped(columns: str, groups: str) -> list[dict]:
                return self._run(snapshot, f"SELECT {service}, {columns} FROM {source} WHERE {where} GROUP BY {groups}",
                                 where, query).to_pylist()

            accumulator.merge(
                grouped("count(*) AS records, sum(lines)::BIGINT AS lines, sum(strlen(raw))::BIGINT AS bytes, "
                        "count(*) FILTER (WHERE format <> 'unparsed') AS parsed, "
                        "count(*) FILTER (WHERE format = 'unparsed') AS unparsed, "
                        "count(*) FILTER (WHERE format <> 'unparsed' AND request_id IS NULL) AS no_request_id", "1"),
                grouped("category, count(*) AS records", "1, 2"),
                [{**row, "template_id": self.canonical(row["template_id"]),
                  "template": self.current_text(self.canonical(row["template_id"])) or row["template"]}
                 for row in grouped("template_id, category, count(*) AS records, any_value(template) AS template",
                                    "1, 2, 3")])  # merged templates folded, as in the listing
        return accumulator.report(top)
