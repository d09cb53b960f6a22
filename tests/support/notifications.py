"""Notifications for the tests: nova's published samples, hand-written ones of the other services,
bodies as oslo.messaging sends them, and bodies of every shape (hypothesis strategies)."""

from __future__ import annotations

import copy
import json
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from hypothesis import strategies as st

from tests.conftest import missing, shared_data

SAMPLES = shared_data("nova-notification-samples")
PROJECT = "6f70656e737461636b20342065766572"  # the project id in nova's samples
ADMIN_PROJECT = "admin-project-0000"
ADMIN_USER = "admin-user-0000"
OWNER_PROJECT = "7f13f2b17917463b9ee21aa92c4b36d6"
OWNER_USER = "9a8ba2a6ea7c4f4a8a5d8a3c3d9bd1a9"


# --- nova's samples -------------------------------------------------------------------------------

def _merge(target: dict, overrides: dict) -> None:
    for key, value in overrides.items():
        if key in target and isinstance(target[key], dict) and isinstance(value, dict):
            _merge(target[key], value)
        else:
            target[key] = value


def resolve_refs(value: Any, base: Path) -> Any:
    """nova's sample $ref resolution (nova/tests/json_ref.py): ``{"$ref": "file.json#", ...overrides}``
    is the referenced file (its own refs resolved relative to it) with the overrides merged in
    recursively."""
    if isinstance(value, list):
        return [resolve_refs(item, base) for item in value]
    if not isinstance(value, dict):
        return value
    if "$ref" not in value:
        return {key: resolve_refs(item, base) for key, item in value.items()}
    overrides = dict(value)
    target_path = (base / overrides.pop("$ref").partition("#")[0]).resolve()
    resolved = resolve_refs(json.loads(target_path.read_text()), target_path.parent)
    _merge(resolved, resolve_refs(overrides, base))
    return resolved


def load_samples() -> dict[str, dict]:
    if not SAMPLES.is_dir():
        return {}
    return {path.name: resolve_refs(json.loads(path.read_text()), SAMPLES) for path in sorted(SAMPLES.glob("*.json"))}


SAMPLE_DOCS = load_samples()


def notification(sample: dict, project: str = PROJECT, request_id: str = "req-1") -> dict:
    """A sample as oslo.messaging's v1 driver sends it: message_id, timestamp, flattened context."""
    body = copy.deepcopy(sample)
    body.update({"message_id": str(uuid.uuid4()), "timestamp": "2026-11-25 05:00:00.000000",
                 "_context_project_id": project, "_context_user_id": "u1", "_context_request_id": request_id,
                 "_context_global_request_id": "req-global-1"})
    return body


def oslo_v2(message_id: str, event_type: str = "compute.instance.update", pad: int = 0) -> bytes:
    """A messagingv2 body as oslo.messaging builds it (notification JSON-encoded inside)."""
    notification = {"message_id": message_id, "publisher_id": "nova-compute:host1", "event_type": event_type,
                    "priority": "INFO", "payload": {"instance_id": "i-1", "pad": "x" * pad},
                    "timestamp": "2026-01-01 00:00:00.000000", "_context_request_id": "req-1"}
    return orjson.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(notification)})


# --- bodies of every shape ------------------------------------------------------------------------

GOOD = {"message_id": "m1", "event_type": "a.b", "priority": "INFO", "payload": {},
        "timestamp": "2024-01-02 10:00:00.000001", "publisher_id": "x:y"}


_KEYS = st.sampled_from(["event_type", "message_id", "timestamp", "priority", "payload", "publisher_id",
                         "oslo.message", "oslo.version", "_context_project_id", "_context_request_id",
                         "nova_object.data", "cinder_object.data", "tenant_id", "uuid", "instance_id"]) | st.text(max_size=8)
_SCALARS = (st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1)
            | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
            | st.sampled_from(["2024-01-02 10:00:00.123456", "2024-01-02T10:00:00Z", "instance.create.end",
                               "2.0", "1.0", "", "nova-compute:host"]))
_NEAR_KEYS = st.sampled_from([*GOOD, "_context_project_id", "_context_user", "_unique_id", "extra"])
JSON_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=6),
                           max_leaves=30)


