"""The one dependency that hands the server's services to a handler."""

from __future__ import annotations

from fastapi import Request

from nephoscope.server.services import Services


async def get_services(request: Request) -> Services:
    """The container built at start-up (``server.services.open_services``)."""
    return request.app.state.services


def services_if_started(request: Request) -> Services | None:
    """The container, or None while the server starts or stops (health checks, open endpoints)."""
    return getattr(request.app.state, "services", None)
