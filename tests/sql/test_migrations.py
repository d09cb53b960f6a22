"""Migrations: ``upgrade head`` on an empty database of each kind, and a data dir written before
the migrations existed (SQLite files made by ``CREATE TABLE IF NOT EXISTS``), which is stamped
and keeps every row; a file that is neither is refused untouched."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from nephoscope.alarms.definitions import DefinitionStore
from nephoscope.alarms.repository import AlarmDatabase, AlarmRepository
from nephoscope.audit.chain import COLUMNS, Pending, columns, follow
from nephoscope.audit.store import SqliteAuditStorage
from nephoscope.audit.verify import verify
from nephoscope.auth.keys import KeyStore
from nephoscope.metrics.metadata import MetadataStore
from nephoscope.notify.repository import Database as NotifyDatabase
from nephoscope.notify.repository import MethodRepository
from nephoscope.sql import Database, SchemaMismatch, bind
from nephoscope.sql.migrate import heads
from nephoscope.sql.schema import OWNERS, metadata
from tests.conftest import missing
from tests.sql.old_schema import PRE_ALEMBIC
from tests.support.sql import BACKENDS, session_database

pytestmark = pytest.mark.engines  # the distributed engines' lane (tests/lanes.py)

HEADS = set().union(*(heads(owner) for owner in OWNERS))


def _versions(database: Database) -> set[str]:
    return {row[0] for row in database.execute("SELECT version_num FROM alembic_version")}


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_head_on_an_empty_database(tmp_path: Path, backend: str) -> None:
    if backend == "sqlite":
        _upgrade_and_check(tmp_path)
        return
    try:
        context = session_database(backend, "_empty")
        url = context.__enter__()
    except sa.exc.OperationalError as error:
        missing(f"no {backend} server ({str(error).splitlines()[0]})", "start the machine's database servers")
    try:
        bind(tmp_path, url)
        _upgrade_and_check(tmp_path)
    finally:
        bind(tmp_path, "")
        context.__exit__(None, None, None)


def _upgrade_and_check(data_dir: Path) -> None:
    database = Database(data_dir, "all.sqlite", tuple(OWNERS))
    try:
        assert _versions(database) == HEADS
        present = set(sa.inspect(database.engine).get_table_names())
        assert {table.name for table in metadata.sorted_tables} <= present
    finally:
        database.close()
    again = Database(data_dir, "all.sqlite", tuple(OWNERS))  # at head: nothing to do
    try:
        assert _versions(again) == HEADS
    finally:
        again.close()


def _old_data_dir(data_dir: Path) -> str:
    """Files as the code before the migrations left them, with a row in each; the audit chain's head."""
    for name, schema in PRE_ALEMBIC.items():
        connection = sqlite3.connect(data_dir / name)
        connection.executescript(schema)
        connection.commit()
        connection.close()
    with sqlite3.connect(data_dir / "keys.sqlite") as connection:
        connection.execute("INSERT INTO api_keys VALUES ('k1', 'h1', 'p1', 'admin', 'old', 1.0, NULL)")
    with sqlite3.connect(data_dir / "prometheus_metadata.sqlite") as connection:
        connection.execute("INSERT INTO metric_metadata VALUES ('p1', 'up', 'gauge', 'Up.', '')")
    with sqlite3.connect(data_dir / "alarms.sqlite") as connection:
        connection.execute("INSERT INTO alarm_definitions VALUES ('d1', 't1', 'cpu', '', 'avg(cpu) > 1', '[]', "
                           "'LOW', '[]', '[]', '[]', 1, 1.0, 1.0)")
        connection.execute("INSERT INTO alarms VALUES ('a1', 'd1', 't1', '[]', 'OK', '[]', NULL, NULL, 1, 1, 1)")
        connection.execute("INSERT INTO notification_methods VALUES ('m1', 't1', 'hook', 'WEBHOOK', 'http://h', 0, "
                           "1, 1)")
    head = None
    with sqlite3.connect(data_dir / "audit.sqlite") as connection:
        for i in range(3):
            link = follow(head, Pending(1000 + i, "p1", 1, {"action": "create", "outcome": "success"}))
            fields = columns(link.record)
            connection.execute(f"INSERT INTO audit_records (seq, {', '.join(COLUMNS)}, record, hash) VALUES "
                               f"({', '.join('?' * (len(COLUMNS) + 3))})",
                               (link.seq, *(fields[name] for name in COLUMNS), link.text, link.hash))
            head = (link.seq, link.hash)
        connection.execute("INSERT INTO audit_head VALUES (1, ?, ?)", head)
    return head[1]


