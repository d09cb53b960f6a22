"""Where the chained records live: the storage seam (``AuditStorage``) and the embedded store,
``<data dir>/audit.sqlite``.

A store appends records in one transaction that reads the chain's head, links every new record
after it (``chain.follow``), writes them with their indexed fields and moves the head, so the
server and the command line (``nephoscope keys``) can both append to the same chain. The embedded
store is SQLite with ``synchronous=FULL``: a committed append survives a power loss, and callers
append before they acknowledge. Another store (the clustered metadata database of a later issue)
implements the same four methods and keeps the record's text exactly as written — the hash is
over those bytes — so ``nephoscope audit verify`` works on it unchanged.

Tables (the documented layout, docs/audit.md): ``audit_records`` (``seq`` the record's number,
``record`` its canonical JSON, ``hash`` its SHA-256, and the indexed fields of ``chain.COLUMNS``)
and ``audit_head`` (one row: the last ``seq`` and its ``hash``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from nephoscope.audit.chain import COLUMNS, Link, Pending, columns, follow
from nephoscope.audit.verify import StoredRow
from nephoscope.sqlitefile import SqliteFile
from nephoscope.tenancy import ALL_TENANTS

FILE_NAME = "audit.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_records (
    seq INTEGER PRIMARY KEY,
    time_ms INTEGER NOT NULL,
    project TEXT NOT NULL,
    initiator_project TEXT NOT NULL,
    initiator TEXT NOT NULL,
    initiator_name TEXT NOT NULL,
    address TEXT NOT NULL,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    record TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_records_time ON audit_records (time_ms, seq);
CREATE INDEX IF NOT EXISTS audit_records_project ON audit_records (project, time_ms);
CREATE INDEX IF NOT EXISTS audit_records_initiator_project ON audit_records (initiator_project, time_ms);
CREATE TABLE IF NOT EXISTS audit_head (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
"""
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
    """``audit.sqlite``: WAL, ``synchronous=FULL``, one connection per thread (``SqliteFile``)."""

    def __init__(self, data_dir: Path, read_only: bool = False) -> None:
        path = Path(data_dir) / FILE_NAME
        self.path = path
        self._read_only = read_only
        if read_only:
            if not path.exists():
                raise AuditFileMissing(f"no audit trail in {data_dir} ({FILE_NAME} does not exist)")
            self._reader: sqlite3.Connection | None = sqlite3.connect(f"file:{path}?mode=ro", uri=True,
                                                                      check_same_thread=False)
            self.database = None
        else:
            self._reader = None
            self.database = SqliteFile(path, _SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        return self._reader if self._reader is not None else self.database.connect()

    def append(self, pending: Sequence[Pending]) -> list[StoredRecord]:
        if self._read_only:
            raise PermissionError("the audit trail was opened read-only")
        if not pending:
            return []
        stored = []
        with self.database.transaction() as connection:
            row = connection.execute("SELECT seq, hash FROM audit_head WHERE one = 1").fetchone()
            head = (row[0], row[1]) if row else None
            links: list[Link] = []
            for item in pending:
                link = follow(head, item)
                links.append(link)
                head = (link.seq, link.hash)
            connection.executemany(_INSERT, [(link.seq, *_indexed(link.record), link.text, link.hash) for link in links])
            connection.execute("INSERT INTO audit_head (one, seq, hash) VALUES (1, ?, ?) ON CONFLICT (one) "
                               "DO UPDATE SET seq = excluded.seq, hash = excluded.hash", head)
            stored = [StoredRecord(link.seq, link.hash, link.record) for link in links]
        return stored

    def query(self, scope: str, where: RecordFilter, before: tuple[int, int] | None,
              limit: int) -> list[StoredRecord]:
        clauses, parameters = [], []
        if scope != ALL_TENANTS:
            clauses.append("(project = ? OR initiator_project = ?)")
            parameters += [scope, scope]
        if where.start_ms is not None:
            clauses.append("time_ms >= ?")
            parameters.append(where.start_ms)
        if where.end_ms is not None:
            clauses.append("time_ms < ?")
            parameters.append(where.end_ms)
        if where.initiator:
            clauses.append("(initiator = ? OR initiator_name = ? OR initiator_project = ? OR address = ?)")
            parameters += [where.initiator] * 4
        if where.action and where.action.endswith("*"):
            clauses.append("substr(action, 1, ?) = ?")
            parameters += [len(where.action) - 1, where.action[:-1]]
        elif where.action:
            clauses.append("action = ?")
            parameters.append(where.action)
        if where.outcome:
            clauses.append("outcome = ?")
            parameters.append(where.outcome)
        if where.target:
            clauses.append("(target_id = ? OR target_type = ? OR substr(target_type, -?) = ?)")
            parameters += [where.target, where.target, len(where.target) + 1, "/" + where.target]
        if before is not None:
            clauses.append("(time_ms < ? OR (time_ms = ? AND seq < ?))")
            parameters += [before[0], before[0], before[1]]
        sql = (f"SELECT seq, hash, record FROM audit_records WHERE {' AND '.join(clauses) or '1'} "
               "ORDER BY time_ms DESC, seq DESC LIMIT ?")
        rows = self._connection().execute(sql, [*parameters, int(limit)]).fetchall()
        return [StoredRecord(row[0], row[1], orjson.loads(row[2])) for row in rows]

    def scan(self) -> Iterator[StoredRow]:
        cursor = self._connection().execute(
            f"SELECT seq, record, hash, {', '.join(COLUMNS)} FROM audit_records ORDER BY seq")
        for row in cursor:
            yield StoredRow(row[0], row[1], row[2], dict(zip(COLUMNS, row[3:])))

    def head(self) -> tuple[int, str] | None:
        row = self._connection().execute("SELECT seq, hash FROM audit_head WHERE one = 1").fetchone()
        return (row[0], row[1]) if row else None

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        if self.database is not None:
            self.database.close()
