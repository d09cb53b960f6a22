"""``POST /api/v1/otlp/v1/metrics``: OTLP/HTTP metrics, protobuf or JSON (Prometheus 3's path).

As the OTLP/HTTP specification says: ``application/x-protobuf`` or ``application/json`` (else
415), gzip (or deflate, zstd) Content-Encoding, 200 with an ``ExportMetricsServiceResponse`` in
the request's encoding (its partial success counts the refused data points and says why), and
failures as a ``google.rpc.Status`` body: 400 for a body that does not decode, 429 and 503 with
Retry-After when the store is overloaded (senders retry those).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from google.protobuf import json_format
from starlette.responses import Response

from nephoscope.api.bodies import decode_content, read_body
from nephoscope.api.deps import get_services
from nephoscope.api.security import requires
from nephoscope.errors import Rejected
from nephoscope.metrics.ingest import otlp
from nephoscope.metrics.ingest.proto.rpc_status_pb2 import Status
from nephoscope.server.services import Services
from nephoscope.tenancy import Principal

router = APIRouter(prefix="/api/v1/otlp", tags=["OpenTelemetry"])

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_GRPC_CODES = {400: 3, 413: 3, 415: 3, 422: 3, 429: 8, 503: 14}  # INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAVAILABLE


def _answer(message, media_type: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:  # noqa: ANN001
    if media_type == JSON:
        body = json_format.MessageToJson(message, indent=None).encode()
    else:
        body = message.SerializeToString()
    return Response(body, status_code=status, media_type=media_type, headers=headers)


@router.post(
    "/v1/metrics", summary="OTLP/HTTP metrics (protobuf or JSON)",
    openapi_extra={"requestBody": {"required": True, "content": {
        PROTOBUF: {"schema": {"type": "string", "format": "binary",
                              "description": "opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest"}},
        JSON: {"schema": {"type": "object", "description": "ExportMetricsServiceRequest in OTLP/JSON"}}}}},
    responses={200: {"description": "ExportMetricsServiceResponse; partial_success counts refused data points"},
               400: {"description": "the body does not decode (google.rpc.Status)"},
               415: {"description": "neither application/x-protobuf nor application/json"},
               429: {"description": "over capacity, retry after Retry-After"}},
)
async def export_metrics(request: Request, principal: Principal = Depends(requires("api:prometheus:write")),
                         services: Services = Depends(get_services)) -> Response:
    """Gauges, sums, histograms and summaries as Prometheus's OTLP receiver names them; resource
    attributes to ``job``, ``instance`` and ``target_info``. The series belong to the token's project."""
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    media_type = JSON if content_type == JSON else PROTOBUF
    try:
        if content_type not in (PROTOBUF, JSON):
            raise Rejected(415, f"Content-Type {content_type or 'none'!r} is not supported: OTLP/HTTP sends "
                                f"{PROTOBUF} or {JSON}")
        limits = services.config.limits
        services.metrics.admit()
        body = await read_body(request, limits.max_body_bytes)
        body = decode_content(body, request.headers.get("content-encoding"), limits.max_decompressed_bytes)
        parsed = otlp.parse(body, json=media_type == JSON)
        owner = services.metrics.series_owner(principal.project, services.policy.may_delegate(principal))
        result = await services.metrics.ingest_otlp(parsed, owner)
    except Rejected as error:
        headers = {"Retry-After": str(services.config.limits.retry_after_seconds)} if error.status in (429, 503) \
            else None
        return _answer(Status(code=_GRPC_CODES.get(error.status, 2), message=error.message), media_type,
                       error.status, headers)
    return _answer(result.response(), media_type)