@st.composite
def garbage_bodies(draw) -> Any:
    if draw(st.booleans()):  # half the time close to a real notification: a few fields changed
        doc = {**GOOD, "payload": draw(JSON_VALUES), **draw(st.dictionaries(_NEAR_KEYS, JSON_VALUES, max_size=2))}
    else:
        doc = draw(st.dictionaries(_KEYS, JSON_VALUES, max_size=8) | JSON_VALUES)
    form = draw(st.sampled_from(["dict", "bytes", "str", "v2", "v2-bytes-inner", "truncated", "binary"]))
    if form == "dict":
        return doc
    text = orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS).decode()
    if form == "bytes":
        return text.encode()
    if form == "str":
        return text
    if form == "v2":
        return orjson.dumps({"oslo.version": draw(st.sampled_from(["2.0", "2.1", "1.0", None])), "oslo.message": text})
    if form == "v2-bytes-inner":
        return {"oslo.version": "2.0", "oslo.message": draw(JSON_VALUES)}
    if form == "truncated":
        return text.encode()[: draw(st.integers(0, max(0, len(text) - 1)))]
    return draw(st.binary(max_size=64))


# --- legacy (unversioned) nova and the other services ---------------------------------------------

LEGACY_CREATE_END = {  # nova.compute.utils.info_from_instance + "message", notification_format=unversioned
    "tenant_id": OWNER_PROJECT, "user_id": OWNER_USER,
    "instance_id": "1bcd9d1a-8a4c-4e1c-9b4e-3a3b3f0f2d11", "display_name": "web-1", "hostname": "web-1",
    "reservation_id": "r-q2ppt8xa", "instance_type": "m1.small", "instance_type_id": 5, "instance_flavor_id": "2",
    "host": "compute-07", "node": "compute-07.example.org", "availability_zone": "nova", "cell_name": "",
    "architecture": None, "os_type": None, "memory_mb": 2048, "disk_gb": 20, "root_gb": 20, "ephemeral_gb": 0,
    "vcpus": 1, "state": "active", "state_description": "", "progress": "",
    "created_at": "2024-01-02 09:59:01+00:00", "launched_at": "2024-01-02T10:00:12.745393",
    "terminated_at": "", "deleted_at": "", "access_ip_v4": None, "access_ip_v6": None,
    "kernel_id": "", "ramdisk_id": "",
    "image_ref_url": "http://glance.example.org:9292/images/5b0c6a2c-3f4a-4a6f-9d0f-6d1b8b7c9e21",
    "image_meta": {"base_image_ref": "5b0c6a2c-3f4a-4a6f-9d0f-6d1b8b7c9e21", "min_disk": "20", "min_ram": "0",
                   "container_format": "bare", "disk_format": "qcow2"},
    "metadata": {},
    "fixed_ips": [{"address": "10.0.0.5", "floating_ips": [], "label": "private", "meta": {}, "type": "fixed",
                   "version": 4, "vif_mac": "fa:16:3e:11:22:33"}],
    "message": "Success",
}


