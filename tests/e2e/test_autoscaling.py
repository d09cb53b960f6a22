"""Auto-scaling end to end, in real time, through the server: a webhook receiver stands in for
a Heat scaling-policy signal URL.

Two hosts report through POST /v2.0/metrics. "spiky" has one 95 % sample among normal ones;
"hot" runs above 90 for three consecutive minutes. When those minutes' period closes (plus
the grace), exactly one scale-up POST arrives — for "hot" only; when "hot" cools down, the
scale-down (OK) action fires once. The minutes before the current one are sent with their
own timestamps, so the scenario needs two period closes, not five.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, wait_for

pytestmark = pytest.mark.timeout(300)
MINUTE = 60_000
GRACE_SECONDS = 2



def send(client: httpx.Client, host: str, minute_start: int, *values: float) -> None:
    metrics = [{"name": "cpu.utilization_perc", "dimensions": {"service": "compute", "hostname": host},
                "timestamp": minute_start + 1_000 + 10_000 * index, "value": value} for index, value in enumerate(values)]
    assert client.post("/v2.0/metrics", json=metrics).status_code == 204


@pytest.fixture
def server(tmp_path: Path):
    process = ServerProcess(tmp_path / "data", extra_env={"NEPHOSCOPE_ALARMS_GRACE_SECONDS": str(GRACE_SECONDS)})
    process.start()
    yield process
    process.stop()


def test_heat_style_scaling_one_spike_nothing_three_hot_minutes_one_post_then_one_ok(server, receiver) -> None:
    client = server.client(server.create_key("tenant-heat", "monasca-user"))
    up = client.post("/v2.0/notification-methods", json={"name": "scale up", "type": "WEBHOOK",
                                                         "address": receiver.url + "/signal/up"}).json()["id"]
    down = client.post("/v2.0/notification-methods", json={"name": "scale down", "type": "WEBHOOK",
                                                           "address": receiver.url + "/signal/down"}).json()["id"]
    created = client.post("/v2.0/alarm-definitions", json={
        "name": "cpu high", "expression": "avg(cpu.utilization_perc{service=compute}) > 90 times 3",
        "match_by": ["hostname"], "severity": "HIGH", "alarm_actions": [up], "ok_actions": [down]})
    assert created.status_code == 201, created.text

    # Leave at least 15 s before the minute closes, so everything below lands in this minute.
    if int(time.time() * 1000) % MINUTE > 40_000:
        time.sleep((MINUTE - int(time.time() * 1000) % MINUTE) / 1000 + 0.5)
    current = (int(time.time() * 1000) // MINUTE) * MINUTE
    for offset, values in ((-2, (20.0, 21.0)), (-1, (95.0, 20.0, 22.0)), (0, (20.0, 22.0))):
        send(client, "spiky", current + offset * MINUTE, *values)
    for offset in (-2, -1, 0):
        send(client, "hot", current + offset * MINUTE, 93.0, 96.0, 99.0)

    fired = wait_for(lambda: receiver.bodies("/signal/up"), 90, "the scale-up signal")
    closed_at = (current + MINUTE) / 1000 + GRACE_SECONDS
    assert time.time() - closed_at < 10, "the POST follows the period's close within seconds"
    send(client, "hot", current + MINUTE, 10.0, 12.0)  # the fourth minute is cool
    scaled_down = wait_for(lambda: [b for b in receiver.bodies("/signal/down") if b["old_state"] == "ALARM"], 90,
                           "the scale-down (OK) action")
    time.sleep(GRACE_SECONDS + 1)

    ups = receiver.bodies("/signal/up")
    assert len(ups) == 1 and fired == ups
    assert ups[0]["state"] == "ALARM" and ups[0]["alarm_name"] == "cpu high"
    assert ups[0]["metrics"] == [{"name": "cpu.utilization_perc",
                                  "dimensions": {"hostname": "hot", "service": "compute"}}]
    assert ups[0]["tenant_id"] == "tenant-heat" and ups[0]["idempotency_key"]
    assert len(scaled_down) == 1 and scaled_down[0]["metrics"][0]["dimensions"]["hostname"] == "hot"
    downs = sorted((body["metrics"][0]["dimensions"]["hostname"], body["old_state"], body["state"])
                   for body in receiver.bodies("/signal/down"))
    # spiky's first evaluation takes it from UNDETERMINED to OK, which (as in Monasca) runs the OK action.
    assert downs == [("hot", "ALARM", "OK"), ("spiky", "UNDETERMINED", "OK")]

    alarms = client.get("/v2.0/alarms", params={"metric_dimensions": "hostname:hot"}).json()["elements"]
    assert [a["state"] for a in alarms] == ["OK"]
    history = client.get(f"/v2.0/alarms/{alarms[0]['id']}/state-history").json()["elements"]
    assert [(h["old_state"], h["new_state"]) for h in history] == [("UNDETERMINED", "ALARM"), ("ALARM", "OK")]
    assert history[0]["reason"].startswith("Thresholds were exceeded for the sub-alarms: AVG(cpu.utilization_perc")
