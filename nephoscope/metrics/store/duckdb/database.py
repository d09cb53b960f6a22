"""Opening the DuckDB files, their schema, and the store's small key/value state.

Two files: ``store.duckdb`` (series, chunks, value_meta, state) and ``recent.duckdb``,
attached as ``recent``, for what is transient: points flushed but not yet compacted,
and roll-up parts waiting for their day to close. DuckDB reuses freed
blocks but never shrinks a file, so transient data lives in its own file, which is
replaced by an empty one whenever compaction has drained it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

RECENT = "recent.recent_points"
# Raw samples keep min/max/last NULL (they equal sum): far cheaper to store.
RECENT_COLUMNS = ("series_id, ts, count, sum, coalesce(min, sum) AS min, coalesce(max, sum) AS max, "
                  "coalesce(last, sum) AS last, seq")
# 64 KiB blocks (DuckDB's default is 256 KiB) for the files it creates: small tables and the last,
# partly filled blocks of each column then waste less (a day of 1,600 series: store.duckdb 1.1 MB over
# its chunk payloads instead of 2.5 MB). Not smaller: 16 KiB blocks saved no more disk and cost up to
# 0.3 GiB of RSS with 1,000,000 series (blocks under malloc's mmap threshold fragment the heap).
# Existing files keep their blocks.
BLOCK_SIZE = 65536
SHRINK_MIN_FREE_BYTES = 16 * 2**20  # rewriting the recent file is worth it past this much free space
PARTS = "recent.rollup_parts"
# One compressed chunk per row: a series' points of one window at one resolution.
CHUNK_COLUMNS = """(
    resolution INTEGER NOT NULL,
    window_start BIGINT NOT NULL,
    series_id BIGINT NOT NULL,
    t_first BIGINT NOT NULL,
    t_last BIGINT NOT NULL,
    n INTEGER NOT NULL,
    payload BLOB NOT NULL
)"""
RECENT_SCHEMA = f"""
-- Roll-up buckets of compacted raw windows whose day is still open, as compressed chunks
-- (one per series, resolution and raw window); merged into ``chunks`` once the day closes.
CREATE TABLE IF NOT EXISTS {PARTS} {CHUNK_COLUMNS};
CREATE TABLE IF NOT EXISTS {RECENT} (
    series_id BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    count BIGINT NOT NULL,
    sum DOUBLE NOT NULL,
    min DOUBLE,
    max DOUBLE,
    last DOUBLE,
    seq BIGINT NOT NULL
);
"""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS series (
    id BIGINT PRIMARY KEY,
    tenant VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    dimensions VARCHAR NOT NULL,      -- canonical JSON object, keys sorted
    policy INTEGER NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS series_dimensions (
    series_id BIGINT NOT NULL,
    tenant VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    value VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks {CHUNK_COLUMNS};
CREATE TABLE IF NOT EXISTS value_meta (
    series_id BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    meta VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS store_state (
    key VARCHAR PRIMARY KEY,
    value BIGINT NOT NULL
);
"""


