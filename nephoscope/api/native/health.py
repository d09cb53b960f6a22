"""Health: ``/healthz`` for orchestration, Monasca's ``/healthcheck`` (no token while ``api:healthcheck``
allows anyone, its default)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from nephoscope.api import responses
from nephoscope.api.security import open_to

router = APIRouter(tags=["Health"], dependencies=[Depends(open_to("api:healthcheck"))])


def _status(request: Request) -> tuple[bool, dict]:
    # Answers while the server starts, before the services exist: no dependency on them.
    services = getattr(request.app.state, "services", None)
    ready = bool(getattr(request.app.state, "ready", False)) and services is not None
    details = {"store": "ok" if ready else "starting"}
    if ready:
        stats = services.metrics.stats()
        details.update({"series": stats.series, "head_points": stats.head_points,
                        "wal_pending_points": stats.pending_points})
    return ready, details


@router.get("/healthz", summary="Ready to serve (200) or starting (503)")
async def healthz(request: Request) -> Response:
    ready, details = _status(request)
    return responses.json_response(details, 200 if ready else 503)


@router.get("/healthcheck", summary="Monasca's health check")
@router.get("/v2.0/healthcheck", include_in_schema=False)
async def healthcheck(request: Request) -> Response:
    ready, _ = _status(request)
    message = "OK" if ready else "starting"
    return responses.json_response({"metrics_database": message, "alarms_database": message, "kafka": "n/a"},
                                   200 if ready else 503)
