"""Notifications off the wire (oslo.messaging v1/v2 envelopes) and the event catalog.

Every versioned notification sample nova publishes (``../shared/data/nova-notification-samples``) is
sent through a real ``oslo_messaging.Notifier`` (rabbit driver on kombu's in-memory broker, so the AMQP
body is exactly what RabbitMQ would carry: ``_context_*`` flattening, ``_unique_id``, the v2 envelope),
read back as bytes, parsed and turned into an Event. Without oslo.messaging installed the same bodies
are built by a mirror of its code, and the test comparing the two is skipped.
"""

from __future__ import annotations

import copy
import json
import uuid
import warnings
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from nephoscope.events.catalog import (
    Catalog,
    CatalogError,
    render_markdown,
    split_publisher,
)
from nephoscope.events.envelope import (
    EnvelopeError,
    parse_notification,
    parse_timestamp_ms,
)
from tests.conftest import missing
from tests.support.notifications import (
    ADMIN_PROJECT,
    ADMIN_USER,
    GOOD,
    LEGACY_CREATE_END,
    OTHER_SERVICES,
    OWNER_PROJECT,
    OWNER_USER,
    SAMPLE_DOCS,
    SAMPLES,
    garbage_bodies,
)

try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # eventlet's deprecation warning, pulled in by oslo imports
        import kombu
        import oslo_messaging
        from oslo_config import cfg
        from oslo_context import context as oslo_context
    HAVE_OSLO = True
except ImportError:  # pragma: no cover - the mirror below stands in
    HAVE_OSLO = False


# --- nova's samples ------------------------------------------------------------------------------

