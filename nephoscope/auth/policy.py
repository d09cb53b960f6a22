"""What each role may do, in Monasca's terms.

``monasca-user`` may do everything in its project, ``monasca-read-only-user`` every
GET, ``monasca-agent`` only post metrics and logs, ``monasca-delegate`` post (and
read) for other projects with ``tenant_id``, and ``admin`` everything everywhere.
Keystone's ``service`` role (the services' own users: Aodh, Watcher, Ceilometer) may read, and
its PromQL queries see every project, as Aetos's ``telemetry:query:all_projects`` rule
(admin or service) lets them.
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
    Action.READ: frozenset({"admin", "monasca-user", "monasca-read-only-user", "monasca-delegate", "service"}),
    Action.WRITE_METRICS: frozenset({"admin", "monasca-user", "monasca-agent", "monasca-delegate"}),
    Action.WRITE: frozenset({"admin", "monasca-user"}),
    Action.ADMIN: frozenset({"admin"}),
}

DELEGATE_ROLES = frozenset({"admin", "monasca-delegate"})
ALL_PROJECTS_ROLES = frozenset({"admin", "service"})
"""Roles whose Prometheus-API reads see every project (Aetos's ``telemetry:query:all_projects``)."""


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


def may_delegate(principal: Principal) -> bool:
    """Whether the principal may write for other projects (Monasca's delegate rule)."""
    return bool(principal.roles & DELEGATE_ROLES)


def all_projects_scope(principal: Principal) -> str:
    """The scope of the Prometheus-style reads, as Aetos does it: admins and services (Aetos's
    ``telemetry:query:all_projects``: admin or service) read every project, anyone else their own."""
    return ALL_TENANTS if principal.roles & ALL_PROJECTS_ROLES else principal.project


def native_read_scope(principal: Principal, tenant_id: str | None) -> str:
    """The tenant scope of a native ``/v1`` read: an admin without ``tenant_id`` reads the whole cloud
    (an operator asking for error lines, failures or a trace means the cloud's, not the admin
    project's); ``tenant_id`` narrows it to one project. Everyone else as :func:`read_scope`. The
    Monasca ``/v2.0`` reads keep Monasca's meaning (own project unless ``tenant_id``)."""
    if not tenant_id and principal.is_admin:
        return ALL_TENANTS
    return read_scope(principal, tenant_id)
