"""Monasca v2.0 alarms (read side) against a real server: list, get, count and state history.

Definitions are created over HTTP; alarms and history are written straight into the server's
``alarms.sqlite`` while it is stopped (the alarm engine is not involved), then the server is
started again and every endpoint is exercised: filters, 422s, sorting, ``next`` links,
counts, both state-history paths (with the CLI's trailing slash), roles and tenancy, and the
unmodified python-monascaclient CLI reading it all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from nephoscope.alarms.repository import (
    AlarmDatabase,
    AlarmRecord,
    AlarmRepository,
    StateChange,
)
from tests.conftest import ServerProcess
from tests.support.monasca_cli import MonascaCLI

A, B = "alarms-proj-a", "alarms-proj-b"
T = 1_700_000_000  # 2023-11-14T22:13:20Z
T_MS = T * 1000


def alarm_id(prefix: str, number: int) -> str:
    return f"{prefix * 8}-0000-4000-8000-{number:012d}"


A1, A2, A3, A4, A5 = (alarm_id("a", n) for n in range(1, 6))
B1, B2 = alarm_id("b", 1), alarm_id("b", 2)
GONE = alarm_id("d", 9)  # a deleted alarm of A: history only


@dataclass
class World:
    server: ServerProcess
    keys: dict[str, str]
    definitions: dict[str, dict]  # label -> the definition as POST answered it

    def client(self, key: str = "a-user") -> httpx.Client:
        return self.server.client(self.keys[key])


def metric(name: str, **dimensions: str) -> dict:
    return {"name": name, "dimensions": dimensions}


def change(alarm: str, tenant: str, offset_ms: int, old: str, new: str, metrics: list[dict]) -> StateChange:
    return StateChange(alarm_id=alarm, tenant=tenant, timestamp_ms=T_MS + offset_ms, old_state=old, new_state=new,
                       reason=f"moved from {old} to {new}", metrics=metrics,
                       sub_alarms=[{"sub_alarm_expression": {
                           "function": "AVG", "metric_name": "cpu.idle", "dimensions": {}, "operator": "GT",
                           "threshold": 15.0, "period": 60, "periods": 1, "deterministic": False},
                           "sub_alarm_state": new, "current_values": [1.5]}],
                       reason_data={"source": "test"})


def seed(data_dir: Path, definitions: dict[str, dict]) -> None:
    cpu, disk, other = definitions["cpu"]["id"], definitions["disk"]["id"], definitions["b"]["id"]
    rows = [  # id, definition, tenant, state, lifecycle_state, link, created, updated, state updated, metrics
        (A1, cpu, A, "ALARM", "OPEN", "http://ticket/1", T, T + 60, T + 30.25,
         [metric("cpu.idle", hostname="h1", service="compute")]),
        (A2, cpu, A, "OK", None, None, T + 1, T + 2, T + 2, [metric("cpu.idle", hostname="h2", service="compute")]),
        (A3, disk, A, "UNDETERMINED", "ACKNOWLEDGED", None, T + 2, T + 3, T + 10,
         [metric("disk.used", hostname="h1", device="vda")]),
        (A4, disk, A, "ALARM", None, "http://ticket/2", T + 3, T + 4, T + 40,
         [metric("disk.used", hostname="h2", device="vda")]),
        (A5, cpu, A, "OK", None, None, T + 4, T + 5, T + 5, [metric("cpu.idle", hostname="h3", service="compute")]),
        (B1, other, B, "ALARM", "OPEN", "http://ticket/1", T, T, T + 50, [metric("cpu.idle", hostname="b-host")]),
        (B2, other, B, "OK", None, None, T, T, T, [metric("b.secret", hostname="b-host")]),
    ]
    records = [AlarmRecord(id=identifier, definition_id=definition, tenant=tenant, instance=(), state=state,
                           sub_states=[state], created_at=created, updated_at=updated, state_updated_at=state_updated,
                           lifecycle_state=lifecycle_state, link=link, metrics=metrics)
               for (identifier, definition, tenant, state, lifecycle_state, link, created, updated, state_updated,
                    metrics) in rows]
    new_metrics = [(row[0], one) for row in rows for one in row[-1]]
    cpu_h1 = [metric("cpu.idle", hostname="h1", service="compute")]
    history = [
        change(A1, A, 1000, "UNDETERMINED", "OK", cpu_h1),
        change(A3, A, 1000, "OK", "UNDETERMINED", [metric("disk.used", hostname="h1", device="vda")]),
        change(A1, A, 2000, "OK", "ALARM", cpu_h1),
        change(A4, A, 2000, "OK", "ALARM", [metric("disk.used", hostname="h2", device="vda")]),
        change(A2, A, 3000, "UNDETERMINED", "OK", [metric("cpu.idle", hostname="h2", service="compute")]),
        change(GONE, A, 4000, "OK", "ALARM", []),
        change(B1, B, 1000, "UNDETERMINED", "ALARM", [metric("cpu.idle", hostname="b-host")]),
    ]
    database = AlarmDatabase(data_dir)
    AlarmRepository(database).save(records, new_metrics, history)
    database.close()


A_HISTORY = [(A1, 1000), (A3, 1000), (A1, 2000), (A4, 2000), (A2, 3000), (GONE, 4000)]


@pytest.fixture(scope="module")
def world(shared_server: ServerProcess) -> World:
    server = shared_server
    keys = {"a-user": server.create_key(A, "monasca-user"), "a-reader": server.create_key(A, "monasca-read-only-user"),
            "a-agent": server.create_key(A, "monasca-agent"), "b-user": server.create_key(B, "monasca-user"),
            "admin": server.admin_token}
    definitions = {}
    for label, key, name, severity in (("cpu", "a-user", "api cpu high", "LOW"),
                                       ("disk", "a-user", "api disk full", "CRITICAL"),
                                       ("b", "b-user", "api b secret", "HIGH")):
        with server.client(keys[key]) as client:
            answer = client.post("/v2.0/alarm-definitions",
                                 json={"name": name, "expression": "avg(cpu.idle) > 15", "severity": severity})
            assert answer.status_code == 201, answer.text
            definitions[label] = answer.json()
    server.stop()
    seed(server.data_dir, definitions)
    server.start()
    return World(server, keys, definitions)


def get(world: World, path: str, key: str = "a-user", **params: object) -> httpx.Response:
    with world.client(key) as client:
        return client.get(path, params=params)


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [element["id"] for element in response.json()["elements"]]


def follow(world: World, path: str, key: str = "a-user", **params: object) -> tuple[list[dict], list[dict]]:
    """Every element over every page, following ``next`` links; also the pages' bodies."""
    elements, bodies = [], []
    with world.client(key) as client:
        response = client.get(path, params=params)
        while True:
            assert response.status_code == 200, response.text
            body = response.json()
            bodies.append(body)
            elements += body["elements"]
            following = [link["href"] for link in body["links"] if link["rel"] == "next"]
            if not following:
                return elements, bodies
            assert len(bodies) < 50, "next links do not end"
            response = client.get(following[0])


