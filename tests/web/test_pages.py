"""The dashboard's pages against a server running the demo cloud's metrics (6 hypervisors × 5
instances), with nova's notification samples posted as events and an hour of the services' log lines
written here, so that every figure is known (the demo's own lines and events: test_demo_pages.py): the
overview's figures, the alarms pages
(definition form with the grammar's messages, notification methods, alarm list, history), the
events pages (search, catalog, failure summaries), and hostile text kept as text.

Run with NEPHOSCOPE_SCREENSHOT_DIR=docs/screenshots to refresh the README's screenshots.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.conftest import ServerProcess, wait_for
from tests.support.browser import assert_clean, connect, go, screenshot, wait_for_names
from tests.support.cloud_logs import attach_failure, boot_failure, post_cloud_logs
from tests.support.notifications import nova_notification, nova_samples

HYPERVISORS, PER_HYPERVISOR = 6, 5
PROJECT = "demo-project-a"
INSTANCE = "0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
CREATE_REQUEST = "req-web-create-0001"
HOSTILE = '<img src=x onerror="window.__xss=1">'
HOSTILE_TYPE = "acme.widget.<b>frobbed</b>"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    """A demo cloud pushing every 5 s, its events, and lifecycle metrics every second."""
    process = ServerProcess(tmp_path_factory.mktemp("webdemo") / "data", extra_args=["--demo"], extra_env={
        "NEPHOSCOPE_DEMO_HYPERVISORS": str(HYPERVISORS), "NEPHOSCOPE_DEMO_INSTANCES_PER_HYPERVISOR": str(PER_HYPERVISOR),
        "NEPHOSCOPE_DEMO_BACKFILL_MINUTES": "60", "NEPHOSCOPE_DEMO_INTERVAL": "5",
        "NEPHOSCOPE_EVENTS_METRICS_INTERVAL": "1",
        # the pages are checked against the events and lines posted here (the demo's own: test_demo_pages.py)
        "NEPHOSCOPE_DEMO_LOGS_AND_EVENTS": "false"}).start()
    try:
        samples = nova_samples()
        bodies = [nova_notification(sample, PROJECT, f"req-web-{i:04d}", INSTANCE, seconds_ago=3600 - i * 20)
                  for i, (name, sample) in enumerate(sorted(samples.items())) if name != "instance-create-error"]
        bodies.append(nova_notification(samples["instance-create-error"], PROJECT, CREATE_REQUEST, INSTANCE, seconds_ago=30))
        # Attacker-chosen text: an instance name and an exception message with markup, an event type too.
        bodies.append(nova_notification(samples["instance-create-error"], PROJECT, "req-web-hostile",
                                        "9d9d9d9d-0000-4000-8000-000000000001", seconds_ago=7200,
                                        replace={"some-server": HOSTILE, "The created instance's disk would be too small.":
                                                 f"{HOSTILE} disk too small"}))
        bodies.append(dict(nova_notification(samples["instance-create-end"], PROJECT, "req-web-unknown", seconds_ago=7200),
                           event_type=HOSTILE_TYPE))
        with process.client() as admin:
            answer = admin.post("/v1/events", json=bodies)
            assert answer.status_code == 200, answer.text
        with process.client(process.create_key("operators", "monasca-agent")) as agent:
            post_cloud_logs(agent, PROJECT)  # their error lines become log.records{category=error}
            boot_failure(agent, PROJECT, seconds_ago=600)
            attach_failure(agent, PROJECT, seconds_ago=900)
        wait_for_names(process, process.admin_token, "cpu.idle_perc", "cpu.utilization_perc", "openstack.instances",
                       "log.records", tenant="*")
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def firing(cloud) -> str:
    """A definition that fires on every hypervisor as soon as its metrics arrive (max … > 0)."""
    with cloud.client() as admin:
        created = admin.post("/v2.0/alarm-definitions", json={
            "name": "web: any cpu at all", "expression": "max(cpu.percent) > 0", "match_by": ["hostname"],
            "severity": "CRITICAL", "description": "fires on every hypervisor"})
        assert created.status_code == 201, created.text
        wait_for(lambda: len(admin.get("/v2.0/alarms", params={"alarm_definition_id": created.json()["id"],
                                                                "state": "ALARM"}).json()["elements"]) == HYPERVISORS,
                 timeout=60, what="the demo's hypervisors to alarm")
    return created.json()["id"]


def tile_value(page, key: str):
    return page.locator(f'[data-tile="{key}"] .tile-value')


def test_overview_shows_the_cloud_at_a_glance(page, cloud, firing):
    from playwright.sync_api import expect

    connect(page, cloud, cloud.admin_token)
    expect(page.locator("#view h1")).to_have_text("Overview")
    expect(tile_value(page, "hosts")).to_have_text(str(HYPERVISORS))
    expect(page.locator('[data-tile="hosts"] .tile-note')).to_have_text(f"all {HYPERVISORS} hosts seen today")
    expect(tile_value(page, "instances")).to_have_text(str(HYPERVISORS * PER_HYPERVISOR))
    expect(tile_value(page, "alarms")).to_have_text(re.compile(r"^[1-9]\d*$"))  # at least the CRITICAL ones
    expect(page.locator("table.matrix a[href='#/alarms?state=ALARM&severity=CRITICAL']")).to_have_text(str(HYPERVISORS))
    expect(tile_value(page, "ingest")).to_have_text(re.compile(r"^\d"))
    # Lifecycle gauges from the posted notifications (openstack.instances, every second here).
    expect(tile_value(page, "lifecycle")).to_have_text(re.compile(r"^[1-9]"))
    expect(page.locator('[data-tile="lifecycle"] .tile-note')).to_contain_text("from notifications")
    # Error log lines: log.records{category:error} of the last hour, every minute drawn.
    with cloud.client() as admin:
        errors = admin.get("/v1/logs", params={"tenant_id": "*", "category": "error", "limit": 1, "start_time": time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3540))}).json()["facets"]["category"][0]["count"]
    expect(tile_value(page, "errors")).to_have_text(f"{errors}/h")
    expect(page.locator('[data-tile="errors"] .tile-note')).to_contain_text("in the last hour, the latest")
    expect(page.locator('[data-tile="errors"] .spark canvas')).to_have_count(1)
    failures = page.locator(".failure-list .failure")
    expect(failures.first).to_be_visible()
    expect(page.locator(f'.failure-list .failure[data-request="{CREATE_REQUEST}"] .failure-summary')).to_contain_text(
        "disk is smaller than the image")
    expect(page.locator('[data-metric="nephoscope.store.series"] .tile-value')).to_have_text(re.compile(r"^\d"))

    # Live: the figures are read again every 10 s, and the page says when.
    updated = page.locator("#updated")
    expect(updated).to_contain_text("refreshes every 10 s")
    first = updated.text_content()
    expect(updated).not_to_have_text(first, timeout=15_000)
    # Sparklines of the last hour, once there are two 30-second buckets to join.
    expect(page.locator('[data-tile="ingest"] .spark canvas')).to_have_count(1, timeout=40_000)
    screenshot(page, "overview.png", full_page=True)
    # A tile links to the alarms it counts.
    page.click("table.matrix a[href='#/alarms?state=ALARM&severity=CRITICAL']")
    expect(page.locator("#alarm-list tbody tr")).to_have_count(HYPERVISORS)
    assert_clean(page)


def test_metrics_page_on_the_demo_cloud(page, cloud):
    from playwright.sync_api import expect

    connect(page, cloud, cloud.admin_token)
    go(page, "#/metrics?name=cpu.percent&group=hostname&range=1h")
    expect(page.locator("#chart")).to_have_attribute("data-series", str(HYPERVISORS))
    expect(page.locator("#chart")).to_have_attribute("data-filled", str(HYPERVISORS))
    screenshot(page, "metrics.png")
    # A region filter from the scope bar applies to every query (the demo's region, then one with no data).
    page.fill("#scope-project", "")
    page.select_option("#scope-region", "RegionOne")
    expect(page.locator("#chart")).to_have_attribute("data-series", str(HYPERVISORS))
    page.evaluate("""() => { const s = document.querySelector('#scope-region');
                             s.append(new Option('Nowhere', 'Nowhere')); s.value = 'Nowhere';
                             s.dispatchEvent(new Event('change')); }""")
    expect(page.locator("#chart")).to_have_attribute("data-state", "empty")
    page.select_option("#scope-region", "")
    expect(page.locator("#chart")).to_have_attribute("data-series", str(HYPERVISORS))
    assert_clean(page)


def test_alarm_definition_form_shows_the_grammar_messages_and_saves(page, cloud):
    from playwright.sync_api import expect

    connect(page, cloud, cloud.admin_token)
    go(page, "#/alarms/definitions")
    page.click("#new-definition")
    expect(page.locator("#definition-form")).to_be_visible()
    page.fill("#def-name", "web: busy hypervisor")
    page.fill("#def-expression", "avg(cpu.percent{service=compute}) >> 90 times 3")
    page.fill("#def-match-by", "hostname")
    page.select_option("#def-severity", "HIGH")
    page.click("#def-submit")
    message = page.locator('[data-field="expression"] .field-error')
    expect(message).to_be_visible()
    expect(message).to_contain_text(re.compile(r"at column 36: expected a threshold"))
    expect(page.locator("#def-expression")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#expression-caret")).to_have_text(
        "avg(cpu.percent{service=compute}) >> 90 times 3\n" + " " * 35 + "^")
    screenshot(page, "alarm-form.png")
    # Another field's message goes next to that field.
    page.fill("#def-expression", "avg(cpu.percent{service=compute}) > 90 times 3")
    page.fill("#def-name", "")
    page.click("#def-submit")
    expect(page.locator('[data-field="name"] .field-error')).to_be_visible()
    expect(message).to_be_hidden()

    page.fill("#def-name", "web: busy hypervisor")
    page.click("#def-submit")
    expect(page.locator(".notice")).to_have_text("Saved “web: busy hypervisor”.")
    row = page.locator("#definition-list tbody tr", has_text="web: busy hypervisor")
    expect(row).to_contain_text("avg(cpu.percent{service=compute}) > 90 times 3")
    expect(row.locator(".badge")).to_have_text("HIGH")

    # Edit: match_by is fixed; a sub-expression's metric may not change (the server says so, by the field).
    row.locator("a", has_text="web: busy hypervisor").click()
    expect(page.locator("#def-match-by")).to_be_disabled()
    expect(page.locator("#def-match-by")).to_have_value("hostname")
    page.fill("#def-expression", "avg(mem.usable_perc) > 90 times 3")
    page.click("#def-submit")
    expect(message).to_contain_text("metrics in subexpression must not change")
    page.fill("#def-expression", "avg(cpu.percent{service=compute}) > 95 times 3")
    page.select_option("#def-severity", "MEDIUM")
    page.click("#def-submit")
    row = page.locator("#definition-list tbody tr", has_text="web: busy hypervisor")
    expect(row).to_contain_text("> 95 times 3")
    expect(row.locator(".badge")).to_have_text("MEDIUM")
    screenshot(page, "alarm-definitions.png")
    with cloud.client() as admin:
        saved = [d for d in admin.get("/v2.0/alarm-definitions").json()["elements"] if d["name"] == "web: busy hypervisor"]
    assert [(d["severity"], d["match_by"]) for d in saved] == [("MEDIUM", ["hostname"])]
    assert_clean(page)


def test_notification_methods_list_and_create(page, cloud):
    from playwright.sync_api import expect

    connect(page, cloud, cloud.admin_token)
    go(page, "#/alarms/notifications")
    page.fill("#nm-name", "web: scale out")
    page.select_option("#nm-type", "WEBHOOK")
    page.fill("#nm-address", "not a url")
    page.click("#nm-submit")
    expect(page.locator('[data-field="address"] .field-error')).to_contain_text("not an absolute http or https URL")
    page.fill("#nm-address", "http://127.0.0.1:9/heat/signal")
    page.click("#nm-submit")
    expect(page.locator("#method-form .notice")).to_have_text("Created “web: scale out”.")
    expect(page.locator("#method-list tbody tr", has_text="web: scale out")).to_contain_text("http://127.0.0.1:9/heat/signal")
    screenshot(page, "notifications.png")
    # A second one with the same name: the server's 409, said in the form.
    page.fill("#nm-name", "web: scale out")
    page.fill("#nm-address", "http://127.0.0.1:9/other")
    page.click("#nm-submit")
    expect(page.locator('[data-field="name"] .field-error')).to_contain_text("already exists")
    # The new method is offered as an action of a definition.
    go(page, "#/alarms/definitions/new")
    expect(page.locator('[data-field="alarm_actions"] label', has_text="web: scale out")).to_be_visible()
    assert_clean(page)


def test_alarm_list_detail_and_history(page, cloud, firing):
    from playwright.sync_api import expect

    connect(page, cloud, cloud.admin_token)
    go(page, "#/alarms")
    expect(page.locator("#state-filter button[data-state='ALARM'] .count")).to_have_text(re.compile(r"^[1-9]"))
    page.select_option("#severity-filter", "CRITICAL")
    page.click("#state-filter button[data-state='ALARM']")
    rows = page.locator("#alarm-list tbody tr")
    expect(rows).to_have_count(HYPERVISORS)
    for state in rows.evaluate_all("rows => rows.map(r => r.dataset.state)"):
        assert state == "ALARM"
    screenshot(page, "alarms.png")
    rows.first.locator("a").click()
    expect(page.locator("#alarm-detail h2")).to_have_text("web: any cpu at all")
    expect(page.locator("#alarm-detail")).to_contain_text("cpu.percent")
    history = page.locator("#alarm-history .transition")
    expect(history.first).to_be_visible()
    expect(page.locator("#alarm-history .transition.to-alarm")).to_have_count(1)
    expect(history.first.locator(".reason")).to_contain_text("Thresholds were exceeded")
    # The metric as the definition sees it (max per 60 s), with its threshold as a second line.
    chart = page.locator("#alarm-chart .chart")
    expect(chart).to_have_attribute("data-series", "2")
    expect(chart).to_have_attribute("data-filled", "2")
    expect(page.locator("#alarm-chart-info")).to_have_text("cpu.percent · max per 1 min · threshold > 0")
    screenshot(page, "alarm.png")
    page.click(".tabs a:text-is('State history')")
    expect(page.locator("#history-list tbody tr").first).to_be_visible()
    expect(page.locator("#history-list")).to_contain_text("cpu.percent")
    # An alarm that does not exist: the server's 404, said in plain words.
    go(page, "#/alarms/alarm/00000000-0000-0000-0000-000000000000")
    expect(page.locator("#alarm-detail .error")).to_contain_text("Not found")
    assert_clean(page)


def test_events_search_catalog_and_failure_summaries(page, cloud):
    from playwright.sync_api import expect

    connect(page, cloud, cloud.admin_token)
    go(page, "#/events")
    events = page.locator("#event-results details.event")
    expect(events.first).to_be_visible()
    screenshot(page, "events.png")
    page.fill("#ev-request", CREATE_REQUEST)
    page.click("#event-search button[type=submit]")
    expect(events).to_have_count(1)
    expect(events.first).to_have_attribute("data-type", "instance.create.error")
    events.first.locator("summary").first.click()
    expect(events.first.locator(".event-body")).to_contain_text(INSTANCE)
    events.first.locator("details.payload summary").click()
    expect(events.first.locator("pre.json")).to_contain_text('"exception": "FlavorDiskTooSmall"')
    # The search is in the address: it survives a reload.
    page.reload()
    expect(page.locator("#ev-request")).to_have_value(CREATE_REQUEST)
    expect(events).to_have_count(1)
    # A type prefix.
    page.fill("#ev-request", "")
    page.fill("#ev-type", "instance.create.*")
    page.click("#event-search button[type=submit]")
    expect(events.first).to_be_visible()
    assert set(events.evaluate_all("es => es.map(e => e.dataset.type)")) <= {
        "instance.create.start", "instance.create.end", "instance.create.error"}

    page.click(".tabs a:text-is('Catalog')")
    page.fill("#catalog-filter", "volume.create")
    expect(page.locator("#catalog-list tbody tr[data-pattern='volume.create.*']")).to_contain_text("cinder")
    expect(page.locator("#unknown-types")).to_contain_text(HOSTILE_TYPE)  # admins see unknown types, as text
    page.fill("#catalog-filter", "")
    screenshot(page, "catalog.png")

    page.click(".tabs a:text-is('Failures')")
    card = page.locator(f'#failure-list .failure[data-request="{CREATE_REQUEST}"]')
    expect(card.locator(".failure-summary")).to_contain_text(f"Creating instance {INSTANCE}")
    expect(card.locator(".failure-summary")).to_contain_text("disk is smaller than the image")
    expect(card).to_contain_text("FlavorDiskTooSmall")
    expect(card.locator("time")).to_have_text(re.compile(r"^(just now|\d+ s ago|\d+ min ago)$"))
    expect(card.locator(".utc")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$"))
    screenshot(page, "failures.png")
    card.locator(f"a:text-is('{INSTANCE}')").first.click()
    # Waits for the resource's own list: the whole list is still shown until its answer arrives.
    expect(page.locator(f'#failure-list .failure:not([data-resource="{INSTANCE}"])')).to_have_count(0)
    expect(page.locator("#failure-list .failure")).not_to_have_count(0)
    for resource in page.locator("#failure-list .failure").evaluate_all("cs => cs.map(c => c.dataset.resource)"):
        assert resource == INSTANCE
    go(page, "#/events/failures")
    card.locator(f"a[href='#/events?request_id={CREATE_REQUEST}']").click()
    expect(page.locator("#ev-request")).to_have_value(CREATE_REQUEST)
    expect(events).to_have_count(1)
    # The request id itself leads to its trace: notifications only, no log line of it here.
    go(page, "#/events/failures")
    card.locator(f"a:text-is('{CREATE_REQUEST}')").click()
    expect(page.locator("#trace .empty-state")).to_contain_text(f"No log line of {CREATE_REQUEST}")
    page.click("#trace a:text-is('The events of this request →')")
    expect(events).to_have_count(1)
    assert_clean(page)


def test_hostile_text_from_the_api_stays_text(page, cloud):
    from playwright.sync_api import expect

    connect(page, cloud, cloud.admin_token)
    for route in ("#/events/failures", "#/events?request_id=req-web-hostile", "#/events/catalog",
                  f"#/events?event_type={HOSTILE_TYPE}"):
        go(page, route)
        expect(page.locator("#view .loading")).to_have_count(0)
        if "hostile" in route:
            details = page.locator("#event-results details.event")
            expect(details).to_have_count(1)
            details.first.locator("summary").first.click()
            details.first.locator("details.payload summary").click()
        if route.startswith("#/events?event_type"):
            expect(page.locator("#event-results .event-type")).to_have_text(HOSTILE_TYPE)
        elif route != "#/events/catalog":
            expect(page.locator("#view")).to_contain_text(HOSTILE)
        assert page.locator("#view img, #view b, #view script").count() == 0, route
        assert page.evaluate("window.__xss") is None
    assert_clean(page)