def unwrapped(value: Any) -> Any:
    """Reference unwrap of versioned objects (slow and obvious), to check the parser's against."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key.endswith("_object.data") and isinstance(inner, dict):
                return unwrapped(inner)
        return {key: unwrapped(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrapped(item) for item in value]
    return value


def project_ids_in(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("tenant_id", "project_id") and isinstance(item, str) and item:
                found.add(item)
            found |= project_ids_in(item)
    elif isinstance(value, list):
        for item in value:
            found |= project_ids_in(item)
    return found


# --- the wire: real oslo.messaging, or a mirror of it --------------------------------------------

def admin_context_dict() -> dict[str, Any]:
    return {"user_id": ADMIN_USER, "project_id": ADMIN_PROJECT, "request_id": "req-" + str(uuid.uuid4()),
            "global_request_id": "req-" + str(uuid.uuid4()), "user_name": "admin", "project_name": "admin",
            "roles": ["admin", "member", "reader"], "is_admin": True}


def oslo_context_dict(context: dict[str, Any]) -> dict[str, Any]:
    """``oslo_context.RequestContext(**context).redacted_copy().to_dict()``, written out."""
    return {"user": context.get("user_id"), "project_id": context.get("project_id"), "system_scope": None,
            "project": context.get("project_id"), "domain": None, "user_domain": None, "project_domain": None,
            "is_admin": context.get("is_admin", False), "read_only": False, "show_deleted": False,
            "auth_token": None, "request_id": context.get("request_id"),
            "global_request_id": context.get("global_request_id"), "resource_uuid": None,
            "roles": context.get("roles", []),
            "user_identity": f"{context.get('user_id') or '-'} {context.get('project_id') or '-'} - - -",
            "is_admin_project": True}


def mirror_body(driver: str, publisher_id: str, event_type: str, priority: str, payload: Any,
                context: dict[str, Any]) -> bytes:
    """What oslo.messaging puts on the wire (notify/notifier.py ``_notify``, then amqpdriver ``_send``:
    ``_add_unique_id``, ``pack_context`` of the redacted context's ``to_dict()``, and ``serialize_msg``
    for messagingv2)."""
    context = oslo_context_dict(context)
    msg = {"message_id": str(uuid.uuid4()), "publisher_id": publisher_id, "event_type": event_type,
           "priority": priority.upper(), "payload": payload,
           "timestamp": str(datetime.now(UTC).replace(tzinfo=None))}
    msg["_unique_id"] = uuid.uuid4().hex
    msg.update((f"_context_{key}", value) for key, value in context.items())
    if driver == "messagingv2":
        return json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(msg)}).encode()
    return json.dumps(msg).encode()


class OsloWire:
    """A real oslo_messaging.Notifier on the rabbit driver over kombu's in-memory transport; the
    notifier declares its default queue (``<topic>.<priority>``), from which we read the AMQP body."""

    def __init__(self) -> None:
        self.conf = cfg.ConfigOpts()
        self.conf([], project="nephoscope-tests")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.transport = oslo_messaging.get_notification_transport(self.conf, url="kombu+memory:////")
        self.conf.set_override("heartbeat_timeout_threshold", 0, group="oslo_messaging_rabbit")
        self.connection = kombu.Connection("memory://")

    def close(self) -> None:
        self.connection.release()
        self.transport.cleanup()

    def publish(self, driver: str, publisher_id: str, event_type: str, priority: str, payload: Any,
                context: dict[str, Any], topic: str = "versioned_notifications") -> bytes:
        ctxt = oslo_context.RequestContext(auth_token="s3cr3t-token", **context)
        notifier = oslo_messaging.Notifier(self.transport, publisher_id=publisher_id, driver=driver, topics=[topic])
        getattr(notifier, priority.lower())(ctxt, event_type, payload)
        queue = self.connection.SimpleQueue(f"{topic}.{priority.lower()}", no_ack=True)
        try:
            return queue.get(timeout=2).body
        finally:
            queue.close()


@pytest.fixture(scope="module")
def wire():
    if not HAVE_OSLO:
        yield None
        return
    oslo = OsloWire()
    yield oslo
    oslo.close()


def send(wire: OsloWire | None, driver: str, publisher_id: str, event_type: str, priority: str, payload: Any,
         context: dict[str, Any] | None = None, topic: str = "versioned_notifications") -> bytes:
    context = admin_context_dict() if context is None else context
    if wire is None:
        return mirror_body(driver, publisher_id, event_type, priority, payload, context)
    return wire.publish(driver, publisher_id, event_type, priority, payload, context, topic)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture(scope="module")
def sample_bodies(wire) -> dict[str, bytes]:
    if not SAMPLE_DOCS:
        missing(f"nova notification samples not found at {SAMPLES}", "set NEPHOSCOPE_SHARED_DATA")
    return {name: send(wire, "messagingv2", doc["publisher_id"], doc["event_type"], doc["priority"], doc["payload"])
            for name, doc in SAMPLE_DOCS.items()}


# --- nova's samples through the wire --------------------------------------------------------------

def test_the_sample_set_is_complete() -> None:
    if not SAMPLE_DOCS:
        missing(f"nova notification samples not found at {SAMPLES}", "set NEPHOSCOPE_SHARED_DATA")
    assert len(SAMPLE_DOCS) == 140
    assert len({doc["event_type"] for doc in SAMPLE_DOCS.values()}) == 132
    assert not any("$ref" in json.dumps(doc) for doc in SAMPLE_DOCS.values())


def test_every_nova_sample_parses_from_a_v2_envelope(sample_bodies: dict[str, bytes]) -> None:
    for name, body in sample_bodies.items():
        doc = SAMPLE_DOCS[name]
        outer = orjson.loads(body)
        assert set(outer) == {"oslo.version", "oslo.message"} and outer["oslo.version"] == "2.0", name
        n = parse_notification(body, exchange="nova", routing_key="versioned_notifications.info")
        assert n.event_type == doc["event_type"], name
        assert n.publisher_id == doc["publisher_id"]
        assert n.priority == doc["priority"]
        assert n.envelope_version == "2.0" and n.versioned, name
        assert n.payload == doc["payload"], f"{name}: the payload must stay as sent"
        assert n.data == unwrapped(doc["payload"]), f"{name}: data must be the payload with every object unwrapped"
        assert "_object." not in json.dumps(n.data), name
        assert n.context["project_id"] == ADMIN_PROJECT and n.context["request_id"].startswith("req-")
        assert n.context.get("auth_token") in (None, "***"), "oslo redacts the token; it must not reappear"
        uuid.UUID(n.message_id)
        now_ms = datetime.now(UTC).timestamp() * 1000
        assert now_ms - 600_000 < n.timestamp_ms <= now_ms + 1000
        assert (n.exchange, n.routing_key) == ("nova", "versioned_notifications.info")


def test_every_nova_sample_is_known_with_resource_and_project(catalog: Catalog,
                                                              sample_bodies: dict[str, bytes]) -> None:
    unknown = []
    for name, body in sample_bodies.items():
        doc = SAMPLE_DOCS[name]
        n = parse_notification(body)
        event = catalog.to_event(n)
        if not event.known:
            unknown.append(doc["event_type"])
            continue
        info = catalog.describe(doc["event_type"])
        assert info is not None and info.description and info.resource_type == event.resource_type
        assert event.service == "nova", name
        assert event.host == split_publisher(doc["publisher_id"])[1] != ""
        assert event.resource_id, f"{name}: no resource_id"
        data = unwrapped(doc["payload"])
        if doc["event_type"].startswith("instance."):
            assert event.resource_type == "instance" and event.resource_id == data["uuid"], name
            assert event.traits["flavor_name"] == data["flavor"]["name"]
            assert isinstance(event.traits["vcpus"], int)
            assert isinstance(event.traits["created_at"], datetime) and event.traits["created_at"].tzinfo
        owners = project_ids_in(data)
        if owners:
            assert event.project_id in owners, f"{name}: project_id {event.project_id!r} not the payload's {owners}"
        else:
            assert event.project_id == ADMIN_PROJECT, f"{name}: falls back to the request context's project"
        assert event.request_id == n.context["request_id"]
        assert event.global_request_id == n.context["global_request_id"]
        assert event.traits["host"] == event.host
    assert not unknown, f"event types the catalog does not know: {sorted(set(unknown))}"


def test_nova_samples_specific_traits(catalog: Catalog, sample_bodies: dict[str, bytes]) -> None:
    def event(name: str):
        return catalog.to_event(parse_notification(sample_bodies[name]))

    attach = event("instance-volume_attach-end.json")
    assert attach.traits["volume_id"] == "a07f71dc-8151-4e7d-a0cc-cd24a3f11113"
    failed = event("instance-create-error.json")
    assert failed.priority == "ERROR" and failed.traits["exception"]
    build = event("compute_task-build_instances-error.json")
    assert build.resource_id == "d5e6a7b7-80e5-4166-85a3-cd6115201082"
    assert build.traits["exception"] == "NoValidHost"
    exists = event("instance-exists.json")
    assert exists.traits["audit_period_beginning"] == datetime(2012, 10, 1, tzinfo=UTC)
    update = event("instance-update.json")
    assert {"old_state", "new_state"} <= set(update.traits)
    usage = event("volume-usage.json")
    assert usage.resource_type == "volume" and usage.service == "nova"
    assert usage.traits["instance_id"] == "88fde343-13a8-4047-84fb-2657d5e702f9"
    assert event("service-update.json").traits["binary"] == "nova-compute"
    assert event("flavor-update.json").resource_id == "a22d5517-147c-4147-a0d1-e698df5cd4e3"
    assert event("keypair-create-end.json").user_id == "fake"
    assert event("libvirt-connect-error.json").resource_id == "compute"


def test_the_mirror_matches_real_oslo_messaging(wire) -> None:
    if not HAVE_OSLO:
        missing("oslo.messaging is not installed", "pip install -e '.[test]'")
    context = admin_context_dict()
    for driver in ("messagingv2", "messaging"):
        real = orjson.loads(send(wire, driver, "nova-compute:c1", "x.y", "INFO", {"a": 1}, context))
        mirror = orjson.loads(mirror_body(driver, "nova-compute:c1", "x.y", "INFO", {"a": 1}, context))
        assert set(real) == set(mirror)
        if driver == "messagingv2":
            real, mirror = orjson.loads(real["oslo.message"]), orjson.loads(mirror["oslo.message"])
        assert set(real) == set(mirror)
        for key in real:
            if key.startswith("_context_"):
                assert real[key] == mirror[key], key
        assert real["_context_auth_token"] is None


# --- envelopes -------------------------------------------------------------------------------------

def test_v1_and_v2_give_the_same_notification(wire) -> None:
    payload = SAMPLE_DOCS["instance-create-end.json"]["payload"] if SAMPLE_DOCS else {"x": 1}
    v2 = send(wire, "messagingv2", "nova-compute:c1", "instance.create.end", "INFO", payload)
    inner = orjson.loads(v2)["oslo.message"]
    from_v2 = parse_notification(v2)
    for body in (inner, inner.encode(), orjson.loads(inner), bytearray(inner.encode()), memoryview(inner.encode())):
        from_v1 = parse_notification(body)
        assert from_v1.envelope_version == "1.0"
        assert replace(from_v1, envelope_version="2.0") == from_v2
    assert parse_notification(orjson.loads(v2)) == from_v2  # the decoded v2 envelope as a dict
    assert parse_notification(v2.decode()) == from_v2


def test_a_real_v1_notifier_body_parses(wire) -> None:
    body = send(wire, "messaging", "compute.c1", "compute.instance.update", "INFO", {"instance_id": "i-1"},
                topic="notifications")
    assert "oslo.message" not in orjson.loads(body)
    n = parse_notification(body)
    assert n.envelope_version == "1.0" and not n.versioned and n.data == {"instance_id": "i-1"}
    assert n.context["user"] == ADMIN_USER and n.context["project_id"] == ADMIN_PROJECT


def test_context_fields_and_priority() -> None:
    n = parse_notification({"message_id": "m1", "event_type": "a.b", "priority": "warn", "payload": {},
                            "timestamp": "2024-01-02 10:00:00", "publisher_id": "p:h",
                            "_context_request_id": "req-1", "_context_roles": ["admin"], "_unique_id": "u"})
    assert n.priority == "WARN"
    assert n.context == {"request_id": "req-1", "roles": ["admin"]}
    assert n.data == {} and n.payload == {}


def test_versioned_objects_of_any_project_are_unwrapped_recursively() -> None:
    payload = {"cinder_object.name": "VolumePayload", "cinder_object.namespace": "cinder",
               "cinder_object.version": "1.0",
               "cinder_object.data": {"id": "v1", "attachments": [
                   {"cinder_object.name": "A", "cinder_object.data": {"instance_uuid": "i1"}, "cinder_object.version": "1"}],
                   "type": {"ironic_object.name": "T", "ironic_object.data": {"name": "fast"}}}}
    original = copy.deepcopy(payload)
    message = {"message_id": "m", "event_type": "volume.create.end", "timestamp": "2024-01-02T10:00:00Z",
               "payload": payload}
    for body in (message, orjson.dumps(message), orjson.dumps({"oslo.version": "2.0",
                                                              "oslo.message": orjson.dumps(message).decode()})):
        n = parse_notification(body)
        assert n.versioned
        assert n.data == {"id": "v1", "attachments": [{"instance_uuid": "i1"}], "type": {"name": "fast"}}
        assert n.payload == original
    assert payload == original, "a dict body must not be modified"
    # a nested object inside an unversioned payload is unwrapped too
    n = parse_notification({**message, "payload": {"x": {"nova_object.data": {"y": 1}}}})
    assert n.data == {"x": {"y": 1}} and not n.versioned


@pytest.mark.parametrize(("text", "expected"), [
    ("2024-01-02 10:00:00.123456", "2024-01-02T10:00:00.123+00:00"),
    ("2024-01-02 10:00:00", "2024-01-02T10:00:00+00:00"),
    ("2024-01-02T10:00:00.123456", "2024-01-02T10:00:00.123+00:00"),
    ("2024-01-02T10:00:00Z", "2024-01-02T10:00:00+00:00"),
    ("2024-01-02T10:00:00.5z", "2024-01-02T10:00:00.500+00:00"),
    ("2024-01-02T12:00:00+02:00", "2024-01-02T10:00:00+00:00"),
    ("2024-01-02T05:00:00.000000-0500", "2024-01-02T10:00:00+00:00"),
    ("2024-01-02 10:00:00.123456+00:00", "2024-01-02T10:00:00.123+00:00"),
    ("2024-01-02 10:00:00 UTC", "2024-01-02T10:00:00+00:00"),
])
def test_timestamps(text: str, expected: str) -> None:
    assert parse_timestamp_ms(text) == int(datetime.fromisoformat(expected).timestamp() * 1000)


def v2(inner: Any) -> bytes:
    return orjson.dumps({"oslo.version": "2.0", "oslo.message": inner})


@pytest.mark.parametrize(("body", "message"), [
    (b"", "body is not JSON"),
    (b"{not json", "body is not JSON"),
    (b"\xff\xfe", "body is not JSON"),
    ("[1, 2]", "must be a JSON object"),
    (b"null", "must be a JSON object"),
    (42, "body must be bytes, str or a dict"),
    (v2({"event_type": "a.b"}), "oslo.message must be a string"),
    (v2(["x"]), "oslo.message must be a string"),
    (v2("{broken"), "oslo.message is not JSON"),
    (v2("[1]"), "oslo.message must encode a JSON object"),
    (orjson.dumps({"oslo.version": "2.0"}), "without oslo.message"),
    (orjson.dumps({"oslo.version": "3.0", "oslo.message": "{}"}), "unsupported oslo.version"),
    (orjson.dumps({"oslo.version": 2, "oslo.message": "{}"}), "oslo.version must be a string"),
    (orjson.dumps({**GOOD, "event_type": None}), "event_type is missing"),
    (orjson.dumps({k: v for k, v in GOOD.items() if k != "event_type"}), "event_type is missing"),
    (v2(orjson.dumps({k: v for k, v in GOOD.items() if k != "event_type"}).decode()), "event_type is missing"),
    (orjson.dumps({**GOOD, "event_type": ["a"]}), "event_type must be a string"),
    (orjson.dumps({**GOOD, "event_type": ""}), "event_type"),
    (orjson.dumps({**GOOD, "event_type": "x" * 300}), "too long"),
    (orjson.dumps({**GOOD, "timestamp": "yesterday"}), "timestamp 'yesterday' is not a date"),
    (orjson.dumps({**GOOD, "timestamp": "2024-13-45 10:00:00"}), "is not a date"),
    (orjson.dumps({**GOOD, "timestamp": None}), "timestamp is missing"),
    (orjson.dumps({**GOOD, "timestamp": {"a": 1}}), "timestamp must be a string"),
    (orjson.dumps({**GOOD, "priority": 3}), "priority must be a string"),
    (orjson.dumps({**GOOD, "publisher_id": ["x"]}), "publisher_id must be a string"),
    (orjson.dumps({**GOOD, "message_id": 7}), "message_id must be a string"),
    ({**GOOD, 1: "non-string key"}, "malformed notification"),
])
def test_malformed_bodies_raise_envelope_error(body: Any, message: str) -> None:
    with pytest.raises(EnvelopeError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_notification(body)
    assert issubclass(EnvelopeError, ValueError)


def test_a_message_without_id_gets_a_stable_one() -> None:
    body = orjson.dumps({k: v for k, v in GOOD.items() if k != "message_id"})
    first, again = parse_notification(body), parse_notification(body)
    assert first.message_id == again.message_id and uuid.UUID(first.message_id)
    assert parse_notification(orjson.loads(body)).message_id


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(garbage_bodies())
def test_garbage_only_ever_raises_envelope_error(catalog: Catalog, body: Any) -> None:
    try:
        n = parse_notification(body)
    except EnvelopeError as exc:
        assert str(exc)
        return
    event = catalog.to_event(n)  # what parses must also become an event without raising
    assert event.event_type == n.event_type
    assert isinstance(event.project_id, str) and isinstance(event.resource_id, str)
    orjson.dumps(event.traits, default=str)


# --- legacy (unversioned) nova and the other services -------------------------------------------------

def test_legacy_unversioned_nova_instance(catalog: Catalog, wire) -> None:
    body = send(wire, "messaging", "compute.compute-07", "compute.instance.create.end", "INFO", LEGACY_CREATE_END,
                topic="notifications")
    n = parse_notification(body, exchange="nova", routing_key="notifications.info")
    assert not n.versioned and n.data == LEGACY_CREATE_END
    event = catalog.to_event(n)
    assert event.known and event.service == "nova" and event.host == "compute-07"
    assert catalog.describe("compute.instance.create.end").pattern == "compute.instance.create.*"
    assert event.resource_type == "instance"
    assert event.resource_id == "1bcd9d1a-8a4c-4e1c-9b4e-3a3b3f0f2d11"
    assert event.project_id == OWNER_PROJECT and event.user_id == OWNER_USER
    traits = event.traits
    assert traits["memory_mb"] == 2048 and traits["flavor_name"] == "m1.small"
    assert traits["image_id"] == "5b0c6a2c-3f4a-4a6f-9d0f-6d1b8b7c9e21"
    assert traits["launched_at"] == datetime(2024, 1, 2, 10, 0, 12, 745393, tzinfo=UTC)
    assert "terminated_at" not in traits  # "" means unset
    # the v2 envelope of the same legacy notification gives the same event
    v2_body = send(wire, "messagingv2", "compute.compute-07", "compute.instance.create.end", "INFO",
                   LEGACY_CREATE_END, topic="notifications")
    assert catalog.to_event(parse_notification(v2_body)).traits.keys() == traits.keys()


@pytest.mark.parametrize(("publisher", "event_type", "payload", "service", "resource_type", "resource_id",
                          "project_id", "traits"), OTHER_SERVICES, ids=[row[1] for row in OTHER_SERVICES])
def test_other_services(catalog: Catalog, wire, publisher: str, event_type: str, payload: dict, service: str,
                        resource_type: str, resource_id: str, project_id: str, traits: dict) -> None:
    body = send(wire, "messagingv2", publisher, event_type, "INFO", payload, topic="notifications")
    event = catalog.to_event(parse_notification(body))
    assert event.known and event.service == service and event.resource_type == resource_type
    assert event.resource_id == resource_id and event.project_id == project_id
    assert event.host == publisher.partition(".")[2]
    for name, value in traits.items():
        assert event.traits.get(name) == value, name


# --- the catalog ---------------------------------------------------------------------------------------

def test_catalog_covers_what_the_brief_lists(catalog: Catalog) -> None:
    required = [
        "instance.create.start", "instance.create.end", "instance.create.error", "instance.delete.end",
        "instance.update", "instance.exists", "instance.power_on.end", "instance.power_off.start",
        "instance.reboot.error", "instance.rebuild.end", "instance.resize.end", "instance.resize_confirm.end",
        "instance.live_migration_pre.start", "instance.shelve.end", "instance.suspend.end", "instance.pause.end",
        "instance.snapshot.end", "instance.volume_attach.error", "instance.volume_detach.end",
        "instance.interface_attach.end", "instance.interface_detach.end", "service.update", "compute.exception",
        "compute_task.build_instances.error", "scheduler.select_destinations.start", "flavor.create",
        "keypair.import.end", "aggregate.add_host.end", "server_group.create", "libvirt.connect.error",
        "metrics.update", "volume.usage",
        "compute.instance.create.start", "compute.instance.create.end", "compute.instance.create.error",
        "compute.instance.delete.end", "compute.instance.update", "compute.instance.exists",
        "compute.instance.power_on.end", "compute.instance.reboot.end", "compute.instance.rebuild.end",
        "compute.instance.resize.prep.start", "compute.instance.finish_resize.end",
        "compute.instance.live_migration._post.end", "compute.instance.shelve.end", "compute.instance.suspend.end",
        "compute.instance.snapshot.end", "compute.instance.volume.attach", "compute.metrics.update",
        "volume.create.start", "volume.delete.end", "volume.resize.end", "volume.attach.end", "volume.detach.end",
        "volume.exists", "volume.retype", "snapshot.create.end", "backup.restore.end", "volume_type.create",
        "network.create.end", "subnet.update.start", "port.delete.end", "router.update.end",
        "floatingip.update.end", "security_group.create.end", "router.interface.create",
        "image.create", "image.update", "image.upload", "image.activate", "image.delete", "image.send",
        "image.prepare", "orchestration.stack.create.end", "orchestration.stack.delete.error",
        "identity.authenticate", "identity.project.created", "identity.user.deleted",
        "identity.role_assignment.created", "audit.http.request", "audit.http.response",
    ]
    missing = [name for name in required if catalog.describe(name) is None]
    assert not missing
    assert catalog.services() == ["cinder", "glance", "heat", "keystone", "keystonemiddleware", "neutron", "nova"]
    assert catalog.describe("volume.usage").service == "nova"  # exact nova name beats cinder's volume.*
    assert catalog.describe("volume.create.end").service == "cinder"
    assert catalog.describe("compute.instance.resize.prep.start").pattern == "compute.instance.resize.prep.*"
    assert catalog.describe("security_group_rule.create.end").pattern == "security_group_rule.create.*"
    for info in catalog.types():
        assert info.description.endswith(".") and "\n" not in info.description
        assert {"resource_id", "project_id", "request_id", "global_request_id", "user_id", "host"} <= set(info.traits)
        assert set(info.traits.values()) <= {"text", "int", "float", "datetime"}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


COMMON = """
common_traits:
  project_id: {fields: [context.project_id]}
  request_id: {fields: [context.request_id]}