def assert_unprocessable(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["title"] == "Unprocessable Entity" and body["field"] == field, body
    assert body["description"], body


# -- list and get ---------------------------------------------------------------------------------------------

def test_list_elements_have_monasca_shape(world: World) -> None:
    response = get(world, "/v2.0/alarms")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["links"] == [{"rel": "self", "href": f"{world.server.url}/v2.0/alarms"}]
    assert [element["id"] for element in body["elements"]] == [A1, A2, A3, A4, A5]
    cpu = world.definitions["cpu"]
    definition_href = f"{world.server.url}/v2.0/alarm-definitions/{cpu['id']}"
    assert body["elements"][0] == {
        "id": A1,
        "links": [{"rel": "self", "href": f"{world.server.url}/v2.0/alarms/{A1}"},
                  {"rel": "state-history", "href": f"{world.server.url}/v2.0/alarms/{A1}/state-history"}],
        "alarm_definition": {"id": cpu["id"], "name": "api cpu high", "severity": "LOW",
                             "links": [{"rel": "self", "href": definition_href}]},
        "metrics": [{"name": "cpu.idle", "dimensions": {"hostname": "h1", "service": "compute"}}],
        "state": "ALARM", "lifecycle_state": "OPEN", "link": "http://ticket/1",
        "state_updated_timestamp": "2023-11-14T22:13:50.250Z",
        "updated_timestamp": "2023-11-14T22:14:20.000Z",
        "created_timestamp": "2023-11-14T22:13:20.000Z",
    }
    assert body["elements"][1]["lifecycle_state"] is None and body["elements"][1]["link"] is None


def test_get_one_alarm_matches_its_list_element(world: World) -> None:
    listed = {element["id"]: element for element in get(world, "/v2.0/alarms").json()["elements"]}
    for alarm in (A1, A3):
        response = get(world, f"/v2.0/alarms/{alarm}")
        assert response.status_code == 200, response.text
        assert response.json() == listed[alarm]
    assert get(world, f"/v2.0/alarms/{A3}", key="a-reader").json() == listed[A3]


def test_unknown_alarm_is_404_in_falcon_shape(world: World) -> None:
    response = get(world, "/v2.0/alarms/no-such-alarm")
    assert response.status_code == 404
    assert set(response.json()) >= {"title", "description"}


@pytest.mark.parametrize("params, expected", [
    ({"state": "alarm"}, [A1, A4]),
    ({"state": "UNDETERMINED"}, [A3]),
    ({"severity": "critical"}, [A3, A4]),
    ({"severity": "LOW|critical"}, [A1, A2, A3, A4, A5]),
    ({"severity": "HIGH"}, []),
    ({"metric_name": "disk.used"}, [A3, A4]),
    ({"metric_dimensions": "hostname:h1"}, [A1, A3]),
    ({"metric_dimensions": "hostname:h1|h3"}, [A1, A3, A5]),
    ({"metric_dimensions": "device"}, [A3, A4]),
    ({"metric_dimensions": "service:,hostname:h2"}, [A2]),
    ({"metric_dimensions": ["device:vda", "hostname:h2"]}, [A4]),  # repeated parameters merge
    ({"metric_name": "cpu.idle", "metric_dimensions": "hostname:h1"}, [A1]),
    ({"lifecycle_state": "ACKNOWLEDGED"}, [A3]),
    ({"link": "http://ticket/2"}, [A4]),
    ({"state": "ALARM", "severity": "LOW"}, [A1]),
    ({"state_updated_start_time": "2023-11-14T22:13:50Z"}, [A1, A4]),
    ({"state_updated_start_time": "2023-11-14T22:13:50.250Z"}, [A1, A4]),  # at or after, to the millisecond
    ({"state_updated_start_time": "2023-11-14T22:13:50.251000Z"}, [A4]),
    ({"state_updated_start_time": "2023-11-14T22:13:25Z"}, [A1, A3, A4, A5]),
])
def test_list_filters(world: World, params: dict, expected: list[str]) -> None:
    assert ids(get(world, "/v2.0/alarms", **params)) == expected


def test_definition_filter(world: World) -> None:
    assert ids(get(world, "/v2.0/alarms", alarm_definition_id=world.definitions["disk"]["id"])) == [A3, A4]
    assert ids(get(world, "/v2.0/alarms", alarm_definition_id=world.definitions["b"]["id"])) == []


@pytest.mark.parametrize("params, field", [
    ({"state": "broken"}, "state"),
    ({"severity": "LOW|urgent"}, "severity"),
    ({"sort_by": "colour"}, "sort_by"),
    ({"sort_by": "state sideways"}, "sort_by"),
    ({"sort_by": "state asc extra"}, "sort_by"),
    ({"offset": "abc"}, "offset"),
    ({"offset": "-3"}, "offset"),
    ({"limit": "ten"}, "limit"),
    ({"limit": "²"}, "limit"),  # str.isdigit() says yes, int() says no
    ({"limit": "9" * 5000}, "limit"),
    ({"offset": "9" * 5000}, "offset"),
    ({"state_updated_start_time": "yesterday"}, "state_updated_start_time"),
    ({"metric_dimensions": "_hidden:x"}, "metric_dimensions"),
])
def test_bad_list_parameters_are_422_naming_the_field(world: World, params: dict, field: str) -> None:
    assert_unprocessable(get(world, "/v2.0/alarms", **params), field)


@pytest.mark.parametrize("sort_by, expected", [
    ("severity desc", [A3, A4, A1, A2, A5]),
    ("severity", [A1, A2, A5, A3, A4]),
    ("state", [A2, A5, A3, A1, A4]),
    ("state desc,severity desc", [A4, A1, A3, A2, A5]),
    ("state_updated_timestamp desc", [A4, A1, A3, A5, A2]),
    ("created_timestamp DESC", [A5, A4, A3, A2, A1]),
    ("alarm_definition_name asc, alarm_id desc", [A5, A2, A1, A4, A3]),
    ("lifecycle_state", [A2, A4, A5, A3, A1]),
])
def test_sort_by(world: World, sort_by: str, expected: list[str]) -> None:
    assert ids(get(world, "/v2.0/alarms", sort_by=sort_by)) == expected


def test_next_links_page_through_everything_once(world: World) -> None:
    everything = ids(get(world, "/v2.0/alarms", sort_by="severity desc"))
    elements, bodies = follow(world, "/v2.0/alarms", sort_by="severity desc", limit=2)
    assert [element["id"] for element in elements] == everything
    assert [len(body["elements"]) for body in bodies] == [2, 2, 1]
    next_link = next(link["href"] for link in bodies[0]["links"] if link["rel"] == "next")
    query = parse_qs(urlsplit(next_link).query)
    assert query == {"sort_by": ["severity desc"], "limit": ["2"], "offset": ["2"]}
    assert [link["rel"] for link in bodies[-1]["links"]] == ["self"]


def test_limit_larger_than_the_result_has_no_next(world: World) -> None:
    body = get(world, "/v2.0/alarms", limit=5).json()
    assert len(body["elements"]) == 5 and [link["rel"] for link in body["links"]] == ["self"]


# -- count ----------------------------------------------------------------------------------------------------

def test_count_without_group_by(world: World) -> None:
    response = get(world, "/v2.0/alarms/count")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {"links": [{"rel": "self", "href": f"{world.server.url}/v2.0/alarms/count"}],
                    "columns": ["count"], "counts": [[5]]}
    assert "elements" not in body
    assert get(world, "/v2.0/alarms/count", state="ALARM").json()["counts"] == [[2]]


def test_count_grouped(world: World) -> None:
    body = get(world, "/v2.0/alarms/count", group_by="state,severity").json()
    assert body["columns"] == ["count", "state", "severity"]
    assert body["counts"] == [[1, "ALARM", "CRITICAL"], [1, "ALARM", "LOW"], [2, "OK", "LOW"],
                              [1, "UNDETERMINED", "CRITICAL"]]
    by_name = get(world, "/v2.0/alarms/count", group_by=["name", "lifecycle_state"]).json()
    assert by_name["counts"] == [[2, "api cpu high", None], [1, "api cpu high", "OPEN"],
                                 [1, "api disk full", None], [1, "api disk full", "ACKNOWLEDGED"]]
    dimensions = get(world, "/v2.0/alarms/count", group_by="dimension_name,dimension_value").json()
    assert dimensions["counts"] == [[2, "device", "vda"], [2, "hostname", "h1"], [2, "hostname", "h2"],
                                    [1, "hostname", "h3"], [3, "service", "compute"]]
    assert sum(row[0] for row in dimensions["counts"]) > 5  # an alarm counts once per dimension it carries
    metric_names = get(world, "/v2.0/alarms/count", group_by="metric_name", metric_dimensions="hostname:h1").json()
    assert metric_names["counts"] == [[1, "cpu.idle"], [1, "disk.used"]]


def test_count_with_no_match_is_zero_and_nulls(world: World) -> None:
    body = get(world, "/v2.0/alarms/count", group_by="state,link", link="http://nowhere").json()
    assert body["columns"] == ["count", "state", "link"] and body["counts"] == [[0, None, None]]
    assert get(world, "/v2.0/alarms/count", severity="HIGH").json()["counts"] == [[0]]


def test_count_pages_with_next_links(world: World) -> None:
    everything = get(world, "/v2.0/alarms/count", group_by="alarm_definition_id,state").json()["counts"]
    assert len(everything) == 4
    with world.client() as client:
        first = client.get("/v2.0/alarms/count", params={"group_by": "alarm_definition_id,state", "limit": 3}).json()
        assert first["counts"] == everything[:3] and "elements" not in first
        next_link = next(link["href"] for link in first["links"] if link["rel"] == "next")
        assert parse_qs(urlsplit(next_link).query)["offset"] == ["3"]
        second = client.get(next_link).json()
    assert second["counts"] == everything[3:] and [link["rel"] for link in second["links"]] == ["self"]


@pytest.mark.parametrize("params, field", [
    ({"group_by": "state,colour"}, "group_by"), ({"state": "nope"}, "state"), ({"offset": "x"}, "offset"),
    ({"limit": "-1"}, "limit"), ({"state_updated_start_time": "2023-13-01T00:00:00Z"}, "state_updated_start_time"),
])
def test_bad_count_parameters_are_422(world: World, params: dict, field: str) -> None:
    assert_unprocessable(get(world, "/v2.0/alarms/count", **params), field)


# -- state history --------------------------------------------------------------------------------------------

def history_keys(elements: list[dict]) -> list[tuple[str, int]]:
    return [(element["alarm_id"], int(element["id"]) - T_MS) for element in elements]


@pytest.mark.parametrize("path", ["/v2.0/alarms/state-history", "/v2.0/alarms/state-history/"])
def test_state_history_with_and_without_the_trailing_slash(world: World, path: str) -> None:
    response = get(world, path)
    assert response.status_code == 200, response.text
    body = response.json()
    assert history_keys(body["elements"]) == A_HISTORY
    assert body["links"][0]["rel"] == "self"


def test_state_history_element_shape(world: World) -> None:
    first = get(world, "/v2.0/alarms/state-history").json()["elements"][0]
    assert first == {
        "id": str(T_MS + 1000), "alarm_id": A1,
        "metrics": [{"id": None, "name": "cpu.idle", "dimensions": {"hostname": "h1", "service": "compute"}}],
        "old_state": "UNDETERMINED", "new_state": "OK", "reason": "moved from UNDETERMINED to OK",
        "reason_data": '{"source":"test"}', "timestamp": "2023-11-14T22:13:21.000Z",
        "sub_alarms": [{"sub_alarm_expression": {"function": "AVG", "metric_name": "cpu.idle", "dimensions": {},
                                                 "operator": "GT", "threshold": 15.0, "period": 60, "periods": 1,
                                                 "deterministic": False},
                        "sub_alarm_state": "OK", "current_values": [1.5]}],
    }


def test_state_history_filters(world: World) -> None:
    def keys(**params: object) -> list[tuple[str, int]]:
        response = get(world, "/v2.0/alarms/state-history/", **params)
        assert response.status_code == 200, response.text
        return history_keys(response.json()["elements"])

    assert keys(dimensions="device") == [(A3, 1000), (A4, 2000)]
    assert keys(dimensions="hostname:h1") == [(A1, 1000), (A3, 1000), (A1, 2000)]
    assert keys(dimensions="hostname:h2,service") == [(A2, 3000)]
    assert keys(start_time="2023-11-14T22:13:22Z") == [(A1, 2000), (A4, 2000), (A2, 3000), (GONE, 4000)]
    assert keys(start_time="2023-11-14T22:13:21.500Z", end_time="2023-11-14T22:13:23Z") == \
        [(A1, 2000), (A4, 2000), (A2, 3000)]
    assert keys(offset=str(T_MS + 1000)) == [(A1, 2000), (A4, 2000), (A2, 3000), (GONE, 4000)]


def test_state_history_bad_parameters(world: World) -> None:
    assert_unprocessable(get(world, "/v2.0/alarms/state-history", offset="later"), "offset")
    assert_unprocessable(get(world, "/v2.0/alarms/state-history", start_time="soon"), "start_time")
    assert_unprocessable(get(world, "/v2.0/alarms/state-history", dimensions="_x"), "dimensions")
    assert_unprocessable(get(world, f"/v2.0/alarms/{A1}/state-history", offset="x1"), "offset")
    assert_unprocessable(get(world, "/v2.0/alarms/state-history", offset="9" * 5000), "offset")
    assert_unprocessable(get(world, "/v2.0/alarms/state-history", offset=f"{T_MS}:"), "offset")
    reversed_range = get(world, "/v2.0/alarms/state-history", start_time="2023-11-14T22:13:22Z",
                         end_time="2023-11-14T22:13:21Z")
    assert reversed_range.status_code == 400 and "start_time" in reversed_range.json()["description"]


def test_state_history_next_links_never_skip_rows_sharing_a_millisecond(world: World) -> None:
    for path in ("/v2.0/alarms/state-history", "/v2.0/alarms/state-history/"):
        for page_size in (1, 2, 3):
            elements, bodies = follow(world, path, limit=page_size)
            assert history_keys(elements) == A_HISTORY, (path, page_size)
    # After (A1, 1000) comes A3 in the same millisecond: the token carries the alarm id...
    _, bodies = follow(world, "/v2.0/alarms/state-history", limit=1)
    offsets = [parse_qs(urlsplit(link["href"]).query)["offset"][0]
               for body in bodies for link in body["links"] if link["rel"] == "next"]
    assert offsets[0] == f"{T_MS + 1000}:{A1}"
    # ...and where the next row is in a later millisecond it is the plain element id, as Monasca's.
    assert offsets[1] == str(T_MS + 1000)


def test_state_history_of_one_alarm(world: World) -> None:
    response = get(world, f"/v2.0/alarms/{A1}/state-history")
    assert response.status_code == 200, response.text
    assert history_keys(response.json()["elements"]) == [(A1, 1000), (A1, 2000)]
    elements, bodies = follow(world, f"/v2.0/alarms/{A1}/state-history", limit=1)
    assert history_keys(elements) == [(A1, 1000), (A1, 2000)] and len(bodies) == 2
    assert history_keys(get(world, f"/v2.0/alarms/{GONE}/state-history").json()["elements"]) == [(GONE, 4000)]
    assert get(world, "/v2.0/alarms/unknown-alarm/state-history").json()["elements"] == []


# -- roles and tenancy ----------------------------------------------------------------------------------------

READ_PATHS = ["/v2.0/alarms", f"/v2.0/alarms/{A1}", "/v2.0/alarms/count", "/v2.0/alarms/state-history",
              f"/v2.0/alarms/{A1}/state-history"]


@pytest.mark.parametrize("path", READ_PATHS)
def test_a_missing_or_unknown_token_is_401(world: World, path: str) -> None:
    with httpx.Client(base_url=world.server.url) as client:
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"X-Auth-Token": "not-a-key"}).status_code == 401