def test_a_data_dir_from_before_the_migrations_is_stamped_and_keeps_its_rows(tmp_path: Path) -> None:
    old_head = _old_data_dir(tmp_path)
    keys = KeyStore(tmp_path)
    assert [k.id for k in keys.list()] == ["k1"]
    keys.close()
    metadata_store = MetadataStore(tmp_path)
    assert list(metadata_store.families("p1")) == ["up"]
    metadata_store.close()
    definitions = DefinitionStore(tmp_path)
    assert definitions.get("t1", "d1").name == "cpu"
    alarms = AlarmDatabase(tmp_path)
    assert [r.id for r in AlarmRepository(alarms).load_all()] == ["a1"]
    notify = NotifyDatabase(tmp_path)
    assert MethodRepository(notify).get("t1", "m1").name == "hook"
    assert _versions(notify) == heads("definitions") | heads("alarms") | heads("notify")
    for database in (definitions.database, alarms, notify):
        database.close()
    audit = SqliteAuditStorage(tmp_path)
    try:
        assert audit.head() == (3, old_head)
        audit.append([Pending(2000, "p1", 1, {"action": "update", "outcome": "success"})])
        report = verify(audit.scan(), audit.head())
        assert report.intact and report.records == 4
        assert _versions(audit.database) == heads("audit")
    finally:
        audit.close()


def test_a_file_with_part_of_an_owners_tables_is_refused_untouched(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "alarms.sqlite") as connection:
        connection.execute("CREATE TABLE alarms (id TEXT PRIMARY KEY)")
    with pytest.raises(SchemaMismatch, match="alarm_metrics"):
        AlarmDatabase(tmp_path)
    with sqlite3.connect(tmp_path / "alarms.sqlite") as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"alarms"}
    with sqlite3.connect(tmp_path / "keys.sqlite") as connection:
        connection.execute("CREATE TABLE api_keys (id TEXT PRIMARY KEY, token_hash TEXT)")
    with pytest.raises(SchemaMismatch, match="lacks the columns project"):
        KeyStore(tmp_path)


def test_a_new_sqlite_file_gets_what_the_revisions_make(tmp_path: Path) -> None:
    """The embedded fast path (``schema`` tables stamped at head) and the revisions agree."""
    from nephoscope.sql.migrate import _create_at_head, _run

    def layout(name: str, make) -> set[tuple]:  # noqa: ANN001 - (connection, owner) -> None
        engine = sa.create_engine(f"sqlite:///{tmp_path / name}")
        with engine.begin() as connection:
            for owner in OWNERS:
                make(connection, owner)
            rows = connection.exec_driver_sql("SELECT type, name, tbl_name, sql FROM sqlite_master").all()
            versions = {row[0] for row in connection.exec_driver_sql("SELECT version_num FROM alembic_version")}
        engine.dispose()
        assert versions == HEADS
        # The same DDL, whatever the spaces inside parentheses.
        return {(kind, name, table, re.sub(r"\(\s+", "(", re.sub(r"\s+\)", ")", " ".join((sql or "").split()))))
                for kind, name, table, sql in rows}

    migrated = layout("migrated.sqlite", lambda connection, owner: _run(connection, f"{owner}@head"))
    created = layout("created.sqlite", _create_at_head)
    assert created == migrated
