"""Typos do not pass silently: an unknown query parameter, an unknown body field or a value out of
its domain answers 422 (400 where Monasca answers 400) naming the field and what is allowed —
against a real server, and the real python-monascaclient still works with every option it has."""

from __future__ import annotations

import pytest

from tests.conftest import ServerProcess, now_ms
from tests.support.monasca_cli import MonascaCLI, iso_seconds


def _refused(response, status: int, field: str, *words: str) -> dict:  # noqa: ANN001 - httpx.Response
    assert response.status_code == status, response.text
    body = response.json()
    assert body.get("field", field) == field, body
    for word in words:
        assert word in body["description"], (word, body["description"])
    return body


@pytest.mark.parametrize("path, params, field, words", [
    ("/v1/logs", {"levl": "ERROR"}, "levl", ("did you mean 'level'?", "known query parameters", "q, request_id")),
    ("/v1/events", {"since": "abc"}, "since", ("did you mean 'start_time'?",)),
    ("/v1/failures", {"projet": "p"}, "projet", ("did you mean 'project'?",)),
    ("/v1/logs/templates", {"servce": "nova"}, "servce", ("did you mean 'service'?",)),
    ("/v1/traces/req-1", {"tenant": "p"}, "tenant", ("did you mean 'tenant_id'?",)),
    ("/v2.0/metrics", {"nam": "cpu"}, "nam", ("did you mean 'name'?",)),
    ("/v2.0/alarm-definitions", {"sevrity": "HIGH"}, "sevrity", ("did you mean 'severity'?",)),
    ("/v2.0/alarms", {"stat": "ALARM"}, "stat", ("did you mean 'state'?",)),
    ("/v2.0/notification-methods", {"sortby": "name"}, "sortby", ("did you mean 'sort_by'?",)),
])
def test_unknown_query_parameters_are_422_naming_them(shared_server: ServerProcess, path: str, params: dict,
                                                      field: str, words: tuple[str, ...]) -> None:
    with shared_server.client() as client:
        _refused(client.get(path, params=params), 422, field, f"unknown query parameter '{field}'", *words)


@pytest.mark.parametrize("path, params, field, words", [
    ("/v1/logs", {"level": "LOUD"}, "level", ("level must be one of", "ERROR", "'LOUD'")),
    ("/v1/logs", {"category": "loud"}, "category", ("category must be one of", "error, telemetry")),
    ("/v1/events", {"start_time": "abc"}, "start_time", ("ISO 8601",)),
    ("/v1/events", {"limit": "0"}, "limit", ("≥ 1",)),
    ("/v1/logs", {"limit": "-3"}, "limit", ("≥ 1",)),
    ("/v2.0/metrics", {"limit": "0"}, "limit", ("≥ 1",)),
    ("/v2.0/metrics", {"dimensions": "hostname=web-1"}, "dimensions", ("key:value",)),
    ("/v2.0/metrics/names", {"dimensions": ":web-1"}, "dimensions", ("key:value",)),
])
def test_values_out_of_their_domain_say_what_is_expected(shared_server: ServerProcess, path: str, params: dict,
                                                         field: str, words: tuple[str, ...]) -> None:
    with shared_server.client() as client:
        _refused(client.get(path, params=params), 422, field, *words)


def test_level_is_any_case_and_warn_is_warning(shared_server: ServerProcess) -> None:
    with shared_server.client() as client:
        for level in ("error", "Warn", "WARNING", "fatal"):
            assert client.get("/v1/logs", params={"level": level}).status_code == 200


def test_a_misspelt_definition_field_creates_nothing(shared_server: ServerProcess) -> None:
    with shared_server.client() as client:
        body = {"name": "typo", "expression": "avg(cpu.percent) > 90", "sevrity": "HIGH"}
        _refused(client.post("/v2.0/alarm-definitions", json=body), 422, "", "unknown field 'sevrity'",
                 "did you mean 'severity'?", "known fields: actions_enabled, alarm_actions")
        assert client.get("/v2.0/alarm-definitions", params={"name": "typo"}).json()["elements"] == []
        _refused(client.post("/v2.0/alarm-definitions", json={"name": "typo", "expression": 90}), 422, "",
                 "expression must be a string")
        created = client.post("/v2.0/alarm-definitions", json={"name": "typo", "expression": "avg(cpu.percent) > 90",
                                                               "severity": "HIGH"})
        assert created.status_code == 201 and created.json()["severity"] == "HIGH"
        # an answer sent back with a change is not wrong: its read-only fields are not typos
        echoed = {**created.json(), "description": "edited"}
        replaced = client.put(f"/v2.0/alarm-definitions/{echoed['id']}", json=echoed)
        assert replaced.status_code == 200, replaced.text
        _refused(client.patch(f"/v2.0/alarm-definitions/{echoed['id']}", json={"desription": "x"}), 422, "",
                 "did you mean 'description'?")


