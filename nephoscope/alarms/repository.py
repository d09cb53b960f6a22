"""Alarms and their state history in ``<data dir>/alarms.sqlite`` (beside the definitions).

This module owns the tables ``alarms``, ``alarm_metrics`` and ``alarm_state_history``. The
alarm engine is the only writer of states (one thread, grouped in transactions); the API
reads, and changes ``lifecycle_state`` and ``link`` through the engine. Every read takes a
tenant scope.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from nephoscope.sqlitefile import SqliteFile
from nephoscope.tenancy import ALL_TENANTS

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alarms (
    id TEXT PRIMARY KEY,
    definition_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    instance TEXT NOT NULL,
    state TEXT NOT NULL,
    sub_states TEXT NOT NULL,
    lifecycle_state TEXT,
    link TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    state_updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS alarms_definition ON alarms (definition_id);
CREATE INDEX IF NOT EXISTS alarms_tenant_state ON alarms (tenant, state);
CREATE TABLE IF NOT EXISTS alarm_metrics (
    alarm_id TEXT NOT NULL,
    name TEXT NOT NULL,
    dimensions TEXT NOT NULL,
    PRIMARY KEY (alarm_id, name, dimensions)
);
CREATE INDEX IF NOT EXISTS alarm_metrics_name ON alarm_metrics (name);
CREATE TABLE IF NOT EXISTS alarm_state_history (
    alarm_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    old_state TEXT NOT NULL,
    new_state TEXT NOT NULL,
    reason TEXT NOT NULL,
    reason_data TEXT NOT NULL,
    metrics TEXT NOT NULL,
    sub_alarms TEXT NOT NULL,
    link TEXT,
    lifecycle_state TEXT,
    PRIMARY KEY (alarm_id, timestamp_ms)
);
CREATE INDEX IF NOT EXISTS alarm_state_history_tenant_time ON alarm_state_history (tenant, timestamp_ms);
"""


@dataclass(slots=True)
class AlarmRecord:
    """One alarm instance as stored: its definition, match_by values, states and metrics."""

    id: str
    definition_id: str
    tenant: str
    instance: tuple[str, ...]
    state: str
    sub_states: list[str]
    created_at: float
    updated_at: float
    state_updated_at: float
    lifecycle_state: str | None = None
    link: str | None = None
    metrics: list[dict] = field(default_factory=list)  # [{"name", "dimensions"}], sorted


@dataclass(slots=True)
class StateChange:
    """One row of state history (Monasca's ``alarm-transitioned``, as the persister keeps it)."""

    alarm_id: str
    tenant: str
    timestamp_ms: int
    old_state: str
    new_state: str
    reason: str
    metrics: list[dict]
    sub_alarms: list[dict]  # [{"sub_alarm_expression", "sub_alarm_state", "current_values"}]
    reason_data: dict = field(default_factory=dict)
    link: str | None = None
    lifecycle_state: str | None = None


def _metric_columns(metric: dict) -> tuple[str, str]:
    """(name, canonical dimensions JSON): how a metric is keyed in ``alarm_metrics``."""
    return metric["name"], orjson.dumps(metric["dimensions"], option=orjson.OPT_SORT_KEYS).decode()


