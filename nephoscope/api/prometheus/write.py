"""``POST /api/v1/write``: Prometheus remote write 1.0 and 2.0 (docs/prometheus.md).

Content negotiation as the specifications say (``metrics.ingest.remote_write.negotiate``); the
answer is 204 once the samples are durable, with the ``X-Prometheus-Remote-Write-*-Written``
headers 2.0 senders check (sent to 1.0 senders too). Native histogram samples are refused with
400 after the request's float samples are stored: remote write's partial-write answer, which
senders do not retry.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from nephoscope.api.bodies import read_body
from nephoscope.api.deps import get_services
from nephoscope.api.errors import error_response
from nephoscope.api.security import requires
from nephoscope.metrics.ingest.remote_write import decompress, negotiate
from nephoscope.server.services import Services
from nephoscope.tenancy import Principal

router = APIRouter(prefix="/api/v1", tags=["Prometheus"])


@router.post(
    "/write", status_code=204, summary="Prometheus remote write 1.0 and 2.0",
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/x-protobuf": {"schema": {"type": "string", "format": "binary",
                                              "description": "snappy-compressed prometheus.WriteRequest, or "
                                                             "io.prometheus.write.v2.Request with "
                                                             "proto=io.prometheus.write.v2.Request"}}}}},
    responses={204: {"description": "stored durably; X-Prometheus-Remote-Write-*-Written say how much"},
               400: {"description": "the body does not parse, a series is invalid, or native histograms "
                                    "were refused (the float samples are stored)"},
               413: {"description": "body too large"}, 415: {"description": "a content type or encoding not spoken"},
               429: {"description": "over capacity, retry after Retry-After"}},
)
async def remote_write(request: Request, principal: Principal = Depends(requires("api:prometheus:write")),
                       services: Services = Depends(get_services)) -> Response:
    """The series belong to the token's project; a delegate's series to the project their
    ``project`` label names (``[prometheus] project_label``)."""
    proto = negotiate(request.headers.get("content-type"))
    limits = services.config.limits
    services.metrics.admit()
    body = await read_body(request, limits.max_body_bytes)
    data = decompress(body, request.headers.get("content-encoding"), limits.max_decompressed_bytes)
    owner = services.metrics.series_owner(principal.project, services.policy.may_delegate(principal))
    result = await services.metrics.ingest_remote_write(data, proto, owner)
    headers = {"X-Prometheus-Remote-Write-Samples-Written": str(result.written),
               "X-Prometheus-Remote-Write-Histograms-Written": "0",
               "X-Prometheus-Remote-Write-Exemplars-Written": "0"}
    if result.histograms:
        return error_response(400, "Bad Request", f"{result.histograms} native histogram samples refused: Nephoscope "
                              "stores classic histograms (their _bucket, _sum and _count series); "
                              f"{result.written} float samples were written", headers=headers)
    return Response(status_code=204, headers=headers)
