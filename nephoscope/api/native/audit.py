"""``GET /v1/audit``: the audit trail — Nephoscope's own chained records (changes, notifications
sent, refused requests) beside OpenStack's CADF notifications — newest first, filtered and paged.

An admin sees every record (``tenant_id`` narrows to one project); a project sees the records of
its own project and those its users and keys initiated. Handlers decode, authorize and call
``services.audit``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from nephoscope.api import responses
from nephoscope.api.deps import get_services
from nephoscope.api.errors import unprocessable
from nephoscope.api.monasca import params
from nephoscope.api.monasca.timestamps import millis_text
from nephoscope.api.security import requires
from nephoscope.audit import OUTCOMES, SOURCES, AuditQuery, InvalidToken, RecordFilter
from nephoscope.server.services import Services
from nephoscope.tenancy import Principal

router = APIRouter(prefix="/v1", tags=["Audit"])

Reader = Annotated[Principal, Depends(requires("api:audit:get"))]
_MAX_TEXT = 255


def _text(description: str):  # noqa: ANN202 - a query parameter declaration
    return Query(description=description, max_length=_MAX_TEXT)


StartTime = Annotated[str | None, Query(description="ISO 8601 UTC: records at or after it")]
EndTime = Annotated[str | None, Query(description="ISO 8601 UTC: records before it")]
InitiatorFilter = Annotated[str | None, _text("who: the initiator's id (user or API key), name, project or "
                                              "client address, exactly")]
ActionFilter = Annotated[str | None, _text("the CADF action, exactly (create, update, delete, read, notify, "
                                           "revoke, authenticate, ...) or a prefix ending in *")]
OutcomeFilter = Annotated[str | None, Query(description=f"one of {', '.join(OUTCOMES)} (denied: refused with 401 or 403)")]
TargetFilter = Annotated[str | None, _text("what: the target's id, its CADF typeURI, or the typeURI's last segment "
                                           "(alarm-definition, notification-method, alarm, api-key, api, user, ...)")]
SourceFilter = Annotated[str | None, Query(description="nephoscope (the chained records) or openstack (CADF "
                                                       "notifications from RabbitMQ); both when absent")]
TenantId = Annotated[str | None, Query(description="one project's records (admins: any; others: their own)")]
Limit = Annotated[str | None, Query(description="page size (whole number, capped at the server's page limit)")]
Offset = Annotated[str | None, Query(description="the token of the `next` link")]

_KNOWN = frozenset({"start_time", "end_time", "initiator", "action", "outcome", "target", "source", "tenant_id",
                    "limit", "offset"})


@router.get("/audit", summary="The audit trail: changes, notifications sent, refused requests, OpenStack's CADF "
                              "notifications")
async def list_audit(request: Request, principal: Reader, start_time: StartTime = None, end_time: EndTime = None,
                     initiator: InitiatorFilter = None, action: ActionFilter = None, outcome: OutcomeFilter = None,
                     target: TargetFilter = None, source: SourceFilter = None, tenant_id: TenantId = None,
                     limit: Limit = None, offset: Offset = None,
                     services: Services = Depends(get_services)) -> Response:
    """Newest first. Each element: `id` (the CADF event's), `source` (`nephoscope`: the hash chain,
    with `sequence` and `hash`; `openstack`: a service's notification, with `service`, `publisher`
    and `event_type`), `timestamp`, `project_id`, `action`, `outcome` (success, failure, denied,
    pending, unknown), `initiator`, `target` and `reason` (the CADF event's objects, plus for every
    source: initiator id, name, project_id, address, agent, type; target id, name, type, address;
    reason type, code, rule, text), `count` (identical refusals coalesced into
    the record), `details` and the whole CADF `event`. Follow the `next` link for older records; a
    page may hold fewer than `limit` elements when the filters are selective."""
    unknown = sorted(set(request.query_params) - _KNOWN)
    if unknown:
        raise unprocessable(f"unknown parameter {unknown[0]!r}; known: {', '.join(sorted(_KNOWN))}", unknown[0])
    if outcome is not None and outcome not in OUTCOMES:
        raise unprocessable(f"outcome must be one of {', '.join(OUTCOMES)}", "outcome")
    if source is not None and source not in SOURCES:
        raise unprocessable(f"source must be one of {', '.join(SOURCES)}", "source")
    scope = services.policy.native_read_scope(principal, tenant_id)
    start_ms, end_ms = params.time_range(request, start_required=False)
    page_size = params.limit(request, services.config.limits.page_limit)
    query = AuditQuery(RecordFilter(start_ms, end_ms, initiator or None, action or None, outcome, target or None),
                       source)
    try:
        page = await run_in_threadpool(services.audit.page, scope, query, offset or None, page_size)
    except InvalidToken as error:
        raise unprocessable(str(error), "offset") from None
    texts = millis_text([entry.time_ms for entry in page.entries]) if page.entries else []
    elements = [{**entry.as_dict(), "timestamp": text} for entry, text in zip(page.entries, texts)]
    return responses.page(request, elements, page.next_token)
