"""Failure summaries: an error event becomes one record the owner of the resource can read.

``*.error`` (and glance's ``task.failure``) events, ERROR-priority notifications and payloads
carrying an exception give a ``Failure``: which resource, whose, when, what was being done, why in
plain words, the request id to follow, and the raw fault for the operator. One record per resource and action: the
``.error`` notification and a ``compute.exception`` for the same request are one failure.

The reason is the service's own, wherever its notifier put it (``reason_of``): nova's versioned
``ExceptionPayload`` (``fault``, ``reason``); nova's legacy ``exception_to_dict`` (``exception``,
``message``, ``code``); an exception object as oslo.messaging's ``JsonPayloadSerializer`` writes it
(``repr``: ``NoValidBackend('No valid backend was found. ...')``, cinder's scheduler ``reason``,
its API's ``error_message``); heat's ``state_reason`` and autoscaling ``message``; glance's
payload that is the message itself. tests/events/data/failures/README.md says where each shape
comes from.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from nephoscope.events.records import Event

# What the service was doing, from the middle of the event type (instance.volume_attach.error).
_ACTIONS = {
    "create": "creating", "delete": "deleting", "rebuild": "rebuilding", "reboot": "rebooting",
    "resize": "resizing", "resize_finish": "resizing", "resize_confirm": "confirming the resize of",
    "resize_revert": "reverting the resize of", "live_migration_pre": "live-migrating",
    "live_migration_post": "live-migrating", "live_migration_rollback": "live-migrating",
    "live_migration_abort": "aborting the live migration of", "shelve": "shelving", "unshelve": "unshelving",
    "snapshot": "snapshotting", "volume_attach": "attaching a volume to", "volume_detach": "detaching a volume from",
    "volume_swap": "swapping a volume of", "interface_attach": "attaching a network interface to",
    "interface_detach": "detaching a network interface from", "power_on": "powering on",
    "power_off": "powering off", "suspend": "suspending", "resume": "resuming", "pause": "pausing",
    "evacuate": "evacuating", "build_instances": "scheduling and building", "migrate_server": "migrating",
    "rebuild_server": "rebuilding", "select_destinations": "scheduling", "attach": "attaching", "detach": "detaching",
    "extend": "extending", "retype": "retyping", "upload": "uploading", "backup": "backing up", "restore": "restoring",
    # cinder's scheduler (scheduler.<method>) and API
    "create_volume": "placing", "extend_volume": "extending", "migrate_volume_to_host": "migrating",
    "manage_existing": "bringing under management", "create_snapshot": "placing",
    "manage_existing_snapshot": "bringing under management", "reset_status": "resetting the status of",
}
# Exception names operators meet every day, said plainly.
_PLAIN = {
    "NoValidHost": "no compute host could take it (the scheduler's filters removed every candidate)",
    "MaxRetriesExceeded": "every host the scheduler tried failed to build it",
    "FlavorDiskTooSmall": "the flavor's disk is smaller than the image needs",
    "FlavorMemoryTooSmall": "the flavor's memory is smaller than the image needs",
    "QuotaError": "the project's quota is exhausted",
    "OverQuota": "the project's quota is exhausted",
    "CinderConnectionFailed": "the block storage service (cinder) could not be reached",
    "VolumeNotFound": "the volume does not exist",
    "ImageNotFound": "the image does not exist",
    "PortBindingFailed": "the network port could not be bound on the host",
    "VirtualInterfaceCreateException": "the network interface could not be plugged on the host",
    "libvirtError": "the hypervisor (libvirt) reported an error",
    "InstanceNotFound": "the instance no longer exists",
    "ComputeServiceUnavailable": "the compute service on the host is down",
}


@dataclass(frozen=True, slots=True)
class Failure:
    resource_id: str
    resource_type: str
    project_id: str
    timestamp_ms: int
    action: str  # the event type without its phase: instance.volume_attach
    summary: str  # plain language
    exception: str  # the exception's class name, "" when unknown
    message: str  # the exception's own message
    request_id: str
    global_request_id: str
    host: str
    event_type: str
    message_id: str
    fault: dict  # the raw fault as the service sent it
    detail: str = ""  # what the logs add (an exception the notification did not carry)
    sources: tuple[str, ...] = ("events",)  # events, logs or both


_FAILED = (".error", ".failure")
# Where notifiers put an exception's message, most specific first: nova's legacy exception_to_dict
# (message), cinder's API (error_message) and scheduler (reason), heat's stacks (state_reason),
# cinder's backups (fail_reason). Read only from error events: a successful nova ``.end`` carries
# message "Success" and a heat stack's state_reason "Stack CREATE completed successfully".
MESSAGE_KEYS = ("exception_message", "message", "error_message", "reason", "state_reason", "fail_reason")
# What a fault record keeps beside the exception and its message (nova's HTTP-like code).
FAULT_EXTRA_KEYS = ("code", "function_name", "module_name", "traceback")
# The exception as JsonPayloadSerializer writes it: repr(exc) = Name('message') / Name("message").
_REPR = re.compile(r"^(?P<name>[A-Za-z_][\w.]*)\((?P<args>.*)\)$", re.DOTALL)
_REPR_MAX = 65536  # longer texts are kept as they are rather than evaluated as literals


def _exception_payload(data: Any) -> dict | None:
    """The first ExceptionPayload-like dict in the data (``fault``, ``reason``, ``exception_payload``)."""
    for key in ("fault", "reason", "exception_payload"):
        value = data.get(key)
        if isinstance(value, dict):
            inner = value.get("nova_object.data", value)
            if isinstance(inner, dict) and ("exception" in inner or "exception_message" in inner):
                return inner
    return None


def split_repr(text: str) -> tuple[str, str]:
    """(exception name, message) of an exception's ``repr`` (``NoValidHost('No valid host')``);
    ("", text) when the text is not one. Several arguments are joined as the exception's str would
    show them, one argument is the message, none leaves the message empty."""
    match = _REPR.match(text.strip()) if len(text) <= _REPR_MAX else None
    if match is None:
        return "", text.strip()
    try:
        args = ast.literal_eval(f"({match['args']},)") if match["args"].strip() else ()
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return "", text.strip()
    if not isinstance(args, tuple):
        return "", text.strip()
    message = str(args[0]) if len(args) == 1 else ", ".join(str(arg) for arg in args)
    return match["name"], message.strip()


def reason_of(data: Any, is_error: bool) -> dict | None:
    """The fault a payload reports: ``exception`` (as sent), ``exception_message`` and the fault's
    other fields, or None when it reports none. Message keys (``MESSAGE_KEYS``) count only when
    ``is_error``; an exception (a versioned ExceptionPayload, a legacy ``exception``) always does."""
    if isinstance(data, str):  # glance: the payload of an error notification is its message
        return {"exception": "", "exception_message": data.strip()} if is_error and data.strip() else None
    if not isinstance(data, dict):
        return None
    versioned = _exception_payload(data)
    if versioned is not None:
        return versioned
    raw = data.get("exception")
    exception = raw.strip() if isinstance(raw, str) else ""
    if not exception and not is_error:
        return None
    message = ""
    for key in MESSAGE_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            message = value.strip()
            break
    if not exception and not message:
        return None
    # A repr (the exception object itself went through the serializer) gives both name and message.
    name, from_exception = split_repr(exception) if exception else ("", "")
    name_in_message, message = split_repr(message) if message else ("", "")
    fault: dict[str, Any] = {"exception": name or name_in_message or exception,
                             "exception_message": message or from_exception}
    fault.update({key: data[key] for key in FAULT_EXTRA_KEYS if key in data and data[key] not in (None, "")})
    return fault


def exception_name(raw: str) -> str:
    """``NoValidHost_Remote``, ``nova.exception.NoValidHost``, ``NoValidHost: No valid host…``,
    ``NoValidHost('No valid host…')`` -> ``NoValidHost``."""
    name = split_repr(raw)[0] or raw.split(":", 1)[0].strip()
    name = name.rsplit(".", 1)[-1]
    return re.sub(r"_Remote$", "", name)


def plain_reason(exception: str, message: str) -> str:
    """Why, in plain words: the known exceptions said plainly, else the service's own message."""
    return _PLAIN.get(exception) or message or (exception and f"{exception} was raised") or \
        "the service reported an error without a reason"


