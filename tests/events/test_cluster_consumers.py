"""Competing RabbitMQ consumers (issue 21, point 6), on the real broker and the session's engines.

Two consumer processes share the same queues (same broker settings, so the same queue names) and
store into the clustered events store. Real oslo.messaging notifiers publish; some notifications
are published twice with the same message id (a service's resend); one consumer is killed -9
mid-way, so what it held unacknowledged is delivered again, to the other. Every notification is
stored exactly once, cluster-wide, as a new node reading the stream and S3 sees.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from dataclasses import asdict
from pathlib import Path

import orjson
import pika
import pytest

from nephoscope.config import ClusterSettings
from nephoscope.events.store import EventQuery, EventStore
from nephoscope.tenancy import ALL_TENANTS
from tests.conftest import stop_process, wait_for
from tests.support.cluster import cluster_settings
from tests.support.notifications import oslo_v2
from tests.support.rabbitmq import Notifiers, amqp_url, list_queues

pytestmark = pytest.mark.usefixtures("broker")  # tests/conftest.py: skipped without one (failed under CI)

ROOT = Path(__file__).resolve().parents[2]
NOTIFIED = 300
RESENT = 40


def start_consumer(settings: ClusterSettings, broker: dict, data: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "tests.support.cluster_consumer", orjson.dumps(asdict(settings)),
                                orjson.dumps(broker), str(data)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "ready", "a consumer did not start"
    return process


def resend(vhost: str, message_ids: list[str]) -> None:
    """Publish messagingv2 bodies with these message ids (a service sending a notification again)."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url(vhost)))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for message_id in message_ids:
            channel.basic_publish("nova", "notifications.info", oslo_v2(message_id, "compute.instance.update"),
                                  pika.BasicProperties(delivery_mode=2))
    finally:
        connection.close()


def test_two_consumers_on_the_same_queues_store_every_notification_once(nats_cluster, seaweed,  # noqa: ANN001
                                                                        vhost: str, tmp_path: Path) -> None:
    settings = cluster_settings(nats_cluster, seaweed, f"c{uuid.uuid4().hex[:10]}")
    broker = {"url": amqp_url(vhost), "exchanges": ["nova"], "topics": ["notifications"], "name": "cell1",
              "queue_prefix": f"nephoscope-{uuid.uuid4().hex[:8]}", "batch_size": 25, "batch_seconds": 0.05,
              "prefetch": 200, "reconnect_max": 2.0}
    consumers = [start_consumer(settings, broker, tmp_path / name) for name in ("a", "b")]
    reader = EventStore(tmp_path / "reader", cluster=settings, owned_partitions=tuple)
    notifiers = Notifiers(vhost)
    try:
        queue = f"{broker['queue_prefix']}.cell1.notifications"
        assert list_queues(vhost)[queue]["consumers"] == 2  # one queue, two competing consumers
        notifier = notifiers.get("nova", "messagingv2")

        def notify(numbers: range) -> None:
            for n in numbers:
                notifier.info({"request_id": f"req-{n}", "project_id": "p1"}, "compute.instance.create.end",
                              {"instance_id": f"i-{n % 17}", "n": n})

        def stored() -> int:
            reader.table.sync()
            return reader.count()

        resent = [f"resent-{k}" for k in range(RESENT)]
        notify(range(NOTIFIED // 2))
        resend(vhost, resent)
        wait_for(lambda: stored() >= 50, timeout=30, what="the consumers to store the first notifications")
        consumers[0].kill()  # kill -9 while it holds deliveries: the broker gives them to the other
        consumers[0].wait(10)
        notify(range(NOTIFIED // 2, NOTIFIED))
        resend(vhost, resent)  # the same notifications again, to the surviving consumer
        wait_for(lambda: stored() >= NOTIFIED + RESENT, timeout=60, what="every notification to be stored")
        wait_for(lambda: (list_queues(vhost)[queue]["messages_ready"], list_queues(vhost)[queue][
            "messages_unacknowledged"]) == (0, 0), timeout=30, what="the queue to be drained and acknowledged")
        time.sleep(0.5)  # nothing more arrives late
        ids = [e.message_id for e in reader.query(ALL_TENANTS, EventQuery(), None, 10_000)]
        assert len(ids) == stored() == NOTIFIED + RESENT
        assert len(set(ids)) == len(ids)  # each exactly once
        assert set(resent) <= set(ids)
        created = reader.query(ALL_TENANTS, EventQuery(event_type="compute.instance.create.end"), None, 10_000)
        assert len(created) == NOTIFIED  # the notifier's own, each once
    finally:
        notifiers.close()
        reader.close()
        for consumer in consumers:
            stop_process(consumer)
