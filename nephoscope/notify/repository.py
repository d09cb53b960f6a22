"""Notification methods, the delivery outbox and periodic schedules in ``<data dir>/alarms.sqlite``.

This module owns the tables ``notification_methods``, ``notification_deliveries`` and
``notification_periodic`` (other modules keep their own tables in the same file).
WAL mode with ``synchronous=FULL``: a committed row survives a crash. One connection
per thread; writes that read-then-write run inside ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import orjson

from nephoscope.notify.model import AlarmTransition, Delivery, NotificationMethod
from nephoscope.sqlitefile import SqliteFile
from nephoscope.tenancy import ALL_TENANTS

_SCHEMA = """
CREATE TABLE IF NOT EXISTS notification_methods (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    address TEXT NOT NULL,
    period INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (tenant, name)
);
CREATE TABLE IF NOT EXISTS notification_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    tenant TEXT NOT NULL,
    alarm_id TEXT NOT NULL,
    method_id TEXT NOT NULL,
    method_name TEXT NOT NULL,
    method_type TEXT NOT NULL,
    address TEXT NOT NULL,
    transition TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    claimed_until REAL,
    last_error TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    delivered_at REAL,
    periodic INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS notification_deliveries_due ON notification_deliveries (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS notification_deliveries_tenant ON notification_deliveries (tenant, status);
CREATE TABLE IF NOT EXISTS notification_periodic (
    alarm_id TEXT NOT NULL,
    method_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    period INTEGER NOT NULL,
    transition TEXT NOT NULL,
    transition_key TEXT NOT NULL,
    next_due REAL NOT NULL,
    PRIMARY KEY (alarm_id, method_id)
);
"""

SORT_FIELDS = ("id", "name", "type", "address", "created_at", "updated_at")
_METHOD_COLUMNS = "id, tenant, name, type, address, period, created_at, updated_at"
_DELIVERY_COLUMNS = ("id, idempotency_key, tenant, alarm_id, method_id, method_name, method_type, address, "
                     "transition, status, attempts, next_attempt_at, last_error, created_at, updated_at, "
                     "delivered_at, periodic")
KeyFunction = Callable[[AlarmTransition, str, str], str]
"""(transition, method id, extra) -> idempotency key."""


class DuplicateName(Exception):
    """Another method of the project already has this name."""


class Database(SqliteFile):
    """``<data_dir>/alarms.sqlite`` with the notification tables."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(Path(data_dir) / "alarms.sqlite", _SCHEMA)


def _method(row: tuple) -> NotificationMethod:
    return NotificationMethod(row[0], row[1], row[2], row[3], row[4], int(row[5]), row[6], row[7])


def _delivery(row: tuple) -> Delivery:
    return Delivery(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7],
                    AlarmTransition.from_dict(orjson.loads(row[8])), row[9], row[10], row[11], row[12], row[13],
                    row[14], row[15], bool(row[16]))


def _scope(tenant: str) -> tuple[str, tuple]:
    return ("1=1", ()) if tenant == ALL_TENANTS else ("tenant = ?", (tenant,))


