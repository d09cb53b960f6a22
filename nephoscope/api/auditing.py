"""What the API writes to the audit trail: every change a user makes, and every refused request.

Changes: ``AuditChanges``, an ASGI middleware, records each call of a route of ``AUDITED`` (alarm
definitions, notification methods, alarms, API keys, dead-letter retries) — who, from which
address, the action, the target, the outcome (the HTTP status: success below 400, failure
otherwise) and the request's fields — and holds the answer back until the record is durable, so a
client never hears of a change the trail does not hold. Refusals (401, 403) are left to
``refused``, which the error handlers call for authentication and authorization errors; they are
coalesced by the audit trail (``audit.refusals``), never written on the request's path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from nephoscope.api.deps import services_if_started
from nephoscope.audit import (
    ALARM,
    ALARM_DEFINITION,
    API_KEY,
    DELIVERY,
    FAILURE,
    NOTIFICATION_METHOD,
    REVOKE,
    SUCCESS,
    UNKNOWN,
    Entry,
    Initiator,
    Reason,
    Refusal,
    Target,
)
from nephoscope.notify.audit_entries import redacted_address
from nephoscope.server.services import Services

log = logging.getLogger(__name__)

_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_BODY_KEPT = 16 * 1024  # request bytes looked at for the record's fields
_AGENT_KEPT = 200

Owner = Callable[[Services, str, dict], str]
"""The project a change concerns when it is not the caller's (or ``tenant_id``'s)."""


def _key_owner(services: Services, key_id: str, body: dict) -> str:
    if isinstance(body.get("project"), str):
        return body["project"]
    record = services.keys.get(key_id) if key_id else None
    return record.project if record else ""


@dataclass(frozen=True)
class Audited:
    action: str
    target_type: str
    name: str  # a few words for the record ("replace alarm definition")
    id_parameter: str | None = None  # the path parameter naming the target; None: the answer's "id"
    fields: tuple[str, ...] = ()  # request fields kept in the record
    owner: Owner | None = None


_DEFINITION = ("name", "description", "expression", "match_by", "severity", "alarm_actions", "ok_actions",
               "undetermined_actions", "actions_enabled")
_METHOD = ("name", "type", "address", "period")
_ALARM = ("state", "lifecycle_state", "link")
_KEY = ("project", "roles", "description")


def _changes(collection: str, parameter: str, target_type: str, noun: str, fields: tuple[str, ...]) -> dict:
    """Create, replace, patch and delete of a Monasca collection."""
    item = f"{collection}/{{{parameter}}}"
    return {("POST", collection): Audited("create", target_type, f"create {noun}", None, fields),
            ("PUT", item): Audited("update", target_type, f"replace {noun}", parameter, fields),
            ("PATCH", item): Audited("update", target_type, f"patch {noun}", parameter, fields),
            ("DELETE", item): Audited("delete", target_type, f"delete {noun}", parameter)}


AUDITED: dict[tuple[str, str], Audited] = {
    **_changes("/v2.0/alarm-definitions", "definition_id", ALARM_DEFINITION, "alarm definition", _DEFINITION),
    **_changes("/v2.0/notification-methods", "method_id", NOTIFICATION_METHOD, "notification method", _METHOD),
    ("PUT", "/v2.0/alarms/{alarm_id}"): Audited("update", ALARM, "replace alarm state", "alarm_id", _ALARM),
    ("PATCH", "/v2.0/alarms/{alarm_id}"): Audited("update", ALARM, "patch alarm state", "alarm_id", _ALARM),
    ("DELETE", "/v2.0/alarms/{alarm_id}"): Audited("delete", ALARM, "delete alarm", "alarm_id"),
    ("POST", "/v1/keys"): Audited("create", API_KEY, "create API key", None, _KEY, _key_owner),
    ("DELETE", "/v1/keys/{key_id}"): Audited(REVOKE, API_KEY, "revoke API key", "key_id", (), _key_owner),
    ("POST", "/v1/notifications/deliveries/{delivery_id}/retry"): Audited(
        "update/retry", DELIVERY, "retry dead letter", "delivery_id"),
}


def _services(request: Request) -> Services | None:
    return services_if_started(request)  # before start-up finished or after shutdown: nothing to record into


def initiator_of(request: Request) -> Initiator:
    """Who is calling, as far as the request says: the token's user or key and project (once
    authenticated), the client address (the proxy's, unless uvicorn trusts its forwarded headers)."""
    principal = getattr(request.state, "principal", None)
    address = request.client.host if request.client else ""
    agent = (request.headers.get("user-agent") or "")[:_AGENT_KEPT]
    if principal is None:
        return Initiator(UNKNOWN, address=address, agent=agent)
    user = getattr(principal, "user_id", "") or ""
    key = getattr(principal, "key_id", "") or ""
    name = getattr(principal, "user_name", "") or ("" if user or not key else "API key")
    return Initiator(user or key or UNKNOWN, principal.project, name, address, agent)


def refused(request: Request, status: int, reason: str, rule: str | None = None) -> None:
    """Count a refused request (401, 403) into the audit trail; written within a second."""
    services = _services(request)
    if services is None:
        return
    services.audit.refused(Refusal(status, initiator_of(request), request.method, request.url.path, reason,
                                   rule or "", time.time()))


# -- changes ---------------------------------------------------------------------------------------------

def _audited(scope: dict) -> Audited | None:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return AUDITED.get((scope["method"], path)) if path else None


def _json(data: bytes) -> dict:
    try:
        value = orjson.loads(data) if data else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _fields(audited: Audited, body: bytes) -> dict:
    """The request's fields worth keeping (whatever a client sent: any JSON, or none)."""
    if len(body) >= _BODY_KEPT:
        return {"body": f"not recorded: {_BODY_KEPT} bytes or more"}
    request = _json(body)
    kept = {name: request[name] for name in audited.fields if name in request}
    if "address" in kept:
        kept["address"] = redacted_address(str(request.get("type") or ""), str(kept["address"]))
    return kept


def change_entry(request: Request, services: Services, audited: Audited, status: int, body: bytes,
                 answer: bytes) -> Entry:
    """The record of one call of an audited route that answered ``status``."""
    fields = _fields(audited, body)
    answered = _json(answer) if answer[:1] == b"{" else {}
    target_id = (request.path_params.get(audited.id_parameter, "") if audited.id_parameter
                 else str(answered.get("id") or "") if status < 300 else "")
    name = answered.get("name") if isinstance(answered.get("name"), str) else fields.get("name")
    principal = getattr(request.state, "principal", None)
    if audited.owner is not None:
        project = audited.owner(services, target_id, _json(body))
    else:
        project = request.query_params.get("tenant_id") or (principal.project if principal else "")
    reason = Reason(str(status), "HTTP", "", str(answered.get("description") or "") if status >= 400 else "")
    return Entry(action=audited.action, outcome=SUCCESS if status < 400 else FAILURE, initiator=initiator_of(request),
                 target=Target(audited.target_type, target_id or UNKNOWN, name if isinstance(name, str) else ""),
                 project=project or "", reason=reason, name=audited.name,
                 details={"method": request.method, "path": request.url.path, "request": fields})


class AuditChanges:
    """Pure ASGI. Only calls of audited routes are held back; others pass untouched (the route is
    known once the router has matched, before the body is read and before the answer starts)."""

    def __init__(self, app) -> None:  # noqa: ANN001 - ASGI app
        self.app = app

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001, C901 - ASGI
        if scope["type"] != "http" or scope["method"] not in _CHANGING:
            await self.app(scope, receive, send)
            return
        body = bytearray()
        held: dict | None = None
        answer = bytearray()
        passing = False

        async def copying_receive() -> dict:
            message = await receive()
            if message["type"] == "http.request" and len(body) < _BODY_KEPT and _audited(scope) is not None:
                body.extend(message.get("body", b"")[:_BODY_KEPT - len(body)])
            return message

        async def holding_send(message: dict) -> None:
            nonlocal held, passing
            if passing:
                await send(message)
                return
            if message["type"] == "http.response.start":
                if _audited(scope) is None:
                    passing = True
                    await send(message)
                    return
                held = message
                return
            if message["type"] != "http.response.body" or held is None:
                await send(message)
                return
            answer.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            start, final = await self._recorded(scope, held, bytes(body), bytes(answer))
            await send(start)
            await send(final)

        try:
            await self.app(scope, copying_receive, holding_send)
        except Exception:
            audited = _audited(scope)
            if audited is not None and held is None:  # the route failed: its attempt is recorded, as a 500
                try:
                    await self._record(scope, audited, 500, bytes(body), b"")
                except Exception:  # noqa: BLE001 - the route's own error is the one to raise
                    log.exception("audit: the record of %s %s could not be written", scope["method"], scope["path"])
            raise

    async def _recorded(self, scope: dict, start: dict, body: bytes, answer: bytes) -> tuple[dict, dict]:
        """The answer to send: as the route gave it once recorded, or a 503 when the audit trail
        cannot take the record (the change is made, but the client must not take it as done)."""
        status = start["status"]
        audited = _audited(scope)
        if status in (401, 403) or audited is None:  # refusals are the error handlers' to record
            return start, {"type": "http.response.body", "body": answer}
        try:
            await self._record(scope, audited, status, body, answer)
        except Exception as error:  # noqa: BLE001 - the client is told; the log has the rest
            log.exception("audit: the record of %s %s could not be written", scope["method"], scope["path"])
            # The error shape of api.errors, written here: the error handlers import this module.
            failed = orjson.dumps({"title": "Service Unavailable", "description": "the change was made but its audit "
                                   f"record could not be written ({type(error).__name__}); the server's log says more"})
            return ({"type": "http.response.start", "status": 503,
                     "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(failed)).encode())]},
                    {"type": "http.response.body", "body": failed})
        return start, {"type": "http.response.body", "body": answer}

    @staticmethod
    async def _record(scope: dict, audited: Audited, status: int, body: bytes, answer: bytes) -> None:
        request = Request(scope)
        services = _services(request)
        if services is None:
            return
        entry = change_entry(request, services, audited, status, body, answer)
        await run_in_threadpool(services.audit.record, entry)