OTHER_SERVICES = [
    ("volume.cinder-vol-1@lvm", "volume.create.end", {
        "status": "available", "display_name": "data-1", "volume_attachment": [], "availability_zone": "nova",
        "tenant_id": OWNER_PROJECT, "created_at": "2024-01-02T10:00:00+00:00", "volume_id": "vol-1",
        "volume_type": "vt-1", "host": "cinder-vol-1@lvm#lvm", "replication_status": None, "snapshot_id": None,
        "user_id": OWNER_USER, "launched_at": "2024-01-02T10:00:03+00:00", "size": 10, "metadata": [],
        "glance_metadata": []},
     "cinder", "volume", "vol-1", OWNER_PROJECT, {"size": 10}),
    ("volume.cinder-vol-1@lvm", "volume.attach.end", {
        "status": "in-use", "volume_id": "vol-1", "tenant_id": OWNER_PROJECT, "user_id": OWNER_USER, "size": 10,
        "volume_attachment": [{"id": "att-1", "volume_id": "vol-1", "instance_uuid": "vm-1",
                               "attached_host": None, "mountpoint": "/dev/vdb", "attach_status": "attached"}]},
     "cinder", "volume", "vol-1", OWNER_PROJECT, {"instance_id": "vm-1", "mountpoint": "/dev/vdb"}),
    ("volume.cinder-backup-1", "backup.create.end", {
        "tenant_id": OWNER_PROJECT, "user_id": OWNER_USER, "backup_id": "bk-1", "volume_id": "vol-1",
        "status": "available", "size": 10, "availability_zone": "nova", "host": "cinder-backup-1",
        "display_name": "nightly", "created_at": "2024-01-02T10:00:00+00:00", "fail_reason": None},
     "cinder", "backup", "bk-1", OWNER_PROJECT, {"volume_id": "vol-1"}),
    ("network.controller-1", "port.create.end", {"port": {
        "id": "port-1", "tenant_id": OWNER_PROJECT, "project_id": OWNER_PROJECT, "network_id": "net-1",
        "mac_address": "fa:16:3e:aa:bb:cc", "fixed_ips": [{"subnet_id": "sub-1", "ip_address": "10.0.0.7"}],
        "device_id": "vm-1", "device_owner": "compute:nova", "binding:host_id": "compute-07",
        "binding:vif_type": "ovs", "status": "DOWN", "admin_state_up": True, "name": ""}},
     "neutron", "port", "port-1", OWNER_PROJECT, {"fixed_ip": "10.0.0.7", "binding_host": "compute-07",
                                                 "admin_state_up": 1}),
    ("network.controller-1", "network.delete.start", {"network_id": "net-1"},
     "neutron", "network", "net-1", ADMIN_PROJECT, {}),
    ("network.controller-1", "network.create.end", {"network": {
        "id": "net-1", "name": "ext", "tenant_id": OWNER_PROJECT, "project_id": OWNER_PROJECT, "status": "ACTIVE",
        "router:external": True, "provider:network_type": "vlan", "provider:segmentation_id": 101, "mtu": 1500}},
     "neutron", "network", "net-1", OWNER_PROJECT, {"external": 1, "network_type": "vlan", "segmentation_id": 101}),
    ("image.glance-1", "image.upload", {
        "id": "img-1", "name": "ubuntu", "owner": OWNER_PROJECT, "status": "active", "visibility": "private",
        "disk_format": "qcow2", "container_format": "bare", "size": 123456, "checksum": "abc",
        "created_at": "2024-01-02T10:00:00Z", "updated_at": "2024-01-02T10:01:00Z", "deleted_at": None,
        "min_disk": 0, "min_ram": 0, "protected": False},
     "glance", "image", "img-1", OWNER_PROJECT, {"size": 123456, "protected": 0}),
    ("image.glance-1", "image.send", {
        "receiver_tenant_id": OWNER_PROJECT, "receiver_user_id": OWNER_USER, "image_id": "img-1",
        "owner_id": "other-project", "bytes_sent": 999, "destination_ip": "10.0.0.5"},
     "glance", "image", "img-1", OWNER_PROJECT, {"image_owner_id": "other-project", "bytes_sent": 999}),
    ("orchestration.heat-1", "orchestration.stack.create.end", {
        "tenant_id": OWNER_PROJECT, "user_id": OWNER_USER, "username": "demo", "user_identity": OWNER_USER,
        "stack_identity": f"arn:openstack:heat::{OWNER_PROJECT}:stacks/web/3f1c2d4e-0000-4000-8000-000000000001",
        "stack_name": "web", "tags": None, "create_at": "2024-01-02T10:00:00Z", "updated_at": None,
        "state": "CREATE_COMPLETE", "state_reason": "Stack CREATE completed successfully"},
     "heat", "stack", "3f1c2d4e-0000-4000-8000-000000000001", OWNER_PROJECT, {"stack_name": "web"}),
    ("identity.keystone-1", "identity.authenticate", {
        "typeURI": "http://schemas.dmtf.org/cloud/audit/1.0/event", "eventType": "activity", "id": "cadf-1",
        "eventTime": "2024-01-02T10:00:00.123456+0000", "action": "authenticate", "outcome": "failure",
        "observer": {"typeURI": "service/security", "id": "openstack:obs"},
        "initiator": {"typeURI": "service/security/account/user", "id": OWNER_USER,
                      "host": {"agent": "python-openstackclient", "address": "10.0.0.9"}},
        "target": {"typeURI": "service/security/account/user", "id": "openstack:target"},
        "reason": {"reasonType": "HTTP", "reasonCode": "401"}},
     "keystone", "user", OWNER_USER, ADMIN_PROJECT, {"outcome": "failure", "initiator_address": "10.0.0.9",
                                                    "reason_code": "401"}),
    ("identity.keystone-1", "identity.role_assignment.created", {
        "typeURI": "http://schemas.dmtf.org/cloud/audit/1.0/event", "action": "created.role_assignment",
        "outcome": "success", "role": "role-member", "user": "user-2", "project": OWNER_PROJECT,
        "inherited_to_projects": False,
        "initiator": {"typeURI": "service/security/account/user", "id": ADMIN_USER, "project_id": ADMIN_PROJECT}},
     "keystone", "role_assignment", "user-2", OWNER_PROJECT, {"role_id": "role-member"}),
    ("identity.keystone-1", "identity.project.created", {"resource_info": "proj-new"},
     "keystone", "project", "proj-new", ADMIN_PROJECT, {}),
    # keystonemiddleware's audit middleware in nova-api (publisher id: the program's name, no host)
    ("nova-api", "audit.http.response", {
        "typeURI": "http://schemas.dmtf.org/cloud/audit/1.0/event", "eventType": "activity", "id": "cadf-2",
        "eventTime": "2024-01-02T10:00:00.123456+0000", "action": "delete", "outcome": "failure",
        "observer": {"id": "target"}, "requestPath": "/v2.1/servers/s-1",
        "initiator": {"id": OWNER_USER, "typeURI": "service/security/account/user", "name": "demo",
                      "credential": {"token": "gA xxxxxxxx en", "identity_status": "Confirmed"},
                      "host": {"address": "10.0.0.9", "agent": "python-novaclient"}, "project_id": OWNER_PROJECT,
                      "request_id": "req-mw-1"},
        "target": {"id": "nova-endpoint-1", "typeURI": "service/compute/servers/server", "name": "nova"},
        "reason": {"reasonType": "HTTP", "reasonCode": "403"}},
     "keystonemiddleware", "service", "nova-endpoint-1", OWNER_PROJECT, {
         "outcome": "failure", "reason_code": "403", "initiator_address": "10.0.0.9", "request_id": "req-mw-1",
         "request_path": "/v2.1/servers/s-1", "user_id": OWNER_USER}),
]


