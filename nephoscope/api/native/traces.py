"""Following requests and explaining scheduling (native v1): ``GET /v1/traces/{request_id}`` (one
timeline across services from any id of the chain) and ``GET /v1/scheduling/{instance_id}``
(which filter removed which hosts, and why the boot failed).

Tenant scope: a project follows the lines about its own project and the resources it owns, within
the user-visible categories and loggers; the scheduling explanation of its own instance tells it
why, without the names of the operator's hosts. Admins see everything.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from nephoscope.api import responses
from nephoscope.api.deps import get_services
from nephoscope.api.errors import ApiError
from nephoscope.api.monasca.timestamps import millis_text
from nephoscope.api.native.logs import visibility
from nephoscope.api.parameters import TenantId
from nephoscope.api.security import requires
from nephoscope.events.store import EventQuery
from nephoscope.logs.processing.scheduling import SCHEDULING_EVENTS, with_notifications
from nephoscope.logs.processing.traces import to_document
from nephoscope.server.services import Services
from nephoscope.tenancy import Principal

router = APIRouter(prefix="/v1", tags=["Traces and scheduling"])
ReadTrace = Annotated[Principal, Depends(requires("api:traces:get"))]
ReadScheduling = Annotated[Principal, Depends(requires("api:scheduling:get"))]


@router.get("/traces/{request_id}", summary="One request's timeline across services, from any of its ids")
async def get_trace(request: Request, request_id: str, principal: ReadTrace, tenant_id: TenantId = None,
                    services: Services = Depends(get_services)) -> Response:
    """Every log line of the request chain (request ids linked by global request ids, nova's RPC
    context and keystoneauth's "used request id" lines) in time order, with the time between steps,
    the services and hosts crossed, and the first true error; the notifications of the chain too."""
    scope = services.policy.native_read_scope(principal, tenant_id)
    policy, _ = visibility(services, principal, scope)
    trace = await run_in_threadpool(services.logs.trace, request_id, scope, policy)
    if not trace.steps:
        raise ApiError(404, f"no log line of request {request_id} is visible to this project", "Not Found",
                       "request_id")
    events = services.events.store
    notifications = []
    for chain_id in trace.request_ids[:50]:
        notifications += await run_in_threadpool(events.query, scope, EventQuery(request_id=chain_id), None, 100)
    unique = {event.message_id: event for event in notifications}
    return responses.json_response({
        **to_document(trace),
        "events": [{"time": text, "event_type": event.event_type, "service": event.service, "host": event.host,
                    "priority": event.priority, "resource_id": event.resource_id, "request_id": event.request_id,
                    "message_id": event.message_id}
                   for event, text in zip(sorted(unique.values(), key=lambda e: e.timestamp_ms),
                                          millis_text(sorted(e.timestamp_ms for e in unique.values())))],
    })


@router.get("/scheduling/{instance_id}", summary="Why an instance was (not) scheduled: filter by filter")
async def get_scheduling(request: Request, instance_id: str, principal: ReadScheduling,
                         tenant_id: TenantId = None,
                         services: Services = Depends(get_services)) -> Response:
    """From nova-scheduler's and nova-conductor's lines: placement's answer, each filter's hosts
    before and after (and, for operators, which hosts it removed), and the reason in plain words;
    the scheduler's and conductor's notifications about the instance beside them (``events``)."""
    scope = services.policy.native_read_scope(principal, tenant_id)
    policy, operator = visibility(services, principal, scope)
    explanation = await run_in_threadpool(services.logs.explain_scheduling, instance_id, scope, policy)
    # The scheduler's and conductor's notifications about the instance join the lines.
    store = services.events.store
    found = await run_in_threadpool(store.query, scope, EventQuery(resource_id=instance_id), None, 200)
    notes = [event for event in found if event.event_type.startswith(SCHEDULING_EVENTS)]
    failures = await run_in_threadpool(store.failures, scope, instance_id)
    explanation = with_notifications(instance_id, explanation, [event.request_id for event in notes if event.request_id],
                                     [(failure.summary, failure.exception) for failure in failures])
    if explanation is None:
        raise ApiError(404, f"no log line or notification about instance {instance_id} is visible to this project",
                       "Not Found", "instance_id")
    body = dataclasses.asdict(explanation)
    for step, filter_step in zip(body["filters"], explanation.filters):
        step["removed"] = filter_step.removed
        if not operator:
            step["removed_hosts"] = []  # the operator's hosts are not the project's business
    body["events"] = [{"time": text, "event_type": event.event_type, "service": event.service,
                       "host": event.host if operator else "", "priority": event.priority,
                       "request_id": event.request_id, "message_id": event.message_id}
                      for event, text in zip(notes, millis_text([event.timestamp_ms for event in notes]))]
    if not operator:
        body["lines"] = []
    else:
        for line, text in zip(body["lines"], millis_text([line["ts"] for line in body["lines"]])):
            line["time"] = text
    return responses.json_response(body)