class AlarmDatabase(SqliteFile):
    """``<data_dir>/alarms.sqlite`` with the alarm tables."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(Path(data_dir) / "alarms.sqlite", _SCHEMA)


def _alarm_row(record: AlarmRecord) -> tuple:
    return (record.id, record.definition_id, record.tenant, orjson.dumps(list(record.instance)).decode(),
            record.state, orjson.dumps(record.sub_states).decode(), record.lifecycle_state, record.link,
            record.created_at, record.updated_at, record.state_updated_at)


def _history_row(change: StateChange) -> tuple:
    return (change.alarm_id, change.tenant, change.timestamp_ms, change.old_state, change.new_state, change.reason,
            orjson.dumps(change.reason_data).decode(), orjson.dumps(change.metrics).decode(),
            orjson.dumps(change.sub_alarms).decode(), change.link, change.lifecycle_state)


_ALARM_COLUMNS = ("id, definition_id, tenant, instance, state, sub_states, lifecycle_state, link, created_at, "
                  "updated_at, state_updated_at")


def record_from_row(row: tuple, metrics: list[dict]) -> AlarmRecord:
    return AlarmRecord(id=row[0], definition_id=row[1], tenant=row[2], instance=tuple(orjson.loads(row[3])),
                       state=row[4], sub_states=orjson.loads(row[5]), lifecycle_state=row[6], link=row[7],
                       created_at=row[8], updated_at=row[9], state_updated_at=row[10], metrics=metrics)


def history_from_row(row: tuple) -> StateChange:
    return StateChange(alarm_id=row[0], tenant=row[1], timestamp_ms=row[2], old_state=row[3], new_state=row[4],
                       reason=row[5], reason_data=orjson.loads(row[6]), metrics=orjson.loads(row[7]),
                       sub_alarms=orjson.loads(row[8]), link=row[9], lifecycle_state=row[10])


_HISTORY_COLUMNS = ("alarm_id, tenant, timestamp_ms, old_state, new_state, reason, reason_data, metrics, "
                    "sub_alarms, link, lifecycle_state")


class AlarmRepository:
    """Writes (from the engine) and the reads the engine needs; listing lives in ``queries``."""

    def __init__(self, database: AlarmDatabase) -> None:
        self.database = database

    # -- writes ------------------------------------------------------------------------------------
    def save(self, records: Iterable[AlarmRecord], new_metrics: Iterable[tuple[str, dict]] = (),
             history: Iterable[StateChange] = ()) -> None:
        """Upsert alarms, add metrics ``(alarm id, metric)`` and append history, in one transaction."""
        alarm_rows = [_alarm_row(record) for record in records]
        metric_rows = [(alarm_id, *_metric_columns(metric)) for alarm_id, metric in new_metrics]
        history_rows = [_history_row(change) for change in history]
        if not (alarm_rows or metric_rows or history_rows):
            return
        with self.database.transaction() as connection:
            if alarm_rows:
                connection.executemany(
                    f"INSERT INTO alarms ({_ALARM_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?) "
                    "ON CONFLICT (id) DO UPDATE SET state=excluded.state, sub_states=excluded.sub_states, "
                    "lifecycle_state=excluded.lifecycle_state, link=excluded.link, updated_at=excluded.updated_at, "
                    "state_updated_at=excluded.state_updated_at", alarm_rows)
            if metric_rows:
                connection.executemany("INSERT OR IGNORE INTO alarm_metrics VALUES (?,?,?)", metric_rows)
            if history_rows:
                connection.executemany(
                    f"INSERT OR REPLACE INTO alarm_state_history ({_HISTORY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    history_rows)

    def delete(self, alarm_ids: list[str]) -> None:
        """Forget alarms and their metrics; their history stays (as in Monasca's persister)."""
        if not alarm_ids:
            return
        with self.database.transaction() as connection:
            connection.executemany("DELETE FROM alarms WHERE id = ?", [(i,) for i in alarm_ids])
            connection.executemany("DELETE FROM alarm_metrics WHERE alarm_id = ?", [(i,) for i in alarm_ids])

    # -- reads ---------------------------------------------------------------------------------------
    def load_all(self) -> list[AlarmRecord]:
        """Every alarm with its metrics (for the engine at start)."""
        connection = self.database.connect()
        metrics: dict[str, list[dict]] = {}
        for alarm_id, name, dimensions in connection.execute(
                "SELECT alarm_id, name, dimensions FROM alarm_metrics ORDER BY alarm_id, name, dimensions"):
            metrics.setdefault(alarm_id, []).append({"name": name, "dimensions": orjson.loads(dimensions)})
        return [record_from_row(row, metrics.get(row[0], []))
                for row in connection.execute(f"SELECT {_ALARM_COLUMNS} FROM alarms")]

    def ids_for_definition(self, definition_id: str) -> list[str]:
        rows = self.database.connect().execute("SELECT id FROM alarms WHERE definition_id = ?", (definition_id,))
        return [row[0] for row in rows]

    def get(self, scope: str, alarm_id: str) -> AlarmRecord | None:
        connection = self.database.connect()
        query, parameters = f"SELECT {_ALARM_COLUMNS} FROM alarms WHERE id = ?", [alarm_id]
        if scope != ALL_TENANTS:
            query += " AND tenant = ?"
            parameters.append(scope)
        row = connection.execute(query, parameters).fetchone()
        if row is None:
            return None
        metrics = [{"name": name, "dimensions": orjson.loads(dimensions)} for name, dimensions in connection.execute(
            "SELECT name, dimensions FROM alarm_metrics WHERE alarm_id = ? ORDER BY name, dimensions", (alarm_id,))]
        return record_from_row(row, metrics)

    def history(self, alarm_id: str) -> list[StateChange]:
        rows = self.database.connect().execute(
            f"SELECT {_HISTORY_COLUMNS} FROM alarm_state_history WHERE alarm_id = ? ORDER BY timestamp_ms",
            (alarm_id,)).fetchall()
        return [history_from_row(row) for row in rows]
