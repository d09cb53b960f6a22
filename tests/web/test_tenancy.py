"""Tenant scope in the dashboard: a project member sees its own metrics, alarms, notification
methods, events, failures, log lines, traces and scheduling explanations on every page, and never
another project's, even when it follows a direct link to them; nor the operators' categories of
log lines (noise, telemetry); an admin sees every project, or the one picked in the scope bar.

Two projects, red and blue, each with a metric, a host, an instance, an alarm definition that
fires, a notification method, a failed instance create (nova's sample, moved to the project), and
the log lines of a boot that failed in scheduling and of a request across nova, glance and neutron
(oslo.log's own lines, sent by an agent's key as a log shipper does).
"""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import now_ms, wait_for
from tests.support.browser import assert_clean, connect, go, wait_for_names
from tests.support.cloud_logs import boot_failure, crossing
from tests.support.notifications import nova_notification, nova_samples

COLORS = ("red", "blue")
INSTANCES = {"red": "aaaaaaaa-0000-4000-8000-00000000000a", "blue": "bbbbbbbb-0000-4000-8000-00000000000b"}
BOOTS = {color: f"req-{uuid.uuid5(uuid.NAMESPACE_URL, f'{color}-boot')}" for color in ("red", "blue")}
SCHEDULED = {color: str(uuid.uuid5(uuid.NAMESPACE_URL, f"{color}-vm")) for color in ("red", "blue")}
ROUTES = ("#/overview", "#/metrics", "#/alarms", "#/alarms/definitions", "#/alarms/history",
          "#/alarms/notifications", "#/events", "#/events/catalog", "#/events/failures?range=all",
          "#/logs?range=24h", "#/logs/templates", "#/logs/hygiene", "#/traces", "#/traces/scheduling")


def markers(color: str) -> tuple[str, ...]:
    """Text that exists only in this project's data."""
    return (f"{color}.only_metric", f"{color}-host-1", f"{color}-def", f"{color}-hook", INSTANCES[color],
            f"req-{color}-1", BOOTS[color], SCHEDULED[color])


@pytest.fixture(scope="module")
def world(shared_server):
    samples = nova_samples()
    keys, ids = {}, {}
    for color in COLORS:
        project = f"project-{color}"
        keys[color] = shared_server.create_key(project, "monasca-user")
        with shared_server.client(keys[color]) as client:
            hook = client.post("/v2.0/notification-methods", json={
                "name": f"{color}-hook", "type": "WEBHOOK", "address": f"http://127.0.0.1:9/{color}"})
            assert hook.status_code in (200, 201), hook.text
            definition = client.post("/v2.0/alarm-definitions", json={
                "name": f"{color}-def", "expression": f"max({color}.only_metric) > 5", "match_by": ["hostname"],
                "severity": "HIGH", "alarm_actions": [hook.json()["id"]]})
            assert definition.status_code == 201, definition.text
            now = now_ms()
            metrics = [{"name": f"{color}.only_metric", "dimensions": {"hostname": f"{color}-host-1"},
                        "timestamp": now - m * 60_000, "value": 10.0 + m} for m in range(3)]
            metrics += [{"name": "cpu.utilization_perc", "dimensions": {
                "hostname": f"{color}-vm", "resource_id": INSTANCES[color], "service": "compute"},
                "timestamp": now - m * 60_000, "value": 20.0} for m in range(3)]
            assert client.post("/v2.0/metrics", json=metrics).status_code == 204
            error = nova_notification(samples["instance-create-error"], project, f"req-{color}-1", INSTANCES[color])
            created = client.post("/v1/events", json=[error])
            assert created.status_code == 200, created.text
            definition_id = definition.json()["id"]
            alarms = wait_for(lambda c=client, d=definition_id: c.get(
                "/v2.0/alarms", params={"alarm_definition_id": d, "state": "ALARM"}).json()["elements"],
                timeout=30, what=f"the {color} alarm")
            ids[color] = {"definition": definition_id, "alarm": alarms[0]["id"]}
        wait_for_names(shared_server, keys[color], f"{color}.only_metric")
    agent = shared_server.create_key("operators", "monasca-agent")
    with shared_server.client(agent) as client:
        for color in COLORS:
            boot_failure(client, f"project-{color}", request=BOOTS[color], instance=SCHEDULED[color])
            ids[color]["crossing"] = crossing(client, f"project-{color}")
    return {"keys": keys, "ids": ids}


def page_text(page) -> str:
    """Everything the page holds, shown or folded away (closed details, payloads)."""
    return page.evaluate("document.body.textContent")


def settle(page) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#view .loading")).to_have_count(0)
    expect(page.locator("#chart[data-state='loading']")).to_have_count(0)
    page.wait_for_timeout(200)


