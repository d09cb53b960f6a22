"""The real RabbitMQ broker on 127.0.0.1:5672 for the tests: ``rabbitmqctl`` (vhosts, queues,
bindings, stopping and starting the node) and publishers (oslo.messaging's real Notifier, aio-pika
with publisher confirms). The fixtures giving a test a throw-away vhost are in
``tests/conftest.py``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections import Counter

import aio_pika
import oslo_messaging
from oslo_config import cfg

HOST = "127.0.0.1"
PORT = 5672


# -- rabbitmqctl ----------------------------------------------------------------------------------

def ctl(*args: str, timeout: float = 60) -> str:
    result = subprocess.run(["rabbitmqctl", *args], check=False, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {result.stdout}{result.stderr}")
    return result.stdout


async def actl(*args: str) -> str:
    return await asyncio.to_thread(ctl, *args)


def broker_problem() -> str | None:
    if shutil.which("rabbitmqctl") is None:
        return "rabbitmqctl not found (needed to create a vhost per test)"
    try:
        socket.create_connection((HOST, PORT), timeout=2).close()
    except OSError as exc:
        return f"RabbitMQ not reachable at {HOST}:{PORT}: {exc}"
    try:
        ctl("-q", "list_vhosts", timeout=30)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        return f"rabbitmqctl unusable: {exc}"
    return None


def ensure_broker_running() -> None:
    """start_app is a no-op on a running node; await_startup waits until it accepts work."""
    with contextlib.suppress(Exception):
        ctl("start_app")
    ctl("await_startup", "--timeout", "60")


def amqp_url(vhost: str) -> str:
    return f"amqp://guest:guest@{HOST}:{PORT}/{vhost}"


def list_queues(vhost: str) -> dict[str, dict]:
    out = ctl("-q", "list_queues", "-p", vhost, "--formatter", "json", "name", "messages_ready",
              "messages_unacknowledged", "durable", "arguments", "consumers")
    return {q["name"]: q for q in json.loads(out)}


def list_bindings(vhost: str) -> set[tuple[str, str, str]]:
    out = ctl("-q", "list_bindings", "-p", vhost, "--formatter", "json", "source_name", "destination_name",
              "routing_key")
    return {(b["source_name"], b["destination_name"], b["routing_key"]) for b in json.loads(out) if b["source_name"]}


# -- publishers ------------------------------------------------------------------------------------

class Notifiers:
    """Real oslo.messaging notifiers; one transport per control exchange."""

    def __init__(self, vhost: str, durable: bool = False) -> None:
        self.url = f"rabbit://guest:guest@{HOST}:{PORT}/{vhost}"
        self.durable = durable  # [oslo_messaging_rabbit] amqp_durable_queues
        self.transports: dict[str, oslo_messaging.Transport] = {}

    def _conf(self) -> cfg.ConfigOpts:
        conf = cfg.ConfigOpts()
        if self.durable:
            with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as file:
                file.write("[oslo_messaging_rabbit]\namqp_durable_queues = true\n")
            conf(args=[], default_config_files=[file.name])
            os.unlink(file.name)
        return conf

    def get(self, exchange: str, driver: str, topic: str = "notifications", publisher_id: str = "nova-compute:host1",
            serializer: oslo_messaging.Serializer | None = None) -> oslo_messaging.Notifier:
        """A notifier on ``exchange``; ``serializer`` as the service sets it (nova's and cinder's
        legacy notifiers: ``JsonPayloadSerializer``)."""
        if exchange not in self.transports:
            # The control exchange is read when the transport is built.
            oslo_messaging.set_transport_defaults(exchange)
            self.transports[exchange] = oslo_messaging.get_notification_transport(self._conf(), url=self.url)
        return oslo_messaging.Notifier(self.transports[exchange], publisher_id=publisher_id,
                                       driver=driver, topics=[topic], serializer=serializer)

    def close(self) -> None:
        for transport in self.transports.values():
            transport.cleanup()
        oslo_messaging.set_transport_defaults("openstack")


async def publish_confirmed(vhost: str, ids: list[str], bodies: dict[str, bytes], confirmed: set[str],
                            counters: Counter, pause: float = 0.06) -> None:
    """Persistent, confirmed, mandatory; a chunk that is not fully confirmed is sent again
    (which is how real publishers create duplicates). The exchange is only passive-declared:
    after a broker restart it exists again once the consumer has re-created it and re-bound."""
    connection = None
    position = 0
    while position < len(ids):
        chunk = ids[position:position + 100]
        try:
            if connection is None:
                connection = await aio_pika.connect(amqp_url(vhost), timeout=5)
                channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
                exchange = await channel.get_exchange("nova")
            results = await asyncio.gather(*(
                exchange.publish(aio_pika.Message(bodies[mid], delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                                 routing_key="notifications.info", mandatory=True, timeout=10)
                for mid in chunk), return_exceptions=True)
            failed = [r for r in results if isinstance(r, BaseException)]
            if failed:
                raise failed[0]
            confirmed.update(chunk)
            position += len(chunk)
            await asyncio.sleep(pause)
        except Exception:  # noqa: BLE001 - broker gone / exchange not there yet: retry the chunk
            counters["publish_retries"] += 1
            if connection is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.close(), 2)
            connection = None
            await asyncio.sleep(0.2)
    if connection is not None:
        await connection.close()
