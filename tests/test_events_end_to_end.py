"""OpenStack to the API: nova's samples sent by oslo.messaging's real Notifier through the real
RabbitMQ, consumed by the server ([rabbitmq] enabled), queryable at /v1/events with their
failure summaries — each once, even when a service resends."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from oslo_context import context as oslo_context

from tests.conftest import ServerProcess, wait_for
from tests.test_events_api import PROJECT, notification
from tests.test_events_catalog import load_samples
from tests.test_events_consumer import Notifiers, amqp_url, broker, vhost, vhosts  # noqa: F401 - fixtures

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def consuming_server(tmp_path: Path, vhost: str, broker: None) -> ServerProcess:  # noqa: F811
    process = ServerProcess(tmp_path / "data", extra_env={
        "NEPHOSCOPE_RABBITMQ_ENABLED": "true", "NEPHOSCOPE_RABBITMQ_URLS": amqp_url(vhost),
        "NEPHOSCOPE_RABBITMQ_EXCHANGES": "nova,cinder", "NEPHOSCOPE_RABBITMQ_BATCH_SECONDS": "0.05"})
    process.start()
    yield process
    process.stop()


def test_notifications_from_rabbitmq_become_events_and_failures(consuming_server: ServerProcess,
                                                                vhost: str) -> None:  # noqa: F811
    samples = {name.removesuffix(".json"): sample for name, sample in load_samples().items()}
    chosen = ["instance-create-start", "instance-create-end", "instance-create-error", "instance-delete-end"]
    user = consuming_server.client(consuming_server.create_key(PROJECT, "monasca-user"))
    wait_for(lambda: _bound(vhost), 30, "the consumer's queues bound to the nova exchange")
    notifiers = Notifiers(vhost)
    try:
        context = oslo_context.RequestContext(project_id=PROJECT, user_id="u1", request_id="req-e2e-1")
        for driver in ("messagingv2", "messaging"):
            notifier = notifiers.get("nova", driver, topic="versioned_notifications")
            for name in chosen:
                sample = samples[name]
                send = notifier.error if sample["priority"] == "ERROR" else notifier.info
                send(context, sample["event_type"], sample["payload"])
    finally:
        notifiers.close()
    events = wait_for(lambda: len(_events(user)) >= 2 * len(chosen) and _events(user), 30, "the events")
    assert sorted(e["event_type"] for e in events) == sorted(2 * [samples[n]["event_type"] for n in chosen])
    assert {e["request_id"] for e in events} == {"req-e2e-1"} and {e["project_id"] for e in events} == {PROJECT}
    failures = user.get("/v1/failures").json()["elements"]
    assert len(failures) == 1, "the same request's error, sent twice, is one failure"
    assert failures[0]["exception"] == "FlavorDiskTooSmall" and failures[0]["request_id"] == "req-e2e-1"
    # The same notification posted again (a resend) is stored once.
    body = notification(samples["instance-create-end"])
    assert user.post("/v1/events", json=[body, body]).json()["new"] == 1


def _bound(vhost: str) -> bool:  # noqa: F811
    from tests.test_events_consumer import list_bindings

    return any(source == "nova" and destination.startswith("nephoscope.") for source, destination, _
               in list_bindings(vhost))


def _events(client) -> list[dict]:  # noqa: ANN001
    time.sleep(0.2)
    return client.get("/v1/events", params={"event_type": "instance.*"}).json()["elements"]
