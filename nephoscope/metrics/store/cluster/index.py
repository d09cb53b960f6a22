"""The local index of what the blocks hold: series, where each chunk lies, value_meta.

Rebuilt from the blocks listed in the manifests whenever the store opens (S3 is the truth; this is
a cache of it), and kept current as blocks are written and series arrive from the stream. It is a
DuckDB file of the embedded store's schema so the embedded series catalog (``SeriesCatalog``:
tenant scope, Monasca dimension filters, Prometheus matchers through RE2, paging) answers for the
cluster too; its ``chunks`` table is a view over ``block_chunks``, which says in which block (and at
which bytes) each series' chunk of a window and resolution is.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nephoscope.metrics.series import SeriesDefinition
from nephoscope.metrics.store.cluster.blocks import BlockHead, definitions, series_table
from nephoscope.metrics.store.duckdb.database import Database, fetch_arrow
from nephoscope.metrics.store.duckdb.series_catalog import SeriesCatalog
from nephoscope.metrics.store.registry import SeriesRegistry

_SCHEMA = """
DROP TABLE IF EXISTS chunks;
CREATE TABLE block_chunks (
    partition INTEGER NOT NULL,
    window_start BIGINT NOT NULL,
    block VARCHAR NOT NULL,
    resolution INTEGER NOT NULL,
    series_id BIGINT NOT NULL,
    t_first BIGINT NOT NULL,
    t_last BIGINT NOT NULL,
    n INTEGER NOT NULL,
    position BIGINT NOT NULL,   -- of the payload in the block object
    length BIGINT NOT NULL
);
-- What the catalog's time filter reads: raw chunks, and a series' roll-ups only where retention dropped
-- its raw chunk (a roll-up bucket says only that its data lies somewhere in the bucket).
CREATE VIEW chunks AS SELECT resolution, window_start, series_id, t_first, t_last, n, ''::BLOB AS payload
    FROM block_chunks c
    WHERE resolution = 0 OR NOT EXISTS (SELECT 1 FROM block_chunks r WHERE r.block = c.block
                                        AND r.series_id = c.series_id AND r.resolution = 0);
