"""The dashboard at /ui/, driven in a real browser against a real server process: the shell (token
form, navigation, errors, the page's security rules) and the metrics explorer, including a day of
100 series drawn within a time budget.

The browser is Debian's Chromium (``apt-get install chromium``) driven by Playwright's
Python package; Playwright's own browser downloads are never used. Without them the
browser tests skip, except under ``CI=true``, where they fail: CI must run them.
``NEPHOSCOPE_CHROMIUM`` may point at another Chromium binary. With
``NEPHOSCOPE_SCREENSHOT_DIR`` set, the tests save screenshots of the pages there
(``docs/screenshots/`` holds the committed ones).

The fixtures (``browser``, ``page``) are in ``tests/web/conftest.py``; the helpers (``connect``,
``assert_clean``, ``screenshot``) in ``tests/support/browser.py``.
"""

from __future__ import annotations

import math
import re
import time

import httpx
import pytest

from tests.conftest import now_ms
from tests.support.browser import (HOSTS, METRIC, PAGES, STATIC, assert_clean, connect, go, open_with_stored_token,
                                   screenshot, wait_for_names)


@pytest.fixture(scope="module")
def posted(shared_server) -> str:
    """Five minutes of ``webtest.cpu_perc`` for three hosts, posted through the Monasca API."""
    now = now_ms()
    metrics = [{"name": METRIC, "dimensions": {"hostname": host, "service": "web"},
                "timestamp": now - minute * 60_000, "value": 10.0 * (index + 1) + minute}
               for index, host in enumerate(HOSTS) for minute in range(5)]
    with shared_server.client() as client:
        assert client.post("/v2.0/metrics", json=metrics).status_code == 204
    wait_for_names(shared_server, shared_server.admin_token, METRIC)
    return METRIC


# ------------------------------------------------------------------ the files and the shell

def test_page_and_assets_are_served(shared_server):
    with httpx.Client(base_url=shared_server.url, timeout=30) as client:
        index = client.get("/ui/")
        assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
        assert "Nephoscope" in index.text and "static/js/app.js" in index.text
        policy = index.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy and "unsafe-inline" not in policy
        assert client.get("/ui").headers["location"] == "/ui/"
        modules = sorted(p.relative_to(STATIC).as_posix() for p in STATIC.rglob("*.js"))
        assert "js/app.js" in modules and "js/pages/overview.js" in modules
        for name in [*modules, "app.css", "pages.css", "logs.css", "uPlot.LICENSE.txt"]:
            answer = client.get(f"/ui/static/{name}")
            kind = {"js": "text/javascript", "css": "text/css", "txt": "text/plain"}[name.rsplit(".", 1)[1]]
            assert answer.status_code == 200 and answer.headers["content-type"].startswith(kind), name
        assert client.get("/ui/static/%2e%2e/routes.py").status_code == 404
        assert client.get("/ui/static/js/%2e%2e/%2e%2e/routes.py").status_code == 404
        assert client.get("/ui/static/nothing.js").status_code == 404


def test_no_markup_is_built_from_strings():
    """API text (event payloads, log lines) is attacker-controlled: the code never parses strings
    as HTML and the page has no inline handlers or styles (the CSP would block them anyway)."""
    forbidden = re.compile(r"\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(|"
                           r"createContextualFragment|DOMParser")
    sources = {p.name: p.read_text() for p in STATIC.rglob("*.js") if not p.name.startswith("uPlot")}
    assert len(sources) >= 10
    for name, text in sources.items():
        assert not forbidden.search(text), f"{name}: builds markup from a string"
    index = (STATIC / "index.html").read_text()
    assert not re.search(r"\son[a-z]+\s*=", index) and " style=" not in index and "<script>" not in index


def test_bad_token_is_refused(page, shared_server):
    from playwright.sync_api import expect

    connect(page, shared_server, "not-a-valid-token", expect_dashboard=False)
    expect(page.locator("#login-error")).to_contain_text(re.compile("token refused", re.IGNORECASE))
    expect(page.locator("#view")).to_be_hidden()
    expect(page.locator("#nav")).to_be_hidden()
    assert page.evaluate("localStorage.getItem('nephoscope.token')") is None
    assert_clean(page)


def test_a_token_without_the_read_role_is_told_what_is_missing(page, shared_server):
    """The API answers a missing role with 403 "Forbidden" (Monasca's way): that is "not allowed",
    said with the server's reason, not "token refused"."""
    from playwright.sync_api import expect

    agent = shared_server.create_key("web-agent-project", "monasca-agent")
    connect(page, shared_server, agent, expect_dashboard=False)
    expect(page.locator("#login-error")).to_contain_text("Not allowed with this token")
    expect(page.locator("#login-error")).to_contain_text("monasca-user")  # the roles that would do
    assert_clean(page)


def test_stored_token_that_stops_working_is_refused(page, shared_server):
    from playwright.sync_api import expect

    open_with_stored_token(page, shared_server, "revoked-long-ago")
    expect(page.locator("#login-error")).to_contain_text(re.compile("token refused", re.IGNORECASE))
    expect(page.locator("#login")).to_be_visible()
    assert_clean(page)


