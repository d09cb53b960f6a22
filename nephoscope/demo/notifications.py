"""The simulated cloud's notifications, as oslo.messaging puts them on the bus.

Each is a ``messagingv2`` envelope (``{"oslo.version": "2.0", "oslo.message": "<JSON>"}``) whose
message carries ``message_id``, ``publisher_id``, ``event_type``, ``priority``, ``payload``,
``timestamp`` (``str(utcnow())``) and the request context flattened into ``_context_*`` fields, as
oslo.messaging's AMQP driver sends it. Payloads:

* nova versioned (``instance.create.end``, ``compute_task.build_instances.error``, ...): nova's
  published samples (``data/nova_versioned_samples.json``) with the cloud's own instance, project,
  host, flavor and times written into them;
* nova legacy (``compute.instance.create.end``, ...): ``nova.compute.utils.info_from_instance``'s
  dict, with ``exception_to_dict``'s ``exception``, ``message`` and ``code`` on errors;
* cinder (``volume.*``) and neutron (``port.*``) as their notifiers build them; keystone's CADF
  ``identity.authenticate``.

Message ids are a function of what happened (uuid5), so a happening sent twice is stored once.
"""

from __future__ import annotations

import copy
import functools
import json
import time
import uuid
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

_NAMESPACE = uuid.UUID("6a1f3c52-2d2e-4f3b-9a53-0f0e8a9c5d11")


@functools.cache
def _samples() -> dict[str, dict]:
    return json.loads(resources.files("nephoscope.demo").joinpath("data/nova_versioned_samples.json").read_text())


def utc_text(when: float) -> str:
    """oslo.messaging's timestamp: ``str(timeutils.utcnow())``."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(when)) + f".{int(when * 1_000_000) % 1_000_000:06d}"


def iso(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asked: the request context the services pass along."""

    request_id: str
    user_id: str
    user_name: str
    project_id: str
    global_request_id: str | None = None
    remote_address: str = "10.1.0.5"

    def fields(self, when: float) -> dict[str, Any]:
        return {
            "_context_request_id": self.request_id, "_context_global_request_id": self.global_request_id,
            "_context_user_id": self.user_id, "_context_user": self.user_id, "_context_user_name": self.user_name,
            "_context_project_id": self.project_id, "_context_tenant": self.project_id,
            "_context_project_name": self.project_id, "_context_domain": None, "_context_user_domain": "default",
            "_context_project_domain": "default", "_context_system_scope": None, "_context_is_admin": False,
            "_context_read_only": False, "_context_show_deleted": False, "_context_roles": ["member", "reader"],
            "_context_remote_address": self.remote_address, "_context_timestamp": utc_text(when).replace(" ", "T"),
            "_context_auth_token": None, "_context_resource_uuid": None, "_context_is_admin_project": False,
            "_context_read_deleted": "no", "_context_quota_class": None, "_context_service_catalog": [],
            "_context_user_identity": f"{self.user_id} {self.project_id} - - default default",
        }


@dataclass(frozen=True, slots=True)
class Server:
    """An instance as the notifications describe it."""

    uuid: str
    name: str
    project_id: str
    user_id: str
    host: str
    flavor_name: str
    flavor_id: str
    vcpus: int
    memory_mb: int
    root_gb: int
    image_id: str
    created: float
    address: str
    port_id: str
    zone: str = "nova"
    launched: float | None = None


@dataclass
class Outbox:
    """Notifications being gathered for one post (``envelopes``), newest last."""

    envelopes: list[dict] = field(default_factory=list)

    def send(self, when: float, publisher: str, event_type: str, payload: Any, caller: Caller | None,
             key: str, priority: str = "INFO") -> None:
        message = {"message_id": str(uuid.uuid5(_NAMESPACE, f"{key}:{event_type}")), "publisher_id": publisher,
                   "event_type": event_type, "priority": priority, "payload": payload, "timestamp": utc_text(when)}
        if caller is not None:
            message.update(caller.fields(when))
        self.envelopes.append({"oslo.version": "2.0", "oslo.message": json.dumps(message)})


# -------------------------------------------------------------------------------- nova, versioned

def _flavor(server: Server, flavor: dict) -> None:
    data = flavor["nova_object.data"]
    data.update({"flavorid": server.flavor_id, "name": server.flavor_name, "vcpus": server.vcpus,
                 "memory_mb": server.memory_mb, "root_gb": server.root_gb, "ephemeral_gb": 0, "swap": 0,
                 "extra_specs": {}, "description": None})


