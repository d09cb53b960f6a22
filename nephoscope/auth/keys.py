"""API keys, each bound to one project and a set of roles, in the metadata database.

Embedded, that is ``<data dir>/keys.sqlite``, so that ``nephoscope keys …`` can create and
revoke keys while the server runs on the same data dir; the server notices every committed
change through SQLite's ``data_version`` and honours it on the next request. With ``[cluster]
sql_url`` the keys are rows of the shared database: a node re-reads a cached key at most
``CLUSTER_CACHE_SECONDS`` after another node changed it. Only a SHA-256 hash of each token is
stored.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from nephoscope.sql import Database
from nephoscope.sql.schema import api_keys
from nephoscope.tenancy import Principal

ROLES = frozenset({"admin", "monasca-user", "monasca-agent", "monasca-read-only-user", "monasca-delegate",
                   "service"})
"""The roles a key may carry by default; a server adds the roles named in ``[security]``."""

TOKEN_PREFIX = "nps_"
CLUSTER_CACHE_SECONDS = 1.0
"""How long a node of a cluster trusts its cached lookups (another node's revocation takes this long)."""

_COLUMNS = (api_keys.c.id, api_keys.c.project, api_keys.c.roles, api_keys.c.description, api_keys.c.created_at,
            api_keys.c.revoked_at)
_LOOKUP = sa.select(api_keys.c.id, api_keys.c.project, api_keys.c.roles).where(
    api_keys.c.token_hash == sa.bindparam("token_hash"), api_keys.c.revoked_at.is_(None))


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    project: str
    roles: tuple[str, ...]
    description: str
    created_at: float
    revoked_at: float | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class KeyError_(ValueError):
    """A key request that cannot be honoured (unknown role, empty project…)."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def validate_roles(roles: list[str] | tuple[str, ...], known: frozenset[str] = ROLES) -> tuple[str, ...]:
    unknown = [role for role in roles if role not in known]
    if unknown:
        raise KeyError_(f"unknown role(s) {', '.join(unknown)}; known roles: {', '.join(sorted(known))}")
    if not roles:
        raise KeyError_("at least one role is needed")
    return tuple(dict.fromkeys(roles))


def _record(row: tuple) -> KeyRecord:
    return KeyRecord(row[0], row[1], tuple(row[2].split(",")), row[3], row[4], row[5])


class KeyStore:
    """Create, list, revoke and look up API keys in ``<data dir>/keys.sqlite`` (or the cluster's
    database). ``roles``: what a new key may carry (``ROLES`` and those of ``[security]``)."""

    def __init__(self, data_dir: Path, roles: frozenset[str] | set[str] | list[str] = ROLES) -> None:
        self.roles = frozenset(roles) | ROLES
        self.database = Database(data_dir, "keys.sqlite", ("keys",))
        self._sqlite = self.database.dialect == "sqlite"
        self._local = threading.local()  # per thread: the data_version last seen
        self._cache: dict[str, Principal | None] = {}
        self._generation = 0
        self._expires = 0.0  # cluster: when the cache is next dropped
        self._lock = threading.Lock()
        # The lookup's statement, compiled once: a request pays for the query, not for SQL text.
        self._lookup_sql = str(_LOOKUP.compile(dialect=self.database.engine.dialect))

    def create(self, project: str, roles: list[str] | tuple[str, ...], description: str = "") -> tuple[KeyRecord, str]:
        """Make a new key; returns its record and the token, which is never shown again."""
        project = project.strip()
        if not project or len(project) > 255:
            raise KeyError_("project must be 1 to 255 characters")
        roles = validate_roles(list(roles), self.roles)
        key_id = secrets.token_hex(6)
        token = f"{TOKEN_PREFIX}{key_id}_{secrets.token_urlsafe(24)}"
        record = KeyRecord(key_id, project, roles, description, time.time(), None)
        with self.database.transaction() as connection:
            connection.execute(api_keys.insert().values(
                id=key_id, token_hash=_hash(token), project=project, roles=",".join(roles), description=description,
                created_at=record.created_at))
        self._forget()
        return record, token

    def list(self, include_revoked: bool = False) -> list[KeyRecord]:
        query = sa.select(*_COLUMNS).order_by(api_keys.c.created_at, api_keys.c.id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        with self.database.read() as connection:
            return [_record(tuple(row)) for row in connection.execute(query)]

    def get(self, key_id: str) -> KeyRecord | None:
        with self.database.read() as connection:
            row = connection.execute(sa.select(*_COLUMNS).where(api_keys.c.id == key_id)).first()
        return _record(tuple(row)) if row else None

    def revoke(self, key_id: str) -> bool:
        with self.database.transaction() as connection:
            result = connection.execute(api_keys.update()
                                        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                                        .values(revoked_at=time.time()))
        self._forget()
        return result.rowcount > 0

    def _forget(self) -> None:
        # This connection's own commits do not move its data_version: clear explicitly.
        with self._lock:
            self._cache.clear()
            self._generation += 1

    def _changed_elsewhere(self) -> bool:
        """Whether another writer may have changed the keys since this thread last looked."""
        if self._sqlite:
            # data_version moves when another connection (the CLI, another thread) commits; it is
            # read on this thread's own connection, straight from the driver (the hot path).
            driver = self._local.__dict__.get("driver")
            if driver is None:
                driver = self._local.driver = self.database.pinned().connection.dbapi_connection
            version = driver.execute("PRAGMA data_version").fetchone()[0]
            if version != getattr(self._local, "version", None):
                self._local.version = version
                return True
            return False
        now = time.monotonic()
        if now >= self._expires:
            self._expires = now + CLUSTER_CACHE_SECONDS
            return True
        return False

    def _read(self, token_hash: str) -> tuple | None:
        if self._sqlite:
            driver = self._local.driver
            return driver.execute(self._lookup_sql, (token_hash,)).fetchone()
        with self.database.read() as connection:
            row = connection.execute(_LOOKUP, {"token_hash": token_hash}).first()
        return tuple(row) if row else None

    def lookup(self, token: str) -> Principal | None:
        """The principal of an active key, or None. Cached until any process changes the keys."""
        token_hash = _hash(token)
        with self._lock:
            if self._changed_elsewhere():
                self._cache.clear()
                self._generation += 1
            if token_hash in self._cache:
                return self._cache[token_hash]
            generation = self._generation
        row = self._read(token_hash)
        principal = Principal(row[1], frozenset(row[2].split(",")), row[0], issuer="key") if row else None
        with self._lock:
            # A revocation seen meanwhile by another thread makes this answer stale: do not cache it.
            if generation == self._generation:
                if len(self._cache) > 100_000:
                    self._cache.clear()
                self._cache[token_hash] = principal
        return principal

    def close(self) -> None:
        self.database.close()