class MethodRepository:
    """CRUD of notification methods, each scoped to its project (``*`` = every project, reads only)."""

    def __init__(self, database: Database) -> None:
        self.db = database

    def create(self, tenant: str, name: str, type_: str, address: str, period: int) -> NotificationMethod:
        now = time.time()
        method = NotificationMethod(str(uuid.uuid4()), tenant, name, type_, address, period, now, now)
        try:
            self.db.connect().execute(
                f"INSERT INTO notification_methods ({_METHOD_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
                (method.id, tenant, name, type_, address, period, now, now))
        except sqlite3.IntegrityError:
            raise DuplicateName(name) from None
        return method

    def get(self, tenant: str, method_id: str) -> NotificationMethod | None:
        where, args = _scope(tenant)
        row = self.db.connect().execute(
            f"SELECT {_METHOD_COLUMNS} FROM notification_methods WHERE id = ? AND {where}", (method_id, *args)
        ).fetchone()
        return _method(row) if row else None

    def get_many(self, tenant: str, method_ids: list[str]) -> list[NotificationMethod]:
        if not method_ids:
            return []
        marks = ",".join("?" * len(method_ids))
        rows = self.db.connect().execute(
            f"SELECT {_METHOD_COLUMNS} FROM notification_methods WHERE tenant = ? AND id IN ({marks})",
            (tenant, *method_ids)).fetchall()
        by_id = {row[0]: _method(row) for row in rows}
        return [by_id[i] for i in dict.fromkeys(method_ids) if i in by_id]

    def list(self, tenant: str, sort: list[tuple[str, str]], offset: int, limit: int) -> list[NotificationMethod]:
        """``sort`` is [(field, 'asc'|'desc')] over SORT_FIELDS; ties break on id."""
        where, args = _scope(tenant)
        order = [f"{name} {'DESC' if direction == 'desc' else 'ASC'}" for name, direction in sort
                 if name in SORT_FIELDS]
        if not any(name == "id" for name, _ in sort):
            order.append("id ASC")
        rows = self.db.connect().execute(
            f"SELECT {_METHOD_COLUMNS} FROM notification_methods WHERE {where} ORDER BY {', '.join(order)} "
            "LIMIT ? OFFSET ?", (*args, limit, offset)).fetchall()
        return [_method(row) for row in rows]

    def update(self, tenant: str, method_id: str, name: str, type_: str, address: str,
               period: int) -> NotificationMethod | None:
        try:
            with self.db.transaction() as connection:
                cursor = connection.execute(
                    "UPDATE notification_methods SET name = ?, type = ?, address = ?, period = ?, updated_at = ? "
                    "WHERE id = ? AND tenant = ?", (name, type_, address, period, time.time(), method_id, tenant))
                if cursor.rowcount == 0:
                    return None
                row = connection.execute(f"SELECT {_METHOD_COLUMNS} FROM notification_methods WHERE id = ?",
                                         (method_id,)).fetchone()
        except sqlite3.IntegrityError:
            raise DuplicateName(name) from None
        return _method(row)

    def delete(self, tenant: str, method_id: str) -> bool:
        with self.db.transaction() as connection:
            cursor = connection.execute("DELETE FROM notification_methods WHERE id = ? AND tenant = ?",
                                        (method_id, tenant))
            connection.execute("DELETE FROM notification_periodic WHERE method_id = ? AND tenant = ?",
                               (method_id, tenant))
        return cursor.rowcount > 0


def _schedule(connection: sqlite3.Connection, transition: AlarmTransition, transition_key: str,
              method: NotificationMethod, first_due: float) -> None:
    existing = connection.execute(
        "SELECT transition_key, period FROM notification_periodic WHERE alarm_id = ? AND method_id = ?",
        (transition.alarm_id, method.id)).fetchone()
    if existing and existing[0] == transition_key and existing[1] == method.period:
        return
    connection.execute(
        "INSERT OR REPLACE INTO notification_periodic (alarm_id, method_id, tenant, period, transition, "
        "transition_key, next_due) VALUES (?,?,?,?,?,?,?)",
        (transition.alarm_id, method.id, method.tenant, method.period,
         orjson.dumps(transition.to_dict()).decode(), transition_key, first_due))


