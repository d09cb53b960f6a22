"""The dashboard's login with Keystone on, in a real browser against a server and a real Keystone:
a user name, password and project (the domain prefilled as Default), as Horizon users expect; a
wrong password is said plainly; the token form still takes a Keystone token or an API key; with
API keys only, the Keystone form is not shown.
"""

from __future__ import annotations

import re
import time

from tests.support.browser import assert_clean, go, open_with_stored_token, screenshot, wait_for_names


def test_a_keystone_user_logs_in_and_sees_the_project(page, keystone, keystone_server):
    from playwright.sync_api import expect

    user = keystone.user("web-ks-user", "web-ks-proj", "monasca-user")
    token = keystone.token(user)
    with keystone_server.client(token) as client:
        assert client.post("/v2.0/metrics", json={"name": "web.ks.cpu", "dimensions": {"hostname": "ks-web-1"},
                                                 "timestamp": time.time() * 1000 - 5000,
                                                 "value": 12.0}).status_code == 204
    wait_for_names(keystone_server, token, "web.ks.cpu")
    page.goto(keystone_server.url + "/ui/")
    expect(page.locator("#keystone-login")).to_be_visible()
    expect(page.locator("#ks-domain")).to_have_value("Default")
    expect(page.locator("#login-title")).to_be_hidden()
    page.fill("#ks-username", user.name)
    page.fill("#ks-password", user.password)
    page.fill("#ks-project", user.project)
    screenshot(page, "keystone-login.png")
    page.click("#ks-submit")
    expect(page.locator("#nav")).to_be_visible()
    expect(page.locator("#token-summary")).to_have_text("web-ks-user · web-ks-proj")
    stored = page.evaluate("JSON.stringify(localStorage)")
    assert user.password not in stored and "web-ks-user" in stored  # the user name is remembered, not the password
    go(page, "#/metrics")
    expect(page.locator("body")).to_contain_text("web.ks.cpu")
    # Back at the form, the user name and project are filled in; only the password is asked again.
    page.click("#token-change")
    expect(page.locator("#ks-username")).to_have_value(user.name)
    expect(page.locator("#ks-project")).to_have_value(user.project)
    expect(page.locator("#ks-password")).to_have_value("")
    assert_clean(page)


def test_a_wrong_password_is_said_plainly(page, keystone, keystone_server):
    from playwright.sync_api import expect

    user = keystone.user("web-ks-wrong", "web-ks-proj", "monasca-user")
    page.goto(keystone_server.url + "/ui/")
    page.fill("#ks-username", user.name)
    page.fill("#ks-password", "not-the-password")
    page.fill("#ks-project", user.project)
    page.click("#ks-submit")
    expect(page.locator("#keystone-error")).to_contain_text("Keystone refused the user name, password or project")
    expect(page.locator("#nav")).to_be_hidden()
    assert_clean(page)


def test_a_stale_stored_token_brings_the_form_back_and_a_keystone_token_also_works(page, keystone,
                                                                                 keystone_server):
    """A token the browser kept that Keystone no longer knows: back to the Keystone form, with the
    reason; a Keystone token (``openstack token issue``) pasted in the token form works too."""
    from playwright.sync_api import expect

    open_with_stored_token(page, keystone_server, "gAAAAAB-long-gone")
    expect(page.locator("#keystone-error")).to_contain_text(re.compile("token refused", re.IGNORECASE))
    expect(page.locator("#ks-username")).to_be_focused()
    reader = keystone.user("web-ks-reader", "web-ks-proj", "monasca-read-only-user")
    page.fill("#token-input", keystone.token(reader))
    page.click("#token-submit")
    expect(page.locator("#token-summary")).to_contain_text("web-ks-reader")
    assert_clean(page)


def test_without_keystone_only_the_token_form_is_shown(page, shared_server):
    from playwright.sync_api import expect

    page.goto(shared_server.url + "/ui/")
    expect(page.locator("#token-input")).to_be_visible()
    expect(page.locator("#keystone-login")).to_be_hidden()
    expect(page.locator("#login-title")).to_have_text("Connect with an API token")
    assert_clean(page)
