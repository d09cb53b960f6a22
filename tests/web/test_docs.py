"""``/docs`` on an air-gapped control plane: Swagger UI comes from the server itself.

The browser may reach only the server: every request to any other host is aborted and recorded.
The page must still draw every operation of ``/openapi.json`` and try one out with a token.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx


def test_docs_load_with_the_network_blocked_except_the_server(page, shared_server) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    server = urlsplit(shared_server.url).netloc
    outside: list[str] = []

    def only_the_server(route) -> None:  # noqa: ANN001 - playwright's Route
        if urlsplit(route.request.url).netloc == server or route.request.url.startswith("data:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort("internetdisconnected")

    page.route("**/*", only_the_server)
    page.goto(shared_server.url + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Nephoscope")
    operations = httpx.get(shared_server.url + "/openapi.json").json()["paths"]
    # every operation once under each of its tags
    count = sum(len(operation.get("tags") or ["default"]) for methods in operations.values()
                for method, operation in methods.items() if method in ("get", "post", "put", "patch", "delete"))
    expect(page.locator(".opblock-summary-method")).to_have_count(count)
    # Try one operation through the page, authorized with the admin token.
    page.click("button.authorize")
    page.fill(".modal-ux input[type=text], .modal-ux input[type=password]", shared_server.admin_token)
    page.click(".modal-ux button.authorize")
    page.click(".modal-ux button.close-modal")
    whoami = page.locator("#operations-Authentication-whoami_v1_whoami_get")
    whoami.locator(".opblock-summary").click()
    whoami.locator("button.try-out__btn").click()
    whoami.locator("button.execute").click()
    answered = whoami.locator(".responses-wrapper .live-responses-table tbody")
    expect(answered.locator(".response-col_status").first).to_have_text("200")
    expect(answered.locator(".response-col_description .microlight").first).to_contain_text('"admin": true')
    assert outside == [], f"the docs page reached outside the server: {outside}"
    assert page.errors == []


def test_docs_assets_are_served_from_the_package(shared_server) -> None:  # noqa: ANN001
    page = httpx.get(shared_server.url + "/docs").text
    assert "cdn" not in page.lower() and "https://" not in page
    for name, kind in (("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "text/css"),
                       ("LICENSE.txt", "text/plain")):
        answer = httpx.get(f"{shared_server.url}/docs/static/{name}")
        assert answer.status_code == 200 and kind in answer.headers["content-type"], name
    assert httpx.get(shared_server.url + "/docs/static/..%2F__init__.py").status_code == 404
    assert httpx.get(shared_server.url + "/docs/static/nothing.js").status_code == 404