FAILURE_FIXTURES = Path(__file__).resolve().parent.parent / "events" / "data" / "failures"


def failure_fixtures() -> list[tuple[str, dict]]:
    """The services' failure notifications (tests/events/data/failures, README there) as
    ``(<file>[<index>], {source, expect, notification})``."""
    return [(f"{path.stem}[{index}]", item) for path in sorted(FAILURE_FIXTURES.glob("*.json"))
            for index, item in enumerate(json.loads(path.read_text()))]


NOVA_PROJECT = "6f70656e737461636b20342065766572"  # the project id in nova's notification samples
NOVA_INSTANCE = "178b0921-8f85-4257-88b6-2e743b5a975c"  # the instance uuid in most of them


def nova_samples() -> dict[str, dict]:
    """nova's published notification samples by name (``instance-create-error``…), or skip/fail."""
    samples = {name.removesuffix(".json"): sample for name, sample in load_samples().items()}
    if not samples:
        missing(f"nova's notification samples are not at {SAMPLES}", "see ../shared/data/README")
    return samples


def nova_notification(sample: dict, project: str, request_id: str, instance: str = NOVA_INSTANCE,
                      seconds_ago: float = 60, replace: dict[str, str] | None = None) -> dict:
    """A sample as oslo.messaging sends it, moved to ``project`` and ``instance``, stamped
    ``seconds_ago``; ``replace`` swaps any other text of the sample (hostile names, messages)."""
    text = json.dumps(sample).replace(NOVA_PROJECT, project).replace(NOVA_INSTANCE, instance)
    for old, new in (replace or {}).items():
        text = text.replace(json.dumps(old)[1:-1], json.dumps(new)[1:-1])
    body = notification(json.loads(text), project=project, request_id=request_id)
    body["timestamp"] = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime(time.time() - seconds_ago))
    return body
