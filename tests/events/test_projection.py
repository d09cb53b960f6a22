"""events.projection: decoding only what storing reads gives exactly what decoding everything gives.

Each check builds the same batch twice with ``events.batch.from_bodies``: once as the workers do
(the ``oslo.message`` projected), once with every document decoded whole (``whole=True``), and
compares every table of the two batches (events, failures, lifecycle rows, unknown types) and
the unparseable counts and reasons.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nephoscope.events.batch import EventBatch, from_bodies, read_ipc
from nephoscope.events.catalog import Catalog
from nephoscope.events.projection import Projection, projection_of
from tests.support.notifications import (
    JSON_VALUES,
    LEGACY_CREATE_END,
    OTHER_SERVICES,
    SAMPLE_DOCS,
    garbage_bodies,
)

CONTEXT = {"_context_project_id": "p-owner", "_context_user_id": "u-1", "_context_request_id": "req-1",
           "_context_global_request_id": None, "_context_roles": ["member"], "_context_auth_token": None}


def v2_body(event_type: str, payload: Any, publisher_id: str = "nova-compute:compute-1", priority: str = "INFO",
            extra: dict | None = None) -> bytes:
    message = {"message_id": str(uuid.uuid4()), "publisher_id": publisher_id, "event_type": event_type,
               "priority": priority, "payload": payload, "timestamp": "2026-12-06 04:00:00.123456",
               **CONTEXT, **(extra or {})}
    return json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(message)}).encode()


def tables(batch: EventBatch) -> list:
    return [read_ipc(stream).to_pylist() if stream else []
            for stream in (batch.events, batch.failures, batch.lifecycle, batch.unknown)]


def both(bodies: list[bytes], catalog: Catalog) -> tuple[EventBatch, EventBatch]:
    messages = [(body, "nova", "versioned_notifications.info") for body in bodies]
    return from_bodies(messages, catalog), from_bodies(messages, catalog, whole=True)


def assert_same(bodies: list[bytes], catalog: Catalog) -> EventBatch:
    projected, whole = both(bodies, catalog)
    assert tables(projected) == tables(whole)
    assert (projected.size, projected.unparseable, projected.problems) == \
        (whole.size, whole.unparseable, whole.problems)
    return projected


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def _samples() -> dict[str, dict]:
    if not SAMPLE_DOCS:
        pytest.fail("nova notification samples are missing (../shared/data/nova-notification-samples)")
    return SAMPLE_DOCS


# --- what is kept ---------------------------------------------------------------------------------

def test_the_projection_keeps_what_storing_reads_and_drops_the_rest(catalog: Catalog) -> None:
    sample = _samples()["instance-create-end.json"]
    body = v2_body(sample["event_type"], sample["payload"])
    message = orjson.loads(body)["oslo.message"]
    projected = projection_of(catalog).decode(message)
    whole = orjson.loads(message)
    data, whole_data = projected["payload"]["nova_object.data"], whole["payload"]["nova_object.data"]
    # kept: ids, state, the flavor's name and size (through its own versioned object), the fault
    assert data["uuid"] == whole_data["uuid"] and data["tenant_id"] == whole_data["tenant_id"]
    assert data["state"] == whole_data["state"]
    assert data["flavor"]["nova_object.data"]["name"] == whole_data["flavor"]["nova_object.data"]["name"]
    assert data["flavor"]["nova_object.data"]["vcpus"] == whole_data["flavor"]["nova_object.data"]["vcpus"]
    assert "fault" in data
    # dropped: what only reading an event (all its traits) needs
    assert "display_name" in whole_data and "display_name" not in data
    assert "ip_addresses" in whole_data and "ip_addresses" not in data
    assert "image_uuid" not in data and "description" not in data["flavor"]["nova_object.data"]
    # the request context's ids are kept, the rest of the context is not
    assert projected["_context_request_id"] == "req-1" and "_context_roles" not in projected
    assert len(orjson.dumps(projected)) < len(message) / 2


def test_a_projection_is_built_once_per_catalog(catalog: Catalog) -> None:
    assert projection_of(catalog) is projection_of(catalog)
    assert projection_of(Catalog.load()) is not projection_of(catalog)


# --- the same batches -------------------------------------------------------------------------------

def test_every_nova_sample_gives_the_same_batch(catalog: Catalog) -> None:
    samples = _samples()
    batch = assert_same([v2_body(doc["event_type"], doc["payload"], doc["publisher_id"], doc["priority"])
                         for doc in samples.values()], catalog)
    assert batch.size == len(samples) and batch.failures  # error samples among them


def test_other_services_and_legacy_notifications_give_the_same_batch(catalog: Catalog) -> None:
    bodies = [v2_body(event_type, payload, publisher_id) for publisher_id, event_type, payload, *_ in OTHER_SERVICES]
    bodies.append(v2_body("compute.instance.create.end", LEGACY_CREATE_END, "compute.compute-07"))
    bodies.append(v2_body("compute.instance.create.error", {**LEGACY_CREATE_END, "exception": "NoValidHost",
                                                            "message": "No valid host was found."},
                          "compute.compute-07", "ERROR"))
    batch = assert_same(bodies, catalog)
    assert batch.size == len(bodies) and batch.failures


def test_a_namespace_it_does_not_know_is_decoded_whole_once_then_learned() -> None:
    catalog = Catalog.load()  # a projection of its own: this one learns
    sample = _samples()["instance-create-end.json"]
    payload = json.loads(json.dumps(sample["payload"]).replace("nova_object.", "acme_object."))
    body = v2_body(sample["event_type"], payload)
    message = orjson.loads(body)["oslo.message"]
    projection = projection_of(catalog)
    assert projection.decode(message)["payload"] == {}  # nothing under acme_object.data was kept
    batch = assert_same([body], catalog)  # the whole document decided
    assert read_ipc(batch.events).to_pylist()[0]["resource_id"] == sample["payload"]["nova_object.data"]["uuid"]
    data = projection.decode(message)["payload"]["acme_object.data"]  # learned from it
    assert data["uuid"] == sample["payload"]["nova_object.data"]["uuid"]
    assert data["flavor"]["acme_object.data"]["name"]  # nested objects of the namespace too
    assert "display_name" not in data
    assert_same([v2_body(sample["event_type"], payload)], catalog)


def test_an_error_in_a_namespace_not_learned_keeps_its_fault() -> None:
    """compute.exception's resource id comes from the publisher, so it is found without the payload;
    its fault under an unknown namespace's data must still be read (hypothesis found this)."""
    catalog = Catalog.load()  # a projection of its own, that has learned nothing
    sample = _samples()["compute-exception.json"]
    payload = json.loads(json.dumps(sample["payload"]).replace("nova_object.", "acme_object."))
    batch = assert_same([v2_body(sample["event_type"], payload, sample["publisher_id"], "ERROR")], catalog)
    (failure,) = read_ipc(batch.failures).to_pylist()
    assert failure["exception"] == sample["payload"]["nova_object.data"]["exception"]
    assert failure["message"] == sample["payload"]["nova_object.data"]["exception_message"]


