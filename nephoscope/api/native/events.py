"""Events, the event catalog and failure summaries (native v1).

``GET /v1/events`` (tenant-scoped query), ``POST /v1/events`` (notifications from sources
without RabbitMQ), ``GET /v1/events/types`` (the catalog, and the unknown types seen),
``GET /v1/failures`` and ``GET /v1/resources/{id}/failures``. Handlers decode, authorize and
call ``nephoscope.events``.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from nephoscope.api import responses
from nephoscope.api.bodies import decode_content, parse_json, read_body
from nephoscope.api.deps import get_services
from nephoscope.api.errors import unprocessable
from nephoscope.api.monasca import params
from nephoscope.api.monasca.timestamps import millis_text
from nephoscope.api.parameters import TenantId
from nephoscope.api.security import requires
from nephoscope.auth import rules
from nephoscope.auth.policy import Denied
from nephoscope.events.envelope import EnvelopeError, parse_notification
from nephoscope.events.failures import Failure
from nephoscope.events.service import EventService
from nephoscope.events.store import EventQuery, StoredEvent
from nephoscope.server.services import Services
from nephoscope.tenancy import Principal

router = APIRouter(prefix="/v1", tags=["Events"])

ReadEvents = Annotated[Principal, Depends(requires("api:events:get"))]
ReadTypes = Annotated[Principal, Depends(requires("api:events:types"))]
ReadFailures = Annotated[Principal, Depends(requires("api:failures:get"))]
Text = Annotated[str | None, Query()]
MAX_EVENTS_PER_POST = 10_000


def _event(stored: StoredEvent, timestamp: str, service: EventService) -> dict:
    traits, payload = service.expand(stored)
    return {"message_id": stored.message_id, "event_type": stored.event_type, "timestamp": timestamp,
            "service": stored.service, "host": stored.host, "priority": stored.priority,
            "project_id": stored.project_id, "user_id": stored.user_id, "request_id": stored.request_id,
            "global_request_id": stored.global_request_id, "resource_id": stored.resource_id,
            "resource_type": stored.resource_type, "known": stored.known, "traits": traits, "payload": payload}


def _failures(failures: list[Failure]) -> list[dict]:
    texts = millis_text([failure.timestamp_ms for failure in failures]) if failures else []
    return [{**dataclasses.asdict(failure), "timestamp": text} for failure, text in zip(failures, texts)]


def _page_token(raw: str | None) -> tuple[int, str] | None:
    if not raw:
        return None
    timestamp, _, message_id = raw.partition(":")
    if not timestamp.isdigit() or not message_id:
        raise unprocessable("offset must be the token of a next link (<ms>:<message id>)", "offset")
    return int(timestamp), message_id


@router.get("/events", summary="Query events (tenant-scoped), newest first")
async def list_events(request: Request, principal: ReadEvents, event_type: Text = None, resource_id: Text = None,
                      request_id: Text = None, start_time: Text = None, end_time: Text = None,
                      offset: Text = None, limit: Text = None, tenant_id: TenantId = None,
                      services: Services = Depends(get_services)) -> Response:
    """``event_type`` exact or a prefix with ``*`` (``instance.create.*``); ``request_id`` matches the
    request id or the global request id; ``start_time``/``end_time`` ISO 8601."""
    scope = services.policy.native_read_scope(principal, tenant_id)
    start_ms, end_ms = params.time_range(request, start_required=False)
    page_size = params.limit(request, services.config.limits.page_limit)
    query = EventQuery(event_type=event_type or None, resource_id=resource_id or None, request_id=request_id or None,
                       start_ms=start_ms, end_ms=end_ms)
    found = await run_in_threadpool(services.events.store.query, scope, query, _page_token(offset),
                                    page_size + 1)
    page = found[:page_size]
    texts = millis_text([event.timestamp_ms for event in page]) if page else []
    service = services.events
    elements = await run_in_threadpool(lambda: [_event(event, text, service) for event, text in zip(page, texts)])
    last = found[page_size - 1] if len(found) > page_size else None
    return responses.page(request, elements, f"{last.timestamp_ms}:{last.message_id}" if last else None)


@router.post("/events", summary="Post notifications (oslo.messaging dicts or v2 envelopes)",
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                 "oneOf": [{"type": "array", "items": {"type": "object"}},
                           {"type": "object", "properties": {"notifications": {"type": "array",
                                                                                "items": {"type": "object"}}}}]}}}}})
async def post_events(request: Request, principal: Annotated[Principal, Depends(requires("api:events:post"))],
                      services: Services = Depends(get_services)) -> Response:
    """For sources without RabbitMQ. Each item is a notification as oslo.messaging emits it (or its
    ``{"oslo.version", "oslo.message"}`` envelope). Events are stored once per ``message_id``; an
    event of another project needs the delegate or admin role."""
    limits = services.config.limits
    body = await read_body(request, limits.max_body_bytes)
    body = decode_content(body, request.headers.get("content-encoding"), limits.max_decompressed_bytes)
    document = parse_json(body)
    items = document.get("notifications") if isinstance(document, dict) else document
    if not isinstance(items, list) or not items:
        raise unprocessable("the body must be a non-empty list of notifications (or {\"notifications\": [...]})",
                            "notifications")
    if len(items) > MAX_EVENTS_PER_POST:
        raise unprocessable(f"at most {MAX_EVENTS_PER_POST} notifications per request", "notifications")
    service = services.events
    notifications = []
    for index, item in enumerate(items):
        try:
            notifications.append(parse_notification(item))
        except EnvelopeError as error:
            raise unprocessable(f"notifications[{index}]: {error}", f"notifications[{index}]") from None
    events = service.understand(notifications)
    crossing = services.policy.may_delegate(principal)
    for index, event in enumerate(events):
        if not crossing and event.project_id and event.project_id != principal.project:
            raise Denied(rules.DELEGATE, f"notifications[{index}] belongs to another project ({event.project_id}); "
                         f"posting for another project needs the policy rule {rules.DELEGATE}", principal)
    if not crossing:
        events = [dataclasses.replace(event, project_id=event.project_id or principal.project) for event in events]
    added = await run_in_threadpool(service.ingest, events)
    return responses.json_response({"accepted": len(events), "new": added, "duplicates": len(events) - added})


@router.get("/events/types", summary="The event catalog, and the unknown event types seen")
async def event_types(request: Request, principal: ReadTypes,
                      services: Services = Depends(get_services)) -> Response:
    service = services.events
    unknown = await run_in_threadpool(service.store.unknown_types) \
        if services.policy.allows(rules.EVENTS_UNKNOWN_TYPES, principal) else []
    return responses.json_response({"elements": [dataclasses.asdict(info) for info in service.catalog.types()],
                                    "unknown": unknown})


@router.get("/failures", summary="Failure summaries of a project's resources, newest first")
async def failures(request: Request, principal: ReadFailures, project: Text = None, tenant_id: TenantId = None,
                   start_time: Text = None, end_time: Text = None, limit: Text = None, offset: Text = None,
                   services: Services = Depends(get_services)) -> Response:
    """``tenant_id`` (or ``project``) defaults to the caller's project; another needs the delegate or
    admin role, ``*`` every project (admins). Paged: follow the ``next`` link."""
    scope = services.policy.native_read_scope(principal, tenant_id or project)
    start_ms, end_ms = params.time_range(request, start_required=False)
    page_size = params.limit(request, services.config.limits.page_limit)
    after = _failure_token(offset)
    found = await run_in_threadpool(services.events.store.failures, scope, None, start_ms, end_ms,
                                    page_size + 1, after)
    page = found[:page_size]
    token = f"{page[-1].timestamp_ms}:{page[-1].resource_id}" if len(found) > page_size else None
    return responses.page(request, _failures(page), token)


def _failure_token(raw: str | None) -> tuple[int, str] | None:
    if not raw:
        return None
    timestamp, _, resource_id = raw.partition(":")
    if not timestamp.isdigit() or not resource_id:
        raise unprocessable("offset must be the token of a next link (<ms>:<resource id>)", "offset")
    return int(timestamp), resource_id


@router.get("/resources/{resource_id}/failures", summary="Failure summaries of one resource")
async def resource_failures(request: Request, resource_id: str, principal: ReadFailures,
                            tenant_id: TenantId = None,
                            services: Services = Depends(get_services)) -> Response:
    scope = services.policy.native_read_scope(principal, tenant_id)
    found = await run_in_threadpool(services.events.store.failures, scope, resource_id)
    return responses.json_response({"elements": _failures(found)})
