"""What the audit trail records of each notification the server executed: delivered, or given up
as a dead letter — the method (type, id, name), where it went, the alarm and its transition.

Addresses are recorded with their secrets cut: the audit trail is kept forever and read by the
project, so a webhook's query string and user info, long path segments (Slack's and Heat's
signed URLs) and a PagerDuty integration key keep only their first characters.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from nephoscope.audit import NOTIFICATION_METHOD, NOTIFY, SERVER, Entry, Reason, Target
from nephoscope.notify.model import Delivery

_KEPT = 4  # characters kept of a secret
_LONG = 20  # a path segment this long is taken for a token


def _cut(secret: str) -> str:
    return secret[:_KEPT] + "…" if len(secret) > _KEPT else secret


def redacted_address(method_type: str, address: str) -> str:
    """The address without what would let a reader send to it: e-mail as is, URLs without query,
    user info and long path segments, any other key shortened."""
    if method_type.upper() == "EMAIL":
        return address
    try:
        parts = urlsplit(address)
    except ValueError:  # not even a URL (an unbalanced "[" in the host): keep nothing of it but its start
        return _cut(address)
    if parts.scheme and parts.netloc:
        path = "/".join(_cut(segment) if len(segment) >= _LONG else segment for segment in parts.path.split("/"))
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{path}"  # without user info
    return _cut(address)


def delivery_entry(delivery: Delivery, delivered: bool, error: str = "") -> Entry:
    """The record of a delivery sent (``delivered``) or given up after its last attempt."""
    transition = delivery.transition
    address = redacted_address(delivery.method_type, delivery.address)
    attempts = delivery.attempts + 1
    return Entry(
        action=NOTIFY, outcome="success" if delivered else "failure", initiator=SERVER, project=delivery.tenant,
        target=Target(NOTIFICATION_METHOD, delivery.method_id, delivery.method_name, address),
        reason=Reason("delivered" if delivered else "dead-letter", "notification", "",
                      f"sent after {attempts} attempt(s)" if delivered else f"given up after {attempts} attempt(s): {error}"),
        name=f"{delivery.method_type.lower()} notification {'delivered' if delivered else 'dead-lettered'}",
        details={"delivery_id": delivery.id, "method_type": delivery.method_type, "address": address,
                 "alarm_id": transition.alarm_id, "alarm_name": transition.alarm_name,
                 "alarm_definition_id": transition.alarm_definition_id, "old_state": transition.old_state,
                 "new_state": transition.new_state, "severity": transition.severity,
                 "transition_time_ms": transition.timestamp_ms, "attempts": attempts, "periodic": delivery.periodic})
