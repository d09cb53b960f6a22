"""``POST /v1/points``: columnar batches of summary points (or raw samples)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from nephoscope.api import responses
from nephoscope.api.security import allowed
from nephoscope.auth.policy import Action, effective_tenant
from nephoscope.ingest import native
from nephoscope.ingest.bodies import decode_content, read_body
from nephoscope.ingest.errors import IngestError
from nephoscope.model import Principal

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
async def ingest_points(request: Request, principal: Principal = Depends(allowed(Action.WRITE_METRICS))) -> Response:
    """Series table plus columns: ``series_index``, ``timestamp`` (ms) and ``value`` for raw samples,
    or ``count``, ``sum``, ``min``, ``max``, ``last`` for window summaries. Content-Encoding gzip or zstd."""
    store = request.app.state.store
    limits = request.app.state.config.limits
    content_type = (request.headers.get("content-type") or "application/json").lower()
    if "json" not in content_type and "msgpack" not in content_type:
        raise IngestError(415, f"Content-Type {content_type!r} is not supported; use application/json or "
                               "application/msgpack")
    store.admit()
    body = await read_body(request.stream(), request.headers.get("content-length"), limits.max_body_bytes)
    body = decode_content(body, request.headers.get("content-encoding"), limits.max_decompressed_bytes)
    parsed = native.parse(body, content_type)
    tenant = effective_tenant(principal, parsed.tenant_id)
    batch = native.to_ingest_batch(parsed, tenant, store.registry, store.window(), store.series_cache,
                                   binary="msgpack" in content_type)
    if len(batch.points):
        await store.write(batch)
    return responses.json_response({"accepted": len(batch.points)})
