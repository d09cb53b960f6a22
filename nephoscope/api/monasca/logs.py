"""Monasca's log API: ``POST /v3.0/logs`` (monasca-log-api) and ``POST /v2.0/logs`` (the same
handler merged into monasca-api). Answers 204 once the logs are stored durably."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from nephoscope.api.bodies import decode_content, read_body
from nephoscope.api.deps import get_services
from nephoscope.api.security import requires
from nephoscope.errors import Rejected
from nephoscope.logs.server.wire import decode_monasca
from nephoscope.server.services import Services
from nephoscope.tenancy import Principal

router = APIRouter(tags=["Monasca logs"])
MAX_LOG_BODY = 5 * 2**20  # the spec's 5 MB (Logstash's monasca_log_api output sends up to 5,120 KB)

_LOG = {"type": "object", "required": ["message"], "properties": {
    "message": {"type": "string", "minLength": 1},
    "dimensions": {"type": "object", "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 255}}}}
_BODY = {"type": "object", "required": ["logs"], "properties": {
    "dimensions": {"type": "object", "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 255}},
    "logs": {"type": "array", "items": _LOG}}}


async def _post_logs(request: Request, services: Services, principal: Principal, tenant_id: str | None) -> Response:
    content_type = request.headers.get("content-type")
    if content_type is None:
        raise Rejected(400, "Content-Type application/json is required")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise Rejected(415, f"Content-Type {content_type!r} is not supported; use application/json")
    if request.headers.get("content-length") is None and request.headers.get("transfer-encoding") is None:
        raise Rejected(411, "Content-Length is required")
    tenant = services.policy.effective_tenant(principal, tenant_id)
    body = await read_body(request, MAX_LOG_BODY)
    body = decode_content(body, request.headers.get("content-encoding"), services.config.limits.max_decompressed_bytes)
    groups = decode_monasca(body)
    service = services.logs
    for source, lines in groups.groups.items():
        await run_in_threadpool(service.ingest, lines, source, tenant)
    headers = {"X-Nephoscope-Dropped-Logs": str(len(groups.dropped))} if groups.dropped else None
    return Response(status_code=204, headers=headers)


_DOC = dict(status_code=204, openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
    "schema": _BODY}}}}, responses={204: {"description": "stored durably"}, 422: {"description": "no logs"}})


@router.post("/v3.0/logs", summary="Send logs (monasca-log-api)", **_DOC)
async def post_logs_v3(request: Request, tenant_id: str | None = None,
                       principal: Principal = Depends(requires("api:logs:post")),
                       services: Services = Depends(get_services)) -> Response:
    """``{"dimensions": {...}, "logs": [{"message": ..., "dimensions": {...}}]}``; each log's
    dimensions overlay the global ones. A log without a message or with bad dimensions is dropped
    alone (the count is in ``X-Nephoscope-Dropped-Logs``); bad global dimensions refuse the request."""
    return await _post_logs(request, services, principal, tenant_id)


@router.post("/v2.0/logs", summary="Send logs (monasca-api's merged log API)", **_DOC)
async def post_logs_v2(request: Request, tenant_id: str | None = None, project_id: str | None = None,
                       principal: Principal = Depends(requires("api:logs:post")),
                       services: Services = Depends(get_services)) -> Response:
    """As ``/v3.0/logs``; monasca-api reads the other project as ``project_id``."""
    return await _post_logs(request, services, principal, tenant_id or project_id)
