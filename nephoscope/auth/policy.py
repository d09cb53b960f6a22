"""What each role may do, in Monasca's terms.

``monasca-user`` may do everything in its project, ``monasca-read-only-user`` every
GET, ``monasca-agent`` only post metrics and logs, ``monasca-delegate`` post (and
read) for other projects with ``tenant_id``, and ``admin`` everything everywhere.
"""

from __future__ import annotations

from enum import Enum

from nephoscope.tenancy import ALL_TENANTS, Principal


class Action(str, Enum):
    READ = "read"
    WRITE_METRICS = "write_metrics"
    WRITE = "write"  # definitions, alarms, notification methods
    ADMIN = "admin"


_ALLOWED: dict[Action, frozenset[str]] = {
    Action.READ: frozenset({"admin", "monasca-user", "monasca-read-only-user", "monasca-delegate"}),
    Action.WRITE_METRICS: frozenset({"admin", "monasca-user", "monasca-agent", "monasca-delegate"}),
    Action.WRITE: frozenset({"admin", "monasca-user"}),
    Action.ADMIN: frozenset({"admin"}),
}

DELEGATE_ROLES = frozenset({"admin", "monasca-delegate"})


class Denied(Exception):
    """The principal lacks a role; ``reason`` says which roles would do."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def authorize(principal: Principal, action: Action) -> None:
    allowed = _ALLOWED[action]
    if not principal.roles & allowed:
        raise Denied(f"this action needs one of the roles {', '.join(sorted(allowed))}")


def effective_tenant(principal: Principal, tenant_id: str | None) -> str:
    """The project a request acts on: its own, or ``tenant_id`` for delegates and admins."""
    if not tenant_id or tenant_id == principal.project:
        return principal.project
    if tenant_id == ALL_TENANTS:
        raise Denied("tenant_id=* means every project and is only for reading (admin role)")
    if not principal.roles & DELEGATE_ROLES:
        raise Denied("tenant_id (acting for another project) needs the monasca-delegate or admin role")
    return tenant_id


def read_scope(principal: Principal, tenant_id: str | None) -> str:
    """The tenant scope of a read. Admins without tenant_id still read their own project,
    as Monasca does; ``tenant_id=*`` lets an admin read across every project."""
    if tenant_id == ALL_TENANTS:
        if not principal.is_admin:
            raise Denied("reading across all projects needs the admin role")
        return ALL_TENANTS
    return effective_tenant(principal, tenant_id)


def native_read_scope(principal: Principal, tenant_id: str | None) -> str:
    """The tenant scope of a native ``/v1`` read: an admin without ``tenant_id`` reads the whole cloud
    (an operator asking for error lines, failures or a trace means the cloud's, not the admin
    project's); ``tenant_id`` narrows it to one project. Everyone else as :func:`read_scope`. The
    Monasca ``/v2.0`` reads keep Monasca's meaning (own project unless ``tenant_id``)."""
    if not tenant_id and principal.is_admin:
        return ALL_TENANTS
    return read_scope(principal, tenant_id)