def test_misspelt_fields_of_other_bodies(shared_server: ServerProcess) -> None:
    with shared_server.client() as client:
        # notification methods: 400 and voluptuous' words, as Monasca answers, plus what was meant
        _refused(client.post("/v2.0/notification-methods", json={"name": "n", "type": "WEBHOOK",
                                                                 "adress": "http://h/"}), 400, "adress",
                 "extra keys not allowed", "did you mean 'address'?")
        _refused(client.post("/v1/logs", json={"source": {"service": "nova"}, "line": ["x"]}), 422, "body",
                 "must be an object with a 'lines' list")
        _refused(client.post("/v1/logs", json={"source": {"servce": "nova"}, "lines": ["x"]}), 422, "body.source",
                 "did you mean 'service'?")
        _refused(client.post("/v1/logs", json={"source": {}, "lines": ["x"], "hots": "h"}), 422, "body",
                 "unknown field 'hots'")
        _refused(client.post("/v1/keys", json={"project": "p", "roles": ["monasca-user"], "rol": "x"}), 422, "rol",
                 "Extra inputs are not permitted")
        _refused(client.put("/v2.0/alarms/nothing", json={"state": "OK", "lifecycle_state": "x", "lnk": "y"}), 422,
                 "lnk", "did you mean 'link'?")


def test_every_documented_parameter_is_accepted(shared_server: ServerProcess) -> None:
    """The allow-list is the documentation: every query parameter /openapi.json lists for a GET is
    read (it may refuse the value, never the name)."""
    with shared_server.client() as client:
        paths = client.get("/openapi.json").json()["paths"]
        checked = 0
        for path, methods in paths.items():
            operation = methods.get("get")
            if not operation or "{" in path:
                continue
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "query":
                    continue
                answer = client.get(path, params={parameter["name"]: "x"})
                assert "unknown query parameter" not in answer.text, (path, parameter["name"], answer.text)
                checked += 1
        assert checked > 60


def test_the_monasca_cli_with_every_option_of_its_list_commands(shared_server: ServerProcess) -> None:
    """python-monascaclient sends parameters by option: each list command, every option given."""
    cli = MonascaCLI(shared_server.url + "/v2.0", shared_server.admin_token)
    start, end = iso_seconds(now_ms() - 3_600_000), iso_seconds(now_ms() + 60_000)
    with shared_server.client() as client:
        assert client.post("/v2.0/metrics", json={"name": "strict.cpu", "dimensions": {"hostname": "h1"},
                                                  "timestamp": now_ms() - 1000, "value": 1.0}).status_code == 204
    common = ("--offset", "0", "--limit", "5")
    results = cli.run_all(
        ("metric-list", "--name", "strict.cpu", "--dimensions", "hostname=h1", "--starttime", start, "--endtime", end,
         "--limit", "5", "--tenant-id", "admin"),
        ("metric-name-list", "--dimensions", "hostname=h1", "--limit", "5", "--tenant-id", "admin"),
        ("dimension-name-list", "--metric-name", "strict.cpu", "--limit", "5", "--tenant-id", "admin"),
        ("dimension-value-list", "hostname", "--metric-name", "strict.cpu", "--limit", "5", "--tenant-id", "admin"),
        ("measurement-list", "strict.cpu", start, "--dimensions", "hostname=h1", "--endtime", end, "--limit", "5",
         "--merge_metrics", "--group_by", "hostname", "--tenant-id", "admin"),
        ("metric-statistics", "strict.cpu", "avg,max", start, "--dimensions", "hostname=h1", "--endtime", end,
         "--period", "60", "--limit", "5", "--merge_metrics", "--group_by", "hostname", "--tenant-id", "admin"),
        ("alarm-list", "--alarm-definition-id", "x", "--metric-name", "strict.cpu", "--metric-dimensions",
         "hostname=h1", "--state", "ALARM", "--severity", "HIGH", "--state-updated-start-time", start,
         "--lifecycle-state", "OPEN", "--link", "l", "--sort-by", "severity", *common),
        ("alarm-count", "--alarm-definition-id", "x", "--metric-name", "strict.cpu", "--metric-dimensions",
         "hostname=h1", "--state", "ALARM", "--severity", "HIGH", "--state-updated-start-time", start,
         "--lifecycle-state", "OPEN", "--link", "l", "--group-by", "state", *common),
        ("alarm-history-list", "--dimensions", "hostname=h1", "--starttime", start, "--endtime", end, *common),
        ("alarm-definition-list", "--name", "n", "--dimensions", "hostname=h1", "--severity", "HIGH",
         "--sort-by", "name", *common),
        ("notification-list", "--sort-by", "name", *common),
    )
    for result in results:
        assert result.returncode == 0, result.stderr
