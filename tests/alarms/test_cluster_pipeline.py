"""The clustered alarm roles wired together on the suite's engines: a cluster store whose applied
batches feed ``PartialSources``, ``AlarmEvaluators`` holding the evaluator partitions, a
``TransitionNotifier`` and a real webhook receiver. Time is the stream's (simulated minutes), so
periods close in seconds."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from nephoscope.alarms.cluster.evaluators import AlarmEvaluators
from nephoscope.alarms.cluster.sources import PartialSources
from nephoscope.alarms.definitions import DefinitionStore
from nephoscope.alarms.evaluator import alarm_id
from nephoscope.alarms.repository import AlarmDatabase, AlarmRepository
from nephoscope.config import AlarmsSettings, Config, NotifySettings
from nephoscope.metrics.series import IngestBatch, PointBatch, ValueMeta, define_series
from nephoscope.metrics.store.cluster import ClusterStore
from nephoscope.notify.repository import Database, MethodRepository
from nephoscope.notify.workqueue import TransitionNotifier
from tests.conftest import wait_for
from tests.support.cluster import cluster_settings
from tests.support.cluster import NatsCluster, SeaweedS3
from tests.support.receivers import Receiver

pytestmark = pytest.mark.engines  # the distributed engines' lane (tests/lanes.py)

MINUTE = 60_000
HOSTS = ("h0", "h1", "h2")


def test_points_written_to_the_cluster_store_become_one_webhook_per_transition(
        nats_cluster: NatsCluster, seaweed: SeaweedS3, tmp_path: Path, receiver: Receiver) -> None:  # noqa: F811
    settings = cluster_settings(nats_cluster, seaweed, f"pipe{time.time_ns()}", partitions=2, lease_seconds=2.0)
    config = Config()
    config.server.data_dir = str(tmp_path)
    store = ClusterStore(config, settings)
    store.open()
    method = MethodRepository(Database(tmp_path)).create("p", "hook", "WEBHOOK", f"{receiver.url}/hook", 0)
    definitions = DefinitionStore(tmp_path)
    definition = definitions.create("p", {"name": "hot", "expression": "avg(a) > 5 and max(b) < 3",
                                          "match_by": ["host"], "alarm_actions": [method.id],
                                          "ok_actions": [method.id]})
    series = [define_series("p", name, {"host": host}) for name in ("a", "b") for host in HOSTS]
    assert len({s.id % 2 for s in series}) == 2
    start = (int(time.time() * 1000) // MINUTE + 2) * MINUTE
    clock = [start / 1000]
    sources = PartialSources(settings, definitions, store, interval_seconds=0, clock=lambda: clock[0])
    evaluators = AlarmEvaluators(settings, definitions, "solo", AlarmsSettings(grace_seconds=30),
                                 repository=AlarmRepository(AlarmDatabase(tmp_path)), lateness_seconds=3600)
    notifier = TransitionNotifier(settings, NotifySettings(), MethodRepository(Database(tmp_path)),
                                  ack_wait_seconds=5)
    sources.start()
    sources.set_sources(frozenset({0, 1}))
    store.subscribe(sources.on_batch)
    evaluators.start()
    notifier.start()
    try:
        for minute, high in enumerate((9.0, 1.0)):
            now = start + minute * MINUTE + 5_000
            clock[0] = now / 1000
            values = np.array([high if s.name == "a" else 1.0 for s in series])
            store.write_now(IngestBatch(series if minute == 0 else [], PointBatch(
                np.array([s.id for s in series], np.int64), np.full(len(series), now, np.int64), value=values),
                ValueMeta(), "p"))
            clock[0] = (start + (minute + 1) * MINUTE + 30_000) / 1000
            sources.report_watermarks()
        wait_for(lambda: len(receiver.received) >= 2 * len(HOSTS), 30, "the webhooks")
        time.sleep(1.0)  # nothing more comes
        got = sorted((r.body["alarm_id"], r.body["old_state"], r.body["state"]) for r in receiver.received)
        assert got == sorted((alarm_id(definition.id, (host,)), old, new) for host in HOSTS
                             for old, new in (("UNDETERMINED", "ALARM"), ("ALARM", "OK")))
        assert evaluators.owned() == {0, 1}
        assert {record.state for record in AlarmRepository(AlarmDatabase(tmp_path)).load_all()} == {"OK"}
    finally:
        notifier.stop()
        evaluators.stop()
        sources.stop()
        store.close()


def test_an_ingester_dying_before_it_sent_its_partials_is_replaced_with_each_batch_merged_once(
        nats_cluster: NatsCluster, seaweed: SeaweedS3, tmp_path: Path) -> None:  # noqa: F811
    """Two ingesters, their partials wired as a server wires them. The owner of ``a``'s partition
    sends the first minute's first batch (a=9), applies its second (a=1) and dies before sending it
    and before flushing. The other takes the partition over and replays both: avg(a) is 5 (OK) only
    if the replay is folded (else 9) and the batch sent already is merged once (else 19/3), past
    JetStream's duplicate window."""
    from nephoscope.metrics.store.cluster.node import ClusterNode
    from nephoscope.server.cluster_roles import follow_leases, start_sources

    # A duplicate window shorter than the hand-over: the copies are told apart by the evaluator alone.
    settings = cluster_settings(nats_cluster, seaweed, f"hand{time.time_ns()}", partitions=2, lease_seconds=2.0,
                                duplicate_window_seconds=1.0)
    definitions = DefinitionStore(tmp_path)
    definition = definitions.create("p", {"name": "avg", "expression": "avg(a) > 5 and max(b) < 3"})
    a, b = define_series("p", "a", {"host": "x"}), define_series("p", "b", {"host": "y"})
    start = (int(time.time() * 1000) // MINUTE + 2) * MINUTE
    clock = [start / 1000]
    nodes, sources = {}, {}
    for name in ("n1", "n2"):  # wired as a server wires them: the partials hooked before the store opens
        config = Config()
        config.server.data_dir = str(tmp_path / name)
        config.cluster = settings
        nodes[name] = ClusterNode(config, settings, frozenset({"ingester"}), name, "token")
        sources[name] = start_sources(config, definitions, nodes[name].ingester, clock=lambda: clock[0])
        nodes[name].open()
        follow_leases(sources[name], nodes[name].ingester)
    wait_for(lambda: all(len(n.ingester.owned()) == 1 for n in nodes.values()), 30, "one partition each")
    dying = next(name for name, node in nodes.items() if a.id % 2 in node.ingester.owned())
    [survivor] = set(nodes) - {dying}
    repository = AlarmRepository(AlarmDatabase(tmp_path))
    evaluators = AlarmEvaluators(settings, definitions, "solo", AlarmsSettings(grace_seconds=30),
                                 repository=repository, lateness_seconds=3600, clock=lambda: clock[0])
    evaluators.start()
    try:
        def write(points: list[tuple], new: list) -> None:
            owner = nodes[dying].ingester
            before = owner.points_accepted
            nodes[survivor].write_now(IngestBatch(new, PointBatch(
                np.array([s.id for s, _ in points], np.int64), np.full(len(points), start + 5_000, np.int64),
                value=np.array([v for _, v in points])), ValueMeta(), "p"))
            wait_for(lambda: owner.points_accepted > before, 30, "the dying owner applied the batch")

        write([(a, 9.0), (b, 1.0)], [a, b])
        wait_for(lambda: sources[dying].pending() == 0, 30, "the first batch's partials sent")
        sources[dying]._send = lambda reports, origin=b"": None  # dead from here: nothing more leaves it
        write([(a, 1.0)], [])
        nodes[dying].ingester._stop.set()  # no flush: killed, not stopped
        nodes[dying].ingester.leases.stop()
        sources[dying].stop()
        wait_for(lambda: len(nodes[survivor].ingester.owned()) == 2
                 and all(p.replayed.is_set() for p in nodes[survivor].ingester.owned().values()), 30,
                 "the survivor replayed both partitions")
        clock[0] = (start + MINUTE + 30_000 + 2_000) / 1000  # the minute closes on the survivor's watermarks
        wait_for(lambda: any(r.state != "UNDETERMINED" for r in repository.load_all()), 30, "the alarm's state")
        [alarm] = repository.load_all()
        assert alarm.id == alarm_id(definition.id, ()) and alarm.state == "OK", alarm.state
    finally:
        evaluators.stop()
        for name in nodes:
            sources[name].stop()
            nodes[name].close()
