"""``/api/v1/series``, ``/api/v1/labels`` and ``/api/v1/label/<name>/values``, with ``match[]``,
``start``, ``end`` and ``limit``, in the caller's scope."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from nephoscope.api.deps import get_services
from nephoscope.api.prometheus import params, responses
from nephoscope.api.security import requires
from nephoscope.metrics.promql import catalog, parse_selectors
from nephoscope.server.services import Services
from nephoscope.tenancy import Principal

router = APIRouter(prefix="/api/v1", tags=["Prometheus query API"])


async def _scope(request: Request, services: Services) -> tuple[params.Parameters, list, int | None, int | None]:
    found = await params.parameters(request, services.config.limits.max_body_bytes)
    selectors = parse_selectors(found.all("match[]"))
    start, end = params.optional_time(found, "start"), params.optional_time(found, "end")
    if start is not None and end is not None and end < start:
        raise params.invalid("end", "end timestamp must not be before start time")
    return found, selectors, start, (end + 1 if end is not None else None)


@router.api_route("/series", methods=["GET", "POST"], summary="Series matching selectors")
async def series(request: Request, principal: Principal = Depends(requires("telemetry:query")),
                 services: Services = Depends(get_services)) -> Response:
    found, selectors, start, end = await _scope(request, services)
    if not selectors:
        raise params.invalid("match[]", "no match[] parameter provided")
    listed = await run_in_threadpool(catalog.series, services.store, services.policy.query_scope(principal), selectors, start, end,
                                     params.limit(found))
    return responses.success(listed)


@router.api_route("/labels", methods=["GET", "POST"], summary="Label names")
async def label_names(request: Request, principal: Principal = Depends(requires("telemetry:query")),
                      services: Services = Depends(get_services)) -> Response:
    found, selectors, start, end = await _scope(request, services)
    names = await run_in_threadpool(catalog.label_names, services.store, services.policy.query_scope(principal), selectors, start,
                                    end, params.limit(found))
    return responses.success(names)


@router.get("/label/{name}/values", summary="Values of one label (__name__: metric names)")
async def label_values(request: Request, name: str, principal: Principal = Depends(requires("telemetry:query")),
                       services: Services = Depends(get_services)) -> Response:
    found, selectors, start, end = await _scope(request, services)
    values = await run_in_threadpool(catalog.label_values, services.store, services.policy.query_scope(principal), name, selectors,
                                     start, end, params.limit(found))
    return responses.success(values)