"""


class BlockIndex:
    def __init__(self, directory: Path, memory_limit: str, registry: SeriesRegistry, partitions: int) -> None:
        shutil.rmtree(directory, ignore_errors=True)  # a cache of the blocks: rebuilt on every open
        self.database = Database(directory / "index.duckdb", memory_limit)
        self.database.connection.execute(_SCHEMA)
        self.catalog = SeriesCatalog(self.database)
        self.registry = registry
        self.partitions = partitions
        self._lock = threading.Lock()
        self._listed: set[int] = set()

    def close(self) -> None:
        self.database.close()

    def add_series(self, definitions: list[SeriesDefinition]) -> None:
        """List these series (those already listed are skipped): the stream's new series at once,
        before their points reach a block, and a block's series when the index is rebuilt."""
        with self._lock:
            unique = [d for d in {d.id: d for d in definitions}.values() if d.id not in self._listed]
            if not unique:
                return
            series = series_table(unique)
            series = series.append_column("policy", pa.array([self.registry.policy_index(d.name) for d in unique],
                                                             pa.int32()))
            series = series.append_column("created_ms", pa.array(np.zeros(len(unique), np.int64)))
            rows = [(d.id, d.tenant, d.name, key, value) for d in unique for key, value in d.dimensions.items()]
            dimensions = pa.table({"series_id": pa.array([r[0] for r in rows], pa.int64()),
                                   **{name: pa.array([r[i] for r in rows], pa.string())
                                      for i, name in enumerate(("tenant", "name", "key", "value"), start=1)}})
            cursor = self.database.cursor()
            with self.database.write_lock:
                cursor.register("new_series", series)
                cursor.register("new_dimensions", dimensions)
                cursor.execute("INSERT INTO series_dimensions SELECT * FROM new_dimensions")
                cursor.execute("INSERT INTO series SELECT * FROM new_series")
                cursor.unregister("new_series")
                cursor.unregister("new_dimensions")
            self._listed.update(d.id for d in unique)

    def replace_block(self, partition: int, window_start: int, window_end: int, key: str, head: BlockHead) -> None:
        """The block now current for (partition, window): its chunks, series and value_meta."""
        self.add_series(definitions(head.series))
        index = head.index
        rows = pa.table({
            "partition": pa.array(np.full(index.num_rows, partition, np.int32)),
            "window_start": pa.array(np.full(index.num_rows, window_start, np.int64)),
            "block": pa.array([key] * index.num_rows, pa.string()),
            "resolution": index.column("resolution"), "series_id": index.column("series_id"),
            "t_first": index.column("t_first"), "t_last": index.column("t_last"), "n": index.column("n"),
            "position": pc.add(index.column("offset"), head.payload_start), "length": index.column("length")})
        meta = head.value_meta
        cursor = self.database.cursor()
        with self._lock, self.database.write_lock:
            cursor.execute("BEGIN")
            try:
                cursor.execute("DELETE FROM block_chunks WHERE partition = ? AND window_start = ?",
                               [partition, window_start])
                cursor.register("new_chunks", rows)
                cursor.execute("INSERT INTO block_chunks SELECT * FROM new_chunks")
                cursor.unregister("new_chunks")
                cursor.execute(f"DELETE FROM value_meta WHERE series_id % {self.partitions} = ? AND ts >= ? "
                               "AND ts < ?", [partition, window_start, window_end])
                cursor.register("new_meta", meta)
                cursor.execute("INSERT INTO value_meta SELECT series_id, ts, meta FROM new_meta")
                cursor.unregister("new_meta")
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise

    def drop_block(self, partition: int, window_start: int) -> None:
        cursor = self.database.cursor()
        with self._lock, self.database.write_lock:
            cursor.execute("DELETE FROM block_chunks WHERE partition = ? AND window_start = ?",
                           [partition, window_start])

    def locate(self, series: np.ndarray, resolution: int, start_ms: int, end_ms: int,
               raw_kept: bool | None = None) -> pa.Table:
        """Chunks of ``series`` at ``resolution`` overlapping [start, end): block, series_id, position,
        length. ``raw_kept`` False: only where retention dropped the series' raw chunk of the block."""
        cursor = self.database.cursor()
        cursor.register("wanted", pa.table({"id": np.asarray(series, np.int64)}))
        try:
            query = ("SELECT block, series_id, position, length FROM block_chunks c WHERE resolution = ? "
                     "AND t_last >= ? AND t_first < ? AND series_id IN (SELECT id FROM wanted)")
            if raw_kept is False:
                query += (" AND NOT EXISTS (SELECT 1 FROM block_chunks r WHERE r.block = c.block "
                          "AND r.series_id = c.series_id AND r.resolution = 0)")
            return fetch_arrow(cursor, query + " ORDER BY block, position", [resolution, start_ms, end_ms])
        finally:
            cursor.unregister("wanted")

    def definitions(self, series: np.ndarray) -> pa.Table:
        """The series table rows (id, tenant, name, dimensions) of ``series``."""
        cursor = self.database.cursor()
        cursor.register("wanted", pa.table({"id": np.asarray(series, np.int64)}))
        try:
            return fetch_arrow(cursor, "SELECT id, tenant, name, dimensions FROM series "
                                       "WHERE id IN (SELECT id FROM wanted) ORDER BY id")
        finally:
            cursor.unregister("wanted")

    def series_ids(self) -> np.ndarray:
        return self.database.cursor().execute("SELECT id FROM series").fetchnumpy()["id"]

    def report(self) -> dict:
        rows = self.database.cursor().execute(
            "SELECT resolution, count(*), sum(n), sum(length) FROM block_chunks GROUP BY resolution "
            "ORDER BY resolution").fetchall()
        return {str(r): {"chunks": c, "points": int(p or 0), "payload_bytes": int(b or 0)} for r, c, p, b in rows}
