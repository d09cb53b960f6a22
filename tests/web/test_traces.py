"""The Traces pages in a real browser against a real server: a request followed across nova,
glance and neutron; failing requests with the banner that says where; the scheduling explanation
with the filter that removed every host; and the links that lead there from failure cards and
log lines. The log lines are oslo.log's own (see tests/support/cloud_logs.py)."""

from __future__ import annotations

import pytest

from tests.support.browser import assert_clean, connect, go, screenshot
from tests.support.cloud_logs import attach_failure, boot_failure, crossing, post_cloud_logs

PROJECT = "project-traces"


@pytest.fixture(scope="module")
def chains(shared_server) -> dict:
    agent = shared_server.create_key("operators", "monasca-agent")
    with shared_server.client(agent) as client:
        post_cloud_logs(client, PROJECT, minutes=10)
        return {"boot": boot_failure(client, PROJECT), "attach": attach_failure(client, PROJECT),
                "crossing": crossing(client, PROJECT)}


def admin_get(server, path: str) -> dict:
    with server.client() as admin:
        answer = admin.get(path, params={"tenant_id": "*"})
        assert answer.status_code == 200, answer.text
        return answer.json()


def test_a_request_crossing_services_shows_every_service_in_order(page, shared_server, chains):
    from playwright.sync_api import expect

    ids = chains["crossing"]
    connect(page, shared_server, shared_server.admin_token)
    go(page, f"#/traces/{ids['glance']}")  # any id of the chain finds all of it
    expect(page.locator("#trace-banner")).to_contain_text("No error on the way. 4 lines across nova → glance → neutron")
    expect(page.locator("#trace-services li")).to_have_text(["nova", "glance", "neutron"])
    expect(page.locator("#trace-ids li")).to_have_count(3)
    for request in (ids["nova"], ids["glance"], ids["neutron"]):
        expect(page.locator(f"#trace-ids a[href='#/traces/{request}']")).to_be_visible()
    rows = page.locator("#trace-steps tbody tr")
    expect(rows).to_have_count(4)
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.component)") == [
        "nova-compute", "glance-api", "neutron-server", "nova-compute"]
    expect(rows.nth(3)).to_contain_text("Took 9.20 seconds to spawn")
    trace = admin_get(shared_server, f"/v1/traces/{ids['glance']}")
    expect(rows.nth(1).locator("td").nth(1)).to_have_text(f"{trace['steps'][1]['since_start_ms']} ms")
    # The swim lanes: one per component in the order reached, a mark per line; per host too.
    timeline = page.locator("#trace-timeline svg")
    expect(timeline).to_have_attribute("data-marks", "4")
    expect(timeline).to_have_attribute("data-failed", "-1")
    expect(page.locator("#trace-timeline .lane-label")).to_have_text(["nova-compute", "glance-api", "neutron-server"])
    page.click("#lane-by button[data-by=host]")
    expect(page.locator("#trace-timeline .lane-label")).to_have_text(["compute-1", "ctl-3", "ctl-4"])
    page.click("#lane-by button[data-by=service]")
    expect(page.locator("#trace-timeline .lane-label")).to_have_text(["nova", "glance", "neutron"])
    # A mark points at its line in the table.
    page.locator("#trace-timeline circle.mark[data-index='2']").click()
    expect(rows.nth(2)).to_have_class("is-telemetry picked")
    assert_clean(page)


def test_a_failing_request_says_where_it_failed(page, shared_server, chains):
    from playwright.sync_api import expect

    attach, boot = chains["attach"], chains["boot"]
    connect(page, shared_server, shared_server.admin_token)
    go(page, f"#/traces/{attach['nova']}")
    banner = page.locator("#trace-banner")
    expect(banner).to_have_attribute("role", "alert")
    expect(banner).to_contain_text(f"Failed in cinder on storage-1: Unable to attach volume {attach['volume']}")
    expect(banner).to_contain_text("cinder.exception.VolumeBackendAPIException: Bad or unexpected response")
    expect(page.locator("#trace-services li")).to_have_text(["nova", "cinder"])
    failed = page.locator("#trace-steps tbody tr.is-failed")
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text("Unable to attach volume")
    expect(page.locator("#trace-timeline svg")).to_have_attribute("data-failed", failed.get_attribute("data-index"))
    expect(page.locator("#trace-timeline .failure-label")).to_have_text("failed here")
    screenshot(page, "trace.png")

    # The boot: api → scheduler → conductor, failing in the conductor.
    go(page, f"#/traces/{boot['request']}")
    expect(banner).to_contain_text("Failed in nova on ctl-2: Failed to schedule instances")
    expect(banner).to_contain_text("NoValidHost_Remote: No valid host was found")
    components = page.locator("#trace-steps tbody tr").evaluate_all("rs => rs.map(r => r.dataset.component)")
    assert components[0] == "nova-api" and "nova-scheduler" in components and components[-1] == "nova-conductor"

    # Without an id: the requests that failed recently, to start from; an unknown id says so.
    go(page, "#/traces")
    expect(page.locator(f"#recent-requests a[href='#/traces/{attach['nova']}']")).to_be_visible()
    expect(page.locator(f"#recent-requests a[href='#/traces/{boot['request']}']")).to_be_visible()
    page.fill("#trace-id", "req-00000000-0000-4000-8000-000000000000")
    page.click("#trace-form button[type=submit]")
    expect(page.locator("#trace .empty-state")).to_contain_text("No log line of req-00000000-0000-4000-8000-000000000000")
    assert_clean(page)


