"""The whole cluster under load loses nothing and notifies once when each kind of node dies.

`nephoscope serve --role …` processes on the module's own three-node JetStream cluster (one of its
nodes is killed), the session's SeaweedFS, a PostgreSQL metadata database and a RabbitMQ vhost of
the test's own: two API nodes, two ingesters, a querier, two evaluators (each also a RabbitMQ
consumer) and a notifier. Through both API nodes (the other when one is gone) run a steady Monasca
load (every acknowledged batch recorded), log lines and events (POST /v1/logs, /v1/events; every
acknowledged one recorded), and a ``flip`` metric whose hosts breach ``max(flip) > 5`` in alternate
minutes, so its alarms go back and forth; every action is a webhook to a real HTTP receiver.
Notifications are published to RabbitMQ meanwhile. Killed -9 in turn: an API node, an ingester, an
evaluator (and consumer), the notifier (then started again: it is the only one) and a JetStream node.

Afterwards every acknowledged sample, log line and event reads back through the querier, every
notification published to RabbitMQ is stored exactly once, and every
transition in the alarm history reached the receiver under its own idempotency key — none missing,
none unrecorded, a key posted twice at most once (the notifier killed in the middle of a send cannot
know whether the receiver got it; the receiver keeping the key sees one delivery). Last, an alarm's
state changed and another deleted through the surviving API node reach the evaluator holding them.
"""

from __future__ import annotations

import copy
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN, ServerProcess, missing, wait_for
from tests.support.cluster import NatsCluster, SeaweedS3
from tests.support.cluster_nodes import HOSTS, WRITERS, Writer, cluster_env, iso, shows, start_nodes
from tests.support.notifications import PROJECT, SAMPLE_DOCS, notification
from tests.support.receivers import Receiver

# Not in the engines' lane (tests/lanes.py): its consumers need the machine's RabbitMQ, which some
# tests of the main lane stop; RabbitMQ tests stay in the main lane.

LEASE_SECONDS = 3
FLIP_HOSTS = ("f0", "f1", "f2", "f3")
INSTANCES = [str(uuid.UUID(int=i + 1)) for i in range(8)]  # events spread over the partitions by resource
# The consumers ride on the evaluator nodes: the evaluator's kill is also a consumer's, whose
# unacknowledged deliveries the broker gives to the other.
ROLES = ["api", "api", "ingester", "ingester", "querier", "evaluator,consumer", "evaluator,consumer", "notifier"]


@dataclass
class WholeCluster:
    nats: NatsCluster
    nodes: list[ServerProcess]
    receiver: Receiver
    vhost: str

    def role(self, name: str) -> list[ServerProcess]:
        return [node for node, roles in zip(self.nodes, ROLES) if name in roles.split(",")]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    from tests.support.sql import create_database, drop_database

    name = f"nephoscope_whole_{os.getpid()}"
    try:
        url = create_database("postgresql", name)
    except Exception as error:  # noqa: BLE001 - the server is absent
        missing(f"PostgreSQL at 127.0.0.1:5432 ({error})", "make services starts PostgreSQL")
    yield url
    drop_database("postgresql", name)


@pytest.fixture(scope="module")
def whole(seaweed: SeaweedS3, postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WholeCluster]:
    from tests.support.rabbitmq import amqp_url, broker_problem, ctl, list_queues

    problem = broker_problem()
    if problem:
        missing(problem, "make services starts RabbitMQ")
    vhost = f"nephoscope-whole-{uuid.uuid4().hex[:10]}"
    ctl("add_vhost", vhost)
    ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    root = tmp_path_factory.mktemp("whole")
    nats = NatsCluster(root / "nats").start()  # the module's own: one of its nodes is killed
    name = f"whole{os.getpid()}{time.time_ns() % 10**9}"
    env = {**cluster_env(nats, seaweed, name, LEASE_SECONDS),
           "NEPHOSCOPE_CLUSTER_SQL_URL": postgres_url,
           "NEPHOSCOPE_CLUSTER_EVENTS_STREAM": f"EVENTS_{name}", "NEPHOSCOPE_CLUSTER_EVENTS_SUBJECT_PREFIX":
               f"{name}.events", "NEPHOSCOPE_CLUSTER_EVENTS_PREFIX": f"{name}/events",
           "NEPHOSCOPE_CLUSTER_LOGS_STREAM": f"LOGS_{name}", "NEPHOSCOPE_CLUSTER_LOGS_SUBJECT_PREFIX": f"{name}.logs",
           "NEPHOSCOPE_CLUSTER_LOGS_PREFIX": f"{name}/logs",
           # A minute closes two seconds after its end: the alarms flip within the test's minutes.
           "NEPHOSCOPE_ALARMS_GRACE_SECONDS": "2",
           "NEPHOSCOPE_RABBITMQ_ENABLED": "true", "NEPHOSCOPE_RABBITMQ_URLS": amqp_url(vhost),
           "NEPHOSCOPE_RABBITMQ_EXCHANGES": "nova", "NEPHOSCOPE_RABBITMQ_TOPICS": "notifications",
           "NEPHOSCOPE_RABBITMQ_WORKERS": "1", "NEPHOSCOPE_RABBITMQ_BATCH_SECONDS": "0.05"}
    receiver = Receiver().start()
    nodes: list[ServerProcess] = []
    try:
        nodes = start_nodes(env, root, ROLES)
        # The consumers' worker processes declare and bind the queue after the nodes answer: a
        # notification published before is confirmed by the broker and routed nowhere.
        queue = "nephoscope.cell0.notifications"
        wait_for(lambda: list_queues(vhost).get(queue, {}).get("consumers") == 2, 60, "both consumers on the queue")
        yield WholeCluster(nats, nodes, receiver, vhost)
    finally:
        for node in nodes:
            node.stop()
        receiver.stop()
        nats.stop()
        ctl("delete_vhost", vhost)


