"""Monasca v2.0 alarms: list, count, get, PUT, PATCH, DELETE, and state history (§4.1–§4.4).

Handlers only decode parameters, authorize and call the domain: reads go to
``nephoscope.alarms.queries`` (SQLite, in the thread pool); changes go to the alarm engine,
which applies them in order with evaluation and records history and notifications.
``alarm_element`` is the one shape of an alarm in answers.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from nephoscope.alarms import queries
from nephoscope.alarms.repository import AlarmDatabase, AlarmRecord, StateChange
from nephoscope.api import responses
from nephoscope.api.bodies import json_object
from nephoscope.api.deps import get_services
from nephoscope.api.errors import ApiError, unprocessable
from nephoscope.api.monasca import params
from nephoscope.api.monasca.timestamps import millis_text
from nephoscope.errors import unknown_names
from nephoscope.api.security import requires
from nephoscope.server.services import Services
from nephoscope.tenancy import Principal

router = APIRouter(prefix="/v2.0", tags=["Monasca v2.0 alarms"])

# Who may call each endpoint: the policy rule it enforces (auth.rules).
ReadAlarms = Annotated[Principal, Depends(requires("api:alarms:get"))]
CountAlarms = Annotated[Principal, Depends(requires("api:alarms:count"))]
ReadHistory = Annotated[Principal, Depends(requires("api:alarms:state_history"))]
PutAlarm = Annotated[Principal, Depends(requires("api:alarms:put"))]
PatchAlarm = Annotated[Principal, Depends(requires("api:alarms:patch"))]
DeleteAlarm = Annotated[Principal, Depends(requires("api:alarms:delete"))]

# Query parameters, declared so that /openapi.json describes them; values are checked by the handlers
# (Monasca's messages and 422s), so every one is a plain string here.
TenantId = Annotated[str | None, Query(
    description="another project (delegates and admins); * = every project (admins)")]
Limit = Annotated[str | None, Query(description="page size (whole number, capped at the server's page limit)")]
RowOffset = Annotated[str | None, Query(description="rows to skip (whole number), as in the `next` link")]
HistoryOffset = Annotated[str | None, Query(
    description="the `id` of the last element of the previous page (epoch ms), or the `next` link's token")]
DefinitionId = Annotated[str | None, Query(description="alarms of this alarm definition")]
MetricName = Annotated[str | None, Query(description="alarms with a metric of this name")]
MetricDimensions = Annotated[list[str] | None, Query(
    description="k:v list (`k:v1|v2` any of the values, `k` any value); one metric of the alarm must match all")]
State = Annotated[str | None, Query(description="OK, ALARM or UNDETERMINED (any case)")]
Severity = Annotated[str | None, Query(description="pipe-separated list of LOW, MEDIUM, HIGH, CRITICAL")]
LifecycleState = Annotated[str | None, Query(description="exact lifecycle_state")]
Link = Annotated[str | None, Query(description="exact link")]
StateUpdatedStart = Annotated[str | None, Query(
    description="ISO 8601 UTC, with or without fractional seconds: alarms whose state changed at or after it")]
SortBy = Annotated[list[str] | None, Query(
    description=f"comma list of `<field> [asc|desc]`, field one of {', '.join(queries.SORT_FIELDS)}")]
GroupBy = Annotated[list[str] | None, Query(
    description=f"comma list drawn from {', '.join(queries.GROUP_BY_FIELDS)}")]
HistoryDimensions = Annotated[list[str] | None, Query(description="k:v list selecting alarms whose metrics match")]
StartTime = Annotated[str | None, Query(description="ISO 8601 UTC, inclusive")]
EndTime = Annotated[str | None, Query(description="ISO 8601 UTC, inclusive; after start_time")]


def _alarm_database(services: Services) -> AlarmDatabase:
    return services.alarms.repository.database


def _milliseconds(seconds: float) -> int:
    # round, not floor: a REAL like 49.001 may be stored as 49.000999...
    return round(seconds * 1000)


def alarm_element(base: str, record: AlarmRecord, definition_summary: queries.AlarmDefinitionSummary) -> dict:
    """An alarm as Monasca shows it (§4.1), for GET and for the answers of PUT and PATCH; links
    start at ``base``."""
    state_updated, updated, created = millis_text(
        [_milliseconds(record.state_updated_at), _milliseconds(record.updated_at), _milliseconds(record.created_at)])
    return {
        "id": record.id,
        "links": [{"rel": "self", "href": f"{base}/v2.0/alarms/{record.id}"},
                  {"rel": "state-history", "href": f"{base}/v2.0/alarms/{record.id}/state-history"}],
        "alarm_definition": {
            "id": definition_summary.id, "name": definition_summary.name, "severity": definition_summary.severity,
            "links": [{"rel": "self", "href": f"{base}/v2.0/alarm-definitions/{definition_summary.id}"}]},
        "metrics": [{"name": metric["name"], "dimensions": metric["dimensions"]} for metric in record.metrics],
        "state": record.state,
        "lifecycle_state": record.lifecycle_state,
        "link": record.link,
        "state_updated_timestamp": state_updated,
        "updated_timestamp": updated,
        "created_timestamp": created,
    }


def _history_element(change: StateChange, timestamp: str) -> dict:
    # Monasca sends reason_data as JSON text, not as an object.
    reason_data = change.reason_data
    if not isinstance(reason_data, str):
        reason_data = orjson.dumps(reason_data).decode()
    return {
        "id": str(change.timestamp_ms),
        "alarm_id": change.alarm_id,
        "metrics": [{"id": None, "name": metric["name"], "dimensions": metric["dimensions"]}
                    for metric in change.metrics],
        "old_state": change.old_state,
        "new_state": change.new_state,
        "reason": change.reason,
        "reason_data": reason_data,
        "timestamp": timestamp,
        "sub_alarms": change.sub_alarms,
    }


def _unprocessable(error: queries.AlarmQueryError) -> ApiError:
    return unprocessable(error.reason, error.field)


def _alarm_filter(request: Request, alarm_definition_id: DefinitionId = None, metric_name: MetricName = None,
                  metric_dimensions: MetricDimensions = None, state: State = None, severity: Severity = None,
                  lifecycle_state: LifecycleState = None, link: Link = None,
                  state_updated_start_time: StateUpdatedStart = None) -> queries.AlarmFilter:
    """The filters the list and the count share (a dependency, so both declare them once)."""
    start_ms = params.parse_time(state_updated_start_time, "state_updated_start_time")
    try:
        return queries.AlarmFilter(
            alarm_definition_id=alarm_definition_id or None, metric_name=metric_name or None,
            metric_dimensions=params.dimension_filter(request, "metric_dimensions"),
            state=queries.parse_state(state), severities=queries.parse_severities(severity),
            lifecycle_state=lifecycle_state or None, link=link or None,
            state_updated_start_time=None if start_ms is None else start_ms / 1000)
    except queries.AlarmQueryError as error:
        raise _unprocessable(error) from None


Filter = Annotated[queries.AlarmFilter, Depends(_alarm_filter)]


def _page_limit(request: Request, services: Services) -> int:
    return params.limit(request, services.config.limits.page_limit)


@router.get("/alarms", summary="List alarms")
async def list_alarms(request: Request, principal: ReadAlarms, alarm_filter: Filter, sort_by: SortBy = None,
                      offset: RowOffset = None, limit: Limit = None, tenant_id: TenantId = None,
                      services: Services = Depends(get_services)) -> Response:
    scope = services.policy.read_scope(principal, tenant_id)
    page_size = _page_limit(request, services)
    try:
        order = queries.parse_sort_by(sort_by or [])
        start = queries.parse_row_offset(offset)
    except queries.AlarmQueryError as error:
        raise _unprocessable(error) from None
    database = _alarm_database(services)
    found = await run_in_threadpool(queries.list_alarms, database, scope, alarm_filter, order, start, page_size + 1)
    elements = [alarm_element(responses.base_url(request, services.config.server.public_url), record, summary) for record, summary in found[:page_size]]
    return responses.page(request, elements, str(start + page_size) if len(found) > page_size else None)


@router.get("/alarms/count", summary="Count alarms, optionally grouped")
async def count_alarms(request: Request, principal: CountAlarms, alarm_filter: Filter, group_by: GroupBy = None,
                       offset: RowOffset = None, limit: Limit = None, tenant_id: TenantId = None,
                       services: Services = Depends(get_services)) -> Response:
    """``{"links", "columns": ["count", *group_by], "counts": [[n, ...], ...]}`` (no ``elements``)."""
    scope = services.policy.read_scope(principal, tenant_id)
    page_size = _page_limit(request, services)
    try:
        groups = queries.check_group_by(params.group_by(request))
        start = queries.parse_row_offset(offset)
    except queries.AlarmQueryError as error:
        raise _unprocessable(error) from None
    database = _alarm_database(services)
    columns, counts = await run_in_threadpool(queries.count_alarms, database, scope, alarm_filter, groups, start,
                                              page_size + 1)
    links = [{"rel": "self", "href": responses.self_url(request)}]
    if len(counts) > page_size:
        links.append({"rel": "next", "href": responses.next_url(request, str(start + page_size))})
    return responses.json_response({"links": links, "columns": columns, "counts": counts[:page_size]})


async def _history_page(request: Request, services: Services, scope: str, alarm_id: str | None,
                        offset: str | None, with_filters: bool) -> Response:
    dimensions: queries.Dimensions = ()
    start_ms = end_ms = None
    if with_filters:
        dimensions = params.dimension_filter(request, "dimensions")
        start_ms, end_ms = params.time_range(request, start_required=False)
    page_size = _page_limit(request, services)
    database = _alarm_database(services)
    try:
        found = await run_in_threadpool(queries.state_history, database, scope, alarm_id, dimensions, start_ms,
                                        end_ms, offset, page_size + 1)
    except queries.AlarmQueryError as error:  # a malformed offset token
        raise _unprocessable(error) from None
    page = found[:page_size]
    timestamps = millis_text([change.timestamp_ms for change in page]) if page else []
    elements = [_history_element(change, timestamp) for change, timestamp in zip(page, timestamps)]
    following = found[page_size] if len(found) > page_size else None
    return responses.page(request, elements,
                          queries.history_offset(page[-1], following) if following is not None else None)


@router.get("/alarms/state-history", summary="List the state history of the project's alarms")
@router.get("/alarms/state-history/", include_in_schema=False)  # python-monascaclient adds the slash
async def list_state_history(request: Request, principal: ReadHistory,
                             dimensions: HistoryDimensions = None, start_time: StartTime = None,
                             end_time: EndTime = None, offset: HistoryOffset = None, limit: Limit = None,
                             tenant_id: TenantId = None,
                             services: Services = Depends(get_services)) -> Response:
    return await _history_page(request, services, services.policy.read_scope(principal, tenant_id), None, offset, with_filters=True)


@router.get("/alarms/{alarm_id}", summary="Get an alarm")
async def get_alarm(request: Request, alarm_id: str, principal: ReadAlarms,
                    tenant_id: TenantId = None,
                    services: Services = Depends(get_services)) -> Response:
    scope = services.policy.read_scope(principal, tenant_id)
    database = _alarm_database(services)
    found = await run_in_threadpool(queries.get_alarm, database, scope, alarm_id)
    if found is None:
        raise ApiError(404, f"No alarm with id {alarm_id}", "Not Found")
    return responses.json_response(alarm_element(responses.base_url(request, services.config.server.public_url), *found))


@router.get("/alarms/{alarm_id}/state-history", summary="List the state history of one alarm")
async def alarm_state_history(request: Request, alarm_id: str, principal: ReadHistory,
                              offset: HistoryOffset = None, limit: Limit = None,
                              tenant_id: TenantId = None,
                              services: Services = Depends(get_services)) -> Response:
    # Like Monasca, no 404 here: history outlives a deleted alarm, and another project's alarm shows nothing.
    return await _history_page(request, services, services.policy.read_scope(principal, tenant_id), alarm_id, offset, with_filters=False)


# -- changes -------------------------------------------------------------------------------------------
_UPDATE_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object",
    "properties": {"state": {"type": "string", "enum": list(queries.STATES)},
                   "lifecycle_state": {"type": "string", "maxLength": 50},
                   "link": {"type": "string", "maxLength": 512}}}}}}}
_LIMITS = {"lifecycle_state": 50, "link": 512}
_CHANGEABLE = ("state", "lifecycle_state", "link")
# What a GET answers besides those: an edited answer sent back is not wrong.
_ECHOED = ("id", "links", "alarm_definition", "metrics", "state_updated_timestamp", "updated_timestamp",
           "created_timestamp")


def _changes(body: dict, replace: bool) -> dict:
    """The body of PUT (all of state, lifecycle_state and link) or PATCH (any of them; null keeps)."""
    problem = unknown_names("field", (key for key in body if key not in _ECHOED), _CHANGEABLE)
    if problem:
        raise unprocessable(problem, next(key for key in body if key not in _ECHOED and key not in _CHANGEABLE))
    changes = {}
    for name in _CHANGEABLE:
        value = body.get(name)
        if value is None or value == "":
            if replace:
                raise unprocessable(f"{name} is required (PUT replaces state, lifecycle_state and link)", name)
            continue
        if not isinstance(value, str):
            raise unprocessable(f"{name} must be a string", name)
        if name == "state":
            try:
                value = queries.parse_state(value)
            except queries.AlarmQueryError as error:
                raise _unprocessable(error) from None
        elif len(value) > _LIMITS[name]:
            raise unprocessable(f"{name} must be at most {_LIMITS[name]} characters", name)
        changes[name] = value
    return changes


async def _update(request: Request, services: Services, principal: Principal, alarm_id: str, tenant_id: str | None,
                  replace: bool) -> Response:
    scope = services.policy.effective_tenant(principal, tenant_id)
    changes = _changes(await json_object(request, services.config.limits.max_body_bytes), replace)
    applied = await asyncio.wrap_future(services.alarm_changes.update_alarm(scope, alarm_id, changes))
    if applied.record is None:
        raise ApiError(404, f"No alarm with id {alarm_id}", "Not Found")
    found = await run_in_threadpool(queries.get_alarm, _alarm_database(services), scope, alarm_id)
    if found is None:
        raise ApiError(404, f"No alarm with id {alarm_id}", "Not Found")
    return responses.json_response(alarm_element(responses.base_url(request, services.config.server.public_url), *found))


@router.put("/alarms/{alarm_id}", summary="Replace an alarm's state, lifecycle_state and link", openapi_extra=_UPDATE_BODY)
async def replace_alarm(request: Request, alarm_id: str, principal: PutAlarm, tenant_id: TenantId = None,
                        services: Services = Depends(get_services)) -> Response:
    return await _update(request, services, principal, alarm_id, tenant_id, replace=True)


@router.patch("/alarms/{alarm_id}", summary="Change any of an alarm's state, lifecycle_state and link",
              openapi_extra=_UPDATE_BODY)
async def patch_alarm(request: Request, alarm_id: str, principal: PatchAlarm, tenant_id: TenantId = None,
                      services: Services = Depends(get_services)) -> Response:
    return await _update(request, services, principal, alarm_id, tenant_id, replace=False)


@router.delete("/alarms/{alarm_id}", status_code=204, summary="Delete an alarm")
async def delete_alarm(request: Request, alarm_id: str, principal: DeleteAlarm, tenant_id: TenantId = None,
                       services: Services = Depends(get_services)) -> Response:
    scope = services.policy.effective_tenant(principal, tenant_id)
    if not await asyncio.wrap_future(services.alarm_changes.delete_alarm(scope, alarm_id)):
        raise ApiError(404, f"No alarm with id {alarm_id}", "Not Found")
    return Response(status_code=204)
