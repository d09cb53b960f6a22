"""Column types that mean the same on the three databases.

``key(n)``: an identifier or name that is compared, indexed or part of a unique key; MariaDB
indexes need a bounded VARCHAR (``n`` characters), SQLite and PostgreSQL keep unbounded text
(PostgreSQL with the "C" collation, so rows sort bytewise as on SQLite). ``long_text``: a JSON
document or record (MariaDB's TEXT stops at 64 KiB). MariaDB tables are utf8mb4 with the binary
collation (``TABLE_OPTIONS``): its default collation would make "Web" and "web" one name.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}

long_text = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
double = sa.Double().with_variant(sa.REAL(), "sqlite")
big_integer = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite's INTEGER is 64-bit already


def key(length: int) -> sa.types.TypeEngine:
    return (sa.String(length)
            .with_variant(sa.Text(), "sqlite")
            .with_variant(postgresql.TEXT(collation="C"), "postgresql"))