@pytest.mark.parametrize("color", COLORS)
def test_a_member_sees_only_its_project_on_every_page(page, shared_server, world, color):
    from playwright.sync_api import expect

    other = next(c for c in COLORS if c != color)
    connect(page, shared_server, world["keys"][color])
    expect(page.locator("#scope")).to_contain_text("your project")
    expect(page.locator("#scope-project")).to_have_count(0)
    seen = ""
    for route in ROUTES:
        go(page, route)
        settle(page)
        text = page_text(page)
        for marker in markers(other):
            assert marker not in text, f"{route} shows {other}'s {marker!r} to {color}"
        seen += text
    for marker in markers(color):
        assert marker in seen, f"{color} never saw its own {marker!r}"

    # The figures are the project's: its one instance, its one alarm, its own failure.
    go(page, "#/overview")
    expect(page.locator('[data-tile="instances"] .tile-value')).to_have_text("1")
    expect(page.locator("table.matrix")).to_have_attribute("data-alarms", "1")  # its one alarm, in whatever state
    expect(page.locator('[data-tile="hosts"]')).to_be_hidden()  # projects see instances, not hypervisors
    expect(page.locator('[data-tile="ingest"]')).to_have_count(0)  # the server's own figures are for admins
    with shared_server.client(world["keys"][color]) as client:
        own = client.get("/v1/failures").json()["elements"]
    assert {f["request_id"] for f in own} == {f"req-{color}-1", BOOTS[color]}  # the notification's, the log's
    expect(page.locator(".failure-list .failure")).to_have_count(len(own))
    expect(page.locator(f".failure-list .failure[data-request='req-{color}-1']")).to_be_visible()
    expect(page.locator(f".failure-list .failure[data-request='{BOOTS[color]}']")).to_be_visible()
    go(page, f"#/metrics?name={color}.only_metric")
    expect(page.locator("#chart")).to_have_attribute("data-series", "1")
    expect(page.locator("#metric option", has_text=f"{other}.only_metric")).to_have_count(0)

    # Direct links to the other project's things: refused or empty, never shown.
    go(page, f"#/alarms/alarm/{world['ids'][other]['alarm']}")
    expect(page.locator("#alarm-detail .error")).to_contain_text("Not found")
    go(page, f"#/alarms/definitions/{world['ids'][other]['definition']}")
    expect(page.locator("#definition-form-box .error")).to_contain_text("Not found")
    go(page, f"#/events/failures?resource={INSTANCES[other]}")
    expect(page.locator("#failure-list")).to_contain_text("No failure recorded for this resource")
    go(page, f"#/events?resource_id={INSTANCES[other]}")
    expect(page.locator("#event-results")).to_contain_text("No events match")
    go(page, f"#/metrics?name={other}.only_metric")
    settle(page)
    assert f"{other}-host-1" not in page_text(page)
    go(page, f"#/traces/{BOOTS[other]}")
    expect(page.locator("#trace .empty-state")).to_contain_text(f"No log line of {BOOTS[other]} is visible")
    go(page, f"#/traces/scheduling/{SCHEDULED[other]}")
    expect(page.locator("#scheduling .empty-state")).to_contain_text("No log line about instance")
    go(page, f"#/logs?request_id={BOOTS[other]}&range=24h")
    expect(page.locator("#log-results")).to_contain_text("No log line matches")
    assert_clean(page)


