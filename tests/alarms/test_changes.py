"""Alarms made by the engine from real metrics, changed through the API and the monasca CLI:
PUT / PATCH / DELETE one alarm (history and notifications follow), deleting a definition
deletes its alarms, and nothing crosses projects."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import ServerProcess, wait_for
from tests.support.monasca_cli import MonascaCLI
from tests.support.receivers import Receiver

pytestmark = pytest.mark.timeout(120)



@pytest.fixture
def cloud(server: ServerProcess, receiver: Receiver) -> dict:
    """Project p1 with a webhook method, a definition with actions, and alarms for two hosts."""
    user = server.client(server.create_key("p1", "monasca-user"))
    method = user.post("/v2.0/notification-methods",
                       json={"name": "hook", "type": "WEBHOOK", "address": receiver.url + "/hook"}).json()["id"]
    definition = user.post("/v2.0/alarm-definitions", json={
        "name": "disk full", "expression": "max(disk.space_used_perc) > 90", "match_by": ["hostname"],
        "alarm_actions": [method], "ok_actions": [method], "undetermined_actions": [method]}).json()["id"]
    now = int(time.time() * 1000)
    assert user.post("/v2.0/metrics", json=[
        {"name": "disk.space_used_perc", "dimensions": {"hostname": host, "device": "vda"}, "timestamp": now,
         "value": 40.0} for host in ("h1", "h2")]).status_code == 204
    alarms = wait_for(lambda: len(user.get("/v2.0/alarms").json()["elements"]) == 2 and
                      user.get("/v2.0/alarms", params={"sort_by": "alarm_id"}).json()["elements"], what="two alarms")
    return {"user": user, "definition": definition, "alarms": alarms, "method": method}


def test_alarms_appear_from_metrics_with_monasca_shape(cloud: dict) -> None:
    hosts = sorted(alarm["metrics"][0]["dimensions"]["hostname"] for alarm in cloud["alarms"])
    assert hosts == ["h1", "h2"]
    alarm = cloud["alarms"][0]
    assert alarm["state"] == "UNDETERMINED" and alarm["lifecycle_state"] is None and alarm["link"] is None
    assert alarm["alarm_definition"]["id"] == cloud["definition"]


def test_put_sets_state_lifecycle_and_link_records_history_and_notifies(cloud: dict, receiver: Receiver) -> None:
    user, alarm = cloud["user"], cloud["alarms"][0]
    answer = user.put(f"/v2.0/alarms/{alarm['id']}",
                      json={"state": "alarm", "lifecycle_state": "ACKNOWLEDGED", "link": "http://tickets/42"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["state"], body["lifecycle_state"], body["link"]) == ("ALARM", "ACKNOWLEDGED", "http://tickets/42")
    assert user.get(f"/v2.0/alarms/{alarm['id']}").json() == body
    history = user.get(f"/v2.0/alarms/{alarm['id']}/state-history").json()["elements"]
    assert [(h["old_state"], h["new_state"], h["reason"]) for h in history] == [
        ("UNDETERMINED", "ALARM", "Alarm state updated via API")]
    posted = wait_for(lambda: receiver.bodies("/hook"), what="the ALARM action")
    assert posted[0]["state"] == "ALARM" and posted[0]["alarm_id"] == alarm["id"]
    assert user.get("/v2.0/alarms", params={"lifecycle_state": "ACKNOWLEDGED"}).json()["elements"][0]["id"] == alarm["id"]


@pytest.mark.parametrize("body, field", [
    ({"lifecycle_state": "OPEN", "link": "x"}, "state"),
    ({"state": "OK", "link": "x"}, "lifecycle_state"),
    ({"state": "OK", "lifecycle_state": "OPEN"}, "link"),
    ({"state": "BROKEN", "lifecycle_state": "OPEN", "link": "x"}, "state"),
    ({"state": "OK", "lifecycle_state": "x" * 51, "link": "x"}, "lifecycle_state"),
    ({"state": "OK", "lifecycle_state": "OPEN", "link": "x" * 513}, "link"),
    ({"state": 3, "lifecycle_state": "OPEN", "link": "x"}, "state"),
])
def test_put_needs_all_three_valid_fields(cloud: dict, body: dict, field: str) -> None:
    answer = cloud["user"].put(f"/v2.0/alarms/{cloud['alarms'][0]['id']}", json=body)
    assert answer.status_code == 422 and answer.json()["field"] == field, answer.text


def test_patch_changes_only_what_it_names(cloud: dict) -> None:
    user, alarm = cloud["user"], cloud["alarms"][1]
    answer = user.patch(f"/v2.0/alarms/{alarm['id']}", json={"link": "http://runbook", "state": None})
    assert answer.status_code == 200
    assert (answer.json()["state"], answer.json()["link"]) == ("UNDETERMINED", "http://runbook")
    assert user.get(f"/v2.0/alarms/{alarm['id']}/state-history").json()["elements"] == []
    assert user.patch(f"/v2.0/alarms/{alarm['id']}", content=b"[1]").status_code == 400


def test_delete_one_alarm(cloud: dict) -> None:
    user, alarm = cloud["user"], cloud["alarms"][0]
    assert user.delete(f"/v2.0/alarms/{alarm['id']}").status_code == 204
    assert user.get(f"/v2.0/alarms/{alarm['id']}").status_code == 404
    assert user.delete(f"/v2.0/alarms/{alarm['id']}").status_code == 404
    assert [a["id"] for a in user.get("/v2.0/alarms").json()["elements"]] == [cloud["alarms"][1]["id"]]


def test_deleting_the_definition_deletes_its_alarms(cloud: dict) -> None:
    user = cloud["user"]
    assert user.delete(f"/v2.0/alarm-definitions/{cloud['definition']}").status_code == 204
    assert user.get("/v2.0/alarms").json()["elements"] == []
    assert user.get(f"/v2.0/alarms/{cloud['alarms'][0]['id']}").status_code == 404


def test_other_projects_and_read_only_keys_cannot_change_alarms(server: ServerProcess, cloud: dict) -> None:
    target = f"/v2.0/alarms/{cloud['alarms'][0]['id']}"
    other = server.client(server.create_key("p2", "monasca-user"))
    full = {"state": "OK", "lifecycle_state": "OPEN", "link": "x"}
    assert other.put(target, json=full).status_code == 404
    assert other.patch(target, json={"state": "OK"}).status_code == 404
    assert other.delete(target).status_code == 404
    reader = server.client(server.create_key("p1", "monasca-read-only-user"))
    assert reader.put(target, json=full).status_code == 403
    assert reader.delete(target).status_code == 403
    admin = server.client()
    assert admin.patch(target, params={"tenant_id": "p1"}, json={"link": "by-admin"}).json()["link"] == "by-admin"
    assert cloud["user"].get(target).json()["state"] == "UNDETERMINED"


def test_the_monasca_cli_lists_patches_and_shows_history(server: ServerProcess, cloud: dict) -> None:
    key = server.create_key("p1", "monasca-user")
    cli = MonascaCLI(f"{server.url}/v2.0", key)
    alarm = cloud["alarms"][0]["id"]
    cli.ok("alarm-patch", alarm, "--state", "OK", "--lifecycle-state", "RESOLVED")
    listed, history = cli.json_all(("alarm-list", "--state", "OK"), ("alarm-history", alarm))
    assert [element["id"] for element in listed] == [alarm]
    assert [(h["old_state"], h["new_state"]) for h in history] == [("UNDETERMINED", "OK")]
    cli.ok("alarm-delete", alarm)
    assert cli.json("alarm-list") and alarm not in [element["id"] for element in cli.json("alarm-list")]


def test_alarms_and_history_survive_a_kill9(server: ServerProcess, cloud: dict) -> None:
    user, alarm = cloud["user"], cloud["alarms"][0]
    user.put(f"/v2.0/alarms/{alarm['id']}", json={"state": "ALARM", "lifecycle_state": "OPEN", "link": "l"})
    server.kill9()
    server.start()
    with httpx.Client(base_url=server.url, headers=user.headers, timeout=30) as again:
        assert again.get(f"/v2.0/alarms/{alarm['id']}").json()["state"] == "ALARM"
        history = again.get(f"/v2.0/alarms/{alarm['id']}/state-history").json()["elements"]
        assert [h["new_state"] for h in history] == ["ALARM"]
        assert len(again.get("/v2.0/alarms").json()["elements"]) == 2


def test_the_engine_status_is_for_admins(server: ServerProcess, cloud: dict) -> None:
    status = server.client().get("/v1/admin/alarm-engine").json()
    assert status["instances"] == 2 and status["definitions"] == 1 and status["routes"] == 2
    assert status["points_evaluated"] >= 2 and status["cpu_seconds"] > 0 and status["pending_points"] >= 0
    assert cloud["user"].get("/v1/admin/alarm-engine").status_code == 403
