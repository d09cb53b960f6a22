"""Flushing the head into DuckDB: new series, recent points, value_meta, in one transaction.

After the commit the flushed sequence is recorded in the same transaction, so a
restart replays exactly the WAL records the store does not have yet.
"""

from __future__ import annotations

import time

import numpy as np
import orjson
import pyarrow as pa

from nephoscope.metrics.series import IngestBatch, SeriesDefinition
from nephoscope.metrics.store.duckdb.database import RECENT, Database
from nephoscope.metrics.store.registry import SeriesRegistry


def _series_tables(definitions: list[SeriesDefinition], registry: SeriesRegistry) -> tuple[pa.Table, pa.Table]:
    unique = list({d.id: d for d in definitions}.values())
    now = int(time.time() * 1000)
    series = pa.table({
        "id": pa.array([d.id for d in unique], pa.int64()),
        "tenant": [d.tenant for d in unique],
        "name": [d.name for d in unique],
        "dimensions": [orjson.dumps(d.dimensions, option=orjson.OPT_SORT_KEYS).decode() for d in unique],
        "policy": pa.array([registry.policy_index(d.name) for d in unique], pa.int32()),
        "created_ms": pa.array([now] * len(unique), pa.int64()),
    })
    rows = [(d.id, d.tenant, d.name, key, value) for d in unique for key, value in d.dimensions.items()]
    dimensions = pa.table({
        "series_id": pa.array([r[0] for r in rows], pa.int64()),
        "tenant": [r[1] for r in rows],
        "name": [r[2] for r in rows],
        "key": [r[3] for r in rows],
        "value": [r[4] for r in rows],
    })
    return series, dimensions


def _recent_table(batches: list[tuple[int, IngestBatch]]) -> pa.Table | None:
    """The batches' points as rows of recent points; raw samples carry NULL min/max/last."""
    columns: dict[str, list] = {name: [] for name in ("series_id", "ts", "count", "sum", "min", "max", "last", "seq")}
    for sequence, batch in batches:
        points = batch.points
        length = len(points)
        if not length:
            continue
        columns["series_id"].append(pa.array(points.series))
        columns["ts"].append(pa.array(points.timestamp))
        columns["seq"].append(pa.array(np.full(length, sequence, np.int64)))
        if points.value is not None:
            columns["count"].append(pa.array(np.ones(length, np.int64)))
            columns["sum"].append(pa.array(points.value))
            for name in ("min", "max", "last"):
                columns[name].append(pa.nulls(length, pa.float64()))
        else:
            for name in ("count", "sum", "min", "max", "last"):
                columns[name].append(pa.array(getattr(points, name)))
    if not columns["ts"]:
        return None
    return pa.table({name: pa.chunked_array(parts) for name, parts in columns.items()})


def flush(database: Database, batches: list[tuple[int, IngestBatch]], registry: SeriesRegistry) -> int:
    """Write the batches; returns the highest sequence written (0 when nothing was)."""
    if not batches:
        return 0
    definitions = [d for _, batch in batches for d in batch.tenant_series]
    cursor = database.cursor()
    recent = _recent_table(batches)
    with database.write_lock:
        if recent is not None:
            # Its own transaction (DuckDB writes one attached file per transaction). A crash before
            # the main commit replays these WAL records: the same rows again, which reads de-duplicate.
            with database.recent_lock.shared():
                cursor.register("new_points", recent)
                cursor.execute(f"INSERT INTO {RECENT} SELECT * FROM new_points")
                cursor.unregister("new_points")
        cursor.execute("BEGIN")
        try:
            if definitions:
                series, dimensions = _series_tables(definitions, registry)
                cursor.register("new_series", series)
                cursor.register("new_dimensions", dimensions)
                cursor.execute("INSERT INTO series_dimensions SELECT * FROM new_dimensions "
                               "WHERE series_id NOT IN (SELECT id FROM series)")
                cursor.execute("INSERT OR IGNORE INTO series SELECT * FROM new_series")
                cursor.unregister("new_series")
                cursor.unregister("new_dimensions")
            meta = [(s, t, m) for _, batch in batches
                    for s, t, m in zip(batch.value_meta.series, batch.value_meta.timestamp, batch.value_meta.meta)]
            if meta:
                cursor.executemany("INSERT INTO value_meta VALUES (?, ?, ?)", meta)
            last_sequence = batches[-1][0]
            database.set_state(cursor, "flushed_sequence", last_sequence)
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
    return last_sequence
