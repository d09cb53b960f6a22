"""``POST /v1/points``: columnar batches of summary points (or raw samples)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from nephoscope.api import responses
from nephoscope.api.bodies import decode_content, read_body
from nephoscope.api.deps import get_services
from nephoscope.api.security import requires
from nephoscope.errors import Rejected
from nephoscope.metrics.ingest import native
from nephoscope.server.services import Services
from nephoscope.tenancy import Principal

router = APIRouter(prefix="/v1", tags=["Native ingest"])

_COLUMN = {"oneOf": [{"type": "array", "items": {"type": "number"}},
                     {"type": "string", "format": "byte", "description": "little-endian binary, base64 in JSON"}]}
_SCHEMA = {
    "type": "object",
    "required": ["series", "series_index", "timestamp"],
    "properties": {
        "series": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"}, "dimensions": {"type": "object", "additionalProperties": {"type": "string"}}}}},
        "series_index": _COLUMN, "timestamp": _COLUMN, "value": _COLUMN,
        "count": _COLUMN, "sum": _COLUMN, "min": _COLUMN, "max": _COLUMN, "last": _COLUMN,
        "tenant_id": {"type": "string"},
    },
}


@router.post(
    "/points", summary="Ingest a columnar batch of points",
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": _SCHEMA}, "application/msgpack": {"schema": _SCHEMA}}}},
    responses={200: {"description": "stored durably: {\"accepted\": N}"}, 413: {"description": "body too large"},
               422: {"description": "a field is invalid; the answer names it and its index"},
               429: {"description": "over capacity, retry after Retry-After"}},
)
async def ingest_points(request: Request, principal: Principal = Depends(requires("api:metrics:post")),
                        services: Services = Depends(get_services)) -> Response:
    """Series table plus columns: ``series_index``, ``timestamp`` (ms) and ``value`` for raw samples,
    or ``count``, ``sum``, ``min``, ``max``, ``last`` for window summaries. Content-Encoding gzip or zstd."""
    limits = services.config.limits
    content_type = (request.headers.get("content-type") or "application/json").lower()
    if "json" not in content_type and "msgpack" not in content_type:
        raise Rejected(415, f"Content-Type {content_type!r} is not supported; use application/json or "
                               "application/msgpack")
    services.metrics.admit()
    body = await read_body(request, limits.max_body_bytes)
    body = decode_content(body, request.headers.get("content-encoding"), limits.max_decompressed_bytes)
    parsed = native.parse(body, content_type)
    tenant = services.policy.effective_tenant(principal, parsed.tenant_id)
    accepted = await services.metrics.ingest_native(parsed, tenant, binary="msgpack" in content_type)
    return responses.json_response({"accepted": accepted})
