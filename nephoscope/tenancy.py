"""Who is calling and which projects a read covers.

``Principal`` is what authentication yields (a project and roles, however the token was
checked: an API key, the static admin token or a Keystone token); ``ALL_TENANTS`` is the one
scope that crosses projects. Every domain's reads take a scope; only the policy layer
(``auth.policy``) decides what roles may do and grants ``ALL_TENANTS``. Imports nothing of
nephoscope.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the project the token is scoped to and the roles it carries, plus what is
    known of the user (Keystone tokens) or the key (API keys), for answers and audit records."""

    project: str
    roles: frozenset[str]
    key_id: str = ""
    # Who issued the token: "key" (an API key), "admin_token" (the static token) or "keystone".
    issuer: str = "key"
    user_id: str = ""
    user_name: str = ""
    # The user's domain (Keystone), by name when known, else by id.
    domain: str = ""
    project_name: str = ""
    # When the token stops being valid (Unix seconds; Keystone tokens), or None (keys do not expire).
    expires_at: float | None = None

    @property
    def name(self) -> str:
        """A short human name: the user, else the key, else the project."""
        return self.user_name or self.user_id or (f"key {self.key_id}" if self.key_id else f"project {self.project}")


ALL_TENANTS = "*"
"""A scope that crosses tenants; only the policy's admins obtain it."""
