"""The alarm engine in process, on a real store and outbox, with a clock the test moves.

Points go through the store (durable, then handed to the engine) exactly as the HTTP path
sends them; time is the only thing simulated, so a 15-minute scenario runs in seconds.
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from nephoscope.alarms.definitions import DefinitionStore, validated_fields
from nephoscope.alarms.engine import AlarmEngine
from nephoscope.alarms.evaluator import alarm_id
from nephoscope.alarms.windows import ALARM, OK, UNDETERMINED
from nephoscope.config import Config
from nephoscope.metrics.service import MetricService
from nephoscope.metrics.store import EmbeddedStore
from nephoscope.notify import NotificationService

MINUTE = 60_000
TENANT = "project-a"


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> float:
        return self.ms / 1000


class Cloud:
    """A store, definitions, notifications and the engine over one data directory."""

    def __init__(self, data_dir: Path, clock: Clock, grace_seconds: float = 10.0) -> None:
        config = Config()
        config.server.data_dir = str(data_dir)
        config.store.flush_interval = 0.2
        config.alarms.grace_seconds = grace_seconds
        self.clock = clock
        self.store = EmbeddedStore(config)
        self.metrics = MetricService(self.store, config.store)
        self.store.open()
        self.definitions = DefinitionStore(data_dir)
        self.notifications = NotificationService(data_dir, config.notify)
        self.engine = AlarmEngine(self.store, data_dir, self.definitions, self.notifications.outbox, config.alarms,
                                  clock=clock)
        self.engine.start()

    def close(self) -> None:
        self.engine.stop()
        self.store.close()
        self.notifications.database.close()

    def send(self, minute_start: int, host: str, *values: float, name: str = "cpu.utilization_perc") -> None:
        metrics = [{"name": name, "dimensions": {"service": "compute", "hostname": host},
                    "timestamp": minute_start + 5_000 + 10_000 * index, "value": value}
                   for index, value in enumerate(values)]
        batch = self.metrics.monasca.decode(orjson.dumps(metrics), TENANT, self.metrics.window())
        self.store.write_now(batch)
        self.settle()  # the engine takes it at the current time, as it would in real time

    def settle(self) -> None:
        """Let the engine take everything sent so far, and tick if a period is due."""
        self.engine.call(lambda: None).result(timeout=30)

    def at(self, ms: int) -> None:
        self.clock.ms = ms
        self.settle()

    def history(self, alarm: str) -> list[tuple[str, str]]:
        return [(c.old_state, c.new_state) for c in self.engine.repository.history(alarm)]


@pytest.fixture()
def start_ms() -> int:
    now = int(time.time() * 1000)
    return (now // MINUTE) * MINUTE - 20 * MINUTE


def scale_out(cloud: Cloud, alarm_methods: list[str] = (), ok_methods: list[str] = ()) -> str:
    fields = validated_fields({"name": "scale out", "match_by": ["hostname"],
                               "expression": "avg(cpu.utilization_perc{service=compute}) > 90 times 3",
                               "alarm_actions": list(alarm_methods), "ok_actions": list(ok_methods)}, "create")
    return cloud.definitions.create(TENANT, fields).id


def run(cloud: Cloud, start_ms: int, minutes: range, plan: dict[int, list[float]], host: str = "h1") -> None:
    """Send each minute's samples during it, then move past its close plus grace."""
    for minute in minutes:
        begin = start_ms + minute * MINUTE
        cloud.at(begin + 1_000)
        cloud.send(begin, host, *plan.get(minute, [20.0, 22.0, 21.0]))
        cloud.at(begin + MINUTE + 11_000)


def test_spike_then_sustained_load_then_recovery_notifies_once_each(tmp_path: Path, start_ms: int) -> None:
    cloud = Cloud(tmp_path, Clock(start_ms))
    up = cloud.notifications.methods.create(TENANT, "scale up", "WEBHOOK", "http://127.0.0.1:9/up", 0)
    down = cloud.notifications.methods.create(TENANT, "scale down", "WEBHOOK", "http://127.0.0.1:9/down", 0)
    definition = scale_out(cloud, [up.id], [down.id])
    plan = {1: [95.0, 20.0, 22.0], 4: [93.0, 96.0, 99.0], 5: [93.0, 96.0, 99.0], 6: [93.0, 96.0, 99.0]}
    run(cloud, start_ms, range(10), plan)
    identifier = alarm_id(definition, ("h1",))
    assert cloud.history(identifier) == [(UNDETERMINED, OK), (OK, ALARM), (ALARM, OK)]
    fired = cloud.engine.repository.history(identifier)[1]
    assert fired.timestamp_ms == start_ms + 7 * MINUTE + 11_000, "fires when the third hot minute closes (+grace)"
    assert fired.sub_alarms[0]["current_values"] == [96.0, 96.0, 96.0]
    deliveries = cloud.notifications.deliveries.list(TENANT, None, 0, 100)
    by_method = sorted((d.method_name, d.transition.old_state, d.transition.new_state) for d in deliveries)
    assert by_method == [("scale down", ALARM, OK), ("scale down", UNDETERMINED, OK), ("scale up", OK, ALARM)]
    record = cloud.engine.repository.get(TENANT, identifier)
    assert record.state == OK and record.metrics == [
        {"name": "cpu.utilization_perc", "dimensions": {"hostname": "h1", "service": "compute"}}]
    cloud.close()


