"""Where the chained records live: the storage seam (``AuditStorage``) and the embedded store,
``<data dir>/audit.sqlite``.

A store appends records in one transaction that reads the chain's head, links every new record
after it (``chain.follow``), writes them with their indexed fields and moves the head, so the
server and the command line (``nephoscope keys``) can both append to the same chain. The embedded
store is SQLite with ``synchronous=FULL``: a committed append survives a power loss, and callers
append before they acknowledge. With ``[cluster] sql_url`` the same store keeps the chain in the
cluster's PostgreSQL or MariaDB database; appends of several nodes serialize on the head row
(``SELECT … FOR UPDATE``). Another store implements the same four methods and keeps the record's
text exactly as written — the hash is over those bytes — so ``nephoscope audit verify`` works on
it unchanged.

Tables (the documented layout, docs/audit.md): ``audit_records`` (``seq`` the record's number,
``record`` its canonical JSON, ``hash`` its SHA-256, and the indexed fields of ``chain.COLUMNS``)
and ``audit_head`` (one row: the last ``seq`` and its ``hash``; ``seq`` 0 before the first record).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson
import sqlalchemy as sa

from nephoscope.audit.chain import COLUMNS, GENESIS, Link, Pending, columns, follow
from nephoscope.audit.verify import StoredRow
from nephoscope.sql import Database, bound_url
from nephoscope.sql.dialect import insert_ignore
from nephoscope.sql.schema import audit_head, audit_records
from nephoscope.tenancy import ALL_TENANTS

FILE_NAME = "audit.sqlite"

# The head row is made (seq 0: no record yet) before it is locked: SELECT … FOR UPDATE of a row
# serializes appends across the nodes of a cluster (SQLite: BEGIN IMMEDIATE already does). An
# append is the hot path: its three statements go to the driver as written (``?`` made the
# driver's paramstyle once), not through SQLAlchemy's statement compilation.
_HEAD = sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.one == 1)
_LOCK_HEAD = "SELECT seq, hash FROM audit_head WHERE one = 1"
_MOVE_HEAD = "UPDATE audit_head SET seq = ?, hash = ? WHERE one = 1"
_INSERT = (f"INSERT INTO audit_records (seq, {', '.join(COLUMNS)}, record, hash) "
           f"VALUES ({', '.join('?' * (len(COLUMNS) + 3))})")


@dataclass(frozen=True, slots=True)
class StoredRecord:
    seq: int
    hash: str
    record: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """What a query asks of the records (every field optional; all must hold)."""

    start_ms: int | None = None
    end_ms: int | None = None  # exclusive
    initiator: str | None = None  # the initiator's id, name, project or address
    action: str | None = None  # exact, or a prefix ending in "*"
    outcome: str | None = None
    target: str | None = None  # the target's id or type (its typeURI, or the last segment of it)


def _indexed(record: dict[str, Any]) -> list[Any]:
    fields = columns(record)
    return [fields[name] for name in COLUMNS]


def _chain(head_row: Sequence[Any], pending: Sequence[Pending]) -> tuple[list[Link], list[tuple]]:
    """``pending`` linked after the head row (seq 0: none yet) and the rows to insert."""
    head = (head_row[0], head_row[1]) if head_row[0] else None
    links: list[Link] = []
    for item in pending:
        link = follow(head, item)
        links.append(link)
        head = (link.seq, link.hash)
    return links, [(link.seq, *_indexed(link.record), link.text, link.hash) for link in links]


class AuditStorage(Protocol):
    """The seam a store implements; the chain, the queries' meaning and verification are shared."""

    def append(self, pending: Sequence[Pending]) -> list[StoredRecord]:
        """Chain and store ``pending`` in one durable transaction, in order."""

    def query(self, scope: str, where: RecordFilter, before: tuple[int, int] | None,
              limit: int) -> list[StoredRecord]:
        """Records of ``scope`` (a project: its own and those it initiated; ``*``: all), newest
        first by (time, seq), strictly before ``before`` = (time_ms, seq)."""

    def scan(self) -> Iterator[StoredRow]:
        """Every row as stored, by number (what the verifier reads)."""

    def head(self) -> tuple[int, str] | None:
        """The chain's head: the last number and its hash (None before the first record)."""

    def close(self) -> None: ...


class AuditFileMissing(FileNotFoundError):
    """Reading (verify, list) a data dir that has no audit trail."""