@pytest.mark.parametrize("path", READ_PATHS)
def test_roles(world: World, path: str) -> None:
    agent = get(world, path, key="a-agent")
    assert agent.status_code == 403 and agent.json()["title"] == "Forbidden"  # Monasca: 403 for a missing role
    assert agent.json()["rule"].startswith("api:alarms:") and agent.json()["rule"] in agent.json()["description"]
    assert get(world, path, key="a-reader").status_code == 200
    assert get(world, path, key="a-user").status_code == 200


def test_another_project_sees_nothing_of_a(world: World) -> None:
    assert ids(get(world, "/v2.0/alarms", key="b-user")) == [B1, B2]
    assert ids(get(world, "/v2.0/alarms", key="b-user", metric_dimensions="hostname:h1")) == []
    assert get(world, f"/v2.0/alarms/{A1}", key="b-user").status_code == 404
    assert get(world, f"/v2.0/alarms/{B1}", key="a-user").status_code == 404
    assert get(world, "/v2.0/alarms/count", key="b-user").json()["counts"] == [[2]]
    assert get(world, "/v2.0/alarms/count", key="b-user", group_by="name").json()["counts"] == [[2, "api b secret"]]
    history = get(world, "/v2.0/alarms/state-history", key="b-user").json()["elements"]
    assert [element["alarm_id"] for element in history] == [B1]
    assert get(world, f"/v2.0/alarms/{A1}/state-history", key="b-user").json()["elements"] == []
    a_text = get(world, "/v2.0/alarms", key="a-user").text + get(world, "/v2.0/alarms/state-history").text
    assert "b-host" not in a_text and "api b secret" not in a_text