"""


def test_exact_beats_glob_and_longer_glob_beats_shorter(tmp_path: Path) -> None:
    write(tmp_path, "common.yaml", COMMON)
    write(tmp_path, "svc.yaml", """
service: svc
prefixes: [thing]
events:
  thing.*:
    description: Short glob.
    resource_type: thing
    traits: {resource_id: {fields: data.id}}
  thing.create.*:
    description: Longer glob.
    resource_type: thing
    traits: {resource_id: {fields: data.id}}
  thing.create.e*:
    description: Longest glob.
    resource_type: thing
    traits: {resource_id: {fields: data.id}}
  thing.create.end:
    description: Exact.
    resource_type: thing
    traits: {resource_id: {fields: data.id}}
""")
    catalog = Catalog.load([tmp_path])
    assert catalog.describe("thing.create.end").pattern == "thing.create.end"
    assert catalog.describe("thing.create.error").pattern == "thing.create.e*"
    assert catalog.describe("thing.create.start").pattern == "thing.create.*"
    assert catalog.describe("thing.delete").pattern == "thing.*"
    assert catalog.describe("other.create.end") is None
    info = catalog.describe("thing.create.start")
    assert info.event_type == "thing.create.start" and info.service == "svc" and info.source == "svc.yaml"
    assert info.traits == {"resource_id": "text", "project_id": "text", "request_id": "text"}


def test_trait_candidates_types_and_fallbacks(tmp_path: Path) -> None:
    write(tmp_path, "common.yaml", COMMON)
    write(tmp_path, "svc.yaml", """
