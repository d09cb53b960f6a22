"""The whole cluster under load loses nothing and notifies once when each kind of node dies.

`nephoscope serve --role …` processes on the module's own three-node JetStream cluster (one of its
nodes is killed), the session's SeaweedFS and a PostgreSQL metadata database of the test's own: two
API nodes, two ingesters, a querier, two evaluators and a notifier. Through both API nodes (the
other when one is gone) run a steady Monasca load (every acknowledged batch recorded), log lines and
events (POST /v1/logs, /v1/events; every acknowledged one recorded), and a ``flip`` metric whose
hosts breach ``max(flip) > 5`` in alternate minutes, so its alarms go back and forth; every action
is a webhook to a real HTTP receiver. Killed -9 in turn: an API node, an ingester, an evaluator, the
notifier (then started again: it is the only one) and a JetStream node.

Afterwards every acknowledged sample, log line and event reads back through the querier, and every
transition in the alarm history reached the receiver under its own idempotency key — none missing,
none unrecorded, a key posted twice at most once (the notifier killed in the middle of a send cannot
know whether the receiver got it; the receiver keeping the key sees one delivery).
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

from tests.conftest import ADMIN_TOKEN, ServerProcess, missing
from tests.support.cluster import NatsCluster, SeaweedS3
from tests.support.cluster_nodes import HOSTS, WRITERS, Writer, cluster_env, iso, shows, start_nodes
from tests.support.notifications import PROJECT, SAMPLE_DOCS, notification
from tests.support.receivers import Receiver

pytestmark = pytest.mark.engines  # the distributed engines' lane (tests/lanes.py)

LEASE_SECONDS = 3
FLIP_HOSTS = ("f0", "f1", "f2", "f3")
INSTANCES = [str(uuid.UUID(int=i + 1)) for i in range(8)]  # events spread over the partitions by resource
ROLES = ["api", "api", "ingester", "ingester", "querier", "evaluator", "evaluator", "notifier"]


@dataclass
class WholeCluster:
    nats: NatsCluster
    nodes: list[ServerProcess]
    receiver: Receiver

    def role(self, name: str) -> list[ServerProcess]:
        return [node for node, role in zip(self.nodes, ROLES) if role == name]


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
           "NEPHOSCOPE_ALARMS_GRACE_SECONDS": "2"}
    receiver = Receiver().start()
    nodes: list[ServerProcess] = []
    try:
        nodes = start_nodes(env, root, ROLES)
        yield WholeCluster(nats, nodes, receiver)
    finally:
        for node in nodes:
            node.stop()
        receiver.stop()
        nats.stop()


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
    for thread in (*writers, *sides):
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
        for thread in (*writers, *sides):
            thread.stop.set()
        for thread in (*writers, *sides):
            thread.join(timeout=30)
    load_seconds = time.monotonic() - began
    assert all(len(w.acknowledged) > 100 for w in writers), [len(w.acknowledged) for w in writers]
    assert [s.unexpected for s in sides] == [[], []]
    assert all(len(s.events) > 50 and len(s.lines) > 50 and s.flips > 25 for s in sides), \
        [(len(s.events), len(s.lines), s.flips) for s in sides]

    # Every acknowledged sample, through the querier (a series at a time: a page holds 10,000).
    found = {}
    with querier.client() as client:
        for writer in writers:
            for host in HOSTS:
                response = client.get("/v2.0/metrics/measurements", params={
                    "name": "load.value", "dimensions": f"writer:{writer.writer},hostname:{host}",
                    "start_time": iso(start_ms - 1000), "limit": 10000}, timeout=60)
                assert response.status_code == 200, response.text
                for element in response.json()["elements"]:
                    found.setdefault((writer.writer, host), {}).update({r[0]: r[1] for r in element["measurements"]})
    lost = [(w.writer, i) for w in writers for i in w.acknowledged if not shows(found, w, i)]
    assert lost == [], f"{len(lost)} acknowledged batches not read back, e.g. {lost[:5]}"

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
          f"{len(wanted_lines)} log lines, {len(wanted_events)} events acknowledged; {len(history)} transitions, "
          f"{sum(keys.values())} webhooks for {len(keys)} keys")
    # Every alarm (side × host) got a state, and alarms flipped between OK and ALARM after it.
    assert len({alarm for alarm, *_ in history}) == len(FLIP_HOSTS) * 2, history
    assert any(old != "UNDETERMINED" for _, old, _, _ in history), history
    assert history - sent == set(), f"transitions never delivered: {sorted(history - sent)[:5]}"
    assert sent - history == set(), f"deliveries of no recorded transition: {sorted(sent - history)[:5]}"
    assert len(keys) == len(history), "one idempotency key per transition"
    repeated = {key: count for key, count in keys.items() if count > 1}
    assert sum(count - 1 for count in repeated.values()) <= 1, repeated  # at most the send cut by the kill