class DeliveryRepository:
    """The outbox rows: insert once per idempotency key, claim due rows, record outcomes."""

    def __init__(self, database: Database) -> None:
        self.db = database

    def insert(self, rows: list[tuple[str, NotificationMethod, AlarmTransition, bool]], now: float) -> list[int]:
        """Insert (key, method, transition, periodic) rows; a known key is skipped. Returns the new ids."""
        return self.enqueue(rows, [], [], now)

    def enqueue(self, rows: list[tuple[str, NotificationMethod, AlarmTransition, bool]],
                cancels: list[tuple[str, str]], schedules: list[tuple[AlarmTransition, str, NotificationMethod, float]],
                now: float) -> list[int]:
        """In one transaction (one fsync, however many transitions): insert deliveries, stop the
        periodic re-sends of (alarm id, all but this transition key), schedule new ones."""
        created = []
        with self.db.transaction() as connection:
            for key, method, transition, periodic in rows:
                cursor = connection.execute(
                    "INSERT OR IGNORE INTO notification_deliveries (idempotency_key, tenant, alarm_id, method_id, "
                    "method_name, method_type, address, transition, status, next_attempt_at, created_at, updated_at, "
                    "periodic) VALUES (?,?,?,?,?,?,?,?,'pending',?,?,?,?)",
                    (key, method.tenant, transition.alarm_id, method.id, method.name, method.type, method.address,
                     orjson.dumps(transition.to_dict()).decode(), now, now, now, int(periodic)))
                if cursor.rowcount:
                    created.append(int(cursor.lastrowid))
            if cancels:
                connection.executemany("DELETE FROM notification_periodic WHERE alarm_id = ? AND transition_key != ?",
                                       cancels)
            for transition, transition_key, method, first_due in schedules:
                _schedule(connection, transition, transition_key, method, first_due)
        return created

    def claim_due(self, now: float, limit: int, lease: float) -> list[Delivery]:
        with self.db.transaction() as connection:
            rows = connection.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM notification_deliveries WHERE status IN ('pending','failed') "
                "AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?) "
                "ORDER BY next_attempt_at, id LIMIT ?", (now, now, limit)).fetchall()
            connection.executemany("UPDATE notification_deliveries SET claimed_until = ? WHERE id = ?",
                                   [(now + lease, row[0]) for row in rows])
        return [_delivery(row) for row in rows]

    def release_claims(self) -> int:
        """Forget every claim (on start: this process owns the outbox; a crash left them stale)."""
        cursor = self.db.connect().execute(
            "UPDATE notification_deliveries SET claimed_until = NULL WHERE claimed_until IS NOT NULL")
        return cursor.rowcount

    def mark_delivered(self, delivery_ids: list[int], now: float) -> None:
        """One transaction for many: a burst of deliveries costs one fsync, not one each."""
        with self.db.transaction() as connection:
            connection.executemany(
                "UPDATE notification_deliveries SET status = 'delivered', attempts = attempts + 1, "
                "claimed_until = NULL, last_error = '', delivered_at = ?, updated_at = ? WHERE id = ?",
                [(now, now, delivery_id) for delivery_id in delivery_ids])

    def mark_failed(self, delivery_id: int, error: str, retry_at: float | None, now: float) -> None:
        """A failed attempt: retried at ``retry_at``, or a dead letter when it is None."""
        status = "dead" if retry_at is None else "failed"
        self.db.connect().execute(
            "UPDATE notification_deliveries SET status = ?, attempts = attempts + 1, claimed_until = NULL, "
            "last_error = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?",
            (status, error[:2000], retry_at if retry_at is not None else now, now, delivery_id))

    def retry(self, tenant: str, delivery_id: int, now: float) -> bool:
        """Send a dead letter again (attempts start over)."""
        where, args = _scope(tenant)
        cursor = self.db.connect().execute(
            f"UPDATE notification_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, "
            f"updated_at = ? WHERE id = ? AND status = 'dead' AND {where}", (now, now, delivery_id, *args))
        return cursor.rowcount > 0

    def get(self, tenant: str, delivery_id: int) -> Delivery | None:
        where, args = _scope(tenant)
        row = self.db.connect().execute(
            f"SELECT {_DELIVERY_COLUMNS} FROM notification_deliveries WHERE id = ? AND {where}",
            (delivery_id, *args)).fetchone()
        return _delivery(row) if row else None

    def list(self, tenant: str, status: str | None, offset: int, limit: int,
             alarm_id: str | None = None) -> list[Delivery]:
        where, args = _scope(tenant)
        clauses, values = [where], list(args)
        if status:
            clauses.append("status = ?")
            values.append(status)
        if alarm_id:
            clauses.append("alarm_id = ?")
            values.append(alarm_id)
        rows = self.db.connect().execute(
            f"SELECT {_DELIVERY_COLUMNS} FROM notification_deliveries WHERE {' AND '.join(clauses)} "
            "ORDER BY id DESC LIMIT ? OFFSET ?", (*values, limit, offset)).fetchall()
        return [_delivery(row) for row in rows]

    def depth(self) -> int:
        return self.db.connect().execute(
            "SELECT COUNT(*) FROM notification_deliveries WHERE status IN ('pending','failed')").fetchone()[0]

    def next_due(self) -> float | None:
        """The earliest time anything (a retry, a new delivery or a periodic re-send) is due."""
        connection = self.db.connect()
        delivery = connection.execute(
            "SELECT MIN(MAX(next_attempt_at, COALESCE(claimed_until, 0))) FROM notification_deliveries "
            "WHERE status IN ('pending','failed')").fetchone()[0]
        periodic = connection.execute("SELECT MIN(next_due) FROM notification_periodic").fetchone()[0]
        times = [t for t in (delivery, periodic) if t is not None]
        return min(times) if times else None

    # Periodic re-sends -------------------------------------------------------------------------

    def schedule_periodic(self, transition: AlarmTransition, transition_key: str, method: NotificationMethod,
                          first_due: float) -> None:
        """Re-send ``transition`` through ``method`` every period; kept if already scheduled for it."""
        with self.db.transaction() as connection:
            _schedule(connection, transition, transition_key, method, first_due)

    def cancel_periodic(self, alarm_id: str, keep_transition_key: str | None = None) -> int:
        if keep_transition_key is None:
            cursor = self.db.connect().execute("DELETE FROM notification_periodic WHERE alarm_id = ?", (alarm_id,))
        else:
            cursor = self.db.connect().execute(
                "DELETE FROM notification_periodic WHERE alarm_id = ? AND transition_key != ?",
                (alarm_id, keep_transition_key))
        return cursor.rowcount

    def periodic_count(self, alarm_id: str | None = None) -> int:
        if alarm_id is None:
            return self.db.connect().execute("SELECT COUNT(*) FROM notification_periodic").fetchone()[0]
        return self.db.connect().execute("SELECT COUNT(*) FROM notification_periodic WHERE alarm_id = ?",
                                         (alarm_id,)).fetchone()[0]

    def fire_periodic(self, now: float, key_of: KeyFunction) -> list[int]:
        """Turn every due schedule into a delivery and move it to its next due time.

        A schedule whose method is gone or whose period changed is dropped (as Monasca's
        periodic engine stops when the method's period changes). After downtime only one
        re-send is made, not one per missed period.
        """
        created = []
        with self.db.transaction() as connection:
            due = connection.execute(
                "SELECT alarm_id, method_id, tenant, period, transition, next_due FROM notification_periodic "
                "WHERE next_due <= ?", (now,)).fetchall()
            for alarm_id, method_id, tenant, period, transition_json, next_due in due:
                row = connection.execute(f"SELECT {_METHOD_COLUMNS} FROM notification_methods "
                                         "WHERE id = ? AND tenant = ?", (method_id, tenant)).fetchone()
                method = _method(row) if row else None
                if method is None or method.period != period or period <= 0:
                    connection.execute("DELETE FROM notification_periodic WHERE alarm_id = ? AND method_id = ?",
                                       (alarm_id, method_id))
                    continue
                transition = AlarmTransition.from_dict(orjson.loads(transition_json))
                key = key_of(transition, method_id, f"periodic:{int(next_due * 1000)}")
                cursor = connection.execute(
                    "INSERT OR IGNORE INTO notification_deliveries (idempotency_key, tenant, alarm_id, method_id, "
                    "method_name, method_type, address, transition, status, next_attempt_at, created_at, updated_at, "
                    "periodic) VALUES (?,?,?,?,?,?,?,?,'pending',?,?,?,1)",
                    (key, tenant, alarm_id, method_id, method.name, method.type, method.address, transition_json,
                     now, now, now))
                if cursor.rowcount:
                    created.append(int(cursor.lastrowid))
                following = next_due + period
                if following <= now:
                    following = now + period
                connection.execute("UPDATE notification_periodic SET next_due = ? WHERE alarm_id = ? AND method_id = ?",
                                   (following, alarm_id, method_id))
        return created
