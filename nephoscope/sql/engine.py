"""Engines and the handle an owner holds (``Database``): where its rows live, how it reads and
how it writes.

Where: ``bind(data_dir, sql_url)`` (the server and the command line, from ``[cluster] sql_url``)
sends every owner opened on that data dir to one database; otherwise each owner keeps its
SQLite file under the data dir, as before. One engine (one pool) per URL per process, shared
by every owner on it and disposed when the last one closes.

SQLite: WAL, ``synchronous=FULL`` (a committed change survives power loss), a 30 s busy
timeout; a write transaction starts with ``BEGIN IMMEDIATE`` so read-then-write transactions
of several processes serialize instead of failing on upgrade. PostgreSQL and MariaDB: READ
COMMITTED (MariaDB's default REPEATABLE READ would let a node read a stale snapshot inside a
transaction), pre-ping and recycle (a database's idle timeout closes pooled connections).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

_IMMEDIATE = "nephoscope_immediate"

_bound: dict[Path, str] = {}
_engines: dict[str, list[Any]] = {}  # url -> [engine, users]
_lock = threading.Lock()


def bind(data_dir: Path, sql_url: str) -> None:
    """Keep the metadata of everything opened on ``data_dir`` in ``sql_url`` (empty: SQLite files)."""
    key = Path(data_dir).resolve()
    with _lock:
        if sql_url:
            _bound[key] = sql_url
        else:
            _bound.pop(key, None)


def bound_url(data_dir: Path) -> str:
    """The database bound to ``data_dir`` ("" when its owners keep SQLite files)."""
    return _bound.get(Path(data_dir).resolve(), "")


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling begins lazily and never before DDL; SQLAlchemy's
    # documented recipe: let the driver autocommit and emit BEGIN ourselves (the "begin" event).
    dbapi_connection.isolation_level = None
    try:
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError:
        pass  # a read-only connection (audit verify) keeps the file's mode, WAL since it was made
    dbapi_connection.execute("PRAGMA synchronous=FULL")
    dbapi_connection.execute("PRAGMA busy_timeout=30000")


def _sqlite_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    # A connection back from AUTOCOMMIT use had its isolation reset by SQLAlchemy to the driver's
    # implicit transactions: ours are explicit (``_sqlite_begin``).
    if dbapi_connection.isolation_level is not None:
        dbapi_connection.isolation_level = None


def _sqlite_begin(connection: Connection) -> None:
    options = connection.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":
        return
    connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_IMMEDIATE) else "BEGIN")


def create_engine(url: str) -> Engine:
    """An engine for ``url`` with this project's settings (see the module's docstring)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = sa.create_engine(parsed, connect_args={"timeout": 30, "check_same_thread": False},
                                  pool_size=8, max_overflow=56, pool_timeout=60)
        sa.event.listen(engine, "connect", _sqlite_connect)
        sa.event.listen(engine, "checkout", _sqlite_checkout)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    if backend == "mysql" and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return sa.create_engine(parsed, pool_size=5, max_overflow=20, pool_timeout=60, pool_pre_ping=True,
                            pool_recycle=1800, isolation_level="READ COMMITTED")


def _acquire(url: str) -> Engine:
    with _lock:
        entry = _engines.get(url)
        if entry is None:
            entry = _engines[url] = [create_engine(url), 0]
        entry[1] += 1
        return entry[0]


def _release(url: str) -> None:
    with _lock:
        entry = _engines.get(url)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            del _engines[url]
            entry[0].dispose()


class Database:
    """One owner's handle on its database: ``owners`` are the migration branches it needs
    (``schema.OWNERS``), brought to their head when it opens."""

    def __init__(self, data_dir: Path, file_name: str, owners: Sequence[str], read_only: bool = False) -> None:
        from nephoscope.sql.migrate import upgrade  # the migrations import this module

        url = bound_url(data_dir)
        if not url:
            path = Path(data_dir) / file_name
            if read_only:
                url = f"sqlite:///file:{path}?mode=ro&uri=true"
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                url = f"sqlite:///{path}"
            self.path: Path | None = path
        else:
            self.path = None
        self.url = url
        self.engine = _acquire(url)
        self.dialect = self.engine.dialect.name  # sqlite, postgresql or mysql (MariaDB too)
        self._writer = self.engine.execution_options(**{_IMMEDIATE: True})
        self._local = threading.local()
        self._pinned: list[Connection] = []
        self._closed = False
        if not read_only:
            try:
                upgrade(self, tuple(owners))
            except BaseException:
                self.close()
                raise

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads (one snapshot; rolled back at the end)."""
        with self.engine.connect() as connection:
            yield connection

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction, committed at the end (rolled back on an exception). On SQLite it
        holds the write lock from its start (``BEGIN IMMEDIATE``)."""
        with self._writer.begin() as connection:
            yield connection

    def pinned(self) -> Connection:
        """This thread's own autocommit connection, kept open (hot paths: no pool checkout per call;
        SQLite's ``data_version`` is per connection)."""
        connection = getattr(self._local, "connection", None)
        if connection is None or connection.closed:
            connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._local.connection = connection
            with _lock:
                self._pinned.append(connection)
        return connection

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple]:
        """Rows of a raw statement written with ``?`` placeholders, in any dialect (for the few
        queries that Core cannot say more clearly)."""
        with self.read() as connection:
            return [tuple(row) for row in connection.exec_driver_sql(self.native(sql), tuple(parameters))]

    def native(self, sql: str) -> str:
        """``sql``'s ``?`` placeholders in the driver's paramstyle."""
        if self.dialect == "sqlite":
            return sql
        return sql.replace("%", "%%").replace("?", "%s")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with _lock:
            pinned, self._pinned = self._pinned, []
        for connection in pinned:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - another thread's connection: closing it is best effort
                pass
        self._local = threading.local()
        _release(self.url)