def test_a_custom_catalog_with_list_context_and_quoted_paths(tmp_path) -> None:
    (tmp_path / "common.yaml").write_text(
        "common_traits:\n"
        "  project_id: {fields: [context.tenant, data.owner.0.id], type: text}\n"
        "  request_id: {fields: [context.request_id], type: text}\n")
    (tmp_path / "acme.yaml").write_text(
        "service: acme\nprefixes: [widget]\nevents:\n"
        "  widget.*:\n"
        "    description: A widget changed.\n"
        "    resource_type: widget\n"
        "    traits:\n"
        "      resource_id: {fields: ['payload.\"widget.id\"', data.parts.-1.id], type: text}\n"
        "      size: {fields: [data.dimensions.volume], type: float}\n"
        "      state: {fields: [payload.state], type: text, split: {separator: '/', segment: -1}}\n")
    catalog = Catalog.load([tmp_path])
    bodies = [
        v2_body("widget.create.end", {"widget.id": "w-1", "state": "a/b/active", "dimensions": {"volume": "2.5"}},
                extra={"_context_tenant": "t-9"}),
        v2_body("widget.update.end", {"versioned_object.data": {
            "parts": [{"id": "first"}, {"versioned_object.data": {"id": "last"}}],
            "owner": [{"id": "o-1"}], "dimensions": {"versioned_object.data": {"volume": 7}}}}),
        v2_body("widget.delete.end", {"parts": {"-1": {"id": "keyed"}}, "owner": {"0": {"id": "o-2"}}}),
        v2_body("gadget.create.end", {"anything": [1, 2, {"deep": True}]}),  # unknown type: sample kept whole
    ]
    batch = assert_same(bodies, catalog)
    rows = read_ipc(batch.events).to_pylist()
    assert [row["resource_id"] for row in rows[:3]] == ["w-1", "last", "keyed"]
    assert [row["project_id"] for row in rows[:3]] == ["t-9", "o-1", "o-2"]
    assert read_ipc(batch.unknown).to_pylist()[0]["sample"].count("deep") == 1


# --- property: mutated real notifications ------------------------------------------------------------

def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found.extend(_paths(inner, (*prefix, key)))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found.extend(_paths(inner, (*prefix, index)))
    return found


def _replace(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return doc


@st.composite
def mutated_notifications(draw) -> bytes:
    samples = _samples()
    doc = copy.deepcopy(samples[draw(st.sampled_from(sorted(samples)))])
    payload = doc["payload"]
    for _ in range(draw(st.integers(0, 4))):
        paths = _paths(payload)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["value", "drop", "namespace"]))
        if action == "value":
            payload = _replace(payload, path, draw(JSON_VALUES))
        elif action == "drop" and path:
            parent = payload
            for step in path[:-1]:
                parent = parent[step]
            del parent[path[-1]]
        elif action == "namespace":
            text = json.dumps(payload).replace(
                "nova_object.", draw(st.sampled_from(["cinder_object.", "versioned_object.", "acme_object."])), 1)
            payload = json.loads(text)
    event_type = draw(st.sampled_from([doc["event_type"], doc["event_type"].replace("instance", "widget"),
                                       "instance.update", "compute.instance.create.error"]))
    extra = draw(st.dictionaries(st.sampled_from(["_context_project_id", "_context_tenant", "_context_user",
                                                  "_context_request_id", "_context_global_request_id", "_other"]),
                                 JSON_VALUES, max_size=3))
    priority = draw(st.sampled_from(["INFO", "ERROR", "warn"]))
    return v2_body(event_type, payload, doc["publisher_id"], priority, extra)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies=st.lists(mutated_notifications(), min_size=1, max_size=4))
