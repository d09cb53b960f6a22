"""Failure summaries: an error event becomes one record the owner of the resource can read.

``*.error`` events, ERROR-priority notifications and payloads carrying an exception (nova's
versioned ``fault``/``reason`` ExceptionPayload, legacy ``exception``/``message`` fields) give
a ``Failure``: which resource, whose, when, what was being done, why in plain words, the
request id to follow, and the raw fault for the operator. One record per resource and action:
the ``.error`` notification and a ``compute.exception`` for the same request are one failure.
"""

from __future__ import annotations

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


def _exception_payload(data: Any) -> dict | None:
    """The first ExceptionPayload-like dict in the data (``fault``, ``reason``, ``exception``...)."""
    if not isinstance(data, dict):
        return None
    for key in ("fault", "reason", "exception_payload"):
        value = data.get(key)
        if isinstance(value, dict):
            inner = value.get("nova_object.data", value)
            if isinstance(inner, dict) and ("exception" in inner or "exception_message" in inner):
                return inner
    if "exception" in data and isinstance(data.get("exception"), str):
        return {"exception": data["exception"], "exception_message": str(data.get("message") or data["exception"])}
    return None


def exception_name(raw: str) -> str:
    """``NoValidHost_Remote``, ``nova.exception.NoValidHost``, ``NoValidHost: No valid host…`` ->
    ``NoValidHost``."""
    name = raw.split(":", 1)[0].strip().rsplit(".", 1)[-1]
    return re.sub(r"_Remote$", "", name)


def plain_reason(exception: str, message: str) -> str:
    """Why, in plain words: the known exceptions said plainly, else the service's own message."""
    return _PLAIN.get(exception) or message or (exception and f"{exception} was raised") or \
        "the service reported an error without a reason"


def failure_of(event: Event) -> Failure | None:
    """The failure this event reports, or None when it reports none."""
    data = event.raw.top
    fault = _exception_payload(data) or (_exception_payload(event.raw.payload)
                                         if isinstance(event.raw.payload, dict) else None)
    is_error = event.event_type.endswith(".error") or event.priority in ("ERROR", "CRITICAL")
    if not is_error and fault is None:
        return None
    fault = fault or {}
    parts = event.event_type.split(".")
    phase_free = parts[:-1] if parts[-1] in ("error", "start", "end") else parts
    action = ".".join(phase_free) or event.event_type
    verb = _ACTIONS.get(phase_free[-1] if phase_free else "", "")
    exception = exception_name(str(fault.get("exception") or ""))
    message = str(fault.get("exception_message") or fault.get("message") or "").strip()
    resource = event.resource_type or (phase_free[0] if phase_free else "resource")
    what = f"{resource} {event.resource_id}" if event.resource_id else resource
    doing = f"{verb} {what}" if verb else f"{' '.join(phase_free[1:]).replace('_', ' ') or 'working on'} {what}"
    reason = plain_reason(exception, message)
    # One full stop at the end: the service's own message often brings one (or two) already.
    detail = f" ({message.rstrip('. ')})" if message and reason != message else ""
    where = f" on {event.host}" if event.host else ""
    summary = f"{doing[0].upper()}{doing[1:]} failed{where}: {reason.rstrip('. ') if not detail else reason}{detail}."
    return Failure(resource_id=event.resource_id, resource_type=resource, project_id=event.project_id,
                   timestamp_ms=event.timestamp_ms, action=action, summary=summary, exception=exception,
                   message=message, request_id=event.request_id, global_request_id=event.global_request_id,
                   host=event.host, event_type=event.event_type, message_id=event.message_id, fault=dict(fault))
