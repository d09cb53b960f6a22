"""Error answers in Monasca's (falcon's) shape: ``{"title": ..., "description": ...}``.

Native endpoints add ``field`` when one field is to blame, so clients can point at it. The
endpoints of Prometheus's query API (``/api/v1/query``, ``series``, ``labels``, ...) answer every
error in Prometheus's shape instead: ``{"status": "error", "errorType": ..., "error": ...}``
(remote write and OTLP keep the native shape, which names the field at fault). Refusals: 401 for a
missing or invalid token (``reason`` says which: missing, invalid, expired, revoked;
``WWW-Authenticate`` says where to authenticate, ``Keystone uri="..."`` with Keystone on), 403
naming the policy rule that refused (``rule``), 503 + Retry-After when Keystone cannot be asked.
Every 401 and 403 is recorded in the audit trail (``api.auditing``).
"""

from __future__ import annotations

from http import HTTPStatus

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from nephoscope.api import auditing
from nephoscope.api.deps import services_if_started
from nephoscope.api.prometheus import responses as prometheus
from nephoscope.auth.policy import Denied
from nephoscope.auth.tokens import IdentityUnavailable, Unauthenticated
from nephoscope.errors import Rejected
from nephoscope.metrics.promql import PromQLError
from nephoscope.metrics.store import Overloaded

PROMETHEUS_READS = ("/api/v1/query", "/api/v1/series", "/api/v1/labels", "/api/v1/label/", "/api/v1/targets",
                    "/api/v1/status/", "/api/v1/format_query", "/api/v1/metadata")
_PROMETHEUS_TYPES = {400: "bad_data", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "bad_data",
                     413: "too_large", 415: "bad_data", 422: "bad_data", 429: "overloaded", 503: "unavailable"}


class ApiError(Exception):
    def __init__(self, status: int, description: str, title: str | None = None, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.title = title or HTTPStatus(status).phrase
        self.field = field
        self.headers = headers or {}


def unprocessable(description: str, field: str | None = None) -> ApiError:
    return ApiError(422, description, "Unprocessable Entity", field)


def error_response(status: int, title: str, description: str, field: str | None = None,
                   headers: dict[str, str] | None = None, request: Request | None = None, **extra: str) -> Response:
    if request is not None and request.url.path.startswith(PROMETHEUS_READS):
        return prometheus.error(_PROMETHEUS_TYPES.get(status, "internal"), description, status, headers, **extra)
    body = {"title": title, "description": description}
    if field:
        body["field"] = field
    body.update(extra)
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _unauthenticated_response(request: Request, reason: str, description: str) -> Response:
    services = services_if_started(request)
    challenge = services.authenticator.challenge if services is not None else "Token"
    return error_response(401, "Unauthorized", description, headers={"WWW-Authenticate": challenge},
                          request=request, reason=reason)


def install(app, retry_after_seconds: int) -> None:  # noqa: ANN001 - FastAPI app
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> Response:
        if error.status == 401:
            auditing.refused(request, 401, error.description)
        return error_response(error.status, error.title, error.description, error.field, error.headers, request)

    @app.exception_handler(Rejected)
    async def _ingest_error(request: Request, error: Rejected) -> Response:
        headers = {"Retry-After": str(retry_after_seconds)} if error.status in (429, 503) else None
        return error_response(error.status, HTTPStatus(error.status).phrase, error.message, error.field, headers,
                              request)

    @app.exception_handler(Overloaded)
    async def _overloaded(request: Request, error: Overloaded) -> Response:
        # A read the store cannot answer now (a cluster partition between two ingesters); writes turn
        # Overloaded into 429/503 before it gets here (metrics.service).
        return error_response(503, "Service Unavailable", error.message,
                              headers={"Retry-After": str(retry_after_seconds)}, request=request)

    @app.exception_handler(Denied)
    async def _denied(request: Request, error: Denied) -> Response:
        auditing.refused(request, 403, error.reason, error.rule)
        # Monasca answers 403 "Forbidden" for a missing role (oslo.policy's refusal).
        return error_response(403, "Forbidden", error.reason, request=request, rule=error.rule)

    @app.exception_handler(Unauthenticated)
    async def _unauthenticated(request: Request, error: Unauthenticated) -> Response:
        auditing.refused(request, 401, error.description)
        return _unauthenticated_response(request, error.reason, error.description)

    @app.exception_handler(IdentityUnavailable)
    async def _identity_unavailable(request: Request, error: IdentityUnavailable) -> Response:
        return error_response(503, "Service Unavailable", error.description,
                              headers={"Retry-After": str(error.retry_after)}, request=request)

    @app.exception_handler(PromQLError)
    async def _promql(request: Request, error: PromQLError) -> Response:
        return prometheus.error(error.kind, error.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> Response:
        first = error.errors()[0] if error.errors() else {}
        location = ".".join(str(part) for part in first.get("loc", ()) if part not in ("query", "body", "path"))
        message = first.get("msg", "invalid request")
        return error_response(422, "Unprocessable Entity", f"{location}: {message}" if location else message,
                              location or None, request=request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        return error_response(error.status_code, HTTPStatus(error.status_code).phrase, str(error.detail),
                              headers=getattr(error, "headers", None), request=request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Response:
        import logging

        logging.getLogger("nephoscope.api").exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "Internal Server Error", "the server failed to answer; the error is logged",
                              request=request)
