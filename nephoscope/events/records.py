"""The records of the events pipeline: a notification as it came off the wire, and the event the
catalog makes of it.

The hot paths build both positionally (``envelope._notification``, ``Catalog.to_event``): keep
the fields' order, or change those calls with it (the tests check every field's value)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nephoscope.events.versioned import unwrap


@dataclass(slots=True)
class Notification:
    """One oslo.messaging notification, envelope removed (v1 ``messaging`` or v2 ``messagingv2``).

    ``payload`` is the payload as sent. ``top`` is the payload's own data: for a versioned
    notification the ``<namespace>_object.data`` of the payload object (objects nested deeper stay
    wrapped: the catalog steps through them on the way to a trait, which is much cheaper than
    unwrapping every payload); for an unversioned one the payload dict itself. ``data`` is the
    payload with every versioned object unwrapped, computed on first use.
    """

    message_id: str
    event_type: str
    publisher_id: str
    priority: str  # INFO, ERROR, WARN, ... upper case
    timestamp_ms: int  # when the service emitted it (the envelope's ``timestamp``, UTC)
    payload: Any
    top: dict[str, Any]
    context: dict[str, Any] = field(default_factory=dict)  # the ``_context_*`` fields, prefix removed
    versioned: bool = False
    envelope_version: str = "1.0"  # "2.0" for messagingv2
    exchange: str = ""  # where it was consumed from (control exchange), "" for POST /v1/events
    routing_key: str = ""
    # The notification's JSON text as received (None: it came decoded); not part of its identity.
    source: str | bytes | None = field(default=None, repr=False, compare=False)
    _data: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def data(self) -> dict[str, Any]:
        """The payload with every versioned object in it unwrapped (read-only: it shares
        containers with ``payload``)."""
        if self._data is None:
            self._data = unwrap(self.top)
        return self._data  # type: ignore[return-value]


@dataclass(slots=True)
class Event:
    """A notification the catalog has understood: who, what, which resource, its traits."""

    message_id: str
    event_type: str
    timestamp_ms: int
    service: str  # nova, cinder, neutron, glance, heat, keystone, ... (from the event type or publisher)
    host: str  # from publisher_id "<binary>:<host>", "" when absent
    priority: str
    project_id: str  # the owner: whose event this is (tenant scope)
    user_id: str
    request_id: str
    global_request_id: str
    resource_id: str
    resource_type: str  # instance, volume, port, image, stack, ...
    traits: dict[str, Any]  # as the catalog defines them for the type (typed values)
    known: bool  # False when the catalog has no definition for the type
    raw: Notification
