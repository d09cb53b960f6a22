"""OpenStack to the API: nova's samples sent by oslo.messaging's real Notifier through the real
RabbitMQ, consumed by the server's worker processes ([rabbitmq] enabled), queryable at
/v1/events with their failure summaries — each once, even when a service resends, the broker
restarts under load or a worker is killed — and lifecycle events become metrics."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections import Counter
from pathlib import Path

import psutil
import pytest
from oslo_context import context as oslo_context

from tests.conftest import ServerProcess, wait_for
from tests.support.notifications import PROJECT, failure_fixtures, load_samples, notification, oslo_v2
from tests.support.rabbitmq import (
    Notifiers,
    actl,
    amqp_url,
    ensure_broker_running,
    list_bindings,
    list_queues,
    publish_confirmed,
)

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("broker")]


@pytest.fixture
def consuming_server(tmp_path: Path, vhost: str, broker: None) -> ServerProcess:
    process = ServerProcess(tmp_path / "data", extra_env={
        "NEPHOSCOPE_RABBITMQ_ENABLED": "true", "NEPHOSCOPE_RABBITMQ_URLS": amqp_url(vhost),
        "NEPHOSCOPE_RABBITMQ_EXCHANGES": "nova,cinder", "NEPHOSCOPE_RABBITMQ_BATCH_SECONDS": "0.05",
        "NEPHOSCOPE_RABBITMQ_WORKERS": "2", "NEPHOSCOPE_EVENTS_METRICS_INTERVAL": "1"})
    process.start()
    yield process
    process.stop()


def test_notifications_from_rabbitmq_become_events_and_failures(consuming_server: ServerProcess,
                                                                vhost: str) -> None:
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
    # Failure summaries follow the events within the store's apply interval (half a second).
    failures = wait_for(lambda: user.get("/v1/failures").json()["elements"], 10, "the failure summary")
    time.sleep(1.0)
    failures = user.get("/v1/failures").json()["elements"]
    assert len(failures) == 1, "the same request's error, sent twice, is one failure"
    assert failures[0]["exception"] == "FlavorDiskTooSmall" and failures[0]["request_id"] == "req-e2e-1"
    # The same notification posted again (a resend) is stored once.
    body = notification(samples["instance-create-end"])
    assert user.post("/v1/events", json=[body, body]).json()["new"] == 1


def test_legacy_errors_from_rabbitmq_keep_the_services_reason(consuming_server: ServerProcess, vhost: str) -> None:
    """nova's legacy compute.instance.create.error and cinder's scheduler.create_volume as their
    notifiers send them: the exception object in the payload, written by oslo.messaging's
    JsonPayloadSerializer, through the broker and the consumer's workers to GET /v1/failures."""
    import copy

    from oslo_messaging.serializer import JsonPayloadSerializer

    admin = consuming_server.client()
    wait_for(lambda: _bound(vhost), 30, "the consumer's queues bound to the nova exchange")
    chosen = {name: item for name, item in failure_fixtures() if name in ("nova-legacy[0]", "cinder[0]")}
    notifiers = Notifiers(vhost)
    sent = {}
    try:
        for name, item in chosen.items():
            body = item["notification"]
            payload = copy.deepcopy(body["payload"])
            key = "exception" if "exception" in payload else "reason"
            # the service's exception object (its class named as the service names it)
            error = type(item["expect"]["exception"], (Exception,), {})(item["expect"]["message"])
            payload[key] = error
            exchange = "cinder" if name.startswith("cinder") else "nova"
            notifier = notifiers.get(exchange, "messagingv2", publisher_id=body["publisher_id"],
                                     serializer=JsonPayloadSerializer())
            request_id = f"req-{uuid.uuid4()}"
            context = oslo_context.RequestContext(project_id=item["expect"]["project_id"], user_id="u1",
                                                  request_id=request_id)
            notifier.error(context, body["event_type"], payload)
            sent[request_id] = item["expect"]
    finally:
        notifiers.close()

    def arrived() -> list[dict]:
        found = admin.get("/v1/failures", params={"tenant_id": "*"}).json()["elements"]
        return [f for f in found if f["request_id"] in sent] if len(found) >= len(sent) else []

    failures = wait_for(lambda: len(arrived()) == len(sent) and arrived(), 30, "the failure summaries")
    assert isinstance(failures, list)
    for failure in failures:
        expect = sent[failure["request_id"]]
        assert (failure["exception"], failure["message"]) == (expect["exception"], expect["message"]), failure
        assert failure["resource_id"] == expect["resource_id"] and "without a reason" not in failure["summary"]


def _bound(vhost: str) -> bool:
    return any(source == "nova" and destination.startswith("nephoscope.") for source, destination, _
               in list_bindings(vhost))


def _events(client) -> list[dict]:  # noqa: ANN001
    time.sleep(0.2)
    return client.get("/v1/events", params={"event_type": "instance.*"}).json()["elements"]


