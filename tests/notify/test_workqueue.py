"""Clustered notification: transitions through the JetStream work queue, each delivered once to a
real webhook receiver although notifier processes are killed -9 (docs/alarm-evaluation.md,
"Clustered")."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nats
import orjson
import pytest

from nephoscope.config import ClusterSettings
from nephoscope.notify.model import AlarmTransition
from nephoscope.notify.repository import Database, MethodRepository
from nephoscope.notify.workqueue import ensure_transitions, publish, stream_name
from tests.conftest import wait_for
from tests.support.cluster import NatsCluster
from tests.support.receivers import Receiver

ROOT = Path(__file__).resolve().parents[2]
ACK_WAIT = 2.0


def transition(number: int) -> AlarmTransition:
    return AlarmTransition(alarm_id=f"alarm-{number}", alarm_definition_id="d", alarm_name="cpu", alarm_description="",
                           tenant_id="p", old_state="OK", new_state="ALARM", reason="high", severity="HIGH", link="",
                           lifecycle_state="", timestamp_ms=1_800_000_000_000 + number)


class Notifiers:
    def __init__(self, settings: ClusterSettings, data: Path) -> None:
        self.settings, self.data, self.processes = settings, data, []

    def start(self, *mode: str) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-m", "tests.support.notifier_member",
                                    orjson.dumps(dataclasses.asdict(self.settings)).decode(), str(self.data),
                                    str(ACK_WAIT), *mode], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.processes.append(process)
        assert process.stdout.readline().strip() == "ready"
        return process

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


def queue(settings: ClusterSettings, items: list[tuple[AlarmTransition, list[str]]]) -> tuple[list[bool], int]:
    """Publish (each twice: a replaying evaluator) and return whether each was new, and the queue depth."""
    import asyncio

    async def run() -> tuple[list[bool], int]:
        connection = await nats.connect(servers=settings.servers)
        js = connection.jetstream()
        await ensure_transitions(js, settings)
        fresh = []
        for item, methods in items:
            fresh.append(await publish(js, settings, item, methods))
            assert not await publish(js, settings, item, methods)  # the same id is stored once
        depth = (await js.stream_info(stream_name(settings))).state.messages
        await connection.close()
        return fresh, depth

    return asyncio.run(run())


def depth(settings: ClusterSettings) -> int:
    return queue(settings, [])[1]


@pytest.fixture
def receiver():
    running = Receiver().start()
    yield running
    running.stop()


def test_each_transition_reaches_the_webhook_once_across_notifier_deaths(nats_cluster: NatsCluster,  # noqa: F811
                                                                         receiver: Receiver, tmp_path: Path) -> None:
    settings = ClusterSettings(servers=nats_cluster.urls, stream=f"NOTIFY{time.time_ns()}")
    methods = MethodRepository(Database(tmp_path))
    fast = methods.create("p", "fast", "WEBHOOK", f"{receiver.url}/fast", 0)
    slow = methods.create("p", "slow", "WEBHOOK", f"{receiver.url}/slow", 0)
    notifiers = Notifiers(settings, tmp_path)
    try:
        # 1. A notifier dies -9 after its webhook was answered, before acknowledging: the next one,
        #    handed the message after ack-wait, finds the delivery recorded and does not send again.
        notifiers.start("die-before-ack")
        receiver.delay_first = 0.0  # /fast answers at once
        assert queue(settings, [(transition(1), [fast.id])])[0] == [True]
        wait_for(lambda: notifiers.processes[0].poll() is not None, 20, "the notifier killing itself")
        second = notifiers.start()
        assert queue(settings, [(transition(2), [fast.id]), (transition(3), [fast.id])])[0] == [True, True]
        wait_for(lambda: depth(settings) == 0, 20, "the queue to drain")
        keys = [r.headers["idempotency-key"] for r in receiver.received if r.path == "/fast"]
        assert len(keys) == 3 and len(set(keys)) == 3  # one request per transition

        # 2. A notifier killed -9 while its webhook request is in flight: the other sends again after
        #    ack-wait, with the same Idempotency-Key (it cannot know the first one landed).
        receiver.delay_first = 6.0  # the first request of /slow is answered after 6 s
        second.kill()
        second.wait(timeout=10)
        third = notifiers.start()
        queue(settings, [(transition(4), [slow.id])])
        wait_for(lambda: any(r.path == "/slow" for r in receiver.received), 20, "the slow request")
        notifiers.start()
        os.kill(third.pid, signal.SIGKILL)
        third.wait(timeout=10)
        wait_for(lambda: depth(settings) == 0, 30, "the redelivered transition to be acknowledged")
        slow_keys = [r.headers["idempotency-key"] for r in receiver.received if r.path == "/slow"]
        assert len(slow_keys) == 2 and len(set(slow_keys)) == 1
        bodies = {r.body["idempotency_key"] for r in receiver.received}
        assert len(bodies) == 4  # one effect per transition for a receiver keeping the key
    finally:
        notifiers.stop()
