"""The metadata database: SQLite files under the data dir (embedded) or one PostgreSQL or
MariaDB/MySQL database shared by every node (``[cluster] sql_url``), through SQLAlchemy Core.

Owns: the engines and their settings (``engine``), the tables of every metadata owner
(``schema``: API keys, audit trail, metric metadata, alarm definitions, alarms and their
history, notification methods and deliveries), the dialect differences (``dialect``: upsert,
insert-if-absent, paramstyle, JSON keys) and the alembic migrations shipped in the package
(``migrate``, ``migrations/``), run when a database is opened.

Imports, outside itself: SQLAlchemy and alembic only; every metadata owner imports it.
"""

from nephoscope.sql.engine import Database, bind, bound_url
from nephoscope.sql.migrate import SchemaMismatch

__all__ = ["Database", "SchemaMismatch", "bind", "bound_url"]
