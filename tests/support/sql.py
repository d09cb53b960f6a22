"""The metadata databases the SQL tests run on: SQLite (files under a data dir), the machine's
PostgreSQL (127.0.0.1:5432, trust, database ``test``) and MariaDB (127.0.0.1:3306, root, no
password). A test session makes its own database on each server (``nephoscope_test_<pid>``)
and drops it at the end; a missing server skips, and fails under CI=true (``missing``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from nephoscope.sql.schema import metadata

BACKENDS = ("sqlite", "postgresql", "mariadb")
ADMIN_URLS = {
    "postgresql": os.environ.get("NEPHOSCOPE_TEST_POSTGRESQL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    "mariadb": os.environ.get("NEPHOSCOPE_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test"),
}


def _admin(backend: str) -> sa.Engine:
    return sa.create_engine(ADMIN_URLS[backend], isolation_level="AUTOCOMMIT", poolclass=sa.NullPool,
                            connect_args={"connect_timeout": 5})


def create_database(backend: str, name: str) -> str:
    """Make the empty database ``name`` on ``backend``'s server; its URL. Raises when the server is absent."""
    engine = _admin(backend)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
    finally:
        engine.dispose()
    return sa.make_url(ADMIN_URLS[backend]).set(database=name).render_as_string(hide_password=False)


def drop_database(backend: str, name: str) -> None:
    engine = _admin(backend)
    try:
        with engine.connect() as connection:
            if backend == "postgresql":
                connection.exec_driver_sql(
                    f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' "
                    "AND pid <> pg_backend_pid()")
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
    finally:
        engine.dispose()


@contextmanager
def session_database(backend: str, suffix: str = "") -> Iterator[str]:
    name = f"nephoscope_test_{os.getpid()}{suffix}"
    url = create_database(backend, name)
    try:
        yield url
    finally:
        drop_database(backend, name)


def empty(url: str) -> None:
    """Delete every row of the metadata tables that exist (a test starts from nothing)."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.begin() as connection:
            present = set(sa.inspect(connection).get_table_names())
            for table in reversed(metadata.sorted_tables):
                if table.name in present:
                    connection.execute(table.delete())
    finally:
        engine.dispose()


def drop_tables(url: str) -> None:
    """Drop every metadata table and the migrations' version table (the database as created)."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.begin() as connection:
            metadata.drop_all(connection, checkfirst=True)
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    finally:
        engine.dispose()
