"""Logs (native v1): ``POST /v1/logs`` (lines in batches), ``GET /v1/logs`` (search with counts
by category, service, level and template), ``GET /v1/logs/templates``, ``GET /v1/logs/hygiene``.

Reads are tenant-scoped by the store (a project sees the lines about its own project); what a
project may see at all — categories and loggers — is the ``[logs] user_visible_*`` policy;
admins see everything.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from nephoscope.api import responses
from nephoscope.api.bodies import decode_content, read_body
from nephoscope.api.deps import get_services
from nephoscope.api.errors import unprocessable
from nephoscope.api.monasca import params
from nephoscope.api.monasca.timestamps import millis_text
from nephoscope.api.parameters import TenantId, taking
from nephoscope.logs.processing.rules import LEVEL_NAMES
from nephoscope.api.security import requires
from nephoscope.auth import rules
from nephoscope.logs.processing.schema import CATEGORIES
from nephoscope.logs.server.store import LogQuery
from nephoscope.logs.server.wire import decode_native
from nephoscope.server.services import Services
from nephoscope.tenancy import ALL_TENANTS, Principal

router = APIRouter(prefix="/v1", tags=["Logs"])

Reader = Annotated[Principal, Depends(requires("api:logs:get"))]
Text = Annotated[str | None, Query()]
_HIDDEN = ("scope",)
_FOLDED = {"WARN": "WARNING", "FATAL": "CRITICAL"}  # as the parsers store them


def visibility(services: Services, principal: Principal, scope: str) -> tuple[LogQuery, bool]:
    """What the caller may read of the logs in ``scope``, and whether it is an operator (the policy
    rule ``api:logs:operator``, or anyone reading every project)."""
    operator = scope == ALL_TENANTS or services.policy.allows(rules.LOGS_OPERATOR, principal)
    return services.logs.policy(scope, operator), operator


def _query(request: Request, services: Services, principal: Principal, scope: str) -> LogQuery:
    start_ms, end_ms = params.time_range(request, start_required=False)
    get = request.query_params.get
    category = get("category") or None
    if category is not None and category not in CATEGORIES:
        raise unprocessable(f"category must be one of {', '.join(CATEGORIES)}", "category")
    level = _FOLDED.get((get("level") or "").upper(), (get("level") or "").upper()) or None
    if level is not None and level not in LEVEL_NAMES:
        raise unprocessable(f"level must be one of {', '.join(LEVEL_NAMES)} (any case), got {get('level')[:40]!r}",
                            "level")
    policy, _ = visibility(services, principal, scope)
    return dataclasses.replace(
        policy, start_ms=start_ms, end_ms=end_ms, service=get("service") or None, host=get("host") or None,
        level=level, category=category, template_id=get("template_id") or None,
        template_aliases=tuple(services.logs.pipeline.miner.aliases_of(get("template_id"))) if get("template_id") else (),
        request_id=get("request_id") or None,
        resource_id=get("resource_id") or None, logger=get("logger") or None, text=get("q") or None)


def _after(raw: str | None) -> tuple[int, int] | None:
    if not raw:
        return None
    ts, _, seq = raw.partition(":")
    if not (ts.lstrip("-").isdigit() and seq.lstrip("-").isdigit()):
        raise unprocessable("offset must be the token of a next link (<ms>:<sequence>)", "offset")
    return int(ts), int(seq)


def _records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    texts = millis_text([row["ts"] for row in rows]) if rows else []
    out = []
    for row, text in zip(rows, texts):
        for name in _HIDDEN:
            row.pop(name, None)
        row["time"] = text
        out.append(row)
    return out


@router.post("/logs", status_code=204, summary="Send log lines (JSON batches or text/plain)",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"type": "object", "required": ["lines"], "properties": {
                     "source": {"type": "object", "properties": {
                         k: {"type": "string"} for k in ("service", "component", "host", "region", "path")}},
                     "lines": {"type": "array", "items": {"type": "string"}}}}},
                 "text/plain": {"schema": {"type": "string"}}}},
                 # text/plain lines carry their source in the query string
                 **taking(*("service", "component", "host", "region", "path"))})
async def post_logs(request: Request, tenant_id: str | None = None,
                    principal: Principal = Depends(requires("api:logs:post")),
                    services: Services = Depends(get_services)) -> Response:
    """``{"source": {"service", "component", "host", "region", "path"}, "lines": [...]}`` (or a list
    of them), or the lines as ``text/plain`` with the source in the query string. Lines are parsed
    as whatever they are (oslo.log text or JSON, access lines, syslog); a traceback's lines become
    one record. 204 once stored durably."""
    tenant = services.policy.effective_tenant(principal, tenant_id)
    limits = services.config.limits
    body = await read_body(request, limits.max_body_bytes)
    body = decode_content(body, request.headers.get("content-encoding"), limits.max_decompressed_bytes)
    groups = decode_native(body, request.headers.get("content-type"), request.query_params)
    service = services.logs
    for source, lines in groups.groups.items():
        await run_in_threadpool(service.ingest, lines, source, tenant)
    return Response(status_code=204)


@router.get("/logs", summary="Search log records, newest first, with counts by category and template")
async def search_logs(request: Request, principal: Reader, tenant_id: TenantId = None, service: Text = None,
                      host: Text = None, level: Text = None, category: Text = None, template_id: Text = None,
                      request_id: Text = None, resource_id: Text = None, logger: Text = None, q: Text = None,
                      start_time: Text = None, end_time: Text = None, offset: Text = None, limit: Text = None,
                      facets: Text = None,
                      services: Services = Depends(get_services)) -> Response:
    """Filters: time range (ISO 8601), ``service``, ``host``, ``level``, ``category`` (error,
    telemetry, noise, audit, info), ``template_id``, ``request_id`` (the request id or the global
    one), ``resource_id`` (an instance, a volume or any UUID in the message), ``logger``, ``q`` (text
    in the message). ``facets=false`` leaves out the counts."""
    scope = services.policy.native_read_scope(principal, tenant_id)
    query = _query(request, services, principal, scope)
    page_size = params.limit(request, min(services.config.limits.page_limit, 1000))
    store = services.logs.store
    found = await run_in_threadpool(store.search, scope, query, _after(offset), page_size + 1)
    rows = found.to_pylist()
    page = rows[:page_size]
    token = f"{page[-1]['ts']}:{page[-1]['seq']}" if len(rows) > page_size else None
    links = [{"rel": "self", "href": responses.self_url(request)}]
    if token:
        links.append({"rel": "next", "href": responses.next_url(request, token)})
    body: dict[str, Any] = {"links": links, "elements": _records(page)}
    if (facets or "true").lower() != "false":
        body["facets"] = await run_in_threadpool(store.facets, scope, query)
    return responses.json_response(body)


@router.get("/logs/templates", summary="Log templates seen, with counts and categories")
async def templates(request: Request, principal: Reader, tenant_id: TenantId = None, service: Text = None,
                    category: Text = None, start_time: Text = None, end_time: Text = None,
                    limit: Text = None,
                    services: Services = Depends(get_services)) -> Response:
    scope = services.policy.native_read_scope(principal, tenant_id)
    query = _query(request, services, principal, scope)
    found = await run_in_threadpool(services.logs.store.templates, scope, query,
                                    params.limit(request, 1000))
    for row in found:
        row["first_seen"], row["last_seen"] = millis_text([row.pop("first_ms"), row.pop("last_ms")])
    return responses.json_response({"elements": found})


@router.get("/logs/hygiene", summary="Log hygiene per service: volume by category, noise, missing request ids")
async def hygiene(request: Request, principal: Reader, tenant_id: TenantId = None, service: Text = None,
                  start_time: Text = None, end_time: Text = None,
                  services: Services = Depends(get_services)) -> Response:
    """Per service over the range: records by category, the noise share, the share of parsed records
    without a request id, the unparsed share, physical lines, bytes and the top templates — what
    its logging should change (the report ``nephoscope logs classify`` prints for files)."""
    scope = services.policy.native_read_scope(principal, tenant_id)
    query = _query(request, services, principal, scope)
    report = await run_in_threadpool(services.logs.store.hygiene, scope, query)
    return responses.json_response({"elements": msgspec.to_builtins(report.services)})
