"""Notification methods, the delivery outbox and periodic schedules in the metadata database
(``<data dir>/alarms.sqlite``, or the cluster's database).

This module owns the tables ``notification_methods``, ``notification_deliveries`` and
``notification_periodic`` (``nephoscope.sql.schema``; other modules keep their own tables in the
same database). A delivery is inserted once per idempotency key by the database's unique key,
however many nodes enqueue the same transition; due rows are claimed ``FOR UPDATE SKIP LOCKED``
on PostgreSQL and MariaDB (SQLite: the claiming transaction holds the write lock), so two
notifiers never claim the same row.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nephoscope.notify.model import AlarmTransition, Delivery, NotificationMethod
from nephoscope.sql import Database as _Database
from nephoscope.sql.dialect import insert_ignore_id, upsert
from nephoscope.sql.schema import notification_deliveries, notification_methods, notification_periodic
from nephoscope.tenancy import ALL_TENANTS

SORT_FIELDS = ("id", "name", "type", "address", "created_at", "updated_at")
_METHOD_COLUMNS = ("id", "tenant", "name", "type", "address", "period", "created_at", "updated_at")
_DELIVERY_COLUMNS = ("id", "idempotency_key", "tenant", "alarm_id", "method_id", "method_name", "method_type",
                     "address", "transition", "status", "attempts", "next_attempt_at", "last_error", "created_at",
                     "updated_at", "delivered_at", "periodic")
M = notification_methods.c
D = notification_deliveries.c
P = notification_periodic.c
_SELECT_METHODS = sa.select(*(M[name] for name in _METHOD_COLUMNS))
_SELECT_DELIVERIES = sa.select(*(D[name] for name in _DELIVERY_COLUMNS))
_ACTIVE = D.status.in_(("pending", "failed"))
KeyFunction = Callable[[AlarmTransition, str, str], str]
"""(transition, method id, extra) -> idempotency key."""


class DuplicateName(Exception):
    """Another method of the project already has this name."""


class Database(_Database):
    """``<data_dir>/alarms.sqlite`` (or the cluster's database) with the notification tables."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(Path(data_dir), "alarms.sqlite", ("notify",))


def _method(row: tuple) -> NotificationMethod:
    return NotificationMethod(row[0], row[1], row[2], row[3], row[4], int(row[5]), row[6], row[7])


def _delivery(row: tuple) -> Delivery:
    return Delivery(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7],
                    AlarmTransition.from_dict(orjson.loads(row[8])), row[9], row[10], row[11], row[12], row[13],
                    row[14], row[15], bool(row[16]))


def _scope(column: Any, tenant: str) -> Any:
    return sa.true() if tenant == ALL_TENANTS else column == tenant


class MethodRepository:
    """CRUD of notification methods, each scoped to its project (``*`` = every project, reads only)."""

    def __init__(self, database: Database) -> None:
        self.db = database

    def create(self, tenant: str, name: str, type_: str, address: str, period: int) -> NotificationMethod:
        now = time.time()
        method = NotificationMethod(str(uuid.uuid4()), tenant, name, type_, address, period, now, now)
        try:
            with self.db.transaction() as connection:
                connection.execute(notification_methods.insert().values(dict(zip(_METHOD_COLUMNS, (
                    method.id, tenant, name, type_, address, period, now, now)))))
        except sa.exc.IntegrityError:
            raise DuplicateName(name) from None
        return method

    def get(self, tenant: str, method_id: str) -> NotificationMethod | None:
        with self.db.read() as connection:
            row = connection.execute(_SELECT_METHODS.where(M.id == method_id, _scope(M.tenant, tenant))).first()
        return _method(row) if row else None

    def get_many(self, tenant: str, method_ids: list[str]) -> list[NotificationMethod]:
        if not method_ids:
            return []
        with self.db.read() as connection:
            rows = connection.execute(_SELECT_METHODS.where(M.tenant == tenant, M.id.in_(method_ids))).all()
        by_id = {row[0]: _method(row) for row in rows}
        return [by_id[i] for i in dict.fromkeys(method_ids) if i in by_id]

    def list(self, tenant: str, sort: list[tuple[str, str]], offset: int, limit: int) -> list[NotificationMethod]:
        """``sort`` is [(field, 'asc'|'desc')] over SORT_FIELDS; ties break on id."""
        order = [M[name].desc() if direction == "desc" else M[name].asc() for name, direction in sort
                 if name in SORT_FIELDS]
        if not any(name == "id" for name, _ in sort):
            order.append(M.id.asc())
        query = _SELECT_METHODS.where(_scope(M.tenant, tenant)).order_by(*order).limit(limit).offset(offset)
        with self.db.read() as connection:
            return [_method(row) for row in connection.execute(query)]

    def update(self, tenant: str, method_id: str, name: str, type_: str, address: str,
               period: int) -> NotificationMethod | None:
        try:
            with self.db.transaction() as connection:
                result = connection.execute(notification_methods.update().where(M.id == method_id, M.tenant == tenant)
                                            .values(name=name, type=type_, address=address, period=period,
                                                    updated_at=time.time()))
                if result.rowcount == 0:
                    return None
                row = connection.execute(_SELECT_METHODS.where(M.id == method_id)).first()
        except sa.exc.IntegrityError:
            raise DuplicateName(name) from None
        return _method(row)

    def delete(self, tenant: str, method_id: str) -> bool:
        with self.db.transaction() as connection:
            result = connection.execute(notification_methods.delete().where(M.id == method_id, M.tenant == tenant))
            connection.execute(notification_periodic.delete().where(P.method_id == method_id, P.tenant == tenant))
        return result.rowcount > 0


