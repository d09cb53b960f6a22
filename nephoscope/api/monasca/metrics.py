"""Monasca v2.0 metrics: POST /metrics and the GET endpoints over series and points.

Handlers decode the query, authorize, and ask the ``MetricService``; the Monasca paging
over groups of series (``limit`` counts rows across elements) is the only logic here.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from nephoscope.api import responses
from nephoscope.api.bodies import read_body
from nephoscope.api.deps import get_services
from nephoscope.api.errors import ApiError, unprocessable
from nephoscope.api.monasca import params
from nephoscope.api.monasca.timestamps import millis_text, seconds_text
from nephoscope.api.parameters import taking
from nephoscope.api.security import requires
from nephoscope.metrics.ingest.monasca import reject_unknown_content_type
from nephoscope.metrics.query import STATISTICS, Group, MultipleMetrics
from nephoscope.metrics.store import SeriesFilter
from nephoscope.server.services import Services
from nephoscope.tenancy import Principal

router = APIRouter(prefix="/v2.0", tags=["Monasca v2.0 metrics"])

# What each GET reads (Monasca's parameters, §2): anything else answers 422 (api.parameters).
_TIME = {"start_time": "ISO 8601 UTC, e.g. 2024-01-01T00:00:00Z", "end_time": "ISO 8601 UTC, after start_time"}
_PAGE = {"offset": "the `next` link's offset", "limit": "page size, 1 to the server's page limit",
         "tenant_id": "another project (delegates and admins); * = every project (admins)"}
_DIMENSIONS = {"dimensions": "comma list of key:value (key:v1|v2 any of the values, a bare key: the key exists)"}
_MERGE = {"merge_metrics": "true merges every matching series", "group_by": "comma list of dimension keys, * = all"}
MAX_PERIOD_SECONDS = 100 * 365 * 86_400

_METRIC_SCHEMA = {
    "type": "object",
    "required": ["name", "timestamp", "value"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "dimensions": {"type": "object", "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 255}},
        "timestamp": {"type": "number", "description": "milliseconds since the epoch"},
        "value": {"type": "number"},
        "value_meta": {"type": ["object", "null"], "additionalProperties": {"type": "string"}},
    },
}


@router.post(
    "/metrics", status_code=204, summary="Create metrics (Monasca)",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "oneOf": [_METRIC_SCHEMA, {"type": "array", "items": _METRIC_SCHEMA}]}}}}},
    responses={204: {"description": "stored durably"}, 422: {"description": "a metric breaks Monasca's rules"}},
)
async def create_metrics(request: Request, tenant_id: str | None = None,
                         principal: Principal = Depends(requires("api:metrics:post")),
                         services: Services = Depends(get_services)) -> Response:
    """One metric object or a list of them. Answers 204 once the metrics are durable."""
    reject_unknown_content_type(request.headers.get("content-type"))
    tenant = services.policy.effective_tenant(principal, tenant_id)
    services.metrics.admit()
    body = await read_body(request, services.config.limits.max_body_bytes)
    await services.metrics.ingest_monasca(body, tenant)
    return Response(status_code=204)


def _filter(request: Request, services: Services, principal: Principal, name: str | None, with_time: bool = True,
            start_required: bool = False) -> SeriesFilter:
    tenant = services.policy.read_scope(principal, request.query_params.get("tenant_id"))
    start, end = params.time_range(request, start_required) if with_time else (None, None)
    return SeriesFilter(tenant, name, params.dimension_filter(request), start, end)


@router.get("/metrics", summary="List metrics (series)",
            openapi_extra=taking(name="metric name", **_DIMENSIONS, **_TIME, **_PAGE))
async def list_metrics(request: Request, principal: Principal = Depends(requires("api:metrics:get")),
                       services: Services = Depends(get_services)) -> Response:
    series_filter = _filter(request, services, principal, request.query_params.get("name") or None)
    limit = params.limit(request, services.config.limits.page_limit)
    offset = request.query_params.get("offset")
    after = None
    if offset:
        try:
            after = int(offset, 16)
        except ValueError:
            after = -1
        if not 0 <= after < 2**63:
            raise unprocessable(f"offset {offset!r} is not a metric id from a previous page", "offset")

    found = await run_in_threadpool(services.metrics.find, series_filter, after, limit + 1)
    elements = [{"id": format(s.id, "x"), "name": s.name, "dimensions": s.dimensions} for s in found[:limit]]
    return responses.page(request, elements, elements[-1]["id"] if len(found) > limit else None)


@router.get("/metrics/names", summary="List metric names", openapi_extra=taking(**_DIMENSIONS, **_PAGE))
async def list_names(request: Request, principal: Principal = Depends(requires("api:metrics:get")),
                     services: Services = Depends(get_services)) -> Response:
    series_filter = _filter(request, services, principal, None, with_time=False)
    limit = params.limit(request, services.config.limits.page_limit)
    names = await run_in_threadpool(services.metrics.names, series_filter, request.query_params.get("offset"),
                                    limit + 1)
    elements = [{"name": n} for n in names[:limit]]
    return responses.page(request, elements, names[limit - 1] if len(names) > limit else None)


async def _dimension_query(request: Request, principal: Principal, services: Services, key: str | None) -> Response:
    tenant = services.policy.read_scope(principal, request.query_params.get("tenant_id"))
    start, end = params.time_range(request, False)
    series_filter = SeriesFilter(tenant, request.query_params.get("metric_name") or None, (), start, end)
    limit = params.limit(request, services.config.limits.page_limit)
    offset = request.query_params.get("offset")

    if key is None:
        values = await run_in_threadpool(services.metrics.dimension_names, series_filter, offset, limit + 1)
    else:
        values = await run_in_threadpool(services.metrics.dimension_values, series_filter, key, offset, limit + 1)
    field = "dimension_name" if key is None else "dimension_value"
    elements = [{field: v} for v in values[:limit]]
    return responses.page(request, elements, values[limit - 1] if len(values) > limit else None)


@router.get("/metrics/dimensions/names", summary="List dimension names",
            openapi_extra=taking(metric_name="only dimensions of this metric", **_TIME, **_PAGE))
async def dimension_names(request: Request, principal: Principal = Depends(requires("api:metrics:dimension:names")),
                          services: Services = Depends(get_services)) -> Response:
    return await _dimension_query(request, principal, services, None)


@router.get("/metrics/dimensions/names/values", summary="List values of one dimension",
            openapi_extra=taking(dimension_name="the dimension (required)",
                                 metric_name="only values of this metric", **_TIME, **_PAGE))
async def dimension_values(request: Request, principal: Principal = Depends(requires("api:metrics:dimension:values")),
                           services: Services = Depends(get_services)) -> Response:
    return await _dimension_query(request, principal, services, params.required(request, "dimension_name"))


def _offset(request: Request) -> tuple[str | None, int | None]:
    """Monasca offsets: ``<element id>_<timestamp>`` or a bare timestamp ("after this time")."""
    raw = request.query_params.get("offset")
    if not raw:
        return None, None
    element, separator, moment = raw.rpartition("_")
    if not separator:
        element, moment = None, raw
    return element or None, params.parse_time(moment, "offset")


def _groups(request: Request, principal: Principal, services: Services) -> tuple[list[Group], int, int]:
    metrics = services.metrics
    name = params.required(request, "name")
    series_filter = _filter(request, services, principal, name, start_required=True)
    try:
        groups = metrics.groups(series_filter, params.equality_dimensions(series_filter.dimensions),
                                params.flag(request, "merge_metrics"), params.group_by(request))
    except MultipleMetrics as error:
        raise ApiError(409, str(error), "MultipleMetrics") from None
    end = series_filter.end_ms if series_filter.end_ms is not None else int(time.time() * 1000) + 600_000
    return groups, series_filter.start_ms, end


def _page_of_groups(request: Request, principal: Principal, services: Services, columns: list[str], key: str,
                    rows_for: Callable, resume_after: Callable[[int, int, int], int]) -> tuple[list, str | None]:
    """Monasca's paging over groups of series: ``limit`` counts rows across elements, and the
    ``next`` offset ``<element id>_<timestamp>`` resumes inside the element where a page ended.

    ``rows_for(group, begin, end, start, remaining)`` gives (timestamp texts, rows);
    ``resume_after(offset_time, start, end)`` is where a group continues after an offset.
    """
    limit = params.limit(request, services.config.limits.page_limit)
    element_offset, time_offset = _offset(request)
    groups, start, end = _groups(request, principal, services)
    elements, remaining, next_offset = [], limit, None
    skipping = element_offset is not None
    for group in groups:
        if skipping and group.id != element_offset:
            continue
        begin = start
        if time_offset is not None and (skipping or element_offset is None):
            begin = resume_after(time_offset, start, end)
        skipping = False
        texts, rows = rows_for(group, begin, end, start, remaining)
        if not rows:
            continue
        elements.append({"id": group.id, "name": group.name, "dimensions": group.dimensions,
                         "columns": columns, key: rows})
        remaining -= len(rows)
        if remaining <= 0:
            next_offset = f"{group.id}_{texts[-1]}"
            break
    return elements, next_offset


@router.get("/metrics/measurements", summary="List measurements",
            openapi_extra=taking(name="metric name (required)", **_DIMENSIONS, **_TIME, **_MERGE, **_PAGE))
async def measurements(request: Request, principal: Principal = Depends(requires("api:metrics:get")),
                       services: Services = Depends(get_services)) -> Response:
    def rows_for(group: Group, begin: int, end: int, start: int, remaining: int) -> tuple[list[str], list]:
        found = services.metrics.measurements(group, begin, end, remaining)
        texts = millis_text(found.timestamps)
        return texts, [[t, v, meta] for t, v, meta in zip(texts, found.values.tolist(), found.value_meta)]

    elements, next_offset = await run_in_threadpool(
        _page_of_groups, request, principal, services, ["timestamp", "value", "value_meta"], "measurements", rows_for,
        lambda offset, start, end: max(start, offset + 1))
    return responses.page(request, elements, next_offset)


@router.get("/metrics/statistics", summary="Statistics of measurements per period",
            openapi_extra=taking(name="metric name (required)", statistics="comma list of avg, min, max, sum, count",
                                 period="seconds per bucket (default 300)", **_DIMENSIONS, **_TIME, **_MERGE,
                                 **_PAGE))
async def statistics(request: Request, principal: Principal = Depends(requires("api:metrics:get")),
                     services: Services = Depends(get_services)) -> Response:
    requested = [s.strip().lower() for s in ",".join(request.query_params.getlist("statistics")).split(",") if s.strip()]
    if not requested:
        raise unprocessable("statistics is required: a comma list of avg, min, max, sum, count", "statistics")
    unknown = [s for s in requested if s not in STATISTICS]
    if unknown:
        raise unprocessable(f"statistics: {', '.join(unknown)} not supported; use avg, min, max, sum, count",
                            "statistics")
    raw_period = request.query_params.get("period") or "300"
    if not raw_period.isdigit() or int(raw_period) > MAX_PERIOD_SECONDS:
        raise unprocessable(f"period must be a whole number of seconds from 0 to {MAX_PERIOD_SECONDS}, "
                            f"got {raw_period!r}", "period")
    period = int(raw_period)

    def rows_for(group: Group, begin: int, end: int, start: int, remaining: int) -> tuple[list[str], list]:
        buckets, columns = services.metrics.statistics(group, begin, end, start, period, requested, remaining)
        texts = seconds_text(buckets)
        return texts, [[t, *row] for t, row in zip(texts, zip(*(column.tolist() for column in columns)))]

    elements, next_offset = await run_in_threadpool(
        _page_of_groups, request, principal, services, ["timestamp", *requested], "statistics", rows_for,
        lambda offset, start, end: offset + period * 1000 if period else end)
    return responses.page(request, elements, next_offset)
