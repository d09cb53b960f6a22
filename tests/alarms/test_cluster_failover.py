"""Clustered alarm evaluation on the suite's NATS cluster: partials published by the ingester side,
evaluators in processes of their own, one killed -9 mid-stream; its partitions resume on the other
from the stored snapshot and the unpurged partials, and every transition reaches the work queue
exactly once, as the in-process evaluators make them (docs/alarm-evaluation.md, "Clustered")."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nats
import numpy as np
import orjson
import pytest

from nephoscope.alarms.cluster.merging import PartitionEvaluator, Report
from nephoscope.alarms.cluster.partials import PartialFolder
from nephoscope.alarms.cluster.sources import PartialSources
from nephoscope.alarms.cluster.streams import state_bucket, state_key
from nephoscope.alarms.definitions import DefinitionStore
from nephoscope.alarms.engine import notification, state_change
from nephoscope.alarms.repository import AlarmDatabase, AlarmRepository
from nephoscope.config import ClusterSettings
from nephoscope.metrics.series import IngestBatch, PointBatch, ValueMeta, define_series
from nephoscope.notify.workqueue import stream_name, transition_id
from tests.support.cluster import NatsCluster

pytestmark = pytest.mark.engines  # the distributed engines' lane (tests/lanes.py)

ROOT = Path(__file__).resolve().parents[2]
MINUTE = 60_000
GRACE = 30_000
HOSTS = [f"h{i}" for i in range(6)]
STEPS = 24
KILL_AT = 8


class Member:
    def __init__(self, settings: ClusterSettings, data: Path, name: str, inline: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.evaluator_member",
             orjson.dumps(dataclasses.asdict(settings)).decode(), str(data), name, inline],
            cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.owned: frozenset[int] = frozenset()
        self.changes: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.owned = frozenset(int(p) for p in line.split()[1:])
            self.changes.put((time.monotonic(), self.owned))

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def wait(condition, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def queued_ids(settings: ClusterSettings) -> list[str]:
    async def run() -> list[str]:
        connection = await nats.connect(servers=settings.servers)
        js = connection.jetstream()
        try:
            state = (await js.stream_info(stream_name(settings))).state
            ids = []
            for sequence in range(state.first_seq, state.last_seq + 1) if state.messages else ():
                message = await js.get_msg(stream_name(settings), sequence)
                ids.append(message.headers["Nats-Msg-Id"])
            return ids
        except nats.js.errors.NotFoundError:
            return []
        finally:
            await connection.close()

    return asyncio.run(run())


def snapshot_kind(settings: ClusterSettings, partition: int) -> bytes:
    """b"o": the partition's snapshot is in the object store; b"i": inline in the key; b"": none yet."""
    async def run() -> bytes:
        connection = await nats.connect(servers=settings.servers)
        try:
            bucket = await connection.jetstream().key_value(state_bucket(settings))
            return (await bucket.get(state_key(partition))).value[:1]
        except nats.js.errors.KeyNotFoundError:
            return b""
        finally:
            await connection.close()

    return asyncio.run(run())


def test_an_evaluator_killed_mid_stream_loses_and_doubles_no_transition(nats_cluster: NatsCluster,  # noqa: F811
                                                                         tmp_path: Path) -> None:
    settings = ClusterSettings(servers=nats_cluster.urls, stream=f"ALARMS{time.time_ns()}", partitions=2,
                               lease_seconds=2.0)
    definitions = DefinitionStore(tmp_path)
    definition = definitions.create("p", {"name": "hot", "expression": "avg(a) > 5 and max(b) < 3",
                                          "match_by": ["host"], "alarm_actions": ["m"], "ok_actions": ["m"],
                                          "undetermined_actions": ["m"]})
    series = {(name, host): define_series("p", name, {"host": host}) for name in ("a", "b") for host in HOSTS}
    assert {s.id % 2 for s in series.values()} == {0, 1}  # the alarms read both source partitions

    # The same reports, evaluated in this process: the transitions the cluster must queue, once each.
    folder, expected_evaluators = PartialFolder(2), [PartitionEvaluator(p, 2, GRACE, 0) for p in range(2)]
    folder.load([definition])
    for evaluator in expected_evaluators:
        evaluator.load([definition])
    sequences = [0, 0]
    expected: list[str] = []

    def expect(destination: int, report: Report) -> None:
        sequences[destination] += 1
        evaluator = expected_evaluators[destination]
        for transition in evaluator.apply(sequences[destination], report):
            change = state_change(transition, evaluator.history_timestamp(transition))
            expected.append(transition_id(notification(transition, change)[0]))

    start = (int(time.time() * 1000) // MINUTE + 1) * MINUTE  # time of the stream: ahead of the clock
    for evaluator in expected_evaluators:
        evaluator.watermarks[:] = evaluator.latest_ms = evaluator.clock_ms = start
    simulated = [start / 1000]
    sources = PartialSources(settings, definitions, interval_seconds=0, clock=lambda: simulated[0])
    sources.start()
    # The victim's snapshots go to the object store, the survivor's stay in the key: both paths restore.
    members = {name: Member(settings, tmp_path, name, inline) for name, inline in (("a", "0"), ("b", "1000000"))}
    try:
        wait(lambda: all(m.owned for m in members.values()), 30, "both members to own a partition")
        for step in range(STEPS):
            if step == KILL_AT:
                victim = members["a"]
                assert victim.owned  # it was evaluating a partition
                partition = min(victim.owned)
                wait(lambda: snapshot_kind(settings, partition) == b"o", 10, "a snapshot in the object store")
                victim.kill()
                killed_at = time.monotonic()
            now = start + step * MINUTE + 5_000
            simulated[0] = now / 1000
            high = 9.0 if (step // 2) % 2 == 0 else 1.0
            for source in (0, 1):
                chosen = [s for s in series.values() if s.id % 2 == source]
                values = np.array([high if s.name == "a" else 1.0 for s in chosen])
                batch = IngestBatch(chosen if step == 0 else [], PointBatch(np.array([s.id for s in chosen], np.int64),
                                    np.full(len(chosen), now, np.int64), value=values), ValueMeta(), "p")
                fold = folder.fold(batch)
                for destination in (0, 1):
                    report = Report(source, now, routes=fold.routes.get(destination, []),
                                    partials=fold.partials.get(destination))
                    if report.routes or report.partials is not None:
                        expect(destination, report)
                sources.on_batch(batch)
            closed = start + (step + 1) * MINUTE + GRACE
            simulated[0] = closed / 1000
            for source in (0, 1):
                for destination in (0, 1):
                    expect(destination, Report(source, closed, watermark_ms=closed))
            sources.report_watermarks([0, 1])
            time.sleep(0.15)
        assert len(expected) > 2 * len(HOSTS)
        survivor = members["b"]
        wait(lambda: survivor.owned == {0, 1}, 15, "the survivor to take over")
        wait(lambda: len(queued_ids(settings)) >= len(expected), 30, "every transition queued")
        time.sleep(1.5)  # nothing more arrives
        queued = queued_ids(settings)
        assert sorted(queued) == sorted(expected)  # none missed, none doubled
        took_over = [at for at, owned in list(survivor.changes.queue) if owned == {0, 1}][0]
        assert took_over - killed_at < settings.lease_seconds + 3
        records = AlarmRepository(AlarmDatabase(tmp_path)).load_all()
        assert len(records) == len(HOSTS)
    finally:
        for member in members.values():
            member.kill()
        sources.stop()
