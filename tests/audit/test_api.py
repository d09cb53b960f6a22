"""The audit trail of a real server: every change through the API and the CLI, the notifications
it sends, every refused request — read back with ``GET /v1/audit`` (filters, paging, who sees
what), durable before the answer, and intact by ``nephoscope audit verify``."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter

import httpx
import pytest

from nephoscope.audit import AuditQuery, AuditTrail, SqliteAuditStorage
from nephoscope.tenancy import ALL_TENANTS
from tests.conftest import ROOT, ServerProcess, wait_for
from tests.support.receivers import Receiver

pytestmark = pytest.mark.timeout(180)

AGENT = "nephoscope-audit-test/1.0 <b>bold</b>"


def audit(client: httpx.Client, **params: object) -> list[dict]:
    answer = client.get("/v1/audit", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()["elements"]


def follow(client: httpx.Client, **params: object) -> list[list[dict]]:
    pages, answer = [], client.get("/v1/audit", params=params)
    while True:
        assert answer.status_code == 200, answer.text
        pages.append(answer.json()["elements"])
        after = [link["href"] for link in answer.json()["links"] if link["rel"] == "next"]
        if not after:
            return pages
        answer = client.get(after[0])


@pytest.fixture(scope="module")
def cloud(shared_server: ServerProcess) -> dict:
    """Project chg's user makes every kind of change; its alarm's webhook goes to a receiver."""
    receiver = Receiver().start()
    token = shared_server.create_key("chg", "monasca-user")
    user = shared_server.client(token)
    user.headers["User-Agent"] = AGENT
    method = user.post("/v2.0/notification-methods", json={
        "name": "pager", "type": "WEBHOOK", "address": receiver.url + "/hook?sig=0123456789abcdef"}).json()
    user.patch(f"/v2.0/notification-methods/{method['id']}", json={"period": 0})
    definition = user.post("/v2.0/alarm-definitions", json={
        "name": "disk full", "expression": "max(disk.used_perc) > 90", "match_by": ["hostname"],
        "alarm_actions": [method["id"]], "severity": "HIGH"}).json()
    user.put(f"/v2.0/alarm-definitions/{definition['id']}", json={
        "name": "disk full", "expression": "max(disk.used_perc) > 95", "match_by": ["hostname"],
        "alarm_actions": [method["id"]], "ok_actions": [], "undetermined_actions": [], "severity": "CRITICAL",
        "description": "", "actions_enabled": True})
    assert user.post("/v2.0/metrics", json={"name": "disk.used_perc", "dimensions": {"hostname": "h1"},
                                            "timestamp": int(time.time() * 1000), "value": 1.0}).status_code == 204
    alarm = wait_for(lambda: user.get("/v2.0/alarms").json()["elements"], what="the alarm")[0]
    assert user.patch(f"/v2.0/alarms/{alarm['id']}", json={"lifecycle_state": "OPEN"}).status_code == 200
    assert user.put(f"/v2.0/alarms/{alarm['id']}", json={"state": "ALARM", "lifecycle_state": "OPEN",
                                                          "link": "http://tickets/1"}).status_code == 200
    wait_for(lambda: receiver.received, what="the webhook")
    assert user.delete(f"/v2.0/alarms/{alarm['id']}").status_code == 204
    assert user.delete(f"/v2.0/alarm-definitions/{definition['id']}").status_code == 204
    assert user.delete(f"/v2.0/alarm-definitions/{definition['id']}").status_code == 404
    assert user.delete(f"/v2.0/notification-methods/{method['id']}").status_code == 204
    yield {"server": shared_server, "user": user, "token": token, "method": method, "definition": definition,
           "alarm": alarm}
    user.close()
    receiver.stop()


def test_every_change_is_recorded_with_who_what_and_how_it_ended(cloud: dict) -> None:
    user, key_id = cloud["user"], cloud["token"].split("_")[1]
    changes = [e for e in reversed(audit(cloud["user"])) if e["action"] != "notify"
               and not e["target"]["type"].endswith("/api-key")]  # the fixture's key, made by the CLI
    seen = [(e["action"], e["target"]["type"].rpartition("/")[2], e["outcome"], e["reason"]["code"]) for e in changes]
    assert seen == [
        ("create", "notification-method", "success", "201"), ("update", "notification-method", "success", "200"),
        ("create", "alarm-definition", "success", "201"), ("update", "alarm-definition", "success", "200"),
        ("update", "alarm", "success", "200"), ("update", "alarm", "success", "200"),
        ("delete", "alarm", "success", "204"), ("delete", "alarm-definition", "success", "204"),
        ("delete", "alarm-definition", "failure", "404"), ("delete", "notification-method", "success", "204")]
    definition, method, alarm = cloud["definition"], cloud["method"], cloud["alarm"]
    assert [e["target"]["id"] for e in changes] == [method["id"]] * 2 + [definition["id"]] * 2 + [alarm["id"]] * 3 + \
        [definition["id"]] * 2 + [method["id"]]
    for element in changes:
        assert element["source"] == "nephoscope" and element["project_id"] == "chg"
        initiator = element["initiator"]
        assert {key: initiator[key] for key in ("id", "name", "project_id", "address", "agent", "type")} == {
            "id": key_id, "name": "API key", "project_id": "chg", "address": "127.0.0.1", "agent": AGENT,
            "type": "service/security/account/user"}
        # the CADF initiator itself, as pycadf wrote it
        assert initiator["typeURI"] == "service/security/account/user" and initiator["host"] == {
            "address": "127.0.0.1", "agent": AGENT}
        assert element["sequence"] >= 1 and len(element["hash"]) == 64
        assert element["event"]["typeURI"] == "http://schemas.dmtf.org/cloud/audit/1.0/event"
    created, replaced = changes[2], changes[3]
    assert created["target"]["name"] == "disk full" and created["details"]["request"]["expression"] == \
        "max(disk.used_perc) > 90"
    assert replaced["name"] == "replace alarm definition" and replaced["details"]["request"]["severity"] == "CRITICAL"
    assert changes[5]["details"]["request"] == {"state": "ALARM", "lifecycle_state": "OPEN", "link": "http://tickets/1"}
    assert changes[8]["reason"]["text"].startswith("No alarm definition with id")
    # the method's address is kept without what would let a reader use it
    assert changes[0]["details"]["request"]["address"].endswith("/hook") and "0123456789" not in str(changes)
    # a change is in the trail by the time its answer arrives
    assert user.post("/v2.0/notification-methods", json={"name": "now", "type": "EMAIL",
                                                         "address": "ops@example.org"}).status_code == 201
    assert audit(user, limit=1)[0]["target"]["name"] == "now"


def test_the_notification_the_change_caused_is_recorded(cloud: dict) -> None:
    [sent] = wait_for(lambda: audit(cloud["user"], action="notify"), what="the delivery record")
    assert sent["outcome"] == "success" and sent["initiator"]["id"] == "nephoscope"
    assert sent["target"]["id"] == cloud["method"]["id"] and sent["target"]["address"].endswith("/hook")
    assert sent["details"]["alarm_id"] == cloud["alarm"]["id"] and sent["details"]["new_state"] == "ALARM"


def test_keys_made_through_the_api_and_the_command_line(cloud: dict) -> None:
    server = cloud["server"]
    with server.client() as admin:
        made = admin.post("/v1/keys", json={"project": "kp", "roles": ["monasca-user"], "description": "ci"}).json()
        assert admin.delete(f"/v1/keys/{made['id']}").status_code == 204
        token = server.create_key("kp", "monasca-read-only-user")
        cli_key = token.split("_")[1]
        subprocess.run([sys.executable, "-m", "nephoscope", "keys", "revoke", cli_key, "--data-dir",
                        str(server.data_dir)], check=True, capture_output=True, cwd=ROOT)
        records = list(reversed(audit(admin, tenant_id="kp", target="api-key")))
    assert [(r["action"], r["target"]["id"]) for r in records] == [
        ("create", made["id"]), ("revoke", made["id"]), ("create", cli_key), ("revoke", cli_key)]
    assert [r["initiator"]["id"] for r in records[:2]] == ["static-admin-token"] * 2
    assert all(r["initiator"]["id"].startswith("os-user:") and r["initiator"]["agent"] == "nephoscope-cli"
               for r in records[2:])
    assert records[0]["details"]["request"] == {"project": "kp", "roles": ["monasca-user"], "description": "ci"}
    assert made["token"] not in str(records) and token not in str(records)


def test_who_sees_what(cloud: dict) -> None:
    server = cloud["server"]
    other = server.client(server.create_key("other", "monasca-read-only-user"))
    other.get("/v2.0/alarm-definitions")
    with server.client("no-such-token") as stranger:
        stranger.get("/v2.0/metrics")
    with server.client() as admin:
        everything = wait_for(lambda: [e for e in audit(admin, limit=1000) if e["outcome"] == "denied"] and
                              audit(admin, limit=1000), what="the refusal")
        projects = {e["project_id"] for e in everything}
        assert {"chg", "kp", "other", ""} <= projects, "an admin sees every project and the anonymous refusals"
        assert {e["project_id"] for e in audit(admin, tenant_id="chg", limit=1000)} == {"chg"}
    for element in audit(other, limit=1000):
        assert "other" in (element["project_id"], element["initiator"]["project_id"])
    assert {e["project_id"] for e in audit(cloud["user"], limit=1000)} == {"chg"}
    refused = cloud["user"].get("/v1/audit", params={"tenant_id": "other"})
    assert refused.status_code in (401, 403)
    other.close()


@pytest.mark.parametrize(("params", "check"), [
    ({"action": "delete"}, lambda e: e["action"] == "delete"),
    ({"action": "upd*"}, lambda e: e["action"].startswith("upd")),
    ({"outcome": "failure"}, lambda e: e["outcome"] == "failure"),
    ({"target": "alarm"}, lambda e: e["target"]["type"].endswith("/alarm")),
    ({"target": "service/oss/monitoring/alarm-definition"}, lambda e: e["target"]["type"].endswith("alarm-definition")),
    ({"initiator": "127.0.0.1", "source": "nephoscope"}, lambda e: e["initiator"]["address"] == "127.0.0.1"),
])
def test_filters(cloud: dict, params: dict, check) -> None:  # noqa: ANN001
    found = audit(cloud["user"], **params)
    assert found and all(check(element) for element in found), found
    assert len(found) < len(audit(cloud["user"], limit=1000))


def test_filter_by_target_id_initiator_and_time(cloud: dict) -> None:
    user, definition = cloud["user"], cloud["definition"]
    records = audit(user, target=definition["id"])
    assert len(records) == 4 and {r["target"]["id"] for r in records} == {definition["id"]}
    key_id = cloud["token"].split("_")[1]
    assert audit(user, initiator=key_id, limit=1000) == [e for e in audit(user, limit=1000)
                                                        if e["initiator"]["id"] == key_id]
    middle = records[1]["timestamp"]
    newer = audit(user, target=definition["id"], start_time=middle)
    older = audit(user, target=definition["id"], end_time=middle)
    assert len(newer) + len(older) == 4 and all(r["timestamp"] >= middle for r in newer)


def test_paging_gives_every_record_once_newest_first(cloud: dict) -> None:
    user = cloud["user"]
    whole = audit(user, limit=1000)
    pages = follow(user, limit=3)
    assert [len(page) for page in pages[:-1]] == [3] * (len(pages) - 1)
    flat = [element for page in pages for element in page]
    assert [e["id"] for e in flat] == [e["id"] for e in whole]
    keys = [(e["timestamp"], e["sequence"]) for e in flat]
    assert keys == sorted(keys, reverse=True)


@pytest.mark.parametrize(("params", "field"), [
    ({"bogus": "1"}, "bogus"), ({"outcome": "maybe"}, "outcome"), ({"source": "elsewhere"}, "source"),
    ({"offset": "garbage"}, "offset"), ({"offset": "12:n:x"}, "offset"), ({"limit": "-1"}, "limit"),
    ({"start_time": "yesterday"}, "start_time"), ({"target": "x" * 300}, "target"),
])
def test_bad_parameters_are_422_naming_the_field(cloud: dict, params: dict, field: str) -> None:
    answer = cloud["user"].get("/v1/audit", params=params)
    assert answer.status_code == 422 and answer.json()["field"] == field, answer.text


def test_the_endpoint_is_documented(cloud: dict) -> None:
    document = cloud["user"].get("/openapi.json").json()
    operation = document["paths"]["/v1/audit"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"start_time", "end_time", "initiator", "action", "outcome", "target", "source", "limit", "offset"} <= names
    assert "denied" in str(operation)


def test_refusal_floods_are_coalesced_and_counted_exactly(server: ServerProcess) -> None:
    """600 requests with a bad token, 50 without one, 30 refused by policy: a handful of records whose
    counts add up exactly (the rest is written at shutdown), and the server keeps answering at speed."""
    agent = server.create_key("pa", "monasca-agent")
    started = time.perf_counter()
    with server.client("bad-token") as scanner:
        statuses = Counter(scanner.get("/v2.0/metrics", params={"name": f"m{i}"}).status_code for i in range(600))
    with server.client(None) as anonymous:
        statuses.update(anonymous.get("/v2.0/alarms").status_code for _ in range(50))
    with server.client(agent) as limited:
        statuses.update(limited.get("/v2.0/alarm-definitions").status_code for _ in range(30))
    elapsed = time.perf_counter() - started
    assert statuses[401] >= 650 and sum(statuses.values()) == 680
    with server.client() as admin:
        first = wait_for(lambda: [e for e in audit(admin, outcome="denied", limit=100) if e["count"]] and
                         len({e["reason"]["text"] for e in audit(admin, outcome="denied", limit=100)}) == 3 and
                         audit(admin, outcome="denied", limit=100), what="the refusal records")
    policy = [e for e in first if e["reason"]["code"] == "403"]
    assert policy and policy[0]["initiator"]["id"] == agent.split("_")[1] and policy[0]["project_id"] == "pa"
    assert policy[0]["target"]["id"] == "/v2.0/alarm-definitions" and policy[0]["action"] == "read"
    assert "roles" in policy[0]["reason"]["text"]
    server.stop()  # a clean shutdown writes the counts not yet written
    trail = AuditTrail(SqliteAuditStorage(server.data_dir, read_only=True))
    denied = [e for e in trail.page(ALL_TENANTS, AuditQuery(), None, 1000).entries if e.as_dict()["outcome"] == "denied"]
    by_reason = Counter()
    for entry in denied:
        by_reason[(entry.as_dict()["reason"]["code"], entry.as_dict()["reason"]["text"])] += entry.count
    assert sorted(by_reason.values()) == [30, 50, 600]
    assert len(denied) <= 6, "at most two records per kind of refusal per minute"
    assert trail.verify().intact
    assert elapsed < 30


def test_a_change_is_durable_when_answered(server: ServerProcess) -> None:
    with server.client() as admin:
        created = admin.post("/v2.0/alarm-definitions", json={"name": "durable", "expression": "avg(x) > 1"})
        assert created.status_code == 201
    server.kill9()
    server.start()
    with server.client() as admin:
        [record] = audit(admin, target=created.json()["id"])
    assert record["action"] == "create" and record["outcome"] == "success"
    result = subprocess.run([sys.executable, "-m", "nephoscope", "audit", "verify", "--data-dir",
                             str(server.data_dir)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0 and result.stdout.startswith("intact:"), result.stdout + result.stderr