@pytest.mark.parametrize("color", COLORS)
def test_a_member_reads_its_own_log_lines_traces_and_scheduling_without_operator_lines(page, shared_server, world,
                                                                                      color):
    """The member's lines are the error, info and audit ones about its project: never the noise
    (the scheduler's DEBUG chatter) or telemetry (access lines) of its own requests, which the
    operator sees; its trace leaves those out too; its scheduling explanation has the reason and
    counts, not the hosts removed or the raw lines."""
    from playwright.sync_api import expect

    asked = []
    page.on("request", lambda request: asked.append(request.url))
    connect(page, shared_server, world["keys"][color])
    # Who the token is comes from /v1/whoami, not from a refused tenant_id=* probe.
    assert any(url.endswith("/v1/whoami") for url in asked)
    assert not any("tenant_id=" in url for url in asked)
    go(page, "#/logs?range=24h")
    results = page.locator("#log-results details.log")
    expect(results.first).to_be_visible()
    with shared_server.client(world["keys"][color]) as client:
        mine = client.get("/v1/logs").json()
    with shared_server.client() as admin:
        everything = admin.get("/v1/logs", params={"tenant_id": f"project-{color}"}).json()
    shown = set(results.evaluate_all("rs => rs.map(r => r.dataset.category)"))
    assert shown and shown <= {"error", "info", "audit"}
    assert {"noise", "telemetry"} <= {f["value"] for f in everything["facets"]["category"]}, "the operator sees them"
    expect(results).to_have_count(len(mine["elements"]))
    chips = page.locator("#log-facets [data-facet=category] button")
    assert set(chips.evaluate_all("cs => cs.map(c => c.dataset.value)")) <= {"error", "info", "audit"}
    go(page, "#/logs?category=noise&range=24h")
    expect(page.locator("#log-results")).to_contain_text("No log line matches")
    go(page, "#/logs/templates")
    expect(page.locator("#template-list tbody tr").first).to_be_visible()
    assert set(page.locator("#template-list tbody tr").evaluate_all("rs => rs.map(r => r.dataset.category)")) <= {
        "error", "info", "audit"}
    go(page, "#/logs/hygiene")
    expect(page.locator(".hygiene-card").first).to_be_visible()
    for category in ("noise", "telemetry"):
        for count in page.locator(f".cat-counts li[data-category={category}]").evaluate_all(
                "ls => ls.map(l => l.dataset.count)"):
            assert count == "0"

    # Its own boot: the trace (without the scheduler's DEBUG lines), and why it was not scheduled.
    go(page, f"#/traces/{BOOTS[color]}")
    expect(page.locator("#trace-banner")).to_contain_text("Failed in nova on ctl-2: Failed to schedule instances")
    categories = page.locator("#trace-steps tbody tr").evaluate_all("rs => rs.map(r => r.className)")
    assert categories and not any("is-noise" in c or "is-telemetry" in c for c in categories)
    go(page, f"#/traces/{world['ids'][color]['crossing']['glance']}")
    expect(page.locator("#trace-steps tbody tr")).to_have_count(3)  # not neutron's access line (telemetry)
    go(page, f"#/traces/scheduling/{SCHEDULED[color]}")
    expect(page.locator("#sched-result")).to_have_text("FAILED")
    expect(page.locator("#sched-reason")).to_contain_text("RamFilter removed every remaining host")
    expect(page.locator("#sched-funnel svg")).to_have_attribute("data-emptied", "RamFilter")
    expect(page.locator("#sched-removed")).to_have_count(0)
    expect(page.locator("#sched-lines")).to_have_count(0)
    expect(page.locator("#scheduling")).to_contain_text("shown to operators only")
    assert_clean(page)


def test_an_admin_sees_every_project_or_the_one_picked(page, shared_server, world):
    from playwright.sync_api import expect

    connect(page, shared_server, shared_server.admin_token)
    go(page, "#/events/failures?range=all")
    for color in COLORS:
        expect(page.locator(f"#failure-list .failure[data-request='req-{color}-1']")).to_be_visible()
        expect(page.locator(f"#failure-list .failure[data-request='req-{color}-1']")).to_contain_text(f"project-{color}")
    # The scope bar: project-blue only, on every page, until changed back.
    page.fill("#scope-project", "project-blue")
    page.click(".scope-form button[type=submit]")
    expect(page.locator(".page-head")).to_contain_text("project project-blue")
    expect(page.locator("#failure-list .failure[data-request='req-blue-1']")).to_be_visible()
    expect(page.locator("#failure-list .failure[data-request='req-red-1']")).to_have_count(0)
    for route in ("#/alarms/definitions", "#/metrics", "#/alarms"):
        go(page, route)
        settle(page)
        text = page_text(page)
        assert "red-def" not in text and "red.only_metric" not in text and "red-host-1" not in text, route
    expect(page.locator("#alarm-list tbody tr")).to_have_count(1)
    page.reload()  # the scope is remembered
    expect(page.locator("#scope-project")).to_have_value("project-blue")
    page.fill("#scope-project", "")
    page.click(".scope-form button[type=submit]")
    go(page, "#/alarms/definitions")
    expect(page.locator("#definition-list tbody tr", has_text="red-def")).to_have_count(1)
    expect(page.locator("#definition-list tbody tr", has_text="blue-def")).to_have_count(1)
    assert_clean(page)


def test_a_read_only_member_is_told_what_it_may_not_do(page, shared_server, world):
    """A valid token without the write role: its pages work, and a write says which roles it needs
    (the API's 403 naming the rule) without sending the user back to the token form."""
    from playwright.sync_api import expect

    reader = shared_server.create_key("project-red", "monasca-read-only-user")
    connect(page, shared_server, reader)
    go(page, "#/alarms/definitions")
    expect(page.locator("#definition-list tbody tr", has_text="red-def")).to_have_count(1)
    go(page, "#/alarms/definitions/new")
    page.fill("#def-name", "read-only attempt")
    page.fill("#def-expression", "max(red.only_metric) > 50")
    page.click("#def-submit")
    expect(page.locator("#form-error .error")).to_contain_text("Not allowed with this token")
    expect(page.locator("#form-error .error")).to_contain_text("monasca-user")
    expect(page.locator("#nav")).to_be_visible()
    expect(page.locator("#login")).to_be_hidden()
    assert_clean(page)
