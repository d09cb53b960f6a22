"""What differs between SQLite, PostgreSQL and MariaDB/MySQL, said once: insert-or-update,
insert-if-absent (with the new row's id) and the JSON object's keys as a table.

Uniqueness is the database's (primary keys and unique constraints): two nodes inserting the
same key at once both succeed in saying it, and one row results.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection


def _insert(connection: Connection, table: sa.Table) -> Any:
    name = connection.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "mysql":
        return mysql.insert(table)
    return sqlite.insert(table)


def upsert(connection: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str],
           update: Iterable[str]) -> None:
    """Insert ``rows``; a row whose ``keys`` exist already updates the ``update`` columns instead."""
    if not rows:
        return
    statement = _insert(connection, table)
    columns = list(update)
    if connection.dialect.name == "mysql":
        statement = statement.on_duplicate_key_update({name: statement.inserted[name] for name in columns})
    else:
        statement = statement.on_conflict_do_update(index_elements=list(keys),
                                                    set_={name: statement.excluded[name] for name in columns})
    connection.execute(statement, list(rows))


def insert_ignore(connection: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert the ``rows`` whose unique keys are all new (one executemany); the others are left."""
    if not rows:
        return
    statement = _insert(connection, table)
    if connection.dialect.name == "mysql":
        statement = statement.prefix_with("IGNORE")
    else:
        statement = statement.on_conflict_do_nothing()
    connection.execute(statement, [dict(row) for row in rows])


def insert_ignore_id(connection: Connection, table: sa.Table, row: Mapping[str, Any],
                     id_column: str = "id") -> int | None:
    """Insert ``row`` unless its unique keys exist; the new row's generated id, or None."""
    statement = _insert(connection, table)
    if connection.dialect.name == "mysql":
        result = connection.execute(statement.prefix_with("IGNORE"), dict(row))
        return int(result.lastrowid) if result.rowcount > 0 and result.lastrowid else None
    result = connection.execute(statement.on_conflict_do_nothing().returning(table.c[id_column]), dict(row))
    value = result.scalar()
    return None if value is None else int(value)


def json_keys(dialect: str, column: str, alias: str = "j") -> tuple[str, str, str]:
    """(FROM item, key expression, value expression): one row per key of the JSON object in
    ``column`` (SQL text), as ``json_each`` gives them on SQLite."""
    if dialect == "postgresql":
        return f"jsonb_each_text(CAST({column} AS jsonb)) {alias}", f"{alias}.key", f"{alias}.value"
    if dialect == "mysql":
        return (f"JSON_TABLE(JSON_KEYS({column}), '$[*]' COLUMNS (`key` VARCHAR(768) PATH '$')) {alias}",
                f"{alias}.`key`",
                f"JSON_UNQUOTE(JSON_EXTRACT({column}, CONCAT('$.\"', {alias}.`key`, '\"')))")
    return f"json_each({column}) {alias}", f"{alias}.key", f"{alias}.value"


def json_array_values(dialect: str, placeholder: str = "?") -> str:
    """A subquery of the strings of a JSON array bound at ``placeholder`` (one parameter for many ids)."""
    if dialect == "postgresql":
        return f"SELECT jsonb_array_elements_text(CAST({placeholder} AS jsonb))"
    if dialect == "mysql":
        return f"SELECT v FROM JSON_TABLE({placeholder}, '$[*]' COLUMNS (v VARCHAR(768) PATH '$')) jv"
    return f"SELECT value FROM json_each({placeholder})"
