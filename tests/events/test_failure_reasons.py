"""Failure summaries keep the service's own reason, for every shape the services really send:
nova's legacy (``exception_to_dict``) and versioned (``ExceptionPayload``) notifications, cinder's
scheduler and API errors, glance's upload errors, heat's stack and autoscaling errors
(tests/events/data/failures/README.md says where each comes from), through POST /v1/events and
GET /v1/failures, and through the consumer's projected decoding."""

from __future__ import annotations

import copy
import json
import time
import uuid

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nephoscope.events.batch import from_bodies
from nephoscope.events.catalog import Catalog
from nephoscope.events.envelope import parse_notification
from nephoscope.events.failures import failure_of, split_repr
from tests.conftest import ServerProcess
from tests.support.notifications import LEGACY_CREATE_END, failure_fixtures, notification, nova_samples

NO_REASON = "without a reason"
FIXTURES = failure_fixtures()


def _fresh(item: dict, run: str, index: int) -> dict:
    """The fixture's notification as sent now, with ids of its own (the shared server keeps
    what other tests posted)."""
    body = copy.deepcopy(item["notification"])
    body["message_id"] = str(uuid.uuid4())
    body["timestamp"] = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime())
    if "_context_request_id" in body:
        body["_context_request_id"] = f"req-{run}-{index}"
    return body


def _exception_payloads(value: object) -> list[dict]:
    """Every ExceptionPayload in a nova sample, outermost first."""
    found = []
    if isinstance(value, dict):
        if value.get("nova_object.name") == "ExceptionPayload":
            found.append(value["nova_object.data"])
        for item in value.values():
            found += _exception_payloads(item)
    elif isinstance(value, list):
        for item in value:
            found += _exception_payloads(item)
    return found


def test_failures_keep_the_services_reason_through_the_api(shared_server: ServerProcess) -> None:
    admin = shared_server.client()
    run = uuid.uuid4().hex[:8]
    bodies = [_fresh(item, run, index) for index, (_, item) in enumerate(FIXTURES)]
    answer = admin.post("/v1/events", json=bodies)
    assert answer.status_code == 200, answer.text
    failures = admin.get("/v1/failures", params={"tenant_id": "*", "limit": 1000}).json()["elements"]
    by_message = {failure["message_id"]: failure for failure in failures}
    for (name, item), body in zip(FIXTURES, bodies, strict=True):
        failure = by_message.get(body["message_id"])
        assert failure is not None, f"{name}: no failure for {body['event_type']}"
        expect = item["expect"]
        assert failure["message"] == expect["message"], name
        assert failure["exception"] == expect["exception"], name
        # The summary says it in the service's words (or plainly, with the service's words after);
        # "without a reason" only where the service really sends none (glance's task.failure, image.send).
        assert (NO_REASON in failure["summary"]) == (not expect["message"]), name
        assert expect["message"].rstrip(". ") in failure["summary"], name
        assert (failure["resource_id"], failure["project_id"]) == (expect["resource_id"], expect["project_id"]), name
        assert failure["request_id"] == body.get("_context_request_id", ""), name


def test_every_versioned_nova_error_sample_keeps_its_exception(shared_server: ServerProcess) -> None:
    admin = shared_server.client()
    samples = {name: sample for name, sample in nova_samples().items() if sample["priority"] == "ERROR"}
    assert len(samples) >= 10
    run = uuid.uuid4().hex[:8]
    bodies = {name: notification(sample, request_id=f"req-{run}-{name}") for name, sample in samples.items()}
    assert admin.post("/v1/events", json=list(bodies.values())).status_code == 200
    failures = admin.get("/v1/failures", params={"tenant_id": "*", "limit": 1000}).json()["elements"]
    by_message = {failure["message_id"]: failure for failure in failures}
    for name, sample in samples.items():
        (fault, *_) = _exception_payloads(sample["payload"])
        failure = by_message.get(bodies[name]["message_id"])
        assert failure is not None, name
        assert (failure["exception"], failure["message"]) == (fault["exception"], fault["exception_message"]), name
        assert NO_REASON not in failure["summary"], name


@pytest.mark.parametrize("name, item", FIXTURES, ids=[name for name, _ in FIXTURES])
def test_the_consumers_projected_decoding_keeps_what_failures_read(name: str, item: dict) -> None:
    """Off the broker a body is decoded only as far as storing reads it (events.projection): the
    failure must be the one the whole document gives."""
    catalog = Catalog.load()
    body = orjson.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(item["notification"])})
    projected = from_bodies([(body, "nova", "notifications.error")], catalog)
    whole = from_bodies([(body, "nova", "notifications.error")], catalog, whole=True)
    assert projected.failure_table().to_pylist() == whole.failure_table().to_pylist(), name
    (row,) = whole.failure_table().to_pylist()
    assert row["message"] == item["expect"]["message"], name


def test_successes_are_no_failures() -> None:
    """A legacy ``.end`` carries message "Success", a heat stack's state_reason says it completed:
    neither is a failure."""
    catalog = Catalog.load()
    end = {"message_id": str(uuid.uuid4()), "publisher_id": "compute.compute-07", "priority": "INFO",
           "event_type": "compute.instance.create.end", "payload": LEGACY_CREATE_END,
           "timestamp": "2026-12-07 09:00:00.000000"}
    heat = next(item for name, item in FIXTURES if name.startswith("heat"))["notification"]
    complete = dict(heat, event_type="orchestration.stack.create.end", priority="INFO",
                    payload=dict(heat["payload"], state="CREATE_COMPLETE",
                                 state_reason="Stack CREATE completed successfully"))
    for body in (end, complete):
        assert failure_of(catalog.to_event(parse_notification(body))) is None, body["event_type"]


_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,30}", fullmatch=True)


@given(_NAMES, st.text(max_size=200))
def test_an_exception_repr_gives_back_its_name_and_message(name: str, message: str) -> None:
    """What oslo.messaging's JsonPayloadSerializer writes for an exception (its repr) parses back."""
    error = type(name, (Exception,), {})(message)
    assert split_repr(repr(error)) == (name, message.strip())


@given(st.text(max_size=200).filter(lambda text: not text.strip().endswith(")")))
def test_a_plain_message_is_kept_as_it_is(text: str) -> None:
    """Only a repr is taken apart: any other text is the message, whole."""
    assert split_repr(text) == ("", text.strip())
