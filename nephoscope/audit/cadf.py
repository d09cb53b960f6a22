"""CADF events: Nephoscope's own records built with pycadf, and what the audit view reads of any
CADF event (ours, keystone's ``identity.*``, keystonemiddleware's ``audit.http.*``).

An ``Entry`` says who (``Initiator``: user or key, project, client address) did what (the action,
from CADF's taxonomy: create, update, delete, read, notify, revoke, configure, ...) to which
``Target`` (type and id), how it ended and why (``Reason``). CADF's outcomes are success, failure,
pending and unknown; a refused request (HTTP 401 or 403) is a *failure* whose reason carries the
code, and the audit view calls it **denied** (``outcome_of``), for Nephoscope's records and
OpenStack's alike.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pycadf import attachment, cadftaxonomy, endpoint, event, host, resource
from pycadf import reason as cadf_reason

# Nephoscope's ids (API keys, alarm definitions, the observer) are not all UUIDs, which CADF
# recommends but does not require; pycadf would warn about every one.
warnings.filterwarnings("ignore", message="Invalid uuid", module="pycadf")

SUCCESS, FAILURE, DENIED, PENDING, UNKNOWN = "success", "failure", "denied", "pending", "unknown"
OUTCOMES = (SUCCESS, FAILURE, DENIED, PENDING, UNKNOWN)
"""The outcomes of the audit view: CADF's four, and denied (a failure with reason 401 or 403)."""
REFUSAL_CODES = frozenset({"401", "403"})

# What the records are about (CADF typeURIs). The last segment is the short name a filter may use.
MONITORING = "service/oss/monitoring"
ALARM_DEFINITION = f"{MONITORING}/alarm-definition"
ALARM = f"{MONITORING}/alarm"
NOTIFICATION_METHOD = f"{MONITORING}/notification-method"
DELIVERY = f"{MONITORING}/notification"
API = f"{MONITORING}/api"
API_KEY = f"{cadftaxonomy.SECURITY_CREDENTIAL}/api-key"
POLICY = cadftaxonomy.SECURITY_POLICY
RULES = "data/config/rules"

# Actions beyond pycadf's constants (all in CADF's taxonomy).
NOTIFY = "notify"
REVOKE = "revoke"
CONFIGURE = "configure"

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+0000"  # pycadf's own (timestamp.get_utc_now)


@dataclass(frozen=True, slots=True)
class Initiator:
    """Who: a user or API key (id, name), its project, and where the request came from."""

    id: str
    project: str = ""
    name: str = ""
    address: str = ""
    agent: str = ""
    type_uri: str = cadftaxonomy.ACCOUNT_USER


SERVER = Initiator(id="nephoscope", name="nephoscope", type_uri=MONITORING)
"""The server acting on its own (sending a notification)."""


@dataclass(frozen=True, slots=True)
class Target:
    """What: a CADF type, an id, a name, and where it points (a notification's recipient)."""

    type_uri: str
    id: str
    name: str = ""
    address: str = ""


@dataclass(frozen=True, slots=True)
class Reason:
    """Why the outcome: a code in a domain (``HTTP`` 201, 403...), the policy rule that decided a
    refusal, and the reason in words."""

    code: str
    kind: str = "HTTP"
    rule: str = ""
    text: str = ""


@dataclass(frozen=True)
class Entry:
    """One thing to record. ``project`` is whose record it is (the project acted on; empty: only
    admins read it); ``count`` > 1 stands for identical refusals coalesced into one record."""

    action: str
    outcome: str
    initiator: Initiator
    target: Target
    project: str
    reason: Reason | None = None
    details: dict[str, Any] = field(default_factory=dict)
    count: int = 1
    time: float | None = None
    name: str = ""


def cadf_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime(_TIME_FORMAT)