class SqliteAuditStorage:
    """The chain in the metadata database: ``audit.sqlite`` under the data dir (WAL,
    ``synchronous=FULL``), or the cluster's database when the data dir is bound to one."""

    def __init__(self, data_dir: Path, read_only: bool = False) -> None:
        path = Path(data_dir) / FILE_NAME
        url = bound_url(data_dir)
        self.path: Path | str = path if not url else sa.make_url(url).render_as_string(hide_password=True)
        self._read_only = read_only
        if read_only and not url and not path.exists():
            raise AuditFileMissing(f"no audit trail in {data_dir} ({FILE_NAME} does not exist)")
        self.database = Database(data_dir, FILE_NAME, ("audit",), read_only=read_only)
        native = self.database.native
        self._lock_head = native(_LOCK_HEAD + ("" if self.database.dialect == "sqlite" else " FOR UPDATE"))
        self._insert, self._move_head = native(_INSERT), native(_MOVE_HEAD)

    def append(self, pending: Sequence[Pending]) -> list[StoredRecord]:
        if self._read_only:
            raise PermissionError("the audit trail was opened read-only")
        if not pending:
            return []
        if self.database.dialect == "sqlite":
            links = self._append_sqlite(pending)
        else:
            with self.database.transaction() as connection:
                row = connection.exec_driver_sql(self._lock_head).first()
                if row is None:
                    insert_ignore(connection, audit_head, [{"one": 1, "seq": 0, "hash": GENESIS}])
                    row = connection.exec_driver_sql(self._lock_head).first()
                links, rows = _chain(row, pending)
                connection.exec_driver_sql(self._insert, rows if len(rows) > 1 else rows[0])
                connection.exec_driver_sql(self._move_head, (links[-1].seq, links[-1].hash))
        return [StoredRecord(link.seq, link.hash, link.record) for link in links]

    def _append_sqlite(self, pending: Sequence[Pending]) -> list[Link]:
        """The embedded trail's append on this thread's own connection, straight to the driver:
        as fast as before the SQL layer (the same statements, in BEGIN IMMEDIATE)."""
        driver = self.database.pinned().connection.dbapi_connection
        driver.execute("BEGIN IMMEDIATE")
        try:
            row = driver.execute(self._lock_head).fetchone()
            links, rows = _chain(row or (0, GENESIS), pending)
            driver.executemany(self._insert, rows)
            driver.execute("INSERT INTO audit_head (one, seq, hash) VALUES (1, ?, ?) ON CONFLICT (one) "
                           "DO UPDATE SET seq = excluded.seq, hash = excluded.hash", (links[-1].seq, links[-1].hash))
        except BaseException:
            driver.execute("ROLLBACK")
            raise
        driver.execute("COMMIT")
        return links

    def query(self, scope: str, where: RecordFilter, before: tuple[int, int] | None,
              limit: int) -> list[StoredRecord]:
        r = audit_records.c
        clauses: list[Any] = []
        if scope != ALL_TENANTS:
            clauses.append(sa.or_(r.project == scope, r.initiator_project == scope))
        if where.start_ms is not None:
            clauses.append(r.time_ms >= where.start_ms)
        if where.end_ms is not None:
            clauses.append(r.time_ms < where.end_ms)
        if where.initiator:
            clauses.append(sa.or_(r.initiator == where.initiator, r.initiator_name == where.initiator,
                                  r.initiator_project == where.initiator, r.address == where.initiator))
        if where.action and where.action.endswith("*"):
            prefix = where.action[:-1]
            clauses.append(sa.func.substr(r.action, 1, len(prefix)) == prefix)
        elif where.action:
            clauses.append(r.action == where.action)
        if where.outcome:
            clauses.append(r.outcome == where.outcome)
        if where.target:
            suffix = "/" + where.target
            # The last characters: PostgreSQL's substr takes no negative start, SQLite has no right().
            ending = (sa.func.right(r.target_type, len(suffix)) if self.database.dialect == "postgresql"
                      else sa.func.substr(r.target_type, -len(suffix)))
            clauses.append(sa.or_(r.target_id == where.target, r.target_type == where.target, ending == suffix))
        if before is not None:
            clauses.append(sa.or_(r.time_ms < before[0], sa.and_(r.time_ms == before[0], r.seq < before[1])))
        query = (sa.select(r.seq, r.hash, r.record).where(*clauses)
                 .order_by(r.time_ms.desc(), r.seq.desc()).limit(int(limit)))
        with self.database.read() as connection:
            rows = connection.execute(query).all()
        return [StoredRecord(row[0], row[1], orjson.loads(row[2])) for row in rows]

    def scan(self) -> Iterator[StoredRow]:
        query = sa.select(audit_records.c.seq, audit_records.c.record, audit_records.c.hash,
                          *(audit_records.c[name] for name in COLUMNS)).order_by(audit_records.c.seq)
        with self.database.read() as connection:
            # Streamed: a trail of millions of records is verified without holding it in memory.
            for row in connection.execution_options(stream_results=True, yield_per=2000).execute(query):
                yield StoredRow(row[0], row[1], row[2], dict(zip(COLUMNS, row[3:])))

    def head(self) -> tuple[int, str] | None:
        with self.database.read() as connection:
            row = connection.execute(_HEAD).first()
        return (row[0], row[1]) if row and row[0] else None

    def close(self) -> None:
        self.database.close()
