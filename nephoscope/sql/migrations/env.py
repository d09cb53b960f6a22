"""Alembic's environment, driven by ``nephoscope.sql.migrate``: the connection comes in the
config's attributes (already in the caller's transaction, holding the migration lock)."""

from alembic import context

from nephoscope.sql.schema import metadata

connection = context.config.attributes["connection"]
# render_as_batch: SQLite alters a table by copying it, which alembic's batch mode does.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
