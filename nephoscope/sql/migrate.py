"""Bringing a database to the schema this code expects, when an owner opens it.

Each owner (``schema.OWNERS``) is an alembic branch; opening upgrades the owner's branches to
their heads, under a lock every node honours (``BEGIN IMMEDIATE`` on SQLite, an advisory
transaction lock on PostgreSQL, ``GET_LOCK`` on MariaDB), so nodes starting together migrate
once. A file from before the migrations (its tables made by ``CREATE TABLE IF NOT EXISTS``)
is stamped at the branch's first revision after its tables and columns are checked, then
upgraded. A new SQLite file gets the tables of ``schema`` and is stamped at head (the revisions
make the same, checked by the tests). The common case, a database at head, costs one small query.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from nephoscope.sql.schema import OWNERS, metadata

if TYPE_CHECKING:
    from nephoscope.sql.engine import Database

_LOCATION = Path(__file__).parent / "migrations"
_LOCK = "nephoscope_migrations"
_LOCK_KEY = 0x6E657068  # the advisory lock's number on PostgreSQL ("neph")


class SchemaMismatch(RuntimeError):
    """A database whose tables are neither absent nor this code's: nothing is changed."""


@functools.cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_LOCATION))
    config.attributes["connection"] = connection
    return config


def heads(owner: str) -> set[str]:
    """The head revision(s) of ``owner``'s branch."""
    return {revision.revision for revision in _scripts().revision_map.get_revisions(f"{owner}@head")}


def _base(owner: str) -> str:
    return next(script.revision for script in _scripts().walk_revisions()
                if script.down_revision is None and owner in script.branch_labels)


def _run(connection: Connection, destination: str, stamp: bool = False) -> None:
    """What ``alembic upgrade``/``stamp`` do, on the parsed script directory kept by this process
    (the commands parse every revision file and run ``env.py`` again on each call: a data dir's
    first open would cost tens of milliseconds more per owner)."""
    script = _scripts()

    def steps(revision: object, _context: object) -> object:
        return script._stamp_revs(destination, revision) if stamp else script._upgrade_revs(destination, revision)

    with EnvironmentContext(_config(connection), script, fn=steps, destination_rev=destination) as environment:
        # render_as_batch: SQLite alters a table by copying it, which alembic's batch mode does.
        environment.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with environment.begin_transaction():
            environment.run_migrations()


def _create_at_head(connection: Connection, owner: str) -> None:
    """A new SQLite file: the owner's tables as ``schema`` declares them, stamped at head (what
    alembic advises for a new database; an embedded data dir's first open stays a millisecond
    affair). ``tests/sql/test_migrations.py`` checks that it makes what the revisions make."""
    metadata.create_all(connection, tables=OWNERS[owner])
    connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL, "
                               "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))")
    for revision in sorted(heads(owner)):
        connection.exec_driver_sql("INSERT INTO alembic_version (version_num) VALUES (?)", (revision,))


def _stamped(connection: Connection) -> set[str]:
    if not sa.inspect(connection).has_table("alembic_version"):
        return set()
    return {row[0] for row in connection.exec_driver_sql("SELECT version_num FROM alembic_version")}


def _current(database: Database) -> set[str]:
    try:
        with database.read() as connection:
            return {row[0] for row in connection.exec_driver_sql("SELECT version_num FROM alembic_version")}
    except sa.exc.DBAPIError:
        return set()  # no version table yet


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
    elif connection.dialect.name == "mysql":
        # Session-level (MariaDB's DDL commits implicitly): released in _unlock.
        if connection.exec_driver_sql(f"SELECT GET_LOCK('{_LOCK}', 300)").scalar() != 1:
            raise SchemaMismatch("another node holds the migration lock for more than 300 s")
    # SQLite: the transaction began IMMEDIATE, which is the file's write lock.


def _unlock(connection: Connection) -> None:
    if connection.dialect.name == "mysql":
        connection.exec_driver_sql(f"SELECT RELEASE_LOCK('{_LOCK}')")


def _check_existing(connection: Connection, owner: str) -> bool:
    """True when ``owner``'s tables are all there with this code's first columns (a pre-alembic
    file): it is stamped. False when none are there. Otherwise ``SchemaMismatch``."""
    inspector = sa.inspect(connection)
    tables = OWNERS[owner]
    present = [table for table in tables if inspector.has_table(table.name)]
    if not present:
        return False
    missing = [table.name for table in tables if table not in present]
    if missing:
        raise SchemaMismatch(f"{owner}: tables {', '.join(missing)} are missing beside "
                             f"{', '.join(t.name for t in present)}; restore the file or remove the others")
    for table in tables:
        columns = {column["name"] for column in inspector.get_columns(table.name)}
        lacking = [column.name for column in table.columns if column.name not in columns]
        if lacking:
            raise SchemaMismatch(f"{owner}: table {table.name} lacks the columns {', '.join(lacking)}")
    return True


def upgrade(database: Database, owners: tuple[str, ...]) -> None:
    """Bring ``owners``' branches of ``database`` to their heads (see the module's docstring)."""
    wanted = {owner: heads(owner) for owner in owners}
    current = _current(database)
    if all(revisions <= current for revisions in wanted.values()):
        return
    with database.transaction() as connection:
        _lock(connection)
        try:
            stamped = _stamped(connection)
            for owner, revisions in wanted.items():
                if revisions <= stamped:
                    continue
                # Revision ids are "<owner>_<number>" (the branch label only marks the first).
                branch = {script.revision for script in _scripts().walk_revisions()
                          if script.revision.startswith(f"{owner}_")}
                if branch & stamped:
                    _run(connection, f"{owner}@head")
                elif _check_existing(connection, owner):
                    _run(connection, _base(owner), stamp=True)
                    _run(connection, f"{owner}@head")
                elif connection.dialect.name == "sqlite":
                    _create_at_head(connection, owner)
                else:
                    _run(connection, f"{owner}@head")
                stamped = _stamped(connection)
        finally:
            _unlock(connection)
