"""Driving the dashboard in a real browser: Debian's Chromium through Playwright's Python package.

Playwright's own browser downloads are never used; ``NEPHOSCOPE_CHROMIUM`` may point at another
Chromium binary. Without one the browser tests skip, except under ``CI=true``, where they fail.
With ``NEPHOSCOPE_SCREENSHOT_DIR`` set, ``screenshot`` saves the pages there (``docs/screenshots/``
holds the committed ones). The ``browser`` and ``page`` fixtures are in ``tests/web/conftest.py``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.conftest import ROOT, missing, wait_for

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
STATIC = ROOT / "nephoscope" / "web" / "static"
METRIC = "webtest.cpu_perc"
HOSTS = ("web-1", "web-2", "web-3")
TIMEOUT_MS = 20_000
VIEWPORT = {"width": 1366, "height": 900}  # a laptop screen
PAGES = {"Overview": "Overview", "Metrics": "Metrics", "Alarms": "Alarms", "Events": "Events", "Logs": "Logs",
         "Traces": "Traces", "Audit": "Audit"}


def unavailable(reason: str) -> None:
    missing(reason, "apt-get install -y chromium; pip install -e '.[test]' for playwright")


def chromium_path() -> str | None:
    explicit = os.environ.get("NEPHOSCOPE_CHROMIUM")
    candidates = [explicit] if explicit else ["/usr/bin/chromium", shutil.which("chromium"),
                                              shutil.which("chromium-browser")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def connect(page, server, token: str, expect_dashboard: bool = True) -> None:
    """Open the dashboard and give it a token through the form, as a person would."""
    from playwright.sync_api import expect

    page.goto(server.url + "/ui/")
    page.fill("#token-input", token)
    page.click("#token-submit")
    if expect_dashboard:
        expect(page.locator("#nav")).to_be_visible()


def open_with_stored_token(page, server, token: str, route: str = "#/alarms") -> None:
    """Open the dashboard as a returning user whose browser kept ``token`` from an earlier visit."""
    page.add_init_script(f"localStorage.setItem('nephoscope.token', {token!r})")
    page.goto(server.url + "/ui/" + route)


def go(page, route: str) -> None:
    """Navigate inside the app (a hash change, as the nav links do)."""
    page.evaluate("(route) => { location.hash = route; }", route)


def assert_clean(page) -> None:
    """No uncaught script error and no Content-Security-Policy violation happened on the page."""
    assert page.errors == []
    assert page.evaluate("window.__csp || []") == []


def screenshot(page, name: str, full_page: bool = False) -> None:
    """Save a screenshot when NEPHOSCOPE_SCREENSHOT_DIR says where (docs/screenshots/ for the README)."""
    folder = os.environ.get("NEPHOSCOPE_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.wait_for_timeout(300)  # let charts finish their first paint
        page.screenshot(path=str(Path(folder) / name), full_page=full_page)


def wait_for_names(server, token: str, *names: str, tenant: str | None = None) -> None:
    params = {"tenant_id": tenant} if tenant else {}
    with server.client(token) as client:
        wait_for(lambda: all(n in client.get("/v2.0/metrics/names", params=params).text for n in names),
                 timeout=30, what=f"metrics {names} to become visible")
