"""``GET /api/v1/metadata``: metric family metadata (type, help, unit) as senders declared it
through remote write and OTLP, in Prometheus's format; ``metric``, ``limit`` and
``limit_per_metric`` as Prometheus reads them (a negative limit is none). A project's token
sees what its writers and the delegates declared; an admin sees every project's."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from nephoscope.api.deps import get_services
from nephoscope.api.prometheus import responses
from nephoscope.api.prometheus.params import invalid
from nephoscope.api.security import requires
from nephoscope.server.services import Services
from nephoscope.tenancy import Principal

router = APIRouter(prefix="/api/v1", tags=["Prometheus"])


def _limit(text: str | None, name: str) -> int | None:
    """A limit as Prometheus reads it here: absent or negative is none, 0 returns nothing."""
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise invalid(name, f'cannot parse "{text}" to a valid limit') from None
    return value if value >= 0 else None


@router.get("/metadata", summary="Metric metadata (Prometheus)")
async def metadata(metric: str | None = Query(None, description="only this metric family"),
                   limit: str | None = Query(None, description="at most this many families"),
                   limit_per_metric: str | None = Query(None, description="at most this many entries per family"),
                   principal: Principal = Depends(requires("telemetry:query")),
                   services: Services = Depends(get_services)) -> Response:
    families = services.metrics.metric_metadata(services.policy.query_scope(principal), metric or None,
                                                _limit(limit, "limit"), _limit(limit_per_metric, "limit_per_metric"))
    return responses.success({family: [{"type": e.type, "help": e.help, "unit": e.unit} for e in entries]
                              for family, entries in families.items()})
