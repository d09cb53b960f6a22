"""The RabbitMQ notification consumer against the real broker on 127.0.0.1:5672.

Notifications are published by the real oslo.messaging Notifier (``messagingv2`` and ``messaging``
drivers), bulk and duplicate loads by aio-pika. The consumer runs on its own thread (pika) and calls
a synchronous sink on a sink thread; where a test is about exactly-once, the sink is the real
events store. Every test runs in a throw-away vhost (created with
``rabbitmqctl``, deleted at teardown), so the real names can be used — exchange ``nova``, topic
``notifications``, the notifier's own ``notifications.info`` queue — without touching anything else
on the shared broker. The broker is skipped when absent, a failure when ``CI=true``.

The restart test briefly stops the RabbitMQ application (``stop_app``/``start_app``, about two
seconds) and always starts it again, even when the test fails.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import aio_pika
import orjson
import pytest

from nephoscope.events.batch import from_bodies
from nephoscope.events.catalog import Catalog
from nephoscope.events.consumer import BrokerSettings, ConsumerGroup, NotificationConsumer, RawMessage
from nephoscope.events.store import EventQuery, EventStore
from nephoscope.tenancy import ALL_TENANTS
from tests.support.notifications import oslo_v2
from tests.support.rabbitmq import (
    Notifiers,
    actl,
    amqp_url,
    ctl,
    ensure_broker_running,
    list_bindings,
    list_queues,
    publish_confirmed,
)

pytestmark = pytest.mark.usefixtures("broker")  # tests/conftest.py: skipped without one (failed under CI)

CONSUMER_LOG = "nephoscope.events.consumer"


# -- broker plumbing -------------------------------------------------------------------------------

def close_consumer_connections(vhost: str) -> int:
    """Force-close the consumer's connections in this vhost only (the broker is shared)."""
    out = ctl("-q", "list_connections", "--no-table-headers", "pid", "vhost", "client_properties")
    closed = 0
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[1] == vhost and "nephoscope-consumer" in parts[2]:
            ctl("close_connection", parts[0], "nephoscope test: connection drop")
            closed += 1
    return closed


async def ready_count(vhost: str, queue: str) -> int:
    """Messages ready in the queue, by passive declare (unacked ones are not counted)."""
    connection = await aio_pika.connect(amqp_url(vhost))
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0


# -- publishers ------------------------------------------------------------------------------------

async def publish(vhost: str, bodies: list[bytes], exchange: str = "nova", routing_key: str = "notifications.info",
                  message_ids: list[str | None] | None = None) -> None:
    connection = await aio_pika.connect(amqp_url(vhost))
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        target = await channel.get_exchange(exchange)
        for start in range(0, len(bodies), 200):
            await asyncio.gather(*(
                target.publish(aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                                message_id=message_ids[start + i] if message_ids else None),
                               routing_key=routing_key)
                for i, body in enumerate(bodies[start:start + 200])))


# -- sinks -----------------------------------------------------------------------------------------

def message_id_of(body: bytes) -> str | None:
    """The notification's message_id (inside ``oslo.message`` for a v2 envelope)."""
    try:
        doc = orjson.loads(body)
        if isinstance(doc, dict) and isinstance(doc.get("oslo.message"), str):
            doc = orjson.loads(doc["oslo.message"])
    except orjson.JSONDecodeError:
        return None
    return doc.get("message_id") if isinstance(doc, dict) else None


class Gated:
    """A sink a test can hold: ``hold()`` blocks the next call at its start."""

    gate: threading.Event | None = None
    blocked = False

    async def hold(self) -> None:
        """Block the next sink call at its start and return once it is blocked."""
        self.gate = threading.Event()
        await until(lambda: self.blocked, what="a sink call to block")

    def release(self) -> None:
        if self.gate is not None:
            self.gate.set()
            self.gate = None

    def pass_gate(self) -> None:
        if (gate := self.gate) is not None:
            self.blocked = True
            gate.wait(60)
            self.blocked = False