def _all_events(admin) -> list[dict]:  # noqa: ANN001
    found, offset = [], None
    while True:
        params = {"tenant_id": "*", "limit": 10000, **({"offset": offset} if offset else {})}
        page = admin.get("/v1/events", params=params).json()
        found += page["elements"]
        link = next((link["href"] for link in page.get("links", []) if link["rel"] == "next"), None)
        if not link:
            return found
        offset = link.split("offset=")[1].split("&")[0]


def _workers(server: ServerProcess) -> list[psutil.Process]:
    return [child for child in psutil.Process(server.process.pid).children()
            if "multiprocessing" in " ".join(child.cmdline()) and "spawn_main" in " ".join(child.cmdline())]


def test_broker_restart_and_a_killed_worker_under_load_lose_nothing_and_store_nothing_twice(
        consuming_server: ServerProcess, vhost: str) -> None:
    total = 3000
    ids = [str(uuid.uuid4()) for _ in range(total)]
    bodies = {mid: oslo_v2(mid, pad=1500) for mid in ids}
    admin = consuming_server.client(consuming_server.admin_token)
    wait_for(lambda: _bound(vhost), 30, "the consumer's queues bound to the nova exchange")
    workers = _workers(consuming_server)
    assert len(workers) == 2, "two worker processes consume"

    async def disrupt(confirmed: set[str]) -> None:
        deadline = time.monotonic() + 60
        while len(confirmed) < 1000 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        os.kill(workers[0].pid, signal.SIGKILL)  # its unacked messages go back to the queue
        while len(confirmed) < 2000 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        try:
            await actl("stop_app")
            await asyncio.sleep(1.0)
        finally:
            await asyncio.to_thread(ensure_broker_running)

    async def scenario() -> Counter:
        confirmed: set[str] = set()
        counters: Counter = Counter()
        await asyncio.wait_for(asyncio.gather(publish_confirmed(vhost, ids, bodies, confirmed, counters, 0.03),
                                              disrupt(confirmed)), 120)
        return counters

    try:
        asyncio.run(scenario())
    finally:
        ensure_broker_running()
    events = wait_for(lambda: (found := _all_events(admin)) and len(found) >= total and found, 60,
                      f"all {total} events through the API")
    time.sleep(1.0)  # anything stored twice would show up by now
    events = _all_events(admin)
    assert Counter(e["message_id"] for e in events) == Counter(ids), "every notification once"
    stats = wait_for(lambda: (s := _consumer_stats(admin)) and s.get("connected") and s, 30, "consumers back")
    assert stats["restarts"] >= 1 and stats["workers"] == 2, stats
    queue = list_queues(vhost)["nephoscope.cell0.notifications"]
    assert queue["messages_ready"] == queue["messages_unacknowledged"] == 0


def _consumer_stats(admin) -> dict:  # noqa: ANN001
    return admin.get("/v1/admin/events").json()["consumers"]["cell0"]


def test_lifecycle_events_become_metrics_per_project(consuming_server: ServerProcess,
                                                      vhost: str) -> None:
    samples = {name.removesuffix(".json"): sample for name, sample in load_samples().items()}
    user = consuming_server.client(consuming_server.create_key(PROJECT, "monasca-user"))
    other = consuming_server.client(consuming_server.create_key("another-project", "monasca-user"))
    wait_for(lambda: _bound(vhost), 30, "the consumer's queues bound to the nova exchange")
    notifiers = Notifiers(vhost)
    created = samples["instance-create-end"]
    try:
        context = oslo_context.RequestContext(project_id=PROJECT, user_id="u1", request_id="req-life-1")
        notifier = notifiers.get("nova", "messagingv2", topic="versioned_notifications")
        for number in range(3):  # three instances of the sample's flavor, one of them deleted afterwards
            payload = json.loads(json.dumps(created["payload"]))
            payload["nova_object.data"]["uuid"] = f"00000000-0000-0000-0000-00000000000{number}"
            notifier.info(context, created["event_type"], payload)
        deleted = json.loads(json.dumps(samples["instance-delete-end"]["payload"]))
        deleted["nova_object.data"]["uuid"] = "00000000-0000-0000-0000-000000000002"
        notifier.info(context, "instance.delete.end", deleted)
    finally:
        notifiers.close()
    flavor = created["payload"]["nova_object.data"]["flavor"]["nova_object.data"]
    data = created["payload"]["nova_object.data"]

    def live() -> dict:
        found = user.get("/v2.0/metrics/measurements", params={
            "name": "openstack.instances", "start_time": "2000-01-01T00:00:00Z", "merge_metrics": "true",
            "dimensions": f"state:{data['state']}"}).json()["elements"]
        return found[0]["measurements"][-1] if found and found[0]["measurements"] else {}

    last = wait_for(lambda: (m := live()) and m[1] == 2 and m, 30, "two live instances counted")
    assert last[1] == 2
    vcpus = user.get("/v2.0/metrics/measurements", params={
        "name": "openstack.instances.vcpus", "start_time": "2000-01-01T00:00:00Z", "merge_metrics": "true"}).json()
    assert vcpus["elements"][0]["measurements"][-1][1] == 2 * flavor["vcpus"]
    # Another project sees none of it.
    assert other.get("/v2.0/metrics", params={"name": "openstack.instances"}).json()["elements"] == []
