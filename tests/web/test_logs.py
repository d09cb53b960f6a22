"""The Logs pages in a real browser against a real server: the search (text, facets, a record's
traceback), the templates list and the hygiene report, on an hour of lines written by oslo.log
itself (tests/support/log_samples.py) for nova, glance, neutron, cinder and keystone.

The log sets (``Process``, ``post_cloud_logs``, ``boot_failure``, ``attach_failure``,
``crossing``) are in ``tests/support/cloud_logs.py``, shared with the other pages' tests.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.support.browser import assert_clean, connect, go, screenshot
from tests.support.cloud_logs import Process, attach_failure, boot_failure, crossing, post_cloud_logs
from tests.support.log_samples import request_context
from tests.support.log_samples import request_id as req

PROJECT = "project-logs"


@pytest.fixture(scope="module")
def logged(shared_server) -> dict:
    """An hour of a small cloud and the three requests, sent by an agent's key as the log shipper does."""
    agent = shared_server.create_key("operators", "monasca-agent")
    with shared_server.client(agent) as client:
        post_cloud_logs(client, PROJECT)
        return {"boot": boot_failure(client, PROJECT), "attach": attach_failure(client, PROJECT),
                "crossing": crossing(client, PROJECT)}


def api(server, path: str, **params) -> dict:
    with server.client() as admin:
        answer = admin.get(path, params={"tenant_id": "*", **params})
        assert answer.status_code == 200, answer.text
        return answer.json()


def since(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds))