def build_event(entry: Entry, observer: str, seconds: float) -> dict[str, Any]:
    """The entry as a CADF event (pycadf's ``as_dict``); raises ValueError for an action or
    outcome outside CADF's taxonomy."""
    if entry.outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {entry.outcome!r}")
    if entry.outcome == DENIED and (entry.reason is None or entry.reason.code not in REFUSAL_CODES):
        raise ValueError("a denied entry needs the reason HTTP 401 or 403 (CADF records it as a failure with it)")
    who = entry.initiator
    initiator = resource.Resource(
        typeURI=who.type_uri, id=who.id or UNKNOWN, name=who.name or None,
        host=host.Host(address=who.address or None, agent=who.agent or None) if who.address or who.agent else None)
    if who.project:
        initiator.project_id = who.project  # as keystonemiddleware's initiator carries it
    what = entry.target
    target = resource.Resource(typeURI=what.type_uri, id=what.id or UNKNOWN, name=what.name or None)
    if what.address:
        target.add_address(endpoint.Endpoint(url=what.address, name=what.name or None))
    why = entry.reason
    reason = None
    if why is not None:
        reason = cadf_reason.Reason(reasonType=why.kind, reasonCode=why.code,
                                    policyType="oslo.policy" if why.rule else None, policyId=why.rule or None)
    built = event.Event(
        action=entry.action, outcome=FAILURE if entry.outcome == DENIED else entry.outcome,
        eventTime=cadf_time(seconds), initiator=initiator, target=target, reason=reason, name=entry.name or None,
        observer=resource.Resource(typeURI=MONITORING, id=observer, name="nephoscope"))
    if why is not None and why.text:
        built.add_attachment(attachment.Attachment(typeURI="text/plain", content=why.text, name="reason"))
    if entry.details:
        built.add_attachment(attachment.Attachment(typeURI="mime:application/json", content=entry.details,
                                                   name="details"))
    return built.as_dict()


# -- reading any CADF event (ours or an OpenStack service's, whose fields may be anything) ------------

def _text(value: object) -> str:
    return str(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""


def _mapping(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _attachment(event_dict: dict, name: str) -> object:
    for item in event_dict.get("attachments") or ():
        if isinstance(item, dict) and item.get("name") == name:
            return item.get("content")
    return None


def outcome_of(event_dict: dict) -> str:
    """success, failure, pending, unknown, or denied (a failure whose reason is HTTP 401 or 403)."""
    outcome = _text(event_dict.get("outcome")).lower() or UNKNOWN
    if outcome == FAILURE and _text(_mapping(event_dict.get("reason")).get("reasonCode")) in REFUSAL_CODES:
        return DENIED
    return outcome if outcome in OUTCOMES else UNKNOWN


def initiator_of(event_dict: dict) -> dict[str, str]:
    who = _mapping(event_dict.get("initiator"))
    where = _mapping(who.get("host"))
    return {"id": _text(who.get("id")) or _text(event_dict.get("initiatorId")),
            "name": _text(who.get("name")) or _text(who.get("username")),
            "project_id": _text(who.get("project_id")), "address": _text(where.get("address")),
            "agent": _text(where.get("agent")), "type": _text(who.get("typeURI"))}


def target_of(event_dict: dict) -> dict[str, str]:
    what = _mapping(event_dict.get("target"))
    addresses = what.get("addresses") if isinstance(what.get("addresses"), list) else []
    first = _mapping(addresses[0]) if addresses else {}
    return {"id": _text(what.get("id")) or _text(event_dict.get("targetId")), "name": _text(what.get("name")),
            "type": _text(what.get("typeURI")), "address": _text(first.get("url"))}


def reason_of(event_dict: dict) -> dict[str, str] | None:
    why = _mapping(event_dict.get("reason"))
    text = _attachment(event_dict, "reason")
    if not why and not text:
        return None
    return {"type": _text(why.get("reasonType")), "code": _text(why.get("reasonCode")),
            "rule": _text(why.get("policyId")), "text": _text(text)}


def details_of(event_dict: dict) -> dict | None:
    details = _attachment(event_dict, "details")
    return details if isinstance(details, dict) else None

