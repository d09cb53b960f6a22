"""The shared browser (one Chromium a module) and a fresh page (its own context) a test."""

from __future__ import annotations

import pytest

from tests.support.browser import CHROMIUM_ARGS, TIMEOUT_MS, VIEWPORT, chromium_path, unavailable


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright Python package is not installed")
    path = chromium_path()
    if path is None:
        unavailable("no Chromium binary (apt-get install chromium gives /usr/bin/chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# Content-Security-Policy violations would mean something on the page tried to run or load what
# the policy forbids (inline handlers, injected markup): recorded, and asserted absent.
_WATCH_CSP = """document.addEventListener('securitypolicyviolation', (e) => {
  (window.__csp = window.__csp || []).push(`${e.violatedDirective} ${e.blockedURI}`);
});"""


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT, timezone_id="America/New_York")  # the page must show UTC anyway
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.add_init_script(_WATCH_CSP)
    yield page
    context.close()
