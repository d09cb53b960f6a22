"""Every role against every endpoint, with Keystone tokens of real Keystone users.

The table below says, for every route the application serves, who may call it: ``read`` (Monasca's
default, read-only and delegate roles, and admin), ``write`` (default role, admin), ``post``
(default, agent and delegate roles, admin), ``admin``, ``cluster`` (admin or service: the nodes of a
cluster), ``query`` (Aetos's ``telemetry:query``: the readers and
the services' own users), ``any`` valid token, or ``open`` (no token needed). It is written out by hand, not derived from the code under test; a route missing from it
fails the first test. A refused call is 403 naming the route's rule (401 without a token), an
allowed one is anything but 401/403/5xx (a dummy id answers 404, an empty body 422). Then the
tenancy: a project never reads another, a delegate crosses projects, an admin reads them all.
"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conftest import now_ms, wait_for
from tests.support.routes import route_rules

ROLES = {"user": ("monasca-user",), "reader": ("monasca-read-only-user",), "agent": ("monasca-agent",),
         "delegate": ("monasca-delegate",), "admin": ("admin",), "member": ("member",),
         "service": ("service",)}

WHO = {"read": {"user", "reader", "delegate", "admin"}, "write": {"user", "admin"},
       "post": {"user", "agent", "delegate", "admin"}, "admin": {"admin"}, "any": set(ROLES), "open": set(ROLES)}
WHO["query"] = WHO["read"] | {"service"}  # telemetry:query: a reader, or role:service (Aodh's and Watcher's users)
WHO["cluster"] = {"admin", "service"}  # a cluster's nodes among themselves (404 on a node that is no ingester)

V2, AD, AL, NM = "/v2.0", "/v2.0/alarm-definitions", "/v2.0/alarms", "/v2.0/notification-methods"
ENDPOINTS = {
    ("GET", "/"): "any", ("GET", V2): "any", ("GET", V2 + "/"): "any", ("GET", "/v1/whoami"): "any",
    ("GET", "/healthz"): "open", ("GET", "/healthcheck"): "open", ("GET", V2 + "/healthcheck"): "open",
    ("GET", "/v1/auth/info"): "open", ("POST", "/v1/auth/tokens"): "open", ("GET", "/openapi.json"): "open",
    ("GET", "/docs"): "open", ("GET", "/ui"): "open", ("GET", "/ui/"): "open",
    ("GET", "/ui/static/{name:path}"): "open",
    ("POST", V2 + "/metrics"): "post", ("POST", "/v1/points"): "post", ("POST", "/v1/events"): "post",
    ("POST", "/v3.0/logs"): "post", ("POST", V2 + "/logs"): "post", ("POST", "/v1/logs"): "post",
    ("GET", V2 + "/metrics"): "read", ("GET", V2 + "/metrics/names"): "read",
    ("GET", V2 + "/metrics/dimensions/names"): "read", ("GET", V2 + "/metrics/dimensions/names/values"): "read",
    ("GET", V2 + "/metrics/measurements"): "read", ("GET", V2 + "/metrics/statistics"): "read",
    ("GET", AD): "read", ("GET", AD + "/{definition_id}"): "read", ("POST", AD): "write",
    ("PUT", AD + "/{definition_id}"): "write", ("PATCH", AD + "/{definition_id}"): "write",
    ("DELETE", AD + "/{definition_id}"): "write",
    ("GET", AL): "read", ("GET", AL + "/count"): "read", ("GET", AL + "/state-history"): "read",
    ("GET", AL + "/state-history/"): "read", ("GET", AL + "/{alarm_id}"): "read",
    ("GET", AL + "/{alarm_id}/state-history"): "read", ("PUT", AL + "/{alarm_id}"): "write",
    ("PATCH", AL + "/{alarm_id}"): "write", ("DELETE", AL + "/{alarm_id}"): "write",
    ("GET", NM): "read", ("GET", NM + "/types"): "read", ("GET", NM + "/{method_id}"): "read",
    ("POST", NM): "write", ("PUT", NM + "/{method_id}"): "write", ("PATCH", NM + "/{method_id}"): "write",
    ("DELETE", NM + "/{method_id}"): "write",
    ("GET", "/v1/notifications/deliveries"): "read", ("GET", "/v1/notifications/deliveries/{delivery_id}"): "read",
    ("POST", "/v1/notifications/deliveries/{delivery_id}/retry"): "write", ("GET", "/v1/notifications/stats"): "admin",
    ("GET", "/v1/events"): "read", ("GET", "/v1/events/types"): "read", ("GET", "/v1/failures"): "read",
    ("GET", "/v1/resources/{resource_id}/failures"): "read", ("GET", "/v1/logs"): "read",
    ("GET", "/v1/logs/templates"): "read", ("GET", "/v1/logs/hygiene"): "read",
    ("GET", "/v1/traces/{request_id}"): "read", ("GET", "/v1/scheduling/{instance_id}"): "read",
    ("GET", "/v1/keys"): "admin", ("POST", "/v1/keys"): "admin", ("DELETE", "/v1/keys/{key_id}"): "admin",
    ("POST", "/v1/admin/compact"): "admin", ("GET", "/v1/admin/storage"): "admin",
    ("GET", "/v1/admin/alarm-engine"): "admin", ("GET", "/v1/admin/events"): "admin",
    ("POST", "/v1/cluster/heads"): "cluster",
    ("GET", "/v1/audit"): "read", ("GET", "/docs/static/{name}"): "open",
    ("POST", "/api/v1/write"): "post", ("POST", "/api/v1/otlp/v1/metrics"): "post",
    **{("GET", "/api/v1/" + path): "query" for path in (
        "query", "query_range", "series", "labels", "label/{name}/values", "metadata", "targets",
        "status/buildinfo", "status/runtimeinfo", "format_query", "query_exemplars")},
    **{("POST", "/api/v1/" + path): "query" for path in (
        "query", "query_range", "series", "labels", "format_query", "query_exemplars")},
}
PATH_VALUES = {"definition_id": "0b6e6a4e-0000-4000-8000-000000000000", "alarm_id": "0b6e6a4e-0000-4000-8000-0000000000a1",
               "method_id": "0b6e6a4e-0000-4000-8000-0000000000b2", "delivery_id": "1", "key_id": "nonexistent",
               "resource_id": "res-nonexistent", "request_id": "req-nonexistent", "instance_id": "inst-nonexistent",
               "name:path": "js/app.js"}
NAMED = {"/docs/static/{name}": "swagger-ui.css", "/api/v1/label/{name}/values": "__name__"}
RULES = route_rules()


def concrete(path: str) -> str:
    if path in NAMED:
        return path.replace("{name}", NAMED[path])
    return re.sub(r"\{([^}]+)\}", lambda match: PATH_VALUES[match.group(1)], path)


@pytest.fixture(scope="module")
def tokens(keystone, keystone_server) -> dict[str, str]:
    """One Keystone user per role, each in a project of its own."""
    return {label: keystone.token(keystone.user(f"matrix-{label}", f"matrix-{label}-proj", *roles))
            for label, roles in ROLES.items()}


def test_the_table_covers_every_route():
    assert set(ENDPOINTS) == set(RULES)


@pytest.mark.parametrize("role", [*ROLES, None], ids=[*ROLES, "no-token"])
@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS), ids=[f"{m} {p}" for m, p in sorted(ENDPOINTS)])
def test_every_role_against_every_endpoint(keystone_server, tokens, endpoint, role):
    method, path = endpoint
    kind = ENDPOINTS[endpoint]
    headers = {"X-Auth-Token": tokens[role]} if role else {}
    body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    answer = httpx.request(method, keystone_server.url + concrete(path), headers=headers, timeout=60,
                           follow_redirects=False, **body)
    assert answer.status_code < 500, answer.text
    if role is None and kind != "open":
        assert answer.status_code == 401 and answer.json()["reason"] == "missing", answer.text
        if path.startswith("/api/v1/") and "otlp" not in path and path != "/api/v1/write":
            assert answer.json()["errorType"] == "unauthorized"  # Prometheus's error shape on its query API
    elif role is None or role in WHO[kind]:
        assert answer.status_code not in (401, 403), answer.text
    else:
        assert answer.status_code == 403, answer.text
        refusal = answer.json()
        assert refusal["rule"] == RULES[endpoint], answer.text
        assert refusal.get("title") == "Forbidden" or refusal.get("errorType") == "forbidden", answer.text


# ---------------------------------------------------------------------------------------------
# tenancy with Keystone projects


def _names(server, token: str, **params) -> set[str]:
    answer = httpx.get(server.url + "/v2.0/metrics/names", headers={"X-Auth-Token": token}, params=params, timeout=30)
    assert answer.status_code == 200, answer.text
    return {element["name"] for element in answer.json()["elements"]}


def _post(server, token: str, name: str, **params) -> httpx.Response:
    return httpx.post(server.url + "/v2.0/metrics", headers={"X-Auth-Token": token}, params=params, timeout=30,
                      json={"name": name, "timestamp": now_ms() - 1000, "value": 1.0})


def test_projects_delegates_and_admins(keystone, keystone_server):
    a_user = keystone.user("tenancy-a", "tenancy-proj-a", "monasca-user")
    a_reader = keystone.user("tenancy-a-reader", "tenancy-proj-a", "monasca-read-only-user")
    b_user = keystone.user("tenancy-b", "tenancy-proj-b", "monasca-user")
    delegate = keystone.user("tenancy-delegate", "tenancy-ops", "monasca-delegate")
    admin = keystone.user("tenancy-admin", "tenancy-ops", "admin")
    a, b, d, r, adm = (keystone.token(u) for u in (a_user, b_user, delegate, a_reader, admin))
    assert _post(keystone_server, a, "tenancy.a.secret").status_code == 204
    assert _post(keystone_server, b, "tenancy.b.secret").status_code == 204
    wait_for(lambda: "tenancy.a.secret" in _names(keystone_server, a), what="A's metric")
    wait_for(lambda: "tenancy.b.secret" in _names(keystone_server, b), what="B's metric")
    # A project never reads another: neither by default nor by asking.
    assert "tenancy.a.secret" not in _names(keystone_server, b)
    assert "tenancy.b.secret" not in _names(keystone_server, a) | _names(keystone_server, r)
    for token, target in ((b, a_user.project_id), (r, b_user.project_id)):
        refused = httpx.get(keystone_server.url + "/v2.0/metrics/names", headers={"X-Auth-Token": token},
                            params={"tenant_id": target}, timeout=30)
        assert refused.status_code == 403 and refused.json()["rule"] == "api:delegate"
    assert _post(keystone_server, a, "tenancy.sneaky", tenant_id=b_user.project_id).json()["rule"] == "api:delegate"
    # A delegate acts for A: posts into it and reads it back; A sees what was posted for it.
    assert _post(keystone_server, d, "tenancy.delegated", tenant_id=a_user.project_id).status_code == 204
    wait_for(lambda: "tenancy.delegated" in _names(keystone_server, a), what="the delegated metric in A")
    assert "tenancy.delegated" in _names(keystone_server, d, tenant_id=a_user.project_id)
    assert "tenancy.delegated" not in _names(keystone_server, d) | _names(keystone_server, b)
    assert httpx.get(keystone_server.url + "/v2.0/metrics/names", headers={"X-Auth-Token": d},
                     params={"tenant_id": "*"}, timeout=30).json()["rule"] == "api:tenants:all"
    # The admin reads every project at once.
    everything = _names(keystone_server, adm, tenant_id="*")
    assert {"tenancy.a.secret", "tenancy.b.secret", "tenancy.delegated"} <= everything