def _instance(data: dict, server: Server, caller: Caller, state: str, task_state: str | None, power: str,
              when: float) -> None:
    """The sample's instance fields with the server's values (only the fields the sample has)."""
    values = {
        "uuid": server.uuid, "tenant_id": server.project_id, "user_id": server.user_id,
        "action_initiator_user": caller.user_id, "action_initiator_project": caller.project_id,
        "display_name": server.name, "display_description": server.name, "host_name": server.name,
        "host": server.host, "node": server.host, "availability_zone": server.zone, "state": state,
        "task_state": task_state, "power_state": power, "created_at": iso(server.created),
        "launched_at": iso(server.launched) if server.launched else None, "updated_at": iso(when),
        "image_uuid": server.image_id, "request_id": caller.request_id, "key_name": None, "keypairs": [],
        "tags": [], "trusted_image_certificates": None, "metadata": {}, "reservation_id": f"r-{server.uuid[:8]}",
        "instance_name": f"instance-{int(server.uuid[:6], 16):08x}", "architecture": "x86_64",
    }
    data.update({key: value for key, value in values.items() if key in data})
    if "terminated_at" in data and state != "deleted":
        data["terminated_at"] = None
    if "deleted_at" in data and state != "deleted":
        data["deleted_at"] = None
    for address in data.get("ip_addresses") or []:
        address["nova_object.data"].update({"address": server.address, "port_uuid": server.port_id,
                                            "device_name": "tap" + server.port_id[:11],
                                            "mac": "fa:16:3e:" + ":".join(server.port_id[i:i + 2] for i in (0, 2, 4))})
    if isinstance(data.get("flavor"), dict):
        _flavor(server, data["flavor"])


Fault = tuple[str, str, str, str, str]
"""An ExceptionPayload: exception class, its message, the function and module that raised, the traceback."""


def _fault(exception: str, message: str, function: str, module: str, traceback: str) -> dict:
    return {"nova_object.name": "ExceptionPayload", "nova_object.namespace": "nova", "nova_object.version": "1.1",
            "nova_object.data": {"exception": exception, "exception_message": message, "function_name": function,
                                 "module_name": module, "traceback": traceback}}


def versioned(outbox: Outbox, sample: str, when: float, server: Server, caller: Caller, key: str, *,
              state: str = "active", task_state: str | None = None, power: str = "running",
              fault: Fault | None = None, volume_id: str | None = None,
              new_flavor: Server | None = None) -> None:
    """One of nova's versioned notifications (``sample`` names the published sample it follows)."""
    body = copy.deepcopy(_samples()[sample])
    data = body["payload"]["nova_object.data"]
    if sample.startswith("compute_task"):
        data["instance_uuid"] = server.uuid
        spec = data["request_spec"]["nova_object.data"]
        spec.update({"instance_uuid": server.uuid, "project_id": server.project_id, "user_id": server.user_id,
                     "availability_zone": server.zone})
        _flavor(server, spec["flavor"])
        spec["image"]["nova_object.data"]["id"] = server.image_id
        if fault:
            data["reason"] = _fault(*fault)
        data["state"] = state
    else:
        _instance(data, server, caller, state, task_state, power, when)
        if "fault" in data:
            data["fault"] = _fault(*fault) if fault else None
        if volume_id and "volume_id" in data:
            data["volume_id"] = volume_id
        if new_flavor is not None and "new_flavor" in data:
            _flavor(new_flavor, data["new_flavor"])
    outbox.send(when, f"nova-compute:{server.host}" if "compute_task" not in sample else "nova-conductor:controller-01",
                body["event_type"], body["payload"], caller, key, body["priority"])


# -------------------------------------------------------------------------------- nova, legacy

def legacy(outbox: Outbox, event_type: str, when: float, server: Server, caller: Caller, key: str, *,
           state: str = "active", message: str = "Success", error: tuple[str, str, int] | None = None) -> None:
    """nova's unversioned notification (``notification_format = unversioned``, nova's default):
    ``info_from_instance``'s fields; an error (exception name, message, code) adds
    ``exception_to_dict``'s ``exception`` (the exception object, which oslo.messaging's
    JsonPayloadSerializer writes as its repr), ``message`` and ``code``."""
    payload = {
        "tenant_id": server.project_id, "user_id": server.user_id, "instance_id": server.uuid,
        "display_name": server.name, "hostname": server.name, "reservation_id": f"r-{server.uuid[:8]}",
        "instance_type": server.flavor_name, "instance_type_id": int(server.flavor_id) + 4,
        "instance_flavor_id": server.flavor_id, "host": server.host, "node": server.host,
        "availability_zone": server.zone, "cell_name": "", "architecture": "x86_64", "os_type": None,
        "memory_mb": server.memory_mb, "disk_gb": server.root_gb, "root_gb": server.root_gb, "ephemeral_gb": 0,
        "vcpus": server.vcpus, "state": state, "state_description": "", "progress": "",
        "created_at": time.strftime("%Y-%m-%d %H:%M:%S+00:00", time.gmtime(server.created)),
        "launched_at": time.strftime("%Y-%m-%dT%H:%M:%S.000000", time.gmtime(server.launched)) if server.launched
        else "", "terminated_at": "", "deleted_at": "", "access_ip_v4": None, "access_ip_v6": None,
        "kernel_id": "", "ramdisk_id": "", "image_ref_url": f"http://controller-01:9292/images/{server.image_id}",
        "image_meta": {"base_image_ref": server.image_id, "container_format": "bare", "disk_format": "qcow2",
                       "min_disk": str(server.root_gb), "min_ram": "0"},
        "metadata": {},
        "fixed_ips": [{"address": server.address, "floating_ips": [], "label": "private", "meta": {},
                       "type": "fixed", "version": 4, "vif_mac": "fa:16:3e:" + ":".join(
                           server.port_id[i:i + 2] for i in (0, 2, 4))}],
        "message": message,
    }
    if state == "deleted":
        payload["terminated_at"] = payload["deleted_at"] = time.strftime("%Y-%m-%dT%H:%M:%S.000000",
                                                                         time.gmtime(when))
    priority = "INFO"
    if error is not None:
        name, payload["message"], payload["code"] = error
        payload["exception"] = f"{name}({payload['message']!r})"
        priority = "ERROR"
    outbox.send(when, f"compute.{server.host}", event_type, payload, caller, key, priority)


