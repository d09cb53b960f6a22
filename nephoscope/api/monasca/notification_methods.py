"""Monasca v2.0 notification methods (``router``) and the native outbox view (``deliveries_router``).

``/v2.0/notification-methods`` follows Monasca §5.1: body errors answer 400, a taken
name 409, unknown ids 404; lists page with integer ``offset``. ``/v1/notifications``
shows the project's deliveries (pending, failed, delivered, dead) and re-sends dead letters.
The service behind both is ``services.notifications`` (a ``NotificationService``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from nephoscope.api import responses
from nephoscope.api.bodies import parse_json, read_body
from nephoscope.api.deps import get_services
from nephoscope.api.errors import ApiError, unprocessable
from nephoscope.api.monasca import params
from nephoscope.api.parameters import taking
from nephoscope.api.security import requires
from nephoscope.config import NotifySettings
from nephoscope.notify.model import DELIVERY_STATUSES, Delivery, NotificationMethod
from nephoscope.notify.repository import SORT_FIELDS, DuplicateName
from nephoscope.notify.validation import InvalidMethod, MethodFields, parse
from nephoscope.server.services import Services
from nephoscope.tenancy import Principal

DeliveryId = Annotated[int, Path(ge=1, le=2**63 - 1, description="a delivery id (SQLite rowid)")]

router = APIRouter(prefix="/v2.0", tags=["Monasca v2.0 notification methods"])
deliveries_router = APIRouter(prefix="/v1", tags=["Notifications"])

_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 250},
        "type": {"type": "string", "description": "EMAIL, PAGERDUTY, WEBHOOK or SLACK (any case)"},
        "address": {"type": "string", "maxLength": 512},
        "period": {"type": ["integer", "string"], "description": "0 or a configured period (default 60)"},
    }}}}}}


def _method(base: str, method: NotificationMethod) -> dict:
    href = f"{base}/v2.0/notification-methods/{method.id}"
    return {"id": method.id, "links": [{"rel": "self", "href": href}], "name": method.name, "type": method.type,
            "address": method.address, "period": method.period}


async def _body(request: Request, limit: int) -> object:
    content_type = (request.headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiError(400, "Bad content type. Must be application/json", "Bad Request")
    return parse_json(await read_body(request, limit))


def _fields(config: NotifySettings, body: object, required: tuple[str, ...],
            base: NotificationMethod | None = None) -> MethodFields:
    try:
        return parse(body, config.types, config.valid_periods, required=required, base=base)
    except InvalidMethod as error:
        raise ApiError(400, error.message, "Bad Request", error.field) from None


def _conflict(name: str) -> ApiError:
    return ApiError(409, f"A notification method with name {name} already exists", "Conflict", "name")


def _not_found(method_id: str) -> ApiError:
    return ApiError(404, f"No notification method exists with id {method_id}", "Not Found")


def _offset(request: Request) -> int:
    raw = request.query_params.get("offset")
    if raw is None or raw == "":
        return 0
    if not raw.isdigit():
        raise unprocessable(f"Offset value {raw} must be an integer", "offset")
    return int(raw)


def _sort_by(request: Request) -> list[tuple[str, str]]:
    sort: list[tuple[str, str]] = []
    for raw in request.query_params.getlist("sort_by"):
        for item in raw.split(","):
            parts = item.split()
            if not parts:
                continue
            if len(parts) > 2:
                raise unprocessable(f"Invalid sort_by {item.strip()}", "sort_by")
            if parts[0] not in SORT_FIELDS:
                raise unprocessable(f"sort_by field {parts[0]} must be one of [{','.join(SORT_FIELDS)}]", "sort_by")
            direction = parts[1].lower() if len(parts) == 2 else "asc"
            if direction not in ("asc", "desc"):
                raise unprocessable(f"sort_by value {parts[1]} must be 'asc' or 'desc'", "sort_by")
            sort.append((parts[0], direction))
    return sort


@router.post("/notification-methods", status_code=201, summary="Create a notification method",
             openapi_extra=_BODY)
async def create_method(request: Request, tenant_id: str | None = None,
                        principal: Principal = Depends(requires("api:notifications:post")),
                        services: Services = Depends(get_services)) -> Response:
    tenant = services.policy.effective_tenant(principal, tenant_id)
    fields = _fields(services.notifications.config, await _body(request, services.config.limits.max_body_bytes), ("name", "type", "address"))
    try:
        method = await run_in_threadpool(services.notifications.methods.create, tenant, fields.name, fields.type,
                                         fields.address, fields.period)
    except DuplicateName:
        raise _conflict(fields.name) from None
    return responses.json_response(_method(responses.base_url(request, services.config.server.public_url), method), status=201)


@router.get("/notification-methods", summary="List notification methods", openapi_extra=taking(
    sort_by="comma list of `<field> [asc|desc]`: id, name, type, address, created_at, updated_at",
    offset="rows to skip", limit="page size", tenant_id="another project (delegates and admins); * = every project"))
async def list_methods(request: Request, principal: Principal = Depends(requires("api:notifications:get")),
                       services: Services = Depends(get_services)) -> Response:
    tenant = services.policy.read_scope(principal, request.query_params.get("tenant_id"))
    sort, offset = _sort_by(request), _offset(request)
    limit = params.limit(request, services.config.limits.page_limit)
    methods = await run_in_threadpool(services.notifications.methods.list, tenant, sort, offset, limit + 1)
    more = len(methods) > limit
    return responses.page(request, [_method(responses.base_url(request, services.config.server.public_url), m) for m in methods[:limit]],
                          str(offset + limit) if more else None)


@router.get("/notification-methods/types", summary="List the supported notification method types")
async def list_types(request: Request, _: Principal = Depends(requires("api:notifications:type")),
                     services: Services = Depends(get_services)) -> Response:
    return responses.page(request, [{"type": kind} for kind in services.notifications.config.types], None)


@router.get("/notification-methods/{method_id}", summary="Get a notification method",
            openapi_extra=taking(tenant_id="another project (delegates and admins)"))
async def get_method(request: Request, method_id: str,
                     principal: Principal = Depends(requires("api:notifications:get")),
                     services: Services = Depends(get_services)) -> Response:
    tenant = services.policy.read_scope(principal, request.query_params.get("tenant_id"))
    method = await run_in_threadpool(services.notifications.methods.get, tenant, method_id)
    if method is None:
        raise _not_found(method_id)
    return responses.json_response(_method(responses.base_url(request, services.config.server.public_url), method))


async def _update(request: Request, services: Services, method_id: str, tenant: str, partial: bool) -> Response:
    service = services.notifications
    body = await _body(request, services.config.limits.max_body_bytes)
    base = await run_in_threadpool(service.methods.get, tenant, method_id)
    if base is None:
        raise _not_found(method_id)
    fields = _fields(services.notifications.config, body, () if partial else ("name", "type", "address", "period"),
                     base if partial else None)
    try:
        method = await run_in_threadpool(service.methods.update, tenant, method_id, fields.name, fields.type,
                                         fields.address, fields.period)
    except DuplicateName:
        raise _conflict(fields.name) from None
    if method is None:
        raise _not_found(method_id)
    return responses.json_response(_method(responses.base_url(request, services.config.server.public_url), method))


@router.put("/notification-methods/{method_id}", summary="Replace a notification method", openapi_extra=_BODY)
async def replace_method(request: Request, method_id: str, tenant_id: str | None = None,
                         principal: Principal = Depends(requires("api:notifications:put")),
                         services: Services = Depends(get_services)) -> Response:
    return await _update(request, services, method_id, services.policy.effective_tenant(principal, tenant_id), partial=False)


@router.patch("/notification-methods/{method_id}", summary="Update some fields of a notification method",
              openapi_extra=_BODY)
async def patch_method(request: Request, method_id: str, tenant_id: str | None = None,
                       principal: Principal = Depends(requires("api:notifications:patch")),
                       services: Services = Depends(get_services)) -> Response:
    return await _update(request, services, method_id, services.policy.effective_tenant(principal, tenant_id), partial=True)


@router.delete("/notification-methods/{method_id}", status_code=204, summary="Delete a notification method")
async def delete_method(request: Request, method_id: str, tenant_id: str | None = None,
                        principal: Principal = Depends(requires("api:notifications:delete")),
                        services: Services = Depends(get_services)) -> Response:
    tenant = services.policy.effective_tenant(principal, tenant_id)
    if not await run_in_threadpool(services.notifications.methods.delete, tenant, method_id):
        raise _not_found(method_id)
    return Response(status_code=204)


# Native view of the outbox ---------------------------------------------------------------------

def _delivery(delivery: Delivery) -> dict:
    transition = delivery.transition
    return {"id": delivery.id, "status": delivery.status, "attempts": delivery.attempts,
            "next_attempt_at": delivery.next_attempt_at if delivery.status in ("pending", "failed") else None,
            "last_error": delivery.last_error, "created_at": delivery.created_at,
            "updated_at": delivery.updated_at, "delivered_at": delivery.delivered_at,
            "periodic": delivery.periodic, "idempotency_key": delivery.idempotency_key,
            "tenant_id": delivery.tenant, "method": {"id": delivery.method_id, "name": delivery.method_name,
                                                     "type": delivery.method_type, "address": delivery.address},
            "alarm": {"id": transition.alarm_id, "name": transition.alarm_name,
                      "definition_id": transition.alarm_definition_id, "old_state": transition.old_state,
                      "new_state": transition.new_state, "severity": transition.severity,
                      "timestamp": transition.timestamp_ms}}


@deliveries_router.get("/notifications/deliveries", summary="List notification deliveries of the project",
                       openapi_extra=taking(status="pending, failed, delivered or dead", alarm_id="one alarm's",
                                            offset="rows to skip", limit="page size",
                                            tenant_id="another project (delegates and admins)"))
async def list_deliveries(request: Request, principal: Principal = Depends(requires("api:notifications:deliveries:get")),
                          services: Services = Depends(get_services)) -> Response:
    """``status`` is pending, failed (waiting for a retry), delivered or dead (given up)."""
    tenant = services.policy.native_read_scope(principal, request.query_params.get("tenant_id"))
    status = request.query_params.get("status") or None
    if status is not None and status not in DELIVERY_STATUSES:
        raise unprocessable(f"status must be one of {', '.join(DELIVERY_STATUSES)}", "status")
    offset = _offset(request)
    limit = params.limit(request, services.config.limits.page_limit)
    rows = await run_in_threadpool(services.notifications.deliveries.list, tenant, status, offset, limit + 1,
                                   request.query_params.get("alarm_id") or None)
    more = len(rows) > limit
    return responses.page(request, [_delivery(d) for d in rows[:limit]], str(offset + limit) if more else None)


@deliveries_router.get("/notifications/deliveries/{delivery_id}", summary="Get one notification delivery",
                       openapi_extra=taking(tenant_id="another project (delegates and admins)"))
async def get_delivery(request: Request, delivery_id: DeliveryId,
                       principal: Principal = Depends(requires("api:notifications:deliveries:get")),
                       services: Services = Depends(get_services)) -> Response:
    tenant = services.policy.native_read_scope(principal, request.query_params.get("tenant_id"))
    delivery = await run_in_threadpool(services.notifications.deliveries.get, tenant, delivery_id)
    if delivery is None:
        raise ApiError(404, f"no delivery with id {delivery_id}")
    return responses.json_response(_delivery(delivery))


@deliveries_router.post("/notifications/deliveries/{delivery_id}/retry",
                        summary="Send a dead letter again (its attempts start over)")
async def retry_delivery(request: Request, delivery_id: DeliveryId, tenant_id: str | None = None,
                         principal: Principal = Depends(requires("api:notifications:deliveries:retry")),
                         services: Services = Depends(get_services)) -> Response:
    tenant = services.policy.effective_tenant(principal, tenant_id)
    service = services.notifications
    if not await run_in_threadpool(service.outbox.retry_dead, tenant, delivery_id):
        raise ApiError(404, f"no dead letter with id {delivery_id}")
    delivery = await run_in_threadpool(service.deliveries.get, tenant, delivery_id)
    return responses.json_response(_delivery(delivery) if delivery else {"id": delivery_id})


@deliveries_router.get("/notifications/stats", summary="Delivery counters (admin)")
async def delivery_stats(request: Request, _: Principal = Depends(requires("api:notifications:stats")),
                         services: Services = Depends(get_services)) -> Response:
    stats = await run_in_threadpool(services.notifications.stats)
    return responses.json_response({"delivered": stats.delivered, "failed_attempts": stats.failed_attempts,
                                    "dead_letters": stats.dead_letters, "queue_depth": stats.queue_depth})