def test_state_and_windows_survive_a_restart_without_false_transitions(tmp_path: Path, start_ms: int) -> None:
    clock = Clock(start_ms)
    cloud = Cloud(tmp_path, clock)
    definition = scale_out(cloud)
    hot = [93.0, 96.0, 99.0]
    run(cloud, start_ms, range(3), {0: hot, 1: hot, 2: hot})
    identifier = alarm_id(definition, ("h1",))
    assert cloud.engine.repository.get(TENANT, identifier).state == ALARM
    # Two hot minutes land in the store, then the server stops before they are evaluated.
    cloud.send(start_ms + 3 * MINUTE, "h1", *hot)
    cloud.send(start_ms + 4 * MINUTE, "h1", *hot)
    cloud.settle()
    cloud.close()
    clock.ms = start_ms + 5 * MINUTE + 11_000
    again = Cloud(tmp_path, clock)
    again.settle()
    assert again.engine.repository.get(TENANT, identifier).state == ALARM
    # The rebuilt window holds minutes 3 and 4 from the store: one more cool minute clears it.
    run(again, start_ms, range(5, 6), {5: [10.0]})
    assert again.history(identifier) == [(UNDETERMINED, ALARM), (ALARM, OK)]
    again.close()


def test_a_replayed_backlog_does_not_go_undetermined(tmp_path: Path, start_ms: int) -> None:
    clock = Clock(start_ms)
    cloud = Cloud(tmp_path, clock)
    definition = scale_out(cloud)
    identifier = alarm_id(definition, ("h1",))
    run(cloud, start_ms, range(3), {})
    assert cloud.history(identifier) == [(UNDETERMINED, OK)]
    # The source goes quiet for 10 minutes, then replays what it spooled, oldest first, every 30 s.
    for step in range(20):
        now = start_ms + 3 * MINUTE + step * 30_000
        cloud.at(now)
        cloud.send(start_ms + step * 30_000 - 10 * MINUTE, "h1", 20.0)  # 13 minutes behind
        cloud.at(now + 29_000)
    assert cloud.history(identifier) == [(UNDETERMINED, OK)], "no false UNDETERMINED while catching up"
    # A source that stays silent does go UNDETERMINED once it is no longer catching up.
    cloud.at(start_ms + 30 * MINUTE)
    for minute in range(31, 40):
        cloud.at(start_ms + minute * MINUTE)
    assert cloud.history(identifier)[-1] == (OK, UNDETERMINED)
    cloud.close()


def test_deleting_a_definition_deletes_its_alarms_and_api_changes_notify(tmp_path: Path, start_ms: int) -> None:
    cloud = Cloud(tmp_path, Clock(start_ms))
    hook = cloud.notifications.methods.create(TENANT, "hook", "WEBHOOK", "http://127.0.0.1:9/x", 0)
    definition = scale_out(cloud, [hook.id])
    run(cloud, start_ms, range(1), {})
    identifier = alarm_id(definition, ("h1",))
    applied = cloud.engine.update_alarm(TENANT, identifier, {"state": ALARM, "lifecycle_state": "OPEN",
                                                              "link": "http://ticket/1"}).result(timeout=10)
    assert applied.record.state == ALARM and applied.record.link == "http://ticket/1"
    change = cloud.engine.repository.history(identifier)[-1]
    assert cloud.history(identifier) == [(UNDETERMINED, OK), (OK, ALARM)], cloud.history(identifier)
    assert (change.old_state, change.new_state, change.reason) == (OK, ALARM, "Alarm state updated via API")
    assert [d.transition.new_state for d in cloud.notifications.deliveries.list(TENANT, None, 0, 10)] == [ALARM]
    assert cloud.engine.update_alarm("other-project", identifier, {"state": OK}).result(timeout=10).record is None
    cloud.definitions.delete(TENANT, definition)
    assert cloud.engine.repository.get(TENANT, identifier) is None
    cloud.settle()
    assert not cloud.engine.evaluator.alarms and not len(cloud.engine.evaluator.routes)
    cloud.close()