def test_mutated_notifications_give_the_same_batch(catalog: Catalog, bodies: list[bytes]) -> None:
    assert_same(bodies, catalog)


def _wire(body: Any) -> bytes:
    if isinstance(body, dict):
        return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
    return body.encode() if isinstance(body, str) else body


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies=st.lists(garbage_bodies(), min_size=1, max_size=4))
def test_malformed_and_odd_bodies_give_the_same_batch_and_reasons(catalog: Catalog, bodies: list[Any]) -> None:
    assert_same([_wire(body) for body in bodies], catalog)


def test_what_msgspec_refuses_orjson_decides(catalog: Catalog) -> None:
    projection = Projection(catalog)
    deep = '{"payload": {"x": ' + "[" * 1000 + "]" * 1000 + '}, "y": 1}'
    decoded = projection.decode(deep)  # msgspec's depth limit is lower than orjson's: orjson decodes it whole
    assert decoded["y"] == 1  # a key no path reads: the document was decoded whole
    value, depth = decoded["payload"]["x"], 1
    while value:
        value, depth = value[0], depth + 1
    assert depth == 1000
    with pytest.raises(orjson.JSONDecodeError):
        projection.decode('{"payload": ')
    message = ('{"message_id": "m-deep", "event_type": "instance.update", "timestamp": "2026-12-06 04:00:00", '
               '"payload": {"x": ' + "[" * 1020 + "]" * 1020 + "}}")
    too_deep = json.dumps({"oslo.version": "2.0", "oslo.message": message}).encode()
    assert_same([too_deep, b"not json", v2_body("instance.update", {"nova_object.data": 5})], catalog)


# --- the event type read from the text ----------------------------------------------------------------

def _message_text(event_type_json: str, payload_json: str, separator: str = ": ") -> str:
    """An ``oslo.message`` written by hand: the event type and payload spelled as given."""
    return ('{"message_id": "m-1", "publisher_id": "nova-compute:c1", "event_type"' + separator + event_type_json
            + ', "priority": "INFO", "payload": ' + payload_json
            + ', "timestamp": "2026-12-06 04:00:00", "_context_request_id": "req-1", "_context_roles": ["a"]}')


def _on_the_wire(message: str) -> bytes:
    return json.dumps({"oslo.version": "2.0", "oslo.message": message}).encode()


def test_the_event_type_read_ahead_is_confirmed_by_the_document(catalog: Catalog) -> None:
    sample = _samples()["instance-create-end.json"]
    payload = sample["payload"]
    projection = Projection(catalog)
    spellings = {
        "as oslo writes it": _message_text('"instance.create.end"', json.dumps(payload)),
        "compact": _message_text('"instance.create.end"', json.dumps(payload), separator=":"),
        "escaped": _message_text('"instance.create\\u002eend"', json.dumps(payload)),
        # the first "event_type" key is the payload's own, of another type
        "payload's key first": _message_text('"instance.create.end"', json.dumps(payload)).replace(
            '"message_id": "m-1"', '"payload_first": {"event_type": "volume.delete.end"}, "message_id": "m-1"'),
        "spaced": _message_text('"instance.create.end"', json.dumps(payload), separator=" : "),
    }
    for name, message in spellings.items():
        projected = projection.decode(message)
        data = projected["payload"]["nova_object.data"]
        assert projected["event_type"] == "instance.create.end", name
        assert data["uuid"] == payload["nova_object.data"]["uuid"], name  # the type's own keys kept
        assert "display_name" not in data and "_context_roles" not in projected, name  # projected, not whole
    assert_same([_on_the_wire(message) for message in spellings.values()], catalog)
    # no event type, or not a string: refused for the same reason either way
    assert_same([_on_the_wire(_message_text("null", "{}")), _on_the_wire(_message_text("7", "{}")),
                 _on_the_wire(_message_text('["instance.create.end"]', "{}"))], catalog)


def test_a_payload_nested_near_the_depth_limit_gives_the_same_batch(catalog: Catalog) -> None:
    # msgspec's depth limit (about 1,000 levels, less the caller's stack) is lower than orjson's:
    # what it refuses, orjson decodes whole
    projection = Projection(catalog)
    bodies = []
    for depth in (900, *range(990, 1003)):
        message = _message_text('"instance.update"', '{"x": ' + "[" * depth + "]" * depth + "}")
        decoded = projection.decode(message)
        assert decoded["event_type"] == "instance.update"
        if depth == 900:
            assert "_context_roles" not in decoded  # projected
        bodies.append(_on_the_wire(message))
    assert_same(bodies, catalog)