def test_search_finds_lines_by_text_and_category_and_opens_a_traceback(page, shared_server, logged):
    from playwright.sync_api import expect

    connect(page, shared_server, shared_server.admin_token)
    go(page, "#/logs")
    results = page.locator("#log-results details.log")
    expect(results).to_have_count(100)  # a page; the hour holds ~700 lines
    facets = api(shared_server, "/v1/logs", start_time=since(3600), limit=1)["facets"]
    for facet in facets["category"]:
        expect(page.locator(f"#log-facets [data-facet=category][data-value={facet['value']}] .count")).to_have_text(
            str(facet["count"]))
    assert {f["value"] for f in facets["category"]} == {"error", "telemetry", "noise", "audit", "info"}
    page.click("#log-older")
    expect(results).to_have_count(200)

    # Text: the words of one message.
    page.fill("#log-q", "Unable to attach")
    page.click("#log-search button[type=submit]")
    expect(results).to_have_count(1)
    expect(results.first).to_have_attribute("data-service", "cinder")
    expect(page.locator("#log-summary")).to_have_text("1 line in the last hour, newest first")

    # A category chip: only the true errors, as many as the API counts; the chip says it is on.
    page.fill("#log-q", "")
    page.click("#log-search button[type=submit]")
    page.click("#log-facets [data-facet=category][data-value=error]")
    errors = api(shared_server, "/v1/logs", start_time=since(3600), category="error")["elements"]
    expect(results).to_have_count(len(errors))
    assert set(results.evaluate_all("rs => rs.map(r => r.dataset.category)")) == {"error"}
    expect(page.locator("#log-facets [data-facet=category][data-value=error]")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#log-filters .chip[data-filter=category]")).to_contain_text("error")
    assert "category=error" in page.evaluate("location.hash")

    # A record opens to its traceback, its template and its ids as links.
    cinder = page.locator("#log-results details.log[data-service=cinder]", has_text="Unable to attach volume")
    cinder.locator(":scope > summary").click()
    expect(cinder.locator("pre.traceback")).to_contain_text("VolumeBackendAPIException: Bad or unexpected response")
    expect(cinder.locator("pre.traceback")).to_contain_text("Traceback (most recent call last)")
    expect(cinder.locator(".log-body")).to_contain_text("Unable to attach volume <*>")
    expect(cinder.locator(f"a[href='#/traces/{logged['attach']['cinder']}']")).to_be_visible()
    expect(cinder.locator(f"a[href='#/events/failures?resource={logged['attach']['volume']}']")).to_be_visible()
    page.click("#log-filters .chip[data-filter=category] button")
    page.fill("#log-q", "volume")
    page.click("#log-search button[type=submit]")
    expect(page.locator("#log-facets [data-facet=category] button")).to_have_count(3)  # telemetry, error, info
    page.locator("#log-results details.log[data-service=cinder]", has_text="Unable to attach").locator(":scope > summary").click()
    screenshot(page, "logs.png")

    # The request id leads to the trace of the whole chain.
    page.locator(f"#log-results a[href='#/traces/{logged['attach']['cinder']}']").first.click()
    expect(page.locator("#trace-banner")).to_contain_text("Failed in cinder on storage-1")
    # A service chip, then back to every line: the address keeps the search.
    go(page, "#/logs?service=neutron")
    expect(results.first).to_be_visible()
    assert set(results.evaluate_all("rs => rs.map(r => r.dataset.service)")) == {"neutron"}
    expect(page.locator("#log-facets [data-facet=service] button")).to_have_count(1)
    page.click("#log-filters .chip[data-filter=service] button")
    expect(page.locator("#log-facets [data-facet=service] button")).to_have_count(len(facets["service"]))
    assert_clean(page)


def test_templates_tab_lists_templates_and_filters_by_one(page, shared_server, logged):
    from playwright.sync_api import expect

    connect(page, shared_server, shared_server.admin_token)
    go(page, "#/logs/templates")
    found = api(shared_server, "/v1/logs/templates", start_time=since(86400))["elements"]
    rows = page.locator("#template-list tbody tr")
    expect(rows).to_have_count(len(found))
    first = rows.first
    expect(first).to_have_attribute("data-template", found[0]["template_id"])
    expect(first).to_contain_text("Running periodic task <*>")
    expect(first.locator(".cat")).to_have_text("noise")  # periodic-task runs carry no measurement
    expect(first).to_contain_text("300")
    expect(first.locator(".badge.new")).to_be_visible()  # a fresh server: every template is new
    screenshot(page, "templates.png")

    # By category: the API's noise templates, no other.
    page.select_option("#tpl-category", "noise")
    noise = api(shared_server, "/v1/logs/templates", start_time=since(86400), category="noise")["elements"]
    expect(rows).to_have_count(len(noise))
    assert set(rows.evaluate_all("rs => rs.map(r => r.dataset.category)")) == {"noise"}
    page.select_option("#tpl-category", "")
    page.fill("#tpl-filter", "unable to attach")
    expect(rows).to_have_count(1)

    # A template opens its lines: the search, filtered by it.
    template = next(t for t in found if t["template"] == "Unable to attach volume <*>")
    rows.first.locator("a.template-link").click()
    expect(page.locator("#log-filters .chip[data-filter=template_id]")).to_contain_text("Unable to attach volume <*>")
    results = page.locator("#log-results details.log")
    expect(results).to_have_count(template["count"])
    assert set(results.evaluate_all("rs => rs.map(r => r.dataset.template)")) == {template["template_id"]}
    # …and the top-templates facet filters the same way.
    page.click("#log-filters .chip[data-filter=template_id] button")
    expect(results).to_have_count(100)
    page.locator("#log-facets .template-facet", has_text="Agent rpc_loop - iteration:<*> started").click()
    expect(results).to_have_count(50)
    assert_clean(page)


def test_hygiene_tab_shows_each_services_bar_and_numbers(page, shared_server, logged):
    from playwright.sync_api import expect

    connect(page, shared_server, shared_server.admin_token)
    go(page, "#/logs/hygiene")
    services = api(shared_server, "/v1/logs/hygiene", start_time=since(86400))["elements"]
    assert {s["service"] for s in services} == {"nova", "neutron", "glance", "keystone", "cinder"}
    cards = page.locator(".hygiene-card")
    expect(cards).to_have_count(len(services))
    expect(page.locator(".volume-chart tbody tr")).to_have_count(len(services))
    for service in services:
        card = page.locator(f".hygiene-card[data-service={service['service']}]")
        expect(card).to_have_attribute("data-records", str(service["records"]))
        for category, count in service["by_category"].items():
            expect(card.locator(f".cat-counts li[data-category={category}]")).to_have_attribute("data-count", str(count))
            bar = card.locator(f".stacked-bar rect[data-key={category}]")
            if count:
                expect(bar).to_have_attribute("data-value", str(count))
            else:
                expect(bar).to_have_count(0)
        for key, field in (("noise", "noise_share"), ("no-request", "without_request_id_share"),
                           ("unparsed", "unparsed_share")):
            shown = float(card.locator(f".share[data-share={key}]").get_attribute("data-value"))
            assert shown == pytest.approx(service[field]), (service["service"], key)
        expect(card.locator(".top-templates li")).to_have_count(len(service["top_templates"]))
    neutron = next(s for s in services if s["service"] == "neutron")
    advice = page.locator(".hygiene-card[data-service=neutron] .advice")
    expect(advice).to_contain_text(f"{round(neutron['noise_share'] * 100)} % of neutron's lines are noise: "
                                   "the top noisy template is Agent rpc_loop - iteration:<*>")
    expect(advice).to_contain_text("carry no request id")
    expect(page.locator(".hygiene-card[data-service=nova] .advice")).to_contain_text(
        "are in no known format")  # the container's start-up lines
    expect(page.locator(".hygiene-card[data-service=nova] .share[data-share=no-request]")).to_have_class(
        re.compile("is-high"))
    screenshot(page, "hygiene.png")
    # A category's count leads to those lines.
    page.locator(".hygiene-card[data-service=cinder] .cat-counts li[data-category=error] a").click()
    expect(page.locator("#log-results details.log")).to_have_count(3)
    assert_clean(page)


def test_hostile_log_text_stays_text(page, shared_server, logged):
    """Log lines are whatever a process wrote: markup in a message, a logger name or a traceback
    shows as text on every page that shows it, and runs nothing."""
    from playwright.sync_api import expect

    hostile = '<img src=x onerror="window.__xss=1">'
    request = req()
    process = Process("nova", "nova-compute", "compute-1")
    context = request_context(request_id=request, project=PROJECT, user="mallory")
    process.log("nova.compute.manager", 30, "info", "Instance name %s rejected", hostile, context=context)
    process.fail("nova.compute.manager", 29, ValueError(hostile), "Build of %s failed", hostile, context=context)
    with shared_server.client(shared_server.create_key("operators", "monasca-agent")) as agent:
        process.post(agent)
    connect(page, shared_server, shared_server.admin_token)
    for route in (f"#/logs?request_id={request}", "#/logs/templates?q=rejected", "#/logs/hygiene", f"#/traces/{request}"):
        go(page, route)
        expect(page.locator("#view .loading")).to_have_count(0)
        if route.startswith("#/logs?"):
            expect(page.locator("#log-results details.log")).to_have_count(2)
            for row in page.locator("#log-results details.log").all():
                row.locator(":scope > summary").click()
        if "templates" in route:  # the template masks the attribute values
            expect(page.locator("#view")).to_contain_text("Instance name <img src=<*> onerror=<*>> rejected")
        elif "hygiene" not in route:
            expect(page.locator("#view")).to_contain_text(hostile)
        assert page.locator("#view img, #view script").count() == 0, route
        assert page.evaluate("window.__xss") is None
    expect(page.locator("#trace-banner")).to_contain_text(f"Build of {hostile} failed")
    assert_clean(page)
