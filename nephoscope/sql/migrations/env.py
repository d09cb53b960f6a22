"""Alembic's environment for its command line (writing a new revision: ``alembic -x`` with a
config whose ``script_location`` is this folder and a connection in its attributes). Nephoscope
itself runs the migrations without it (``nephoscope.sql.migrate._run``, the same configuration)."""

from alembic import context

from nephoscope.sql.schema import metadata

connection = context.config.attributes["connection"]
# render_as_batch: SQLite alters a table by copying it, which alembic's batch mode does.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