def test_tenant_id_is_for_admins(world: World) -> None:
    assert get(world, "/v2.0/alarms", key="a-user", tenant_id=B).json()["rule"] == "api:delegate"
    assert get(world, "/v2.0/alarms", key="a-user", tenant_id="*").json()["rule"] == "api:tenants:all"
    assert get(world, "/v2.0/alarms", key="admin").json()["elements"] == []  # the admin's own project
    assert ids(get(world, "/v2.0/alarms", key="admin", tenant_id=B)) == [B1, B2]
    assert ids(get(world, "/v2.0/alarms", key="admin", tenant_id="*")) == [A1, A2, A3, A4, A5, B1, B2]
    assert get(world, f"/v2.0/alarms/{B1}", key="admin", tenant_id="*").status_code == 200
    assert get(world, "/v2.0/alarms/count", key="admin", tenant_id="*").json()["counts"] == [[7]]
    everything = get(world, "/v2.0/alarms/state-history", key="admin", tenant_id="*").json()["elements"]
    assert len(everything) == len(A_HISTORY) + 1


# -- routing and the OpenAPI document ------------------------------------------------------------------------

def test_literal_paths_win_over_alarm_ids_and_the_document_lists_the_parameters(world: World) -> None:
    with httpx.Client(base_url=world.server.url) as client:
        document = client.get("/openapi.json").json()
    paths = document["paths"]
    for path in ("/v2.0/alarms", "/v2.0/alarms/count", "/v2.0/alarms/state-history", "/v2.0/alarms/{alarm_id}",
                 "/v2.0/alarms/{alarm_id}/state-history"):
        assert "get" in paths[path], path
    names = {parameter["name"] for parameter in paths["/v2.0/alarms"]["get"]["parameters"]}
    assert {"state", "severity", "metric_dimensions", "sort_by", "offset", "limit",
            "state_updated_start_time", "tenant_id"} <= names
    count_names = {parameter["name"] for parameter in paths["/v2.0/alarms/count"]["get"]["parameters"]}
    assert "group_by" in count_names and "sort_by" not in count_names
    # /alarms/count and /alarms/state-history are not taken for alarm ids (which would answer 404).
    assert get(world, "/v2.0/alarms/count").status_code == 200
    assert get(world, "/v2.0/alarms/state-history").status_code == 200


# -- python-monascaclient --------------------------------------------------------------------------------------

def test_the_monasca_cli_reads_alarms_counts_and_history(world: World) -> None:
    cli = MonascaCLI(f"{world.server.url}/v2.0", world.keys["a-user"])
    listed, shown, counted, history, all_history = cli.json_all(
        ("alarm-list", "--state", "ALARM", "--metric-dimensions", "hostname=h1", "--sort-by", "severity desc"),
        ("alarm-show", A1), ("alarm-count", "--group-by", "state,severity"), ("alarm-history", A1),
        ("alarm-history-list", "--dimensions", "hostname=h1"))
    assert [element["id"] for element in listed] == [A1]
    assert shown["id"] == A1 and shown["alarm_definition"]["name"] == "api cpu high"
    assert counted["columns"] == ["count", "state", "severity"] and [1, "ALARM", "LOW"] in counted["counts"]
    assert [element["id"] for element in history] == [str(T_MS + 1000), str(T_MS + 2000)]
    assert history_keys(all_history) == [(A1, 1000), (A3, 1000), (A1, 2000)]
    table = cli.ok("alarm-list").stdout  # the table view renders definition, metrics and timestamps
    assert A1 in table and "api cpu high" in table and "cpu.idle" in table