def test_a_token_revoked_mid_session_sends_back_to_the_form(page, shared_server):
    from playwright.sync_api import expect

    with shared_server.client() as admin:
        key = admin.post("/v1/keys", json={"project": "web-revoked", "roles": ["monasca-user"]}).json()
    connect(page, shared_server, key["token"])
    expect(page.locator("#view h1")).to_have_text("Overview")
    with shared_server.client() as admin:
        assert admin.delete(f"/v1/keys/{key['id']}").status_code == 204
    # The next request refused sends back to the form: the Overview's own refresh (every 10 s)
    # may get there first and hide the nav, so move on by the address, not by a click.
    go(page, "#/alarms")
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#login-error")).to_contain_text(re.compile("token refused", re.IGNORECASE))
    expect(page.locator("#view")).to_be_hidden()
    assert_clean(page)


def test_navigation_reaches_every_page(page, shared_server):
    from playwright.sync_api import expect

    connect(page, shared_server, shared_server.admin_token)
    links = page.locator("#nav a")
    expect(links).to_have_text([re.compile(f"^{label}") for label in PAGES])
    for label, heading in PAGES.items():
        link = page.locator(f"#nav a[data-path='{label.lower()}']")
        link.click()
        expect(page.locator("#view h1")).to_have_text(heading)
        expect(link).to_have_attribute("aria-current", "page")
        assert page.title().startswith(label)
    go(page, "#/logs")
    expect(page.locator("#log-search")).to_be_visible()
    go(page, "#/traces")
    expect(page.locator("#trace-form")).to_be_visible()
    go(page, "#/traces/scheduling")
    expect(page.locator("#sched-form")).to_be_visible()
    expect(page.locator("#nav a[data-path='traces']")).to_have_attribute("aria-current", "page")
    go(page, "#/no-such-page")
    expect(page.locator("#view h1")).to_have_text("Nothing here")
    # The admin's scope bar offers every project and region; a project's key gets none (see test_web_tenancy).
    expect(page.locator("#scope-project")).to_be_visible()
    expect(page.locator("#scope-region")).to_be_visible()
    assert_clean(page)


# ------------------------------------------------------------------ metrics explorer

