"""``/api/v1/query`` and ``/api/v1/query_range`` (GET, or POST with a form body), and the empty
``/api/v1/query_exemplars`` Grafana asks for when exemplars are on.

The query runs in the caller's scope: a project's token sees its project's series only, admins and
services every project (``auth.policy.Policy.query_scope``: ``telemetry:query:all_projects``).
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from nephoscope.api.deps import get_services
from nephoscope.api.prometheus import params, responses
from nephoscope.api.security import requires
from nephoscope.server.services import Services
from nephoscope.tenancy import Principal

router = APIRouter(prefix="/api/v1", tags=["Prometheus query API"])

_QUERY_DOC = {"parameters": [
    {"name": "query", "in": "query", "required": True, "schema": {"type": "string"}, "description": "PromQL"},
    {"name": "time", "in": "query", "schema": {"type": "string"},
     "description": "RFC 3339 or Unix seconds; default now"},
    {"name": "timeout", "in": "query", "schema": {"type": "string"}, "description": "e.g. 30s"}]}
_RANGE_DOC = {"parameters": [
    {"name": "query", "in": "query", "required": True, "schema": {"type": "string"}, "description": "PromQL"},
    {"name": "start", "in": "query", "required": True, "schema": {"type": "string"}},
    {"name": "end", "in": "query", "required": True, "schema": {"type": "string"}},
    {"name": "step", "in": "query", "required": True, "schema": {"type": "string"},
     "description": "a duration (15s) or float seconds"},
    {"name": "timeout", "in": "query", "schema": {"type": "string"}}]}


def _timeout(found: params.Parameters) -> float | None:
    text = found.get("timeout")
    return params.duration_ms(text, "timeout") / 1000 if text else None


def _required(found: params.Parameters, name: str, kind: str) -> str:
    text = found.get(name)
    if text in (None, ""):
        raise params.invalid(name, f'cannot parse "" to a valid {kind}')
    return text


@router.api_route("/query", methods=["GET", "POST"], summary="Instant query (PromQL)", openapi_extra=_QUERY_DOC)
async def instant_query(request: Request, principal: Principal = Depends(requires("telemetry:query")),
                        services: Services = Depends(get_services)) -> Response:
    found = await params.parameters(request, services.config.limits.max_body_bytes)
    at = params.optional_time(found, "time")
    moment = at if at is not None else int(time.time() * 1000)
    answer = await run_in_threadpool(services.promql.instant, found.get("query") or "", moment,
                                     services.policy.query_scope(principal), _timeout(found))
    return responses.result(answer)


@router.api_route("/query_range", methods=["GET", "POST"], summary="Range query (PromQL)",
                  openapi_extra=_RANGE_DOC)
async def range_query(request: Request, principal: Principal = Depends(requires("telemetry:query")),
                      services: Services = Depends(get_services)) -> Response:
    found = await params.parameters(request, services.config.limits.max_body_bytes)
    start = params.time_ms(_required(found, "start", "timestamp"), "start")
    end = params.time_ms(_required(found, "end", "timestamp"), "end")
    step = params.duration_ms(_required(found, "step", "duration"), "step")
    answer = await run_in_threadpool(services.promql.range, found.get("query") or "", start, end, step,
                                     services.policy.query_scope(principal), _timeout(found))
    return responses.result(answer)


@router.api_route("/query_exemplars", methods=["GET", "POST"], summary="Exemplars (none are stored)")
async def query_exemplars(request: Request, _: Principal = Depends(requires("telemetry:query"))) -> Response:
    return responses.success([])