# -------------------------------------------------------------------------------- cinder, neutron, keystone

@dataclass(frozen=True, slots=True)
class Volume:
    uuid: str
    name: str
    project_id: str
    user_id: str
    size_gb: int
    created: float
    host: str = "storage-01@lvm#lvm"


def volume(outbox: Outbox, event_type: str, when: float, disk: Volume, caller: Caller, key: str, *,
           status: str = "available", attached_to: str | None = None) -> None:
    """cinder's ``volume.*`` (``cinder.volume.utils._usage_from_volume``)."""
    attachments = [{"id": str(uuid.uuid5(_NAMESPACE, disk.uuid + (attached_to or ""))), "volume_id": disk.uuid,
                    "instance_uuid": attached_to, "attached_host": None, "mountpoint": "/dev/vdb",
                    "attach_status": "attached"}] if attached_to else []
    payload = {"tenant_id": disk.project_id, "user_id": disk.user_id, "host": disk.host, "volume_id": disk.uuid,
               "display_name": disk.name, "size": disk.size_gb, "status": status, "volume_type": "lvmdriver-1",
               "availability_zone": "nova", "created_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00",
                                                                        time.gmtime(disk.created)),
               "launched_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(disk.created + 3)),
               "snapshot_id": None, "replication_status": None, "volume_attachment": attachments, "metadata": [],
               "glance_metadata": []}
    outbox.send(when, "volume.storage-01@lvm", event_type, payload, caller, key)


def port(outbox: Outbox, event_type: str, when: float, server: Server, caller: Caller, key: str,
         network_id: str) -> None:
    """neutron's ``port.*`` (the API resource under ``port``; a delete names only ``port_id``)."""
    if event_type.startswith("port.delete"):
        payload: dict[str, Any] = {"port_id": server.port_id}
    else:
        payload = {"port": {
            "id": server.port_id, "name": "", "network_id": network_id, "tenant_id": server.project_id,
            "project_id": server.project_id, "mac_address": "fa:16:3e:" + ":".join(
                server.port_id[i:i + 2] for i in (0, 2, 4)),
            "fixed_ips": [{"subnet_id": str(uuid.uuid5(_NAMESPACE, network_id)), "ip_address": server.address}],
            "device_id": server.uuid, "device_owner": "compute:nova", "binding:host_id": server.host,
            "binding:vif_type": "ovs", "status": "DOWN", "admin_state_up": True, "security_groups": []}}
    outbox.send(when, "network.controller-02", event_type, payload, caller, key)


def authenticate(outbox: Outbox, when: float, user_id: str, address: str, success: bool, key: str) -> None:
    """keystone's CADF ``identity.authenticate`` (``notification_format = cadf``)."""
    payload = {
        "typeURI": "http://schemas.dmtf.org/cloud/audit/1.0/event", "eventType": "activity",
        "id": str(uuid.uuid5(_NAMESPACE, key)), "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000+0000",
                                                                             time.gmtime(when)),
        "action": "authenticate", "outcome": "success" if success else "failure",
        "observer": {"typeURI": "service/security", "id": "openstack:3d4a50a9-2b59-438b-bf19-c231f9c7625a"},
        "initiator": {"typeURI": "service/security/account/user", "id": user_id,
                      "host": {"agent": "openstacksdk/1.0.0 keystoneauth1/5.1.0 python-requests/2.31.0",
                               "address": address}},
        "target": {"typeURI": "service/security/account/user", "id": "openstack:" + user_id},
    }
    if not success:
        payload["reason"] = {"reasonType": "HTTP", "reasonCode": "401"}
    outbox.send(when, "identity.controller-01", "identity.authenticate", payload, None, key)