class Broker(threading.Thread):
    """Every quarter second a notification (a new message id) through RabbitMQ, as nova sends one:
    for the competing consumers; each published one (confirmed by the broker) is recorded."""

    def __init__(self, vhost: str) -> None:
        super().__init__(name="broker-notifications", daemon=True)
        self.vhost = vhost
        self.published: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        import pika

        from tests.support.notifications import oslo_v2
        from tests.support.rabbitmq import amqp_url

        connection = pika.BlockingConnection(pika.URLParameters(amqp_url(self.vhost)))
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            while not self.stop.wait(0.25):
                message_id = f"amqp-{uuid.uuid4()}"
                channel.basic_publish("nova", "notifications.info", oslo_v2(message_id),
                                      pika.BasicProperties(delivery_mode=2))
                self.published.append(message_id)
        finally:
            connection.close()


class Side(threading.Thread):
    """Every half second through its API node (the other when that one does not answer): the flip
    samples of the current minute, two log lines and two events; each retried as it was until
    acknowledged, and recorded then."""

    def __init__(self, name: str, urls: list[str]) -> None:
        super().__init__(name=f"side-{name}", daemon=True)
        self.side = name
        self.urls = urls
        self.lines: list[str] = []
        self.events: list[str] = []
        self.flips = 0
        self.unexpected: list[str] = []  # answers other than 2xx or a 503 to retry
        self.stop = threading.Event()
        self._node = 0

    def _post(self, clients: list[httpx.Client], path: str, **kwargs: object) -> bool:
        while not self.stop.is_set():
            try:
                response = clients[self._node].post(path, **kwargs)
            except httpx.HTTPError:
                self._node = 1 - self._node  # that API node is gone: the other one
                continue
            if response.is_success:
                return True
            if response.status_code != 503:  # 503: a leader election, the same request again
                self.unexpected.append(f"{path}: {response.status_code} {response.text[:200]}")
            time.sleep(0.2)
        return False

    def run(self) -> None:
        clients = [httpx.Client(base_url=url, headers={"X-Auth-Token": ADMIN_TOKEN}, timeout=15) for url in self.urls]
        sample = SAMPLE_DOCS["instance-power_on-end.json"]
        round_ = 0
        while not self.stop.is_set():
            now = time.time()
            minute = int(now // 60)
            flips = [{"name": "flip", "dimensions": {"side": self.side, "hostname": host},
                      "timestamp": int(now * 1000), "value": 10.0 if (minute + i) % 2 == 0 else 1.0}
                     for i, host in enumerate(FLIP_HOSTS)]
            if self._post(clients, "/v2.0/metrics", json=flips):
                self.flips += 1
            stamp = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
            lines = [f"{stamp} 7 INFO nova.compute.manager [req-{uuid.uuid4()} u1 {PROJECT} - - -] "
                     f"whole {self.side} line {round_} {k}" for k in range(2)]
            if self._post(clients, "/v1/logs", params={"tenant_id": PROJECT},
                          json={"source": {"service": "nova", "host": f"side-{self.side}"}, "lines": lines}):
                self.lines += [f"whole {self.side} line {round_} {k}" for k in range(2)]
            events = []
            for k in range(2):
                body = notification(copy.deepcopy(sample), PROJECT, f"req-whole-{self.side}-{round_}")
                body["payload"]["nova_object.data"]["uuid"] = INSTANCES[(round_ * 2 + k) % len(INSTANCES)]
                body["timestamp"] = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
                events.append(body)
            if self._post(clients, "/v1/events", json=events):
                self.events += [e["message_id"] for e in events]
            round_ += 1
            self.stop.wait(0.5)
        for client in clients:
            client.close()


def pages(client: httpx.Client, path: str, params: dict) -> list[dict]:
    """Every element of a paged native listing (following its next links)."""
    found: list[dict] = []
    params = dict(params)
    while True:
        response = client.get(path, params=params, timeout=60)
        assert response.status_code == 200, response.text
        body = response.json()
        found += body["elements"]
        following = [link["href"] for link in body.get("links", []) if link.get("rel") == "next"]
        if not following:
            return found
        params["offset"] = parse_qs(urlparse(following[0]).query)["offset"][0]


def transitions(client: httpx.Client) -> set[tuple[str, str, str, int]]:
    """The alarm history: (alarm, old state, new state, second) of every transition."""
    history = pages(client, "/v2.0/alarms/state-history", {"limit": 1000})
    return {(h["alarm_id"], h["old_state"], h["new_state"],
             int(datetime.fromisoformat(h["timestamp"].replace("Z", "+00:00")).timestamp())) for h in history}


def delivered(receiver: Receiver) -> tuple[set[tuple[str, str, str, int]], Counter]:
    with receiver.lock:
        bodies = [r.body for r in receiver.received if r.path == "/hook"]
    return ({(b["alarm_id"], b["old_state"], b["state"], int(b["alarm_timestamp"])) for b in bodies},
            Counter(b["idempotency_key"] for b in bodies))


@pytest.mark.slow
def test_nothing_acknowledged_is_lost_and_each_transition_is_notified_once(whole: WholeCluster) -> None:
    api, querier = whole.role("api"), whole.role("querier")[0]
    with api[0].client() as client:
        response = client.post("/v2.0/notification-methods", json={
            "name": "hook", "type": "WEBHOOK", "address": f"{whole.receiver.url}/hook"})
        assert response.status_code in (200, 201), response.text
        method = response.json()["id"]
        response = client.post("/v2.0/alarm-definitions", json={
            "name": "flipping", "expression": "max(flip) > 5", "match_by": ["side", "hostname"],
            "alarm_actions": [method], "ok_actions": [method], "undetermined_actions": [method]})
        assert response.status_code in (200, 201), response.text
    start_ms = (int(time.time()) - 1800) * 1000
    writers = [Writer(name, [n.url for n in (api if i == 0 else api[::-1])], start_ms + i * 600_000)
               for i, name in enumerate(WRITERS)]
    sides = [Side(name, [n.url for n in (api if i == 0 else api[::-1])]) for i, name in enumerate(("a", "b"))]
    broker = Broker(whole.vhost)
    for thread in (*writers, *sides, broker):
        thread.start()
    began = time.monotonic()
    try:
        time.sleep(15)
        api[0].kill9()
        time.sleep(10)
        whole.role("ingester")[0].kill9()
        time.sleep(12)
        whole.role("evaluator")[0].kill9()
        time.sleep(12)
        notifier = whole.role("notifier")[0]
        notifier.kill9()
        time.sleep(3)
        notifier.start(timeout=120)
        time.sleep(5)
        whole.nats.kill(2)
        # Load through at least one more minute boundary, so alarms flip after every kill.
        time.sleep(max(10.0, 100 - (time.monotonic() - began)))
    finally:
        for thread in (*writers, *sides, broker):
            thread.stop.set()
        for thread in (*writers, *sides, broker):
            thread.join(timeout=30)
    load_seconds = time.monotonic() - began
    assert all(len(w.acknowledged) > 100 for w in writers), [len(w.acknowledged) for w in writers]
    assert [s.unexpected for s in sides] == [[], []]
    assert all(len(s.events) > 50 and len(s.lines) > 50 and s.flips > 25 for s in sides), \
        [(len(s.events), len(s.lines), s.flips) for s in sides]

    # Every acknowledged sample, through the querier (a series at a time: a page holds 10,000). A
    # write is acknowledged at JetStream's ack, applied by its ingester moments later: read again
    # for a few seconds before calling a batch lost.
    def read_samples() -> dict[tuple[str, str], dict[str, float]]:
        found: dict[tuple[str, str], dict[str, float]] = {}
        with querier.client() as client:
            for writer in writers:
                for host in HOSTS:
                    response = client.get("/v2.0/metrics/measurements", params={
                        "name": "load.value", "dimensions": f"writer:{writer.writer},hostname:{host}",
                        "start_time": iso(start_ms - 1000), "limit": 10000}, timeout=60)
                    assert response.status_code == 200, response.text
                    for element in response.json()["elements"]:
                        found.setdefault((writer.writer, host), {}).update(
                            {r[0]: r[1] for r in element["measurements"]})
        return found

    deadline = time.monotonic() + 20
    while True:
        found = read_samples()
        lost = [(w.writer, i) for w in writers for i in w.acknowledged if not shows(found, w, i)]
        if not lost or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert lost == [], (f"{len(lost)} acknowledged batches not read back, e.g. {lost[:5]} "
                        f"(last acknowledged: {[w.acknowledged[-1] for w in writers]})")

    begin = iso(start_ms)  # before the load
    with querier.client() as client:
        # Every acknowledged log line and event, through the querier.
        def readable() -> tuple[set[str], set[str]]:
            lines = pages(client, "/v1/logs", {"tenant_id": PROJECT, "q": "whole", "start_time": begin,
                                              "limit": 1000, "facets": "false"})
            events = pages(client, "/v1/events", {"tenant_id": PROJECT, "event_type": "instance.power_on.end",
                                                  "start_time": begin, "limit": 1000})
            return ({line["message"].split("] ", 1)[-1] for line in lines}, {e["message_id"] for e in events})

        lines, events = readable()
        wanted_lines = {line for s in sides for line in s.lines}
        wanted_events = {message for s in sides for message in s.events}
        assert wanted_lines - lines == set(), f"{len(wanted_lines - lines)} acknowledged log lines missing"
        assert wanted_events - events == set(), f"{len(wanted_events - events)} acknowledged events missing"

        # Every transition in the history delivered, under one idempotency key each.
        deadline = time.monotonic() + 60
        while True:
            history = transitions(client)
            sent, keys = delivered(whole.receiver)
            if history and history == sent or time.monotonic() > deadline:
                break
            time.sleep(1)
    with whole.role("evaluator")[1].client() as client:  # the survivor holds every evaluator partition
        status = client.get("/v1/admin/alarm-engine").json()
    assert status["evaluator_partitions"] == 4 and status["instances"] == len(FLIP_HOSTS) * 2, status
    print(f"load {load_seconds:.0f}s: {sum(len(w.acknowledged) for w in writers)} metric batches, "
          f"{len(wanted_lines)} log lines, {len(wanted_events)} events acknowledged, {len(broker.published)} "
          f"notifications through RabbitMQ; {len(history)} transitions, "
          f"{sum(keys.values())} webhooks for {len(keys)} keys")
    # Every alarm (side × host) got a state, and alarms flipped between OK and ALARM after it.
    assert len({alarm for alarm, *_ in history}) == len(FLIP_HOSTS) * 2, history
    assert any(old != "UNDETERMINED" for _, old, _, _ in history), history
    assert history - sent == set(), f"transitions never delivered: {sorted(history - sent)[:5]}"
    assert sent - history == set(), f"deliveries of no recorded transition: {sorted(sent - history)[:5]}"
    assert len(keys) == len(history), "one idempotency key per transition"
    repeated = {key: count for key, count in keys.items() if count > 1}
    assert sum(count - 1 for count in repeated.values()) <= 1, repeated  # at most the send cut by the kill

    # Every notification published to RabbitMQ, stored exactly once by the competing consumers.
    with querier.client() as client:
        deadline = time.monotonic() + 60
        while True:
            consumed = Counter(e["message_id"] for e in pages(client, "/v1/events", {
                "event_type": "compute.instance.update", "start_time": "2025-12-31T00:00:00Z", "limit": 1000}))
            if set(broker.published) <= set(consumed) or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert len(broker.published) > 100
        assert max(consumed.values()) == 1, "each notification stored once"
        assert set(consumed) <= set(broker.published)
        unstored = set(broker.published) - set(consumed)
    # Their stamp is 2026-01-01, older than the events' retention: kept all the same once acknowledged
    # (once, parts holding only them were dropped at the next upkeep: this test found it).
    assert unstored == set(), (f"{len(unstored)} of {len(broker.published)} notifications confirmed by RabbitMQ "
                               "were never stored")

    # API changes to alarms, through the surviving API node, reach the evaluator that holds them.
    changed, deleted = sorted({alarm for alarm, *_ in history})[:2]
    with api[1].client() as client:
        current = client.get(f"/v2.0/alarms/{changed}").json()["state"]
        wanted = "OK" if current == "ALARM" else "ALARM"
        response = client.patch(f"/v2.0/alarms/{changed}", json={"state": wanted, "lifecycle_state": "ACKNOWLEDGED",
                                                                  "link": "http://tickets/42"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["state"], body["lifecycle_state"], body["link"]) == (wanted, "ACKNOWLEDGED", "http://tickets/42")
        reasons = [h["reason"] for h in client.get(f"/v2.0/alarms/{changed}/state-history").json()["elements"]]
        assert "Alarm state updated via API" in reasons
        assert client.delete(f"/v2.0/alarms/{deleted}").status_code == 204
        assert client.get(f"/v2.0/alarms/{deleted}").status_code == 404
        assert client.delete(f"/v2.0/alarms/{deleted}").status_code == 404
        assert client.patch(f"/v2.0/alarms/{uuid.uuid4()}", json={"state": "OK"}).status_code == 404
