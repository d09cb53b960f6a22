"""Alarms and their state history in the metadata database (``<data dir>/alarms.sqlite`` beside
the definitions, or the cluster's database).

This module owns the tables ``alarms``, ``alarm_metrics`` and ``alarm_state_history``
(``nephoscope.sql.schema``). The
alarm engine is the only writer of states (one thread, grouped in transactions); the API
reads, and changes ``lifecycle_state`` and ``link`` through the engine. Every read takes a
tenant scope.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import sqlalchemy as sa

from nephoscope.sql import Database
from nephoscope.sql.dialect import insert_ignore, upsert
from nephoscope.sql.schema import alarm_metrics, alarm_state_history, alarms
from nephoscope.tenancy import ALL_TENANTS


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


class AlarmDatabase(Database):
    """``<data_dir>/alarms.sqlite`` (or the cluster's database) with the alarm tables."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(Path(data_dir), "alarms.sqlite", ("alarms",))


def _alarm_row(record: AlarmRecord) -> dict:
    return dict(zip(_ALARM_NAMES, (
        record.id, record.definition_id, record.tenant, orjson.dumps(list(record.instance)).decode(),
        record.state, orjson.dumps(record.sub_states).decode(), record.lifecycle_state, record.link,
        record.created_at, record.updated_at, record.state_updated_at)))


def _history_row(change: StateChange) -> dict:
    return dict(zip(_HISTORY_NAMES, (
        change.alarm_id, change.tenant, change.timestamp_ms, change.old_state, change.new_state, change.reason,
        orjson.dumps(change.reason_data).decode(), orjson.dumps(change.metrics).decode(),
        orjson.dumps(change.sub_alarms).decode(), change.link, change.lifecycle_state)))


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
_ALARM_NAMES = tuple(name.strip() for name in _ALARM_COLUMNS.split(","))
_HISTORY_NAMES = tuple(name.strip() for name in _HISTORY_COLUMNS.split(","))
_SELECT_ALARMS = sa.select(*(alarms.c[name] for name in _ALARM_NAMES))
_SELECT_HISTORY = sa.select(*(alarm_state_history.c[name] for name in _HISTORY_NAMES))
_ALARM_UPDATES = ("state", "sub_states", "lifecycle_state", "link", "updated_at", "state_updated_at")


class AlarmRepository:
    """Writes (from the engine) and the reads the engine needs; listing lives in ``queries``."""

    def __init__(self, database: AlarmDatabase) -> None:
        self.database = database

    # -- writes ------------------------------------------------------------------------------------
    def save(self, records: Iterable[AlarmRecord], new_metrics: Iterable[tuple[str, dict]] = (),
             history: Iterable[StateChange] = ()) -> None:
        """Upsert alarms, add metrics ``(alarm id, metric)`` and append history, in one transaction."""
        alarm_rows = [_alarm_row(record) for record in records]
        metric_rows = [dict(zip(("alarm_id", "name", "dimensions"), (alarm_id, *_metric_columns(metric))))
                       for alarm_id, metric in new_metrics]
        history_rows = [_history_row(change) for change in history]
        if not (alarm_rows or metric_rows or history_rows):
            return
        with self.database.transaction() as connection:
            upsert(connection, alarms, alarm_rows, ("id",), _ALARM_UPDATES)
            insert_ignore(connection, alarm_metrics, metric_rows)
            # A transition written again (an evaluator taking over replays it) replaces the row.
            upsert(connection, alarm_state_history, history_rows, ("alarm_id", "timestamp_ms"),
                   [name for name in _HISTORY_NAMES if name not in ("alarm_id", "timestamp_ms")])

    def delete(self, alarm_ids: list[str]) -> None:
        """Forget alarms and their metrics; their history stays (as in Monasca's persister)."""
        if not alarm_ids:
            return
        with self.database.transaction() as connection:
            for start in range(0, len(alarm_ids), 5000):  # within every database's limit of parameters
                chunk = alarm_ids[start:start + 5000]
                connection.execute(alarms.delete().where(alarms.c.id.in_(chunk)))
                connection.execute(alarm_metrics.delete().where(alarm_metrics.c.alarm_id.in_(chunk)))

    # -- reads ---------------------------------------------------------------------------------------
    def load_all(self) -> list[AlarmRecord]:
        """Every alarm with its metrics (for the engine at start)."""
        m = alarm_metrics.c
        metrics: dict[str, list[dict]] = {}
        with self.database.read() as connection:
            for alarm_id, name, dimensions in connection.execute(
                    sa.select(m.alarm_id, m.name, m.dimensions).order_by(m.alarm_id, m.name, m.dimensions)):
                metrics.setdefault(alarm_id, []).append({"name": name, "dimensions": orjson.loads(dimensions)})
            rows = connection.execute(_SELECT_ALARMS).all()
        return [record_from_row(row, metrics.get(row[0], [])) for row in rows]

    def ids_for_definition(self, definition_id: str) -> list[str]:
        with self.database.read() as connection:
            rows = connection.execute(sa.select(alarms.c.id).where(alarms.c.definition_id == definition_id)).all()
        return [row[0] for row in rows]

    def get(self, scope: str, alarm_id: str) -> AlarmRecord | None:
        query = _SELECT_ALARMS.where(alarms.c.id == alarm_id)
        if scope != ALL_TENANTS:
            query = query.where(alarms.c.tenant == scope)
        m = alarm_metrics.c
        with self.database.read() as connection:
            row = connection.execute(query).first()
            if row is None:
                return None
            rows = connection.execute(
                sa.select(m.name, m.dimensions).where(m.alarm_id == alarm_id).order_by(m.name, m.dimensions)).all()
        metrics = [{"name": name, "dimensions": orjson.loads(dimensions)} for name, dimensions in rows]
        return record_from_row(row, metrics)

    def history(self, alarm_id: str) -> list[StateChange]:
        query = _SELECT_HISTORY.where(alarm_state_history.c.alarm_id == alarm_id).order_by(
            alarm_state_history.c.timestamp_ms)
        with self.database.read() as connection:
            rows = connection.execute(query).all()
        return [history_from_row(row) for row in rows]
