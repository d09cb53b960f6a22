"""The dashboard's audit page in a real Chromium: an admin sees every record — changes, refused
requests coalesced with their count — filters them, opens one to its CADF event; a project member
sees only its project's records; text chosen by callers (names, user agents) stays text."""

from __future__ import annotations

import pytest

from tests.conftest import wait_for
from tests.support.browser import assert_clean, connect, go, screenshot

HOSTILE = '<img src=x onerror="window.__xss=1">'
PATCHES = 55  # with the key and the definition made: 57 records of the project, two pages of 50


@pytest.fixture(scope="module")
def trail(shared_server):
    member = shared_server.create_key("audited", "monasca-user")
    with shared_server.client(member) as user:
        user.headers["User-Agent"] = f"agent {HOSTILE}"
        created = user.post("/v2.0/alarm-definitions", json={"name": f"cpu {HOSTILE}", "expression": "avg(cpu.x) > 1"})
        assert created.status_code == 201
        for number in range(PATCHES):
            severity = ("LOW", "MEDIUM", "HIGH")[number % 3]
            assert user.patch(f"/v2.0/alarm-definitions/{created.json()['id']}",
                              json={"severity": severity}).status_code == 200
    with shared_server.client("wrong-token") as scanner:
        for _ in range(25):
            scanner.get("/v2.0/metrics")
    with shared_server.client() as admin:
        # the first record counts the refusals seen within a second, another the rest when the minute ends
        denied = wait_for(lambda: sum(e["count"] for e in admin.get(
            "/v1/audit", params={"outcome": "denied"}).json()["elements"]) == 25 and admin.get(
            "/v1/audit", params={"outcome": "denied"}).json()["elements"], timeout=75, what="the refusals counted")
    return {"member": member, "definition": created.json(), "denied": denied}


def test_an_admin_sees_filters_and_opens_records(page, shared_server, trail) -> None:
    from playwright.sync_api import expect

    connect(page, shared_server, shared_server.admin_token)
    page.locator("#nav a[data-path='audit']").click()
    expect(page.locator("#view h1")).to_have_text("Audit")
    rows = page.locator("#audit-results details.audit-entry")
    expect(rows.first).to_be_visible()
    expect(page.locator("#audit-results details[data-action='update'] .audit-target").first).to_contain_text(
        f"cpu {HOSTILE}")
    denied = page.locator("#audit-results details[data-outcome='denied']")
    expect(denied.first.locator(".audit-outcome")).to_contain_text("denied")
    expect(denied).to_have_count(len(trail["denied"]))
    counts = [f"×{e['count']}" for e in trail["denied"] if e["count"] > 1]
    expect(denied.locator(".audit-outcome .kind")).to_have_text(counts)
    # filter: only refusals
    page.select_option("#au-outcome", "denied")
    page.click("#audit-search button[type=submit]")
    expect(page.locator("#audit-results details.audit-entry")).to_have_count(len(trail["denied"]))
    expect(page.locator("#audit-results details[data-outcome='success']")).to_have_count(0)
    assert "outcome=denied" in page.url
    # a record opens to its fields and the CADF event
    page.select_option("#au-outcome", "")
    page.fill("#au-target", trail["definition"]["id"])
    page.click("#audit-search button[type=submit]")
    expect(page.locator("#audit-results details.audit-entry")).to_have_count(50)
    first = page.locator("#audit-results details.audit-entry").first
    first.locator(":scope > summary").click()
    expect(first.locator(".facts")).to_contain_text("patch alarm definition")
    expect(first.locator(".facts")).to_contain_text("HTTP 200")
    expect(first.locator(".facts")).to_contain_text(f"agent {HOSTILE}")
    first.locator("details.payload", has_text="CADF event").locator(":scope > summary").click()
    expect(first.locator("pre.json").last).to_contain_text('"typeURI": "http://schemas.dmtf.org/cloud/audit/1.0/event"')
    screenshot(page, "audit.png")
    assert page.evaluate("window.__xss === undefined")
    assert page.locator("#audit-results img").count() == 0
    assert_clean(page)


def test_a_bad_time_says_so_and_a_project_sees_its_own(page, shared_server, trail) -> None:
    from playwright.sync_api import expect

    connect(page, shared_server, trail["member"])
    go(page, "#/audit")
    rows = page.locator("#audit-results details.audit-entry")
    expect(rows).to_have_count(50)
    newest = rows.first.get_attribute("data-action")
    first_page = [rows.nth(i).locator(".audit-source").inner_text() for i in range(50)]
    page.click("text=Older →")
    expect(rows).to_have_count(PATCHES + 2 - 50)  # its key made, its changes; not the anonymous refusals, not others'
    second_page = [rows.nth(i).locator(".audit-source").inner_text() for i in range(PATCHES + 2 - 50)]
    assert not set(first_page) & set(second_page) and len(set(first_page + second_page)) == PATCHES + 2
    expect(page.locator("#audit-results details[data-outcome='denied']")).to_have_count(0)
    page.click("text=← Newer")
    expect(rows).to_have_count(50)
    assert rows.first.get_attribute("data-action") == newest
    page.fill("#au-start", "yesterday-ish")
    page.click("#audit-search button[type=submit]")
    expect(page.locator("#audit-results .error")).to_contain_text("is not a UTC time")
    assert_clean(page)
