"""Monasca v2.0 alarm definitions against a real server: CRUD, validation, update rules, paging,
filters, sorting, tenancy, and python-monascaclient's alarm-definition commands."""

from __future__ import annotations

import pytest

from tests.conftest import ServerProcess

CPU = "avg(cpu.utilization_perc{service=compute}, 60) > 90 times 3"


@pytest.fixture(scope="module")
def api(shared_server: ServerProcess):  # noqa: ANN201
    token = shared_server.create_key("defs-a", "monasca-user")
    other = shared_server.create_key("defs-b", "monasca-user")
    reader = shared_server.create_key("defs-a", "monasca-read-only-user")
    with shared_server.client(token) as a, shared_server.client(other) as b, shared_server.client(reader) as r:
        yield a, b, r


def create(client, **fields):  # noqa: ANN001, ANN201
    body = {"name": fields.pop("name", "cpu high"), "expression": fields.pop("expression", CPU), **fields}
    return client.post("/v2.0/alarm-definitions", json=body)


def test_create_answers_201_with_monasca_fields(api) -> None:  # noqa: ANN001
    a, _, _ = api
    answer = create(a, name="create-1", match_by=["hostname"], severity="high", description="cpu busy")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["name"] == "create-1" and body["severity"] == "HIGH" and body["match_by"] == ["hostname"]
    assert body["actions_enabled"] is True and body["deterministic"] is False
    assert body["alarm_actions"] == [] and body["ok_actions"] == [] and body["undetermined_actions"] == []
    assert body["links"][0]["href"].endswith(f"/v2.0/alarm-definitions/{body['id']}")
    assert body["expression_data"] == {"function": "AVG", "metric_name": "cpu.utilization_perc",
                                       "dimensions": {"service": "compute"}, "operator": "GT", "threshold": 90.0,
                                       "period": 60, "periods": 3, "deterministic": False}
    fetched = a.get(f"/v2.0/alarm-definitions/{body['id']}")
    assert fetched.status_code == 200 and fetched.json() == body


def test_deterministic_only_when_every_sub_expression_is(api) -> None:  # noqa: ANN001
    a, _, _ = api
    both = create(a, name="det-1", expression="count(log.error{a=b}, deterministic, 120) > 1 and "
                                               "count(log.warn{a=b}, deterministic) > 5").json()
    one = create(a, name="det-2", expression="count(log.error{a=b}, deterministic) > 1 or max(x) > 3").json()
    assert both["deterministic"] is True and one["deterministic"] is False
    assert "expression_data" not in both


@pytest.mark.parametrize("expression, column", [("avg(cpu{a=b}) >", 16), ("avg(cpu{a=b} > 3", 14),
                                                ("foo(cpu) > 3", 1), ("avg(cpu, 30) > 1", 10)])
def test_a_parse_error_is_422_naming_the_column(api, expression, column) -> None:  # noqa: ANN001
    a, _, _ = api
    answer = create(a, name=f"bad {expression}", expression=expression)
    assert answer.status_code == 422
    body = answer.json()
    assert body["title"] == "Invalid alarm expression"
    assert f"at column {column}" in body["description"] or "column" in body["description"]


@pytest.mark.parametrize("fields, mention", [
    ({"name": ""}, "name"), ({"name": "x" * 256}, "name"), ({"description": "d" * 256}, "description"),
    ({"severity": "urgent"}, "severity"), ({"match_by": "hostname"}, "match_by"), ({"match_by": ["_x"]}, "_x"),
    ({"alarm_actions": "abc"}, "alarm_actions"), ({"alarm_actions": ["a", "a"]}, "twice"),
    ({"actions_enabled": "yes"}, "actions_enabled"), ({"alarm_actions": ["no-such-method"]}, "Non-existent"),
])
def test_invalid_fields_are_422_naming_them(api, fields, mention) -> None:  # noqa: ANN001
    a, _, _ = api
    answer = create(a, **{"name": f"invalid {mention}", **fields})
    assert answer.status_code == 422, answer.text
    assert mention in answer.json()["description"]


def test_missing_name_or_expression_and_bad_json(api) -> None:  # noqa: ANN001
    a, _, _ = api
    assert a.post("/v2.0/alarm-definitions", json={"expression": CPU}).status_code == 422
    assert a.post("/v2.0/alarm-definitions", json={"name": "no expression"}).status_code == 422
    assert a.post("/v2.0/alarm-definitions", content=b"{", headers={"Content-Type": "application/json"}).status_code == 400


def test_duplicate_name_is_409_per_project(api) -> None:  # noqa: ANN001
    a, b, _ = api
    assert create(a, name="dup").status_code == 201
    assert create(a, name="dup").status_code == 409
    assert create(b, name="dup").status_code == 201, "another project may use the same name"


