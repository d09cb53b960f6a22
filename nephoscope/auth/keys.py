"""API keys kept under the data dir, each bound to one project and a set of roles.

The store is an SQLite file so that ``nephoscope keys …`` can create and revoke keys
while the server runs on the same data dir; the server notices every committed
change through SQLite's ``data_version`` and honours it on the next request.
Only a SHA-256 hash of each token is stored.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from nephoscope.sqlitefile import SqliteFile
from nephoscope.tenancy import Principal

ROLES = frozenset({"admin", "monasca-user", "monasca-agent", "monasca-read-only-user", "monasca-delegate",
                   "service"})
"""The roles a key may carry by default; a server adds the roles named in ``[security]``."""

TOKEN_PREFIX = "nps_"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    project TEXT NOT NULL,
    roles TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    revoked_at REAL
);
"""


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


class KeyStore:
    """Create, list, revoke and look up API keys in ``<data dir>/keys.sqlite``. ``roles``: what a
    new key may carry (``ROLES`` and those of ``[security]``)."""

    def __init__(self, data_dir: Path, roles: frozenset[str] | set[str] | list[str] = ROLES) -> None:
        self.roles = frozenset(roles) | ROLES
        self.database = SqliteFile(data_dir / "keys.sqlite", _SCHEMA)
        self._local = threading.local()  # per thread: the data_version last seen
        self._cache: dict[str, Principal | None] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        return self.database.connect()

    def create(self, project: str, roles: list[str] | tuple[str, ...], description: str = "") -> tuple[KeyRecord, str]:
        """Make a new key; returns its record and the token, which is never shown again."""
        project = project.strip()
        if not project or len(project) > 255:
            raise KeyError_("project must be 1 to 255 characters")
        roles = validate_roles(list(roles), self.roles)
        key_id = secrets.token_hex(6)
        token = f"{TOKEN_PREFIX}{key_id}_{secrets.token_urlsafe(24)}"
        record = KeyRecord(key_id, project, roles, description, time.time(), None)
        self._connect().execute(
            "INSERT INTO api_keys (id, token_hash, project, roles, description, created_at) VALUES (?,?,?,?,?,?)",
            (key_id, _hash(token), project, ",".join(roles), description, record.created_at),
        )
        self._forget()
        return record, token

    def list(self, include_revoked: bool = False) -> list[KeyRecord]:
        query = "SELECT id, project, roles, description, created_at, revoked_at FROM api_keys"
        if not include_revoked:
            query += " WHERE revoked_at IS NULL"
        rows = self._connect().execute(query + " ORDER BY created_at").fetchall()
        return [KeyRecord(r[0], r[1], tuple(r[2].split(",")), r[3], r[4], r[5]) for r in rows]

    def get(self, key_id: str) -> KeyRecord | None:
        row = self._connect().execute(
            "SELECT id, project, roles, description, created_at, revoked_at FROM api_keys WHERE id = ?", (key_id,)
        ).fetchone()
        return KeyRecord(row[0], row[1], tuple(row[2].split(",")), row[3], row[4], row[5]) if row else None

    def revoke(self, key_id: str) -> bool:
        cursor = self._connect().execute(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (time.time(), key_id)
        )
        self._forget()
        return cursor.rowcount > 0

    def _forget(self) -> None:
        # This connection's own commits do not move its data_version: clear explicitly.
        with self._lock:
            self._cache.clear()
            self._generation += 1

    def lookup(self, token: str) -> Principal | None:
        """The principal of an active key, or None. Cached until any process changes the keys."""
        connection = self._connect()
        version = connection.execute("PRAGMA data_version").fetchone()[0]
        token_hash = _hash(token)
        with self._lock:
            # data_version moves when another connection (the CLI, another thread) commits.
            if version != getattr(self._local, "version", None):
                self._cache.clear()
                self._generation += 1
                self._local.version = version
            if token_hash in self._cache:
                return self._cache[token_hash]
            generation = self._generation
        row = connection.execute(
            "SELECT id, project, roles FROM api_keys WHERE token_hash = ? AND revoked_at IS NULL", (token_hash,)
        ).fetchone()
        principal = Principal(row[1], frozenset(row[2].split(",")), row[0], issuer="key") if row else None
        with self._lock:
            # A revocation seen meanwhile by another thread makes this answer stale: do not cache it.
            if generation == self._generation:
                if len(self._cache) > 100_000:
                    self._cache.clear()
                self._cache[token_hash] = principal
        return principal
