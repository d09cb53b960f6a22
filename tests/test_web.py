"""The dashboard at /ui/, driven in a real browser against a real server process.

The browser is Debian's Chromium (``apt-get install chromium``) driven by Playwright's
Python package; Playwright's own browser downloads are never used. Without them the
browser tests skip, except under ``CI=true``, where they fail: CI must run them.
``NEPHOSCOPE_CHROMIUM`` may point at another Chromium binary.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import missing

try:
    from tests.conftest import now_ms
except ImportError:  # tests/ run as a plain directory
    from conftest import now_ms

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
METRIC = "webtest.cpu_perc"
HOSTS = ("web-1", "web-2", "web-3")
TIMEOUT_MS = 20_000
SCREENSHOT = Path(os.environ.get("NEPHOSCOPE_SCREENSHOT_DIR", tempfile.gettempdir())) / "nephoscope-ui.png"


def _unavailable(reason: str) -> None:
    missing(reason, "apt-get install -y chromium; pip install -e '.[test]' for playwright")


def _chromium() -> str | None:
    explicit = os.environ.get("NEPHOSCOPE_CHROMIUM")
    candidates = [explicit] if explicit else ["/usr/bin/chromium", shutil.which("chromium"),
                                              shutil.which("chromium-browser")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright Python package is not installed")
    path = _chromium()
    if path is None:
        _unavailable("no Chromium binary (apt-get install chromium gives /usr/bin/chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def posted(shared_server) -> str:
    """Five minutes of ``webtest.cpu_perc`` for three hosts, posted through the Monasca API."""
    now = now_ms()
    metrics = [{"name": METRIC, "dimensions": {"hostname": host, "service": "web"},
                "timestamp": now - minute * 60_000, "value": 10.0 * (index + 1) + minute}
               for index, host in enumerate(HOSTS) for minute in range(5)]
    with shared_server.client() as client:
        assert client.post("/v2.0/metrics", json=metrics).status_code == 204
        deadline = time.monotonic() + 30
        while METRIC not in client.get("/v2.0/metrics/names").text:
            assert time.monotonic() < deadline, "posted metrics never became visible"
            time.sleep(0.2)
    return METRIC


@pytest.fixture
def page(browser, shared_server):
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    context.close()


def _connect(page, server, token: str) -> None:
    page.goto(server.url + "/ui/")
    page.fill("#token-input", token)
    page.click("#token-submit")


def test_page_and_assets_are_served(shared_server):
    with httpx.Client(base_url=shared_server.url, timeout=30) as client:
        index = client.get("/ui/")
        assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
        assert "Nephoscope" in index.text and "static/app.js" in index.text
        assert client.get("/ui").headers["location"] == "/ui/"
        for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css"),
                           ("uPlot.iife.min.js", "text/javascript"), ("uPlot.LICENSE.txt", "text/plain")):
            answer = client.get(f"/ui/static/{name}")
            assert answer.status_code == 200 and answer.headers["content-type"].startswith(kind), name
        assert client.get("/ui/static/%2e%2e/routes.py").status_code == 404
        assert client.get("/ui/static/nothing.js").status_code == 404


def test_explorer_draws_one_line_per_host(page, shared_server, posted):
    from playwright.sync_api import expect

    _connect(page, shared_server, shared_server.admin_token)
    expect(page.locator("#dashboard")).to_be_visible()
    page.select_option("#metric", posted)
    legend = page.locator("#legend .legend-item")
    expect(legend).to_have_count(len(HOSTS))
    expect(page.locator("#legend .label")).to_have_text(list(HOSTS))
    expect(page.locator("#chart")).to_have_attribute("data-series", str(len(HOSTS)))
    expect(page.locator("#chart canvas").first).to_be_visible()
    expect(page.locator("#explorer-error")).to_be_hidden()
    expect(page.locator("#banner")).to_be_hidden()
    # The server's own figures (it records itself every second in the test fixture).
    expect(page.locator('[data-metric="nephoscope.store.series"] .value')).to_have_text(re.compile(r"^\d"))
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # A filter narrows to one host; removing it brings the others back.
    page.select_option("#filter-name", "hostname")
    page.select_option("#filter-value", "web-2")
    page.click("#filter-add")
    expect(page.locator("#legend .label")).to_have_text(["web-2"])
    page.click("#filter-chips .chip button")
    expect(legend).to_have_count(len(HOSTS))

    # Merged: a single line, named after the metric; other ranges keep working.
    page.select_option("#group-by", "")
    expect(page.locator("#legend .label")).to_have_text([posted])
    for label in ("15 min", "6 h", "7 d"):
        page.click(f"#ranges button:text-is('{label}')")
        expect(page.locator(f"#ranges button:text-is('{label}')")).to_have_attribute("aria-pressed", "true")
        expect(page.locator("#chart")).to_have_attribute("data-state", "ready")
        expect(legend).to_have_count(1)
    expect(page.locator("#explorer-error")).to_be_hidden()

    # The token is asked for once: a reload goes straight to the dashboard, with the same view.
    page.reload()
    expect(page.locator("#dashboard")).to_be_visible()
    expect(page.locator("#login")).to_be_hidden()
    expect(page.locator("#legend .label")).to_have_text([posted])
    assert page.errors == []


def test_bad_token_is_refused(page, shared_server):
    from playwright.sync_api import expect

    _connect(page, shared_server, "not-a-valid-token")
    expect(page.locator("#login-error")).to_be_visible()
    expect(page.locator("#login-error")).to_contain_text(re.compile("token refused", re.IGNORECASE))
    expect(page.locator("#dashboard")).to_be_hidden()
    assert page.evaluate("localStorage.getItem('nephoscope.token')") is None
    assert page.errors == []


def test_stored_token_that_stops_working_is_refused(page, shared_server):
    from playwright.sync_api import expect

    page.add_init_script("localStorage.setItem('nephoscope.token', 'revoked-long-ago')")
    page.goto(shared_server.url + "/ui/")
    expect(page.locator("#login-error")).to_contain_text(re.compile("token refused", re.IGNORECASE))
    expect(page.locator("#login")).to_be_visible()
    assert page.errors == []


def test_lost_server_is_said_once_and_recovers(page, shared_server, posted):
    from playwright.sync_api import expect

    _connect(page, shared_server, shared_server.admin_token)
    page.select_option("#metric", posted)
    expect(page.locator("#legend .legend-item")).to_have_count(len(HOSTS))
    page.route("**/v2.0/**", lambda route: route.abort())
    page.click("#ranges button:text-is('15 min')")
    expect(page.locator("#banner")).to_contain_text("Cannot reach the server")
    expect(page.locator("#explorer-error")).to_be_hidden()
    expect(page.locator("#legend .legend-item")).to_have_count(len(HOSTS))  # the last data stays
    page.unroute("**/v2.0/**")
    page.click("#ranges button:text-is('1 h')")
    expect(page.locator("#banner")).to_be_hidden()
    expect(page.locator("#chart")).to_have_attribute("data-state", "ready")
    assert page.errors == []
