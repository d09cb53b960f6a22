"""Monasca v2.0 alarm definitions: create, list (filters, sort, paging), get, PUT, PATCH, DELETE."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from nephoscope.alarms.definitions import (
    ACTION_FIELDS,
    SEVERITIES,
    SORT_FIELDS,
    AlarmDefinition,
    DefinitionError,
    validated_fields,
)
from nephoscope.alarms.expression import sub_expressions
from nephoscope.api import responses
from nephoscope.api.bodies import json_object
from nephoscope.api.deps import get_services
from nephoscope.api.errors import ApiError, unprocessable
from nephoscope.api.monasca import params
from nephoscope.api.parameters import taking
from nephoscope.api.security import requires
from nephoscope.server.services import Services
from nephoscope.tenancy import Principal

router = APIRouter(prefix="/v2.0", tags=["Monasca v2.0 alarm definitions"])

_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 255}, "description": {"type": "string", "maxLength": 255},
        "expression": {"type": "string", "description": "e.g. avg(cpu.utilization_perc{service=compute}, 60) > 90 times 3"},
        "match_by": {"type": "array", "items": {"type": "string"}},
        "severity": {"type": "string", "enum": list(SEVERITIES)},
        "alarm_actions": {"type": "array", "items": {"type": "string"}},
        "ok_actions": {"type": "array", "items": {"type": "string"}},
        "undetermined_actions": {"type": "array", "items": {"type": "string"}},
        "actions_enabled": {"type": "boolean"},
    }}}}}}


def element(request: Request, definition: AlarmDefinition) -> dict:
    body = {
        "id": definition.id,
        "links": [{"rel": "self", "href": f"{request.base_url}v2.0/alarm-definitions/{definition.id}"}],
        "name": definition.name, "description": definition.description, "expression": definition.expression,
        "deterministic": definition.deterministic, "match_by": definition.match_by, "severity": definition.severity,
        "alarm_actions": definition.alarm_actions, "ok_actions": definition.ok_actions,
        "undetermined_actions": definition.undetermined_actions, "actions_enabled": definition.actions_enabled,
    }
    subs = sub_expressions(definition.parsed)
    if len(subs) == 1:  # Monasca's Java API returns the parsed form; the CLI shows it when present
        body["expression_data"] = subs[0].as_dict()
    return body


def _check_actions(services: Services, tenant: str, fields: dict) -> None:
    """Every action must name an existing notification method of the project (Monasca: 422)."""
    exists = services.notification_method_exists
    for name in ACTION_FIELDS:
        for method_id in fields.get(name, []):
            if not exists(tenant, method_id):
                raise unprocessable(f"Non-existent notification id {method_id} submitted for {name}", name)


def _sort_by(request: Request) -> list[tuple[str, bool]]:
    order = []
    for item in ",".join(request.query_params.getlist("sort_by")).split(","):
        words = item.split()
        if not words:
            continue
        if words[0] not in SORT_FIELDS or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise unprocessable(f"sort_by: {item.strip()!r} is not '<field> [asc|desc]' with field one of "
                                f"{', '.join(SORT_FIELDS)}", "sort_by")
        order.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
    return order


def _offset(request: Request) -> int:
    raw = request.query_params.get("offset") or "0"
    if not raw.isdigit():
        raise unprocessable(f"offset must be a whole number, got {raw!r}", "offset")
    return int(raw)


def _translate(error: DefinitionError) -> ApiError:
    return ApiError(error.status, error.description, error.title)


@router.post("/alarm-definitions", status_code=201, summary="Create an alarm definition", openapi_extra=_BODY)
async def create(request: Request, principal: Principal = Depends(requires("api:alarms:definition:post")),
                 services: Services = Depends(get_services)) -> Response:
    store = services.definitions
    try:
        fields = validated_fields(await json_object(request, services.config.limits.max_body_bytes), "create")
        await run_in_threadpool(_check_actions, services, principal.project, fields)
        definition = await run_in_threadpool(store.create, principal.project, fields)
    except DefinitionError as error:
        raise _translate(error) from None
    return responses.json_response(element(request, definition), status=201)


@router.get("/alarm-definitions", summary="List alarm definitions", openapi_extra=taking(
    name="exact name", dimensions="k:v list matched against the sub-expressions' dimensions",
    severity="pipe-separated list of LOW, MEDIUM, HIGH, CRITICAL",
    sort_by=f"comma list of `<field> [asc|desc]`, field one of {', '.join(SORT_FIELDS)}",
    offset="rows to skip", limit="page size", tenant_id="another project (delegates and admins); * = every project"))
async def list_definitions(request: Request, principal: Principal = Depends(requires("api:alarms:definition:get")),
                           services: Services = Depends(get_services)) -> Response:
    scope = services.policy.read_scope(principal, request.query_params.get("tenant_id"))
    severities = [s.strip().upper() for s in (request.query_params.get("severity") or "").split("|") if s.strip()]
    if any(s not in SEVERITIES for s in severities):
        raise unprocessable(f"severity must be among {', '.join(SEVERITIES)} (pipe-separated)", "severity")
    offset, limit = _offset(request), params.limit(request, services.config.limits.page_limit)
    found = await run_in_threadpool(
        services.definitions.list, scope, request.query_params.get("name") or None, severities,
        params.dimension_filter(request), _sort_by(request))
    page = found[offset:offset + limit]
    more = len(found) > offset + limit
    return responses.page(request, [element(request, d) for d in page], str(offset + limit) if more else None)


@router.get("/alarm-definitions/{definition_id}", summary="Get an alarm definition",
            openapi_extra=taking(tenant_id="another project (delegates and admins)"))
async def get(request: Request, definition_id: str, principal: Principal = Depends(requires("api:alarms:definition:get")),
              services: Services = Depends(get_services)) -> Response:
    try:
        definition = await run_in_threadpool(services.definitions.get,
                                             services.policy.read_scope(principal, request.query_params.get("tenant_id")), definition_id)
    except DefinitionError as error:
        raise _translate(error) from None
    return responses.json_response(element(request, definition))


async def _update(request: Request, services: Services, definition_id: str, principal: Principal,
                  mode: str) -> Response:
    store = services.definitions
    try:
        fields = validated_fields(await json_object(request, services.config.limits.max_body_bytes), mode)  # type: ignore[arg-type]
        await run_in_threadpool(_check_actions, services, principal.project, fields)
        definition = await run_in_threadpool(store.update, principal.project, definition_id, fields)
    except DefinitionError as error:
        raise _translate(error) from None
    return responses.json_response(element(request, definition))


@router.put("/alarm-definitions/{definition_id}", summary="Replace an alarm definition (every field required)",
            openapi_extra=_BODY)
async def replace(request: Request, definition_id: str, principal: Principal = Depends(requires("api:alarms:definition:put")),
                  services: Services = Depends(get_services)) -> Response:
    return await _update(request, services, definition_id, principal, "replace")


@router.patch("/alarm-definitions/{definition_id}", summary="Change some fields of an alarm definition",
              openapi_extra=_BODY)
async def patch(request: Request, definition_id: str, principal: Principal = Depends(requires("api:alarms:definition:patch")),
                services: Services = Depends(get_services)) -> Response:
    return await _update(request, services, definition_id, principal, "patch")


@router.delete("/alarm-definitions/{definition_id}", status_code=204,
               summary="Delete an alarm definition and every alarm of it")
async def delete(request: Request, definition_id: str, principal: Principal = Depends(requires("api:alarms:definition:delete")),
                 services: Services = Depends(get_services)) -> Response:
    try:
        await run_in_threadpool(services.definitions.delete, principal.project, definition_id)
    except DefinitionError as error:
        raise _translate(error) from None
    return Response(status_code=204)
