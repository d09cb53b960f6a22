"""Who is calling and which projects a read covers.

``Principal`` is what authentication yields (a project and roles, however the token was
checked); ``ALL_TENANTS`` is the one scope that crosses projects. Every domain's reads take a
scope; only the policy layer grants ``ALL_TENANTS``. Imports nothing of nephoscope.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the project the key is bound to and the roles it carries."""

    project: str
    roles: frozenset[str]
    key_id: str = ""

    def has(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


ALL_TENANTS = "*"
"""A scope that crosses tenants; only admin principals obtain it."""