service: svc
trait_sets:
  base:
    resource_id: {fields: [data.id, payload.legacy_id]}
    size: {fields: data.size, type: int}
events:
  thing.*:
    description: Things.
    resource_type: thing
    trait_sets: [base]
    traits:
      project_id: {fields: data.owner}
      ratio: {fields: 'data."odd.key"', type: float}
      first: {fields: data.items.0.name}
      when: {fields: data.at, type: datetime}
      tail: {fields: data.arn, split: {separator: /, segment: -1}}
      size: {fields: data.size_gb, type: int}
""")
    catalog = Catalog.load([tmp_path])
    n = parse_notification({"message_id": "m", "event_type": "thing.x", "timestamp": "2024-01-02 10:00:00",
                            "publisher_id": "svc-api:h1",
                            "payload": {"legacy_id": 7, "size": "12", "odd.key": "0.5", "items": [{"name": "a"}],
                                        "at": "2024-01-02 10:00:00", "arn": "arn:x:stacks/s/abc"},
                            "_context_project_id": "ctx-project", "_context_request_id": "req-9"})
    event = catalog.to_event(n)
    assert event.resource_id == "7" and event.traits["resource_id"] == "7"
    assert event.traits["size"] == 12  # the type's own path (data.size_gb) is absent, the set's is used
    assert event.traits["ratio"] == 0.5 and event.traits["first"] == "a" and event.traits["tail"] == "abc"
    assert event.traits["when"] == datetime(2024, 1, 2, 10, tzinfo=UTC)
    assert event.project_id == "ctx-project"  # data.owner absent -> the common fallback
    assert event.request_id == "req-9" and event.host == "h1" and event.service == "svc"
    n2 = replace(n, top={**n.top, "owner": "owner-project", "size": "not a number"})
    event2 = catalog.to_event(n2)
    assert event2.project_id == "owner-project" and "size" not in event2.traits


def test_unknown_types_get_the_common_traits_only(catalog: Catalog) -> None:
    n = parse_notification({"message_id": "m", "event_type": "magnum.cluster.create.end", "priority": "info",
                            "timestamp": "2024-01-02T10:00:00Z", "publisher_id": "magnum-conductor:ctl-1",
                            "payload": {"uuid": "c-1", "tenant_id": OWNER_PROJECT},
                            "_context_request_id": "req-1", "_context_user_id": "u-1"})
    event = catalog.to_event(n)
    assert not event.known and catalog.describe(n.event_type) is None
    assert set(event.traits) <= set(catalog.common_traits)
    assert event.traits["host"] == "ctl-1" == event.host
    assert event.service == "magnum" and event.resource_id == "" and event.resource_type == ""
    assert event.project_id == OWNER_PROJECT and event.user_id == "u-1" and event.request_id == "req-1"
    # a service is found from the event type's prefix, or from a <topic>.<host> publisher
    assert catalog.to_event(replace(n, event_type="port.frobnicated")).service == "neutron"
    assert catalog.to_event(replace(n, event_type="x.y", publisher_id="volume.cinder-1")).service == "cinder"
    assert catalog.service_of("instance.create.end") == "nova"


@pytest.mark.parametrize(("files", "messages"), [
    ({"a.yaml": "service: a\nevents:\n  t.x:\n    description: D.\n    resource_type: r\n"
                "    traits: {resource_id: {fields: data.id, type: integer}}\n"},
     ["a.yaml: event 't.x': trait 'resource_id': type 'integer' is not one of text, int, float, datetime"]),
    ({"a.yaml": "service: a\nevents:\n  t.x:\n    description: D.\n    resource_type: r\n"
                "    traits: {size: {fields: data.size}}\n"},
     ["a.yaml: event 't.x': defines no resource_id trait"]),
    ({"a.yaml": "service: a\nevents:\n  t.x:\n    descripton: D.\n    resource_type: r\n"
                "    traits: {resource_id: {fields: data.id}}\n"},
     ["a.yaml: event 't.x': unknown key 'descripton' (did you mean 'description'?)",
      "a.yaml: event 't.x': description must be a non-empty string (missing)"]),
    ({"a.yaml": "service: a\nevents:\n  t.x:\n    description: D.\n    resource_type: r\n"
                "    traits: {resource_id: {fields: [body.id, 'data.\"open']}}\n"},
     ["a.yaml: event 't.x': trait 'resource_id': fields: path 'body.id': path must start with one of",
      "fields: path 'data.\"open': unterminated double quote"]),
    ({"a.yaml": "service: a\nevents:\n  t.x:\n    description: D.\n    resource_type: r\n"
                "    trait_sets: [nope]\n    traits: {resource_id: {fields: data.id}}\n"},
     ["a.yaml: event 't.x': trait_sets: no trait set 'nope' in this file"]),
    ({"a.yaml": "service: a\nevents:\n  t.x:\n    description: D.\n    resource_type: r\n"
                "    traits: {resource_id: {fields: data.id}}\n  t.x:\n    description: E.\n"},
     ["a.yaml: is not valid YAML", "key 't.x' is given twice"]),
    ({"a.yaml": "service: a\nevents:\n  t.x: {description: D., resource_type: r, traits: {resource_id: data.id}}\n",
      "b.yaml": "service: b\nevents:\n  t.x: {description: D., resource_type: r, traits: {resource_id: data.id}}\n"},
     ["b.yaml: event 't.x': is already defined in a.yaml"]),
    ({"a.yaml": "service: a\nprefixes: [t]\nevents:\n  t.x: {description: D., resource_type: r, "
                "traits: {resource_id: data.id}}\n",
      "b.yaml": "service: b\nprefixes: [t]\nevents:\n  t.y: {description: D., resource_type: r, "
                "traits: {resource_id: data.id}}\n"},
     ["b.yaml: prefix 't' is already claimed by service 'a' (in a.yaml)"]),
    ({"a.yaml": "events:\n  t.x: {description: D., resource_type: r, traits: {resource_id: data.id}}\n"},
     ["a.yaml: service must be a lower-case name"]),
    ({"a.yaml": "- just\n- a list\n"}, ["a.yaml: must be a mapping"]),
    ({"a.yaml": ""}, ["a.yaml: is empty"]),
    ({"a.yaml": "service: a\nevents:\n  'bad type': {description: D., resource_type: r, "
                "traits: {resource_id: data.id}}\n"}, ["a.yaml: event 'bad type': an event type must be"]),
    ({"a.yaml": "common_traits:\n  x: {fields: data.x, split: {separator: ''}}\n"},
     ["a.yaml: common_traits: trait 'x': split: separator must be a non-empty string"]),
])
def test_definition_errors_say_file_event_and_field(tmp_path: Path, files: dict[str, str],
                                                    messages: list[str]) -> None:
    for name, text in files.items():
        write(tmp_path, name, text)
    with pytest.raises(CatalogError) as caught:
        Catalog.load([tmp_path])
    text = str(caught.value)
    for message in messages:
        assert message in text, text
    assert isinstance(caught.value, ValueError) and caught.value.errors


def test_no_files_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no definition files found"):
        Catalog.load([tmp_path])


def test_the_shipped_catalog_is_the_default(catalog: Catalog) -> None:
    again = Catalog.load()
    assert [i.pattern for i in again.types()] == [i.pattern for i in catalog.types()]
    from nephoscope.events.catalog import DEFINITIONS_DIR
    assert {p.name for p in DEFINITIONS_DIR.glob("*.yaml")} >= {
        "common.yaml", "nova.yaml", "cinder.yaml", "neutron.yaml", "glance.yaml", "heat.yaml", "keystone.yaml",
        "keystonemiddleware.yaml"}


def test_render_markdown_lists_every_type(catalog: Catalog) -> None:
    page = render_markdown(catalog)
    assert page.startswith("# Event catalog")
    for service in catalog.services():
        assert f"\n## {service}\n" in page
    for info in catalog.types():
        assert f"| `{info.pattern}` | {info.description} | {info.resource_type} |" in page
    for name in catalog.common_traits:
        assert f"| `{name}` |" in page