class StoreSink(Gated):
    """Stands in for the events store: durable when it returns, ignores a message_id it already
    holds (the store's rule), runs on the consumer's thread. With ``delay``, as a worker process's
    sink does, it returns at once a future that completes ``delay`` later (the store elsewhere)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.stored: list[RawMessage] = []
        self.ids: set[str] = set()
        self.ignored = 0  # handed over again although already stored (the store's rule caught it)
        self.calls = 0
        self.fail = False
        self.entered = 0

    def __call__(self, batch: list[RawMessage]) -> Future | None:
        self.calls += 1
        self.entered += len(batch)
        self.pass_gate()
        if not self.delay:
            self.store(batch)
            return None
        done: Future = Future()

        def later() -> None:
            try:
                self.store(batch)
                done.set_result(None)
            except Exception as error:  # noqa: BLE001 - handed to the consumer
                done.set_exception(error)
        threading.Timer(self.delay, later).start()
        return done

    def store(self, batch: list[RawMessage]) -> None:
        if self.fail:
            raise RuntimeError("store unavailable")
        for message in batch:
            message_id = message_id_of(message.body)
            if message_id is not None and message_id in self.ids:
                self.ignored += 1
                continue
            if message_id is not None:
                self.ids.add(message_id)
            self.stored.append(message)


class EventStoreSink(Gated):
    """The real thing: parse, catalog and store in the events store (what the server runs)."""

    def __init__(self, directory: Path) -> None:
        self.store = EventStore(directory)
        self.catalog = Catalog.load()
        self.added = 0
        self.handed = 0
        self.counting = threading.Lock()

    def __call__(self, batch: list[RawMessage]) -> None:
        self.pass_gate()
        added = self.store.add_batch(from_bodies(batch, self.catalog))
        with self.counting:  # read by the test while the consumer thread writes
            self.handed += len(batch)
            self.added += added

    def message_ids(self) -> list[str]:
        return [e.message_id for e in self.store.query(ALL_TENANTS, EventQuery(), None, 1_000_000)]


async def until(predicate: Callable[[], bool], timeout: float = 20, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


def settings_for(vhost: str, **overrides) -> BrokerSettings:
    base = {"url": amqp_url(vhost), "exchanges": ["nova", "neutron"], "name": "cell1", "batch_seconds": 0.05,
            "reconnect_max": 2.0}
    return BrokerSettings(**{**base, **overrides})


# -- tests -----------------------------------------------------------------------------------------

def test_notifier_messages_reach_the_sink_and_are_acked_only_after_it(vhost: str) -> None:
    notifiers = Notifiers(vhost)

    def emit() -> None:
        v2 = notifiers.get("nova", "messagingv2")
        for i in range(3):
            v2.info({"request_id": f"req-{i}"}, "compute.instance.create.end", {"instance_id": f"i-{i}"})
        v1 = notifiers.get("nova", "messaging")
        v1.warn({}, "compute.instance.exists", {"instance_id": "i-0"})
        v1.warn({}, "compute.instance.exists", {"instance_id": "i-1"})
        notifiers.get("nova", "messagingv2", "versioned_notifications").error(
            {}, "instance.create.error", {"nova_object.name": "InstanceCreatePayload", "nova_object.data": {}})
        notifiers.get("neutron", "messagingv2").info({}, "port.create.end", {"port": {"id": "p-1"}})

    async def scenario() -> None:
        sink = StoreSink()
        sink.gate = threading.Event()
        # The gated sink holds the consumer's thread: the seven must reach it as one batch, however
        # slowly a loaded host emits them (a timed-out partial batch would hold the rest back).
        consumer = NotificationConsumer(settings_for(vhost, batch_size=7, batch_seconds=5.0), sink)
        consumer.start()
        assert await asyncio.to_thread(consumer.wait_connected, 10)
        try:
            await asyncio.to_thread(emit)
            await until(lambda: consumer.stats()["received"] == 7, what="7 deliveries")
            await until(lambda: sink.entered == 7, what="the sink to hold all 7")
            # The sink has not returned: nothing acked, the broker still owes all 7.
            ours = {k: v for k, v in (await asyncio.to_thread(list_queues, vhost)).items()
                    if k.startswith("nephoscope.")}
            assert {k: (v["messages_ready"], v["messages_unacknowledged"]) for k, v in ours.items()} == {
                "nephoscope.cell1.notifications": (0, 6), "nephoscope.cell1.versioned_notifications": (0, 1)}
            assert await ready_count(vhost, "nephoscope.cell1.notifications") == 0
            assert consumer.stats()["acked"] == 0 and consumer.stats()["pending"] == 7
            sink.gate.set()
            await until(lambda: consumer.stats()["acked"] == 7, what="acks after the sink returned")
            assert consumer.stats()["direct_reads"]  # events.amqp_frames read them, not pika
            ours = {k: v for k, v in (await asyncio.to_thread(list_queues, vhost)).items()
                    if k.startswith("nephoscope.")}
            assert all(v["messages_ready"] == 0 and v["messages_unacknowledged"] == 0 for v in ours.values())
        finally:
            await asyncio.to_thread(consumer.stop)
            await asyncio.to_thread(notifiers.close)

        got = Counter()
        for message in sink.stored:
            doc = orjson.loads(message.body)
            version = doc.get("oslo.version", "1.0")
            got[(message.exchange, message.routing_key, version)] += 1
            assert message_id_of(message.body) is not None
            assert message.broker == "cell1"
        assert got == {("nova", "notifications.info", "2.0"): 3, ("nova", "notifications.warn", "1.0"): 2,
                       ("nova", "versioned_notifications.error", "2.0"): 1,
                       ("neutron", "notifications.info", "2.0"): 1}
        assert len({message_id_of(m.body) for m in sink.stored}) == 7
        stats = consumer.stats()
        assert stats["queues"] == {"nephoscope.cell1.notifications": 6, "nephoscope.cell1.versioned_notifications": 1}
        assert stats["redelivered"] == 0

    asyncio.run(scenario())


def test_bodies_of_every_size_arrive_whole_and_in_order(vhost: str) -> None:
    """Through the real broker: empty bodies, bodies split over several frames (RabbitMQ's frame
    size is 128 KiB) and everything between, read by ``events.amqp_frames``."""
    sizes = [0, 1, 4088, 4089, 131_064, 131_065, 400_000, 7, 0, 2_000_000, 3_000]
    bodies = [(b"%d:" % index) + bytes(range(256)) * (size // 256) + b"x" * (size % 256)
              for index, size in enumerate(sizes)]
    bodies = [body[:size] if size else b"" for body, size in zip(bodies, sizes)]

    async def scenario() -> None:
        sink = StoreSink()
        consumer = NotificationConsumer(settings_for(vhost, batch_size=4), sink)
        consumer.start()
        assert await asyncio.to_thread(consumer.wait_connected, 10)
        try:
            await publish(vhost, bodies)
            await until(lambda: consumer.stats()["acked"] == len(bodies), what="every body acked")
            assert consumer.stats()["direct_reads"]
        finally:
            await asyncio.to_thread(consumer.stop)
        assert [message.body for message in sink.stored] == bodies
        assert {(m.exchange, m.routing_key, m.broker, m.redelivered) for m in sink.stored} == {
            ("nova", "notifications.info", "cell1", False)}

    asyncio.run(scenario())


def test_consumer_declares_its_own_queues_and_leaves_the_services_queues_alone(vhost: str) -> None:
    # This nova runs with amqp_durable_queues=True and got there first: its exchange is durable, and
    # declaring it with our (default, non-durable) flags would fail with PRECONDITION_FAILED, so the
    # consumer must passive-declare it and use it as it is.
    notifiers = Notifiers(vhost, durable=True)

    async def scenario() -> None:
        await asyncio.to_thread(lambda: notifiers.get("nova", "messagingv2").info({}, "service.update", {}))
        sink = StoreSink()
        consumer = NotificationConsumer(settings_for(vhost, queue_prefix="np"), sink)
        consumer.start()
        assert await asyncio.to_thread(consumer.wait_connected, 10), consumer.stats()["last_error"]
        try:
            def emit() -> None:
                notifier = notifiers.get("nova", "messagingv2")
                for i in range(4):
                    notifier.info({}, "compute.instance.update", {"instance_id": f"i-{i}"})
            await asyncio.to_thread(emit)
            await until(lambda: len(sink.stored) == 4, what="4 notifications")
            exchanges = await actl("-q", "list_exchanges", "-p", vhost, "--no-table-headers", "name", "durable")
            queues = await asyncio.to_thread(list_queues, vhost)
            bindings = await asyncio.to_thread(list_bindings, vhost)
        finally:
            await asyncio.to_thread(consumer.stop)
            await asyncio.to_thread(notifiers.close)

        # Our queues: durable classic, consumed by us, one copy of everything via <topic>.*.
        for topic in ("notifications", "versioned_notifications"):
            queue = queues[f"np.cell1.{topic}"]
            assert queue["durable"] is True and queue["consumers"] == 1
            assert queue["arguments"] == [["x-queue-type", "longstr", "classic"]]
            for exchange in ("nova", "neutron"):
                assert (exchange, f"np.cell1.{topic}", f"{topic}.*") in bindings
        assert "nova\ttrue" in exchanges.splitlines() and "neutron\tfalse" in exchanges.splitlines()
        # The notifier's own queue still holds its copies (4, and the one sent before we were
        # bound): we never consumed from it.
        assert queues["notifications.info"]["messages_ready"] == 5
        assert queues["notifications.info"]["consumers"] == 0
        assert set(queues) == {"np.cell1.notifications", "np.cell1.versioned_notifications", "notifications.info"}
        assert not any(dest == "notifications.info" for _, dest, _ in bindings if dest.startswith("np."))

    asyncio.run(scenario())


def test_sink_error_means_no_ack_and_redelivery(vhost: str) -> None:
    notifiers = Notifiers(vhost)

    async def scenario() -> None:
        sink = StoreSink()
        sink.fail = True
        consumer = NotificationConsumer(settings_for(vhost), sink)
        consumer.start()
        assert await asyncio.to_thread(consumer.wait_connected, 10)
        try:
            def emit() -> None:
                notifier = notifiers.get("nova", "messagingv2")
                for i in range(10):
                    notifier.info({}, "volume.attach.end", {"volume_id": f"v-{i}"})
            await asyncio.to_thread(emit)
            # Two failures: the first hands the 10 back, the second sees them again, redelivered.
            await until(lambda: consumer.stats()["sink_errors"] >= 2, what="two sink failures")
            stats = consumer.stats()
            assert stats["acked"] == 0 and stats["redelivered"] >= 10 and stats["nacked"] >= 10
            queue = (await asyncio.to_thread(list_queues, vhost))["nephoscope.cell1.notifications"]
            assert queue["messages_ready"] + queue["messages_unacknowledged"] == 10
            assert sink.stored == []
            sink.fail = False
            await until(lambda: len(sink.stored) == 10, timeout=15, what="the 10 after the store recovered")
            await until(lambda: consumer.stats()["acked"] == 10, what="acks")
        finally:
            await asyncio.to_thread(consumer.stop)
            await asyncio.to_thread(notifiers.close)
        assert len({message_id_of(m.body) for m in sink.stored}) == 10
        assert sink.ignored == 0
        queue = list_queues(vhost)["nephoscope.cell1.notifications"]
        assert queue["messages_ready"] == queue["messages_unacknowledged"] == 0

    asyncio.run(scenario())


@pytest.mark.parametrize(("prefetch", "max_pending", "batch_size", "bound"), [
    (50, 20000, 10, 50),  # prefetch is the bound
    (1000, 30, 500, 30),  # max_pending caps a large prefetch; batches flushed by time
])
def test_back_pressure_keeps_the_backlog_in_the_broker(vhost: str, prefetch: int, max_pending: int,
                                                        batch_size: int, bound: int) -> None:
    total = 800

    async def scenario() -> None:
        sink = StoreSink(delay=0.02)  # a slow store: ~25-50 batches/s
        consumer = NotificationConsumer(
            settings_for(vhost, exchanges=["nova"], topics=["notifications"], prefetch=prefetch,
                         max_pending=max_pending, batch_size=batch_size), sink)
        consumer.start()
        assert await asyncio.to_thread(consumer.wait_connected, 10)
        try:
            # The first batch waits in the store until the broker has been looked at (rabbitmqctl
            # takes longer to answer than the slow store needs for all 800).
            sink.gate = threading.Event()
            await publish(vhost, [oslo_v2(str(uuid.uuid4())) for _ in range(total)])
            await until(lambda: sink.blocked, what="the store to hold the first batch")
            # The backlog waits in the broker, not in our memory.
            backlog = await ready_count(vhost, "nephoscope.cell1.notifications")
            assert backlog > total // 2, backlog
            queue = (await asyncio.to_thread(list_queues, vhost))["nephoscope.cell1.notifications"]
            assert 0 < queue["messages_unacknowledged"] <= bound
            sink.release()
            highest = 0
            deadline = time.monotonic() + 40
            while len(sink.stored) < total and time.monotonic() < deadline:
                highest = max(highest, consumer.stats()["pending"])
                await asyncio.sleep(0.005)
            assert len(sink.stored) == total
            await until(lambda: consumer.stats()["acked"] == total, what="all acked")
        finally:
            await asyncio.to_thread(consumer.stop)
        stats = consumer.stats()
        assert highest <= bound and stats["pending_high_water"] <= bound, (highest, stats)
        assert stats["pending_high_water"] >= bound * 0.8, stats  # the window was actually used
        assert stats["window"] == bound
        assert await ready_count(vhost, "nephoscope.cell1.notifications") == 0

    asyncio.run(scenario())


def test_duplicates_are_stored_once(vhost: str, tmp_path: Path) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    body_a = oslo_v2(a)
    body_b = orjson.dumps({"message_id": b, "event_type": "image.upload", "payload": {},
                           "timestamp": "2026-01-01 00:00:00"})  # v1 envelope
    # No message_id at all: the store derives a stable one from the text, so a resend is recognised.
    body_c = b'{"event_type": "no.id.in.body", "timestamp": "2026-01-01 00:00:00"}'
    body_d = b"not json at all"  # not a notification: counted, never stored

    async def scenario() -> None:
        sink = EventStoreSink(tmp_path)
        consumer = NotificationConsumer(settings_for(vhost, exchanges=["nova"], topics=["notifications"]), sink)
        consumer.start()
        assert await asyncio.to_thread(consumer.wait_connected, 10)
        try:
            # Duplicates within one batch ...
            await publish(vhost, [body_a, body_a, body_b, body_b, body_c, body_c, body_d])
            await until(lambda: consumer.stats()["acked"] == 7, what="first round acked")
            # ... and long after the first copy was stored and acked (a publisher resend).
            await publish(vhost, [body_a, body_b, body_c])
            await until(lambda: consumer.stats()["acked"] == 10, what="second round acked")
        finally:
            await asyncio.to_thread(consumer.stop)
        stored = sink.message_ids()
        assert len(stored) == 3 and {a, b} <= set(stored)
        assert sink.added == 3 and sink.handed == 10
        sink.store.close()

    asyncio.run(scenario())


def test_broker_restart_and_connection_drops_under_load_exactly_once_into_the_store(
        vhost: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=CONSUMER_LOG)
    total = 5000
    ids = [str(uuid.uuid4()) for _ in range(total)]
    bodies = {mid: oslo_v2(mid, pad=1500) for mid in ids}

    async def disrupt(consumer: NotificationConsumer, sink: EventStoreSink, confirmed: set[str],
                      counters: Counter) -> None:
        # Each disruption hits while a batch sits in the sink: the sink stores it and returns, but
        # its ack can no longer reach the broker, which redelivers it: only the store's rule keeps
        # it from being stored twice. The prefetched rest is requeued.
        await until(lambda: len(confirmed) >= 1500, timeout=30, what="1500 published")
        try:
            await sink.hold()
            counters["closed"] = await asyncio.to_thread(close_consumer_connections, vhost)
        finally:
            sink.release()
        # Two outages, not one: the second must not hit a sink call the old connection still made.
        await until(lambda: consumer.stats()["reconnects"] >= 1, timeout=30, what="a reconnect after the drop")
        await until(lambda: len(confirmed) >= 3000, timeout=30, what="3000 published")
        try:
            await sink.hold()
            await actl("stop_app")
            counters["stopped"] = 1
            sink.release()
            await asyncio.sleep(1.0)
        finally:
            sink.release()
            await asyncio.to_thread(ensure_broker_running)

    async def scenario() -> None:
        sink = EventStoreSink(tmp_path)
        consumer = NotificationConsumer(
            settings_for(vhost, exchanges=["nova"], topics=["notifications"], prefetch=500, batch_size=100,
                         in_flight=2), sink)
        confirmed: set[str] = set()
        counters: Counter = Counter()
        consumer.start()
        assert await asyncio.to_thread(consumer.wait_connected, 10)
        try:
            await asyncio.wait_for(asyncio.gather(publish_confirmed(vhost, ids, bodies, confirmed, counters),
                                                  disrupt(consumer, sink, confirmed, counters)), 60)
            await until(lambda: sink.added >= total, timeout=30,
                        what=f"all {total} in the store (have {sink.added}, stats {consumer.stats()})")
            await until(lambda: consumer.stats()["pending"] == 0, what="the window to empty")
        finally:
            await asyncio.to_thread(consumer.stop)
            await asyncio.to_thread(ensure_broker_running)
        stats = consumer.stats()
        stored = sink.message_ids()
        print(f"\nrestart test: {dict(counters)} consumer {stats} handed {sink.handed} stored {len(stored)}")
        assert counters["closed"] >= 1 and counters["stopped"] == 1
        # Exactly once into the store: every published id, none twice ...
        assert len(stored) == total and set(stored) == set(ids)
        # ... although the store was handed some twice: the lost acks were exercised.
        assert sink.handed > total and stats["redelivered"] > 0
        assert stats["reconnects"] >= 2
        sink.store.close()
        queue = list_queues(vhost)["nephoscope.cell1.notifications"]
        assert queue["messages_ready"] == queue["messages_unacknowledged"] == 0
        warnings = [r for r in caplog.records if r.name == CONSUMER_LOG and r.levelno == logging.WARNING
                    and "unavailable" in r.getMessage()]
        assert len(warnings) == stats["reconnects"], [r.getMessage() for r in warnings]  # one per outage

    asyncio.run(scenario())


def test_consumer_group_reads_every_cell(vhosts: Callable[[], str]) -> None:
    cells = {"cell1": vhosts(), "cell2": vhosts()}

    async def scenario() -> None:
        sink = StoreSink()
        group = ConsumerGroup([settings_for(v, name=cell, exchanges=["nova"]) for cell, v in cells.items()], sink)
        group.start()
        assert await asyncio.to_thread(group.wait_connected, 10)
        try:
            for cell, v in cells.items():
                await publish(v, [oslo_v2(f"{cell}-{i}") for i in range(3)])
            await until(lambda: len(sink.stored) == 6, what="3 per cell")
        finally:
            await asyncio.to_thread(group.stop)
        assert Counter(m.broker for m in sink.stored) == {"cell1": 3, "cell2": 3}
        assert all(message_id_of(m.body).startswith(m.broker) for m in sink.stored)
        assert {k: v["acked"] for k, v in group.stats().items()} == {"cell1": 3, "cell2": 3}

    asyncio.run(scenario())
    with pytest.raises(ValueError):
        ConsumerGroup([BrokerSettings(name="a"), BrokerSettings(name="a")], StoreSink())


def test_unreachable_broker_does_not_crash_and_stop_is_prompt() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def scenario() -> None:
        consumer = NotificationConsumer(BrokerSettings(url=f"amqp://guest:guest@127.0.0.1:{port}/", reconnect_max=0.5),
                                        StoreSink())
        consumer.start()
        assert not await asyncio.to_thread(consumer.wait_connected, 1.0)
        stats = consumer.stats()
        assert not stats["connected"] and stats["last_error"]
        assert "guest:guest" not in stats["last_error"]
        started = time.monotonic()
        await asyncio.to_thread(consumer.stop, 5)
        assert time.monotonic() - started < 3

    asyncio.run(scenario())