class Database:
    """One DuckDB connection per process; each thread works on its own cursor."""

    def __init__(self, path: Path, memory_limit: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.recent_path = path.with_name("recent.duckdb")
        self.connection = duckdb.connect(str(path), config={"memory_limit": memory_limit, "threads": 2,
                                                            "default_block_size": str(BLOCK_SIZE)})
        self.connection.execute(SCHEMA)
        self._attach_recent()
        self._local = threading.local()
        self._state: dict[str, int] = {}
        self.write_lock = threading.Lock()  # one writer at a time: flush and compaction take turns
        self.recent_lock = SharedLock()  # shared by every use of recent points, exclusive to replace the file

    def _attach_recent(self) -> None:
        try:
            self.connection.execute(f"ATTACH '{self.recent_path}' AS recent (BLOCK_SIZE {BLOCK_SIZE})")
        except duckdb.InvalidInputException:  # made with other blocks: kept until it is next rewritten
            self.connection.execute(f"ATTACH '{self.recent_path}' AS recent")
        self.connection.execute(RECENT_SCHEMA)

    def shrink_recent(self) -> bool:
        """Rewrite the recent-points file when most of it is free blocks, giving the space back
        (DuckDB reuses freed blocks but never shrinks a file)."""
        with self.write_lock, self.recent_lock.exclusive():
            self.cursor().execute("CHECKPOINT recent")  # deleted rows become free blocks only now
            rows = self.cursor().execute(
                "SELECT block_size * free_blocks, block_size * total_blocks FROM pragma_database_size() "
                "WHERE database_name = 'recent'").fetchall()
            if not rows or rows[0][0] < SHRINK_MIN_FREE_BYTES or rows[0][0] * 2 < rows[0][1]:
                return False
            fresh = self.recent_path.with_name("recent.duckdb.new")
            fresh.unlink(missing_ok=True)
            connection = self.connection
            connection.execute(f"ATTACH '{fresh}' AS recent_new (BLOCK_SIZE {BLOCK_SIZE})")
            connection.execute(RECENT_SCHEMA.replace("recent.", "recent_new."))
            for table in (RECENT, PARTS):
                connection.execute(f"INSERT INTO {table.replace('recent.', 'recent_new.')} SELECT * FROM {table}")
            connection.execute("DETACH recent_new")
            self._local = threading.local()  # cursors hold the catalog; start afresh
            connection.execute("DETACH recent")
            self.recent_path.with_name(self.recent_path.name + ".wal").unlink(missing_ok=True)
            fresh.replace(self.recent_path)
            self._attach_recent()
            return True

    def cursor(self) -> duckdb.DuckDBPyConnection:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self.connection.cursor()
            self._local.cursor = cursor
        return cursor

    def state(self, key: str, default: int = 0) -> int:
        """A value of the store's small state (watermarks, flushed sequence); kept in memory once read."""
        value = self._state.get(key)
        if value is None:
            row = first_row(self.cursor(), "SELECT value FROM store_state WHERE key = ?", [key])
            value = self._state[key] = int(row[0]) if row else default
        return value

    def set_state(self, cursor: duckdb.DuckDBPyConnection, key: str, value: int) -> None:
        """Set inside the caller's transaction (if any); the memory copy follows at once, which is
        safe because a failed transaction stops the store's writers before anyone rereads it."""
        cursor.execute("INSERT OR REPLACE INTO store_state VALUES (?, ?)", [key, int(value)])
        self._state[key] = int(value)

    def checkpoint(self) -> None:
        """Write DuckDB's WAL into the file; waits for the store's own writers, retries briefly
        if a reader's transaction is still open (DuckDB refuses to checkpoint then)."""
        with self.write_lock:
            for attempt in range(50):
                try:
                    self.cursor().execute("CHECKPOINT")
                    return
                except duckdb.Error:
                    if attempt == 49:
                        raise
                    time.sleep(0.1)

    def close(self) -> None:
        self.connection.close()

    def size_bytes(self) -> int:
        total = 0
        for candidate in (self.path, self.path.with_name(self.path.name + ".wal"), self.recent_path,
                          self.recent_path.with_name(self.recent_path.name + ".wal")):
            if candidate.exists():
                total += candidate.stat().st_size
        return total



class SharedLock:
    """Many holders at once (``shared``) or one alone (``exclusive``)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._holders = 0
        self._exclusive = False

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._condition:
            while self._exclusive:
                self._condition.wait()
            self._holders += 1
        try:
            yield
        finally:
            with self._condition:
                self._holders -= 1
                self._condition.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._condition:
            while self._exclusive or self._holders:
                self._condition.wait()
            self._exclusive = True
        try:
            yield
        finally:
            with self._condition:
                self._exclusive = False
                self._condition.notify_all()


def first_row(cursor: duckdb.DuckDBPyConnection, query: str, parameters: list | None = None) -> tuple | None:
    """The first row of a query, consuming the whole result (DuckDB 2 refuses work on a cursor
    that still holds an unfinished result)."""
    rows = cursor.execute(query, parameters or []).fetchall()
    return rows[0] if rows else None


def fetch_arrow(cursor: duckdb.DuckDBPyConnection, query: str, parameters: list | None = None):  # noqa: ANN201
    """A query's result as a pyarrow Table, without DuckDB's extra DB-API copy."""
    relation = cursor.sql(query, params=parameters or None)
    if relation is None:
        return None
    table = relation.to_arrow_table() if hasattr(relation, "to_arrow_table") else relation.arrow()
    return table.read_all() if hasattr(table, "read_all") else table