def test_explorer_draws_one_line_per_host(page, shared_server, posted):
    from playwright.sync_api import expect

    connect(page, shared_server, shared_server.admin_token)
    go(page, "#/metrics")
    page.select_option("#metric", posted)
    legend = page.locator("#chart-host .legend-item")
    expect(legend).to_have_count(len(HOSTS))
    expect(page.locator("#chart-host .legend .label")).to_have_text(list(HOSTS))
    expect(page.locator("#chart")).to_have_attribute("data-series", str(len(HOSTS)))
    expect(page.locator("#chart")).to_have_attribute("data-filled", str(len(HOSTS)))
    expect(page.locator("#chart canvas").first).to_be_visible()
    expect(page.locator("#explorer-error")).to_be_empty()
    expect(page.locator("#banner")).to_be_hidden()
    expect(page.locator("#updated")).to_contain_text(re.compile(r"updated \d\d:\d\d:\d\d UTC"))
    # Times are UTC whatever the browser's zone (the context runs in New York time): the reading at
    # the cursor's position, near the right edge (now), names the current UTC hour.
    box = page.locator("#chart .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)
    hours = {time.strftime("%Y-%m-%d %H", time.gmtime(time.time() - lag)) for lag in (0, 120)}
    expect(page.locator(".legend-at")).to_contain_text(re.compile("|".join(rf"Values at {h}:\d\d:\d\d UTC" for h in hours)))

    # A filter narrows to one host; removing it brings the others back.
    page.select_option("#filter-name", "hostname")
    page.select_option("#filter-value", "web-2")
    page.click("#filter-add")
    expect(page.locator("#chart-host .legend .label")).to_have_text(["web-2"])
    page.click("#filter-chips .chip button")
    expect(legend).to_have_count(len(HOSTS))

    # Statistics and periods: max per 1 min still draws the three hosts, sum too.
    page.select_option("#statistic", "max")
    page.select_option("#period", "60")
    expect(page.locator("#chart-info")).to_contain_text("max per 1 min")
    expect(legend).to_have_count(len(HOSTS))

    # Merged: a single line, named after the metric; other ranges keep working.
    page.select_option("#group-by", "")
    expect(page.locator("#chart-host .legend .label")).to_have_text([posted])
    for label in ("15 min", "6 h", "7 d"):
        page.click(f"#ranges button:text-is('{label}')")
        expect(page.locator(f"#ranges button:text-is('{label}')")).to_have_attribute("aria-pressed", "true")
        expect(page.locator("#chart")).to_have_attribute("data-state", "ready")
        expect(legend).to_have_count(1)
    expect(page.locator("#explorer-error")).to_be_empty()

    # A custom UTC range that ends before the data: an empty chart that says so.
    page.fill("#range-from", "2020-01-01 00:00")
    page.fill("#range-to", "2020-01-01 06:00")
    page.click(".custom-range button")
    expect(page.locator("#chart")).to_have_attribute("data-state", "empty")
    expect(page.locator(".chart-empty")).to_contain_text("No data")
    page.fill("#range-to", "not a time")
    page.click(".custom-range button")
    expect(page.locator("#explorer-error")).to_contain_text("UTC")

    # The view is in the address: a reload shows the same chart without asking for the token again.
    page.click("#ranges button:text-is('1 h')")
    expect(page.locator("#chart")).to_have_attribute("data-state", "ready")
    page.reload()
    expect(page.locator("#nav")).to_be_visible()
    expect(page.locator("#login")).to_be_hidden()
    expect(page.locator("#chart-host .legend .label")).to_have_text([posted])
    expect(page.locator("#statistic")).to_have_value("max")
    assert_clean(page)


def test_lost_server_is_said_once_and_recovers(page, shared_server, posted):
    from playwright.sync_api import expect

    connect(page, shared_server, shared_server.admin_token)
    go(page, f"#/metrics?name={posted}")
    expect(page.locator("#chart-host .legend-item")).to_have_count(len(HOSTS))
    page.route("**/v2.0/**", lambda route: route.abort())
    page.click("#ranges button:text-is('15 min')")
    expect(page.locator("#banner")).to_contain_text("Cannot reach the server")
    expect(page.locator("#explorer-error")).to_be_empty()
    expect(page.locator("#chart-host .legend-item")).to_have_count(len(HOSTS))  # the last data stays
    expect(page.locator("#chart")).to_have_attribute("data-state", "stale")
    page.unroute("**/v2.0/**")
    page.click("#ranges button:text-is('1 h')")
    expect(page.locator("#banner")).to_be_hidden()
    expect(page.locator("#chart")).to_have_attribute("data-state", "ready")
    assert_clean(page)


def test_a_day_of_100_series_renders_within_budget(page, shared_server):
    """100 series × 1 day of 1-minute samples (143,000 points): the explorer asks for 5-minute
    statistics (~288 buckets per line, the store's roll-ups do the decimation), draws all 100
    lines with data, and stays responsive to the cursor."""
    from playwright.sync_api import expect

    name, series, minutes = "webperf.load_perc", 100, 24 * 60 - 10  # inside the 1-day raw retention
    now = (now_ms() // 60_000) * 60_000
    with shared_server.client() as client:
        batch = []
        for minute in range(minutes):
            ts = now - minute * 60_000
            for s in range(series):
                hour = ts / 3_600_000 % 24  # a day's load curve (busiest mid-afternoon UTC), per-host level, noise
                busy = (1 + math.sin(2 * math.pi * (hour - 9) / 24)) / 2
                noise = ((minute * 31 + s * 17) % 23 - 11) * 0.3
                batch.append({"name": name, "dimensions": {"hostname": f"perf-{s:03d}"}, "timestamp": ts,
                              "value": round(10 + (s % 25) * 1.2 + 35 * busy + noise, 2)})
            if len(batch) >= 20_000:
                assert client.post("/v2.0/metrics", json=batch).status_code == 204
                batch = []
        assert client.post("/v2.0/metrics", json=batch).status_code == 204
    wait_for_names(shared_server, shared_server.admin_token, name)

    connect(page, shared_server, shared_server.admin_token)
    started = time.monotonic()
    go(page, f"#/metrics?name={name}&group=hostname&range=24h")
    chart = page.locator("#chart")
    expect(chart).to_have_attribute("data-series", str(series), timeout=30_000)
    expect(chart).to_have_attribute("data-state", "ready")
    elapsed = time.monotonic() - started
    expect(chart).to_have_attribute("data-filled", str(series))
    expect(page.locator("#chart-host .legend-item")).to_have_count(series)
    expect(page.locator("#chart-info")).to_contain_text("avg per 5 min · 100 lines")
    points = int(chart.get_attribute("data-points"))
    assert points >= series * 280, f"each line should have ~288 five-minute buckets, got {points} points in all"
    render_ms = int(chart.get_attribute("data-render-ms"))
    print(f"\n100 series x 1 day: on screen in {elapsed:.2f} s (chart built in {render_ms} ms, {points} points)")
    assert elapsed < 10, f"100 series × 1 day took {elapsed:.1f} s to appear"
    assert render_ms < 1500
    screenshot(page, "metrics-100-series.png")

    # The cursor over 100 lines: 30 moves, each updating 100 legend readings.
    box = page.locator("#chart .u-over").bounding_box()
    started = time.monotonic()
    for step in range(30):
        page.mouse.move(box["x"] + box["width"] * (step + 1) / 32, box["y"] + box["height"] / 2)
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => r()))")
    moved = time.monotonic() - started
    expect(page.locator(".legend-at")).to_contain_text("Values at")
    assert moved < 5, f"30 cursor moves over 100 lines took {moved:.1f} s"
    assert_clean(page)