def test_scheduling_page_shows_the_filter_that_removed_every_host(page, shared_server, chains):
    from playwright.sync_api import expect

    instance = chains["boot"]["instance"]
    explanation = admin_get(shared_server, f"/v1/scheduling/{instance}")
    connect(page, shared_server, shared_server.admin_token)
    go(page, f"#/traces/scheduling/{instance}")
    expect(page.locator("#sched-result")).to_have_text("FAILED")
    expect(page.locator("#sched-reason")).to_have_text(
        "The RamFilter removed every remaining host of the 3 left.")
    funnel = page.locator("#sched-funnel svg")
    expect(funnel).to_have_attribute("data-emptied", "RamFilter")
    filters = page.locator("#sched-funnel g.funnel-row[data-filter]")
    expect(filters).to_have_count(3)
    assert filters.evaluate_all("gs => gs.map(g => [g.dataset.filter, g.dataset.start, g.dataset.end])") == [
        [f["name"], str(f["start"]), str(f["end"])] for f in explanation["filters"]]
    expect(page.locator("#sched-funnel g.is-cut")).to_have_attribute("data-filter", "RamFilter")
    expect(page.locator("#sched-funnel g.is-cut")).to_contain_text("removed every remaining host")
    expect(page.locator("#sched-removed tbody tr")).to_have_count(1)
    expect(page.locator("#sched-removed tbody tr")).to_contain_text("compute-1, compute-2, compute-3")
    expect(page.locator("#sched-lines tbody tr")).to_have_count(len(explanation["lines"]))
    expect(page.locator("#sched-lines")).to_contain_text("Failed to schedule instances")
    screenshot(page, "scheduling.png")
    # Its request leads to the trace.
    page.click(f".sched-head a[href='#/traces/{chains['boot']['request']}']")
    expect(page.locator("#trace-banner")).to_contain_text("Failed to schedule instances")
    go(page, "#/traces/scheduling/00000000-0000-4000-8000-000000000000")
    expect(page.locator("#scheduling .empty-state")).to_contain_text("No log line about instance")
    assert_clean(page)


def test_failure_cards_and_log_lines_link_to_traces_and_scheduling(page, shared_server, chains):
    from playwright.sync_api import expect

    boot, attach = chains["boot"], chains["attach"]
    connect(page, shared_server, shared_server.admin_token)
    go(page, "#/events/failures")
    volume = page.locator(f"#failure-list .failure[data-resource='{attach['volume']}']")
    expect(volume).to_contain_text("Unable to attach volume")
    volume.locator(f"a[href='#/traces/{attach['cinder']}']").click()
    expect(page.locator("#trace-banner")).to_contain_text("Failed in cinder on storage-1")
    go(page, "#/events/failures")
    instance = page.locator(f"#failure-list .failure[data-resource='{boot['instance']}']")
    instance.locator(f"a[href='#/traces/scheduling/{boot['instance']}']").click()
    expect(page.locator("#sched-reason")).to_contain_text("RamFilter")
    go(page, "#/traces/scheduling")  # without an id: the instances that failed, to start from
    expect(page.locator(f"#recent-instances a[href='#/traces/scheduling/{boot['instance']}']")).to_be_visible()
    # A log line naming the instance: its failures, its scheduling.
    go(page, f"#/logs?resource_id={boot['instance']}&range=24h")
    line = page.locator("#log-results details.log", has_text="Setting instance to ERROR state")
    line.locator(":scope > summary").click()
    line.locator(f"a[href='#/traces/scheduling/{boot['instance']}']").click()
    expect(page.locator("#sched-result")).to_have_text("FAILED")
    assert_clean(page)