def _schedule(connection: Connection, transition: AlarmTransition, transition_key: str,
              method: NotificationMethod, first_due: float) -> None:
    existing = connection.execute(sa.select(P.transition_key, P.period).where(
        P.alarm_id == transition.alarm_id, P.method_id == method.id)).first()
    if existing and existing[0] == transition_key and existing[1] == method.period:
        return
    row = {"alarm_id": transition.alarm_id, "method_id": method.id, "tenant": method.tenant, "period": method.period,
           "transition": orjson.dumps(transition.to_dict()).decode(), "transition_key": transition_key,
           "next_due": first_due}
    upsert(connection, notification_periodic, [row], ("alarm_id", "method_id"),
           ("tenant", "period", "transition", "transition_key", "next_due"))


def _delivery_row(key: str, tenant: str, alarm_id: str, method: NotificationMethod, transition: str, now: float,
                  periodic: bool) -> dict:
    return {"idempotency_key": key, "tenant": tenant, "alarm_id": alarm_id, "method_id": method.id,
            "method_name": method.name, "method_type": method.type, "address": method.address,
            "transition": transition, "status": "pending", "next_attempt_at": now, "created_at": now,
            "updated_at": now, "periodic": int(periodic)}


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
                new_id = insert_ignore_id(connection, notification_deliveries, _delivery_row(
                    key, method.tenant, transition.alarm_id, method, orjson.dumps(transition.to_dict()).decode(), now,
                    periodic))
                if new_id is not None:
                    created.append(new_id)
            for alarm_id, keep in cancels:
                connection.execute(notification_periodic.delete().where(P.alarm_id == alarm_id,
                                                                        P.transition_key != keep))
            for transition, transition_key, method, first_due in schedules:
                _schedule(connection, transition, transition_key, method, first_due)
        return created

    def claim_due(self, now: float, limit: int, lease: float) -> list[Delivery]:
        query = (_SELECT_DELIVERIES.where(_ACTIVE, D.next_attempt_at <= now,
                                          sa.or_(D.claimed_until.is_(None), D.claimed_until <= now))
                 .order_by(D.next_attempt_at, D.id).limit(limit).with_for_update(skip_locked=True))
        with self.db.transaction() as connection:
            rows = connection.execute(query).all()
            if rows:
                connection.execute(notification_deliveries.update().where(D.id.in_([row[0] for row in rows]))
                                   .values(claimed_until=now + lease))
        return [_delivery(row) for row in rows]

    def release_claims(self) -> int:
        """Forget every claim (on start: this process owns the outbox; a crash left them stale).
        Not on a cluster's database: other notifiers' claims are live there, and a dead one's
        expire after their lease."""
        if self.db.dialect != "sqlite":
            return 0
        with self.db.transaction() as connection:
            return connection.execute(notification_deliveries.update().where(D.claimed_until.is_not(None))
                                      .values(claimed_until=None)).rowcount

    def mark_delivered(self, delivery_ids: list[int], now: float) -> None:
        """One transaction for many: a burst of deliveries costs one fsync, not one each."""
        if not delivery_ids:
            return
        with self.db.transaction() as connection:
            connection.execute(notification_deliveries.update().where(D.id.in_(delivery_ids)).values(
                status="delivered", attempts=D.attempts + 1, claimed_until=None, last_error="", delivered_at=now,
                updated_at=now))

    def mark_failed(self, delivery_id: int, error: str, retry_at: float | None, now: float) -> None:
        """A failed attempt: retried at ``retry_at``, or a dead letter when it is None."""
        with self.db.transaction() as connection:
            connection.execute(notification_deliveries.update().where(D.id == delivery_id).values(
                status="dead" if retry_at is None else "failed", attempts=D.attempts + 1, claimed_until=None,
                last_error=error[:2000], next_attempt_at=retry_at if retry_at is not None else now, updated_at=now))

    def retry(self, tenant: str, delivery_id: int, now: float) -> bool:
        """Send a dead letter again (attempts start over)."""
        with self.db.transaction() as connection:
            result = connection.execute(notification_deliveries.update().where(
                D.id == delivery_id, D.status == "dead", _scope(D.tenant, tenant)).values(
                status="pending", attempts=0, next_attempt_at=now, updated_at=now))
        return result.rowcount > 0

    def get(self, tenant: str, delivery_id: int) -> Delivery | None:
        with self.db.read() as connection:
            row = connection.execute(_SELECT_DELIVERIES.where(D.id == delivery_id, _scope(D.tenant, tenant))).first()
        return _delivery(row) if row else None

    def list(self, tenant: str, status: str | None, offset: int, limit: int,
             alarm_id: str | None = None) -> list[Delivery]:
        query = _SELECT_DELIVERIES.where(_scope(D.tenant, tenant))
        if status:
            query = query.where(D.status == status)
        if alarm_id:
            query = query.where(D.alarm_id == alarm_id)
        with self.db.read() as connection:
            rows = connection.execute(query.order_by(D.id.desc()).limit(limit).offset(offset)).all()
        return [_delivery(row) for row in rows]

    def depth(self) -> int:
        with self.db.read() as connection:
            return connection.execute(sa.select(sa.func.count()).select_from(notification_deliveries)
                                      .where(_ACTIVE)).scalar_one()

    def next_due(self) -> float | None:
        """The earliest time anything (a retry, a new delivery or a periodic re-send) is due."""
        claimed = sa.func.coalesce(D.claimed_until, 0)
        ready = sa.case((claimed > D.next_attempt_at, claimed), else_=D.next_attempt_at)
        with self.db.read() as connection:
            delivery = connection.execute(sa.select(sa.func.min(ready)).where(_ACTIVE)).scalar()
            periodic = connection.execute(sa.select(sa.func.min(P.next_due))).scalar()
        times = [t for t in (delivery, periodic) if t is not None]
        return min(times) if times else None

    # Periodic re-sends -------------------------------------------------------------------------

    def schedule_periodic(self, transition: AlarmTransition, transition_key: str, method: NotificationMethod,
                          first_due: float) -> None:
        """Re-send ``transition`` through ``method`` every period; kept if already scheduled for it."""
        with self.db.transaction() as connection:
            _schedule(connection, transition, transition_key, method, first_due)

    def cancel_periodic(self, alarm_id: str, keep_transition_key: str | None = None) -> int:
        statement = notification_periodic.delete().where(P.alarm_id == alarm_id)
        if keep_transition_key is not None:
            statement = statement.where(P.transition_key != keep_transition_key)
        with self.db.transaction() as connection:
            return connection.execute(statement).rowcount

    def periodic_count(self, alarm_id: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(notification_periodic)
        if alarm_id is not None:
            query = query.where(P.alarm_id == alarm_id)
        with self.db.read() as connection:
            return connection.execute(query).scalar_one()

    def fire_periodic(self, now: float, key_of: KeyFunction) -> list[int]:
        """Turn every due schedule into a delivery and move it to its next due time.

        A schedule whose method is gone or whose period changed is dropped (as Monasca's
        periodic engine stops when the method's period changes). After downtime only one
        re-send is made, not one per missed period.
        """
        created = []
        with self.db.transaction() as connection:
            due = connection.execute(
                sa.select(P.alarm_id, P.method_id, P.tenant, P.period, P.transition, P.next_due)
                .where(P.next_due <= now).with_for_update(skip_locked=True)).all()
            for alarm_id, method_id, tenant, period, transition_json, next_due in due:
                row = connection.execute(_SELECT_METHODS.where(M.id == method_id, M.tenant == tenant)).first()
                method = _method(row) if row else None
                here = sa.and_(P.alarm_id == alarm_id, P.method_id == method_id)
                if method is None or method.period != period or period <= 0:
                    connection.execute(notification_periodic.delete().where(here))
                    continue
                transition = AlarmTransition.from_dict(orjson.loads(transition_json))
                key = key_of(transition, method_id, f"periodic:{int(next_due * 1000)}")
                new_id = insert_ignore_id(connection, notification_deliveries,
                                          _delivery_row(key, tenant, alarm_id, method, transition_json, now, True))
                if new_id is not None:
                    created.append(new_id)
                following = next_due + period
                if following <= now:
                    following = now + period
                connection.execute(notification_periodic.update().where(here).values(next_due=following))
        return created