def reports_error(event: Event) -> bool:
    """Whether the event says something failed: its priority, or its type's phase."""
    # glance's tasks end in .failure (sent at INFO), the others' actions in .error
    return event.event_type.endswith(_FAILED) or event.priority in ("ERROR", "CRITICAL")


def failure_of(event: Event) -> Failure | None:
    """The failure this event reports, or None when it reports none."""
    is_error = reports_error(event)
    payload = event.raw.payload
    fault = reason_of(event.raw.top if isinstance(payload, dict) else payload, is_error)
    if fault is None and isinstance(payload, dict) and payload is not event.raw.top:
        fault = reason_of(payload, is_error)
    if not is_error and fault is None:
        return None
    fault = fault or {}
    parts = event.event_type.split(".")
    phase_free = parts[:-1] if parts[-1] in ("error", "failure", "start", "end") else parts
    action = ".".join(phase_free) or event.event_type
    verb = _ACTIONS.get(phase_free[-1] if phase_free else "", "")
    exception = exception_name(str(fault.get("exception") or ""))
    message = str(fault.get("exception_message") or fault.get("message") or "").strip()
    resource = event.resource_type or (phase_free[0] if phase_free else "resource")
    what = f"{resource} {event.resource_id}" if event.resource_id else resource
    if verb:
        doing = f"{verb} {what}"
    elif len(phase_free) == 1 and not event.resource_type:
        # nova's legacy exception notifications are named after the failing function (attach_volume)
        doing = phase_free[0].replace("_", " ")
    else:
        doing = f"{' '.join(phase_free[1:]).replace('_', ' ')} {what}".strip()
    reason = plain_reason(exception, message)
    # One full stop at the end: the service's own message often brings one (or two) already.
    detail = f" ({message.rstrip('. ')})" if message and reason != message else ""
    where = f" on {event.host}" if event.host else ""
    summary = f"{doing[0].upper()}{doing[1:]} failed{where}: {reason.rstrip('. ') if not detail else reason}{detail}."
    return Failure(resource_id=event.resource_id, resource_type=resource, project_id=event.project_id,
                   timestamp_ms=event.timestamp_ms, action=action, summary=summary, exception=exception,
                   message=message, request_id=event.request_id, global_request_id=event.global_request_id,
                   host=event.host, event_type=event.event_type, message_id=event.message_id, fault=dict(fault))