def test_update_rules(api) -> None:  # noqa: ANN001
    a, _, _ = api
    created = create(a, name="upd", match_by=["hostname"], expression="avg(cpu{h=1}) > 90 and max(mem{h=1}) > 5").json()
    url = f"/v2.0/alarm-definitions/{created['id']}"
    patched = a.patch(url, json={"expression": "min(cpu{h=1}, 120) < 10 or avg(mem{h=1}) >= 7 times 2",
                                 "severity": "CRITICAL"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["severity"] == "CRITICAL" and patched.json()["match_by"] == ["hostname"]
    for body, mention in [({"match_by": ["device"]}, "match_by must not change"),
                          ({"expression": "avg(cpu{h=1}) > 90"}, "number of subexpressions"),
                          ({"expression": "avg(cpu{h=2}) > 90 and max(mem{h=1}) > 5"}, "metrics in subexpression")]:
        answer = a.patch(url, json=body)
        assert answer.status_code == 422 and mention in answer.json()["description"]
    incomplete = a.put(url, json={"name": "upd", "expression": created["expression"]})
    assert incomplete.status_code == 422, "PUT requires every field"
    full = {"name": "upd2", "description": "", "expression": created["expression"], "match_by": ["hostname"],
            "severity": "LOW", "alarm_actions": [], "ok_actions": [], "undetermined_actions": [],
            "actions_enabled": False}
    replaced = a.put(url, json=full)
    assert replaced.status_code == 200 and replaced.json()["name"] == "upd2"
    assert replaced.json()["actions_enabled"] is False


def test_list_filters_sort_and_paging(api) -> None:  # noqa: ANN001
    a, _, _ = api
    for index, severity in enumerate(["LOW", "CRITICAL", "MEDIUM", "HIGH"]):
        assert create(a, name=f"page-{index}", severity=severity,
                      expression=f"avg(disk{{device=sd{index}}}) > 90").status_code == 201
    listed = a.get("/v2.0/alarm-definitions", params={"severity": "critical|high"}).json()["elements"]
    assert {d["name"] for d in listed if d["name"].startswith("page-")} == {"page-1", "page-3"}
    by_dims = a.get("/v2.0/alarm-definitions", params={"dimensions": "device:sd2"}).json()["elements"]
    assert [d["name"] for d in by_dims] == ["page-2"]
    assert [d["name"] for d in a.get("/v2.0/alarm-definitions", params={"name": "page-0"}).json()["elements"]] == ["page-0"]
    ordered = a.get("/v2.0/alarm-definitions", params={"sort_by": "severity desc,name"}).json()["elements"]
    ranks = [["LOW", "MEDIUM", "HIGH", "CRITICAL"].index(d["severity"]) for d in ordered]
    assert ranks == sorted(ranks, reverse=True)
    names, url, params = [], "/v2.0/alarm-definitions", {"limit": "2", "sort_by": "name"}
    while url:
        page = a.get(url, params=params).json()
        names += [d["name"] for d in page["elements"]]
        nxt = [link["href"] for link in page["links"] if link["rel"] == "next"]
        url, params = (nxt[0], None) if nxt else (None, None)
    assert names == sorted(names) and len(names) == len(set(names)) >= 4
    assert a.get("/v2.0/alarm-definitions", params={"sort_by": "colour"}).status_code == 422
    assert a.get("/v2.0/alarm-definitions", params={"offset": "x"}).status_code == 422


def test_tenancy_and_roles(api) -> None:  # noqa: ANN001
    a, b, reader = api
    mine = create(a, name="private").json()
    url = f"/v2.0/alarm-definitions/{mine['id']}"
    assert b.get(url).status_code == 404
    assert b.patch(url, json={"severity": "HIGH"}).status_code == 404
    assert b.delete(url).status_code == 404
    assert "private" not in {d["name"] for d in b.get("/v2.0/alarm-definitions").json()["elements"]}
    assert reader.get(url).status_code == 200
    assert create(reader, name="nope").status_code == 403
    assert reader.delete(url).status_code == 403
    assert a.delete(url).status_code == 204 and a.get(url).status_code == 404


def test_monasca_cli_alarm_definition_and_notification_commands(shared_server: ServerProcess) -> None:
    from tests.support.monasca_cli import MonascaCLI

    cli = MonascaCLI(f"{shared_server.url}/v2.0", shared_server.create_key("defs-cli", "monasca-user"))
    method = cli.ok("notification-create", "scale-out", "WEBHOOK", "http://127.0.0.1:9/hook", "--period", "60",
                    "-j").json()
    assert method["type"] == "WEBHOOK" and method["period"] == 60
    assert {"type": "WEBHOOK"} in cli.json("notification-type-list")
    created = cli.ok("alarm-definition-create", "cpu-high", "avg(cpu.idle_perc{hostname=h1}) < 10 times 3",
                     "--match-by", "hostname,device", "--severity", "HIGH", "--alarm-actions", method["id"],
                     "--ok-actions", method["id"], "-j").json()
    assert created["match_by"] == ["hostname", "device"] and created["alarm_actions"] == [method["id"]]
    listed = cli.json("alarm-definition-list")
    assert [d["name"] for d in listed] == ["cpu-high"]
    shown = cli.json("alarm-definition-show", created["id"])
    assert shown["expression"] == "avg(cpu.idle_perc{hostname=h1}) < 10 times 3"
    cli.ok("alarm-definition-patch", created["id"], "--severity", "LOW")
    assert cli.json("alarm-definition-show", created["id"])["severity"] == "LOW"
    failed = cli.fail("alarm-definition-create", "broken", "avg(cpu.idle_perc{hostname=h1} < 10")
    assert "Invalid alarm expression" in failed.stderr + failed.stdout
    cli.ok("alarm-definition-delete", created["id"])
    assert cli.json("alarm-definition-list") == []
