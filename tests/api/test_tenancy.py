"""Tenant isolation and role policy, against a real server.

Projects ``proj-a`` and ``proj-b`` each hold data (posted through Monasca JSON and the
native endpoint). On every read endpoint, with and without filters and paging, each
project sees exactly its own data. Cross-project access with ``tenant_id`` is refused
(403 naming the policy rule, as Monasca answers a missing role) unless the caller is a delegate
or an admin, and ``tenant_id=*`` is for admins only. Every role's allowed actions are an
explicit table below.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import ServerProcess, now_ms

A, B, D = "proj-a", "proj-b", "proj-delegate"

# Strings that exist only in one project's data: they must never appear in the other's answers.
A_MARKERS = ("a-only.cpu", "a-only.native", "a-host", "a-secret", "a_dim_only", "a-native-host")
B_MARKERS = ("b-only.mem", "b-host", "b-secret", "b_dim_only")


@dataclass
class World:
    server: ServerProcess
    keys: dict[str, str]  # label -> token
    t0: int
    start: str


def iso(ms: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def post(server: ServerProcess, token: str, body, **params) -> httpx.Response:
    with server.client(token) as client:
        return client.post("/v2.0/metrics", json=body, params=params)


def post_native(server: ServerProcess, token: str, body) -> httpx.Response:
    with server.client(token) as client:
        return client.post("/v1/points", json=body)


def get(server: ServerProcess, token: str, path: str, params: dict) -> httpx.Response:
    with server.client(token) as client:
        return client.get(path, params=params)


def get_all_pages(server: ServerProcess, token: str, path: str, params: dict, max_pages: int = 200) -> list[dict]:
    """Every page of a list answer, following ``next`` links; returns the raw page bodies."""
    pages = []
    with server.client(token) as client:
        response = client.get(path, params=params)
        while True:
            assert response.status_code == 200, (path, params, response.status_code, response.text)
            body = response.json()
            assert "links" in body and "elements" in body, body
            pages.append(body)
            following = [link["href"] for link in body["links"] if link["rel"] == "next"]
            if not following or len(pages) >= max_pages:
                break
            response = client.get(following[0])
    return pages


@pytest.fixture(scope="module")
def world(shared_server: ServerProcess) -> World:
    s = shared_server
    keys = {
        "a-user": s.create_key(A, "monasca-user"),
        "b-user": s.create_key(B, "monasca-user"),
        "a-agent": s.create_key(A, "monasca-agent"),
        "a-reader": s.create_key(A, "monasca-read-only-user"),
        "delegate": s.create_key(D, "monasca-delegate"),
        "admin": s.admin_token,  # project "admin"
        "admin-key": s.create_key("ops", "admin"),
    }
    t0 = now_ms() - 120_000
    a_metrics = [
        {"name": "a-only.cpu", "dimensions": {"hostname": "a-host", "a_dim_only": "a-secret"},
         "timestamp": t0 + i * 1000, "value": float(i), "value_meta": {"owner": "a-secret"}} for i in range(5)
    ] + [
        {"name": "shared.metric", "dimensions": {"hostname": "a-host"}, "timestamp": t0 + i * 1000, "value": 100.0 + i}
        for i in range(5)
    ]
    assert post(s, keys["a-user"], a_metrics).status_code == 204
    native = {"series": [{"name": "a-only.native", "dimensions": {"hostname": "a-native-host"}},
                         {"name": "shared.metric", "dimensions": {"hostname": "a-native-host"}}],
              "series_index": [0, 0, 1, 1], "timestamp": [t0, t0 + 1000, t0, t0 + 1000],
              "value": [7.0, 8.0, 9.0, 10.0]}
    response = post_native(s, keys["a-user"], native)
    assert response.status_code == 200 and response.json() == {"accepted": 4}, response.text
    b_metrics = [
        {"name": "b-only.mem", "dimensions": {"hostname": "b-host", "b_dim_only": "b-secret"},
         "timestamp": t0 + i * 1000, "value": -float(i)} for i in range(5)
    ] + [
        {"name": "shared.metric", "dimensions": {"hostname": "b-host"}, "timestamp": t0 + i * 1000, "value": 200.0 + i}
        for i in range(5)
    ]
    assert post(s, keys["b-user"], b_metrics).status_code == 204
    return World(s, keys, t0, iso(t0 - 60_000))


# ---------------------------------------------------------------------------------------------
# The read endpoints: (id, path, params). ``{start}`` is replaced by the world's start time.

READS = [
    ("metrics", "/v2.0/metrics", {}),
    ("metrics-name", "/v2.0/metrics", {"name": "shared.metric"}),
    ("metrics-a-name", "/v2.0/metrics", {"name": "a-only.cpu"}),
    ("metrics-dims", "/v2.0/metrics", {"dimensions": "hostname:a-host|b-host|a-native-host"}),
    ("metrics-dim-exists", "/v2.0/metrics", {"dimensions": "a_dim_only"}),
    ("metrics-time", "/v2.0/metrics", {"start_time": "{start}"}),
    ("metrics-paged", "/v2.0/metrics", {"limit": "1"}),
    ("names", "/v2.0/metrics/names", {}),
    ("names-dims", "/v2.0/metrics/names", {"dimensions": "hostname"}),
    ("names-paged", "/v2.0/metrics/names", {"limit": "1"}),
    ("dim-names", "/v2.0/metrics/dimensions/names", {}),
    ("dim-names-metric", "/v2.0/metrics/dimensions/names", {"metric_name": "a-only.cpu"}),
    ("dim-names-time", "/v2.0/metrics/dimensions/names", {"start_time": "{start}"}),
    ("dim-names-paged", "/v2.0/metrics/dimensions/names", {"limit": "1"}),
    ("dim-values", "/v2.0/metrics/dimensions/names/values", {"dimension_name": "hostname"}),
    ("dim-values-secret", "/v2.0/metrics/dimensions/names/values", {"dimension_name": "a_dim_only"}),
    ("dim-values-metric", "/v2.0/metrics/dimensions/names/values",
     {"dimension_name": "hostname", "metric_name": "shared.metric"}),
    ("dim-values-time", "/v2.0/metrics/dimensions/names/values", {"dimension_name": "hostname", "start_time": "{start}"}),
    ("dim-values-paged", "/v2.0/metrics/dimensions/names/values", {"dimension_name": "hostname", "limit": "1"}),
    ("meas-a-name", "/v2.0/metrics/measurements", {"name": "a-only.cpu", "start_time": "{start}"}),
    ("meas-a-dims", "/v2.0/metrics/measurements",
     {"name": "shared.metric", "start_time": "{start}", "dimensions": "hostname:a-host"}),
    ("meas-merge", "/v2.0/metrics/measurements", {"name": "shared.metric", "start_time": "{start}",
                                                   "merge_metrics": "true"}),
    ("meas-group", "/v2.0/metrics/measurements", {"name": "shared.metric", "start_time": "{start}", "group_by": "*"}),
    ("meas-paged", "/v2.0/metrics/measurements", {"name": "shared.metric", "start_time": "{start}",
                                                   "group_by": "hostname", "limit": "2"}),
    ("stats-a-name", "/v2.0/metrics/statistics", {"name": "a-only.cpu", "start_time": "{start}",
                                                   "statistics": "avg,count"}),
    ("stats-merge", "/v2.0/metrics/statistics", {"name": "shared.metric", "start_time": "{start}",
                                                  "statistics": "avg,min,max,sum,count", "merge_metrics": "true"}),
    ("stats-group", "/v2.0/metrics/statistics", {"name": "shared.metric", "start_time": "{start}",
                                                  "statistics": "count", "group_by": "*", "period": "1"}),
    ("stats-paged", "/v2.0/metrics/statistics", {"name": "shared.metric", "start_time": "{start}",
                                                  "statistics": "count", "group_by": "*", "period": "1",
                                                  "limit": "1"}),
]
READ_IDS = [r[0] for r in READS]
ENDPOINTS = [  # one representative query per endpoint, for the role table
    ("metrics", "/v2.0/metrics", {}),
    ("names", "/v2.0/metrics/names", {}),
    ("dimension-names", "/v2.0/metrics/dimensions/names", {}),
    ("dimension-values", "/v2.0/metrics/dimensions/names/values", {"dimension_name": "hostname"}),
    ("measurements", "/v2.0/metrics/measurements", {"name": "shared.metric", "start_time": "{start}",
                                                     "merge_metrics": "true"}),
    ("statistics", "/v2.0/metrics/statistics", {"name": "shared.metric", "start_time": "{start}",
                                                 "statistics": "count", "merge_metrics": "true"}),
]
ENDPOINT_IDS = [e[0] for e in ENDPOINTS]


def fill(params: dict, world: World, **extra) -> dict:
    return {**{k: (world.start if v == "{start}" else v) for k, v in params.items()}, **extra}


def text_of(pages: list[dict]) -> str:
    return json.dumps([page["elements"] for page in pages], ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# Isolation: each project sees its own data and nothing of the other's


@pytest.mark.parametrize("read", READS, ids=READ_IDS)
def test_b_never_sees_a_and_a_never_sees_b(world, read):
    _, path, params = read
    b_text = text_of(get_all_pages(world.server, world.keys["b-user"], path, fill(params, world)))
    a_text = text_of(get_all_pages(world.server, world.keys["a-user"], path, fill(params, world)))
    for marker in A_MARKERS:
        assert marker not in b_text, (marker, b_text)
    for marker in B_MARKERS:
        assert marker not in a_text, (marker, a_text)
    # The values themselves do not leak either (A's shared.metric 100-104/9-10, B's 200-204).
    assert "100.0" not in b_text and "200.0" not in a_text


def test_each_project_sees_exactly_its_own_series(world):
    def series(token):
        pages = get_all_pages(world.server, token, "/v2.0/metrics", {"limit": "1"})
        return sorted((e["name"], json.dumps(e["dimensions"], sort_keys=True)) for p in pages for e in p["elements"])

    assert series(world.keys["a-user"]) == sorted([
        ("a-only.cpu", json.dumps({"a_dim_only": "a-secret", "hostname": "a-host"}, sort_keys=True)),
        ("a-only.native", json.dumps({"hostname": "a-native-host"})),
        ("shared.metric", json.dumps({"hostname": "a-host"})),
        ("shared.metric", json.dumps({"hostname": "a-native-host"})),
    ])
    assert series(world.keys["b-user"]) == sorted([
        ("b-only.mem", json.dumps({"b_dim_only": "b-secret", "hostname": "b-host"}, sort_keys=True)),
        ("shared.metric", json.dumps({"hostname": "b-host"})),
    ])


def test_each_project_sees_its_own_names_dimensions_and_values(world):
    def elements(token, path, params):
        return [e for p in get_all_pages(world.server, token, path, params) for e in p["elements"]]

    a, b = world.keys["a-user"], world.keys["b-user"]
    assert [e["name"] for e in elements(a, "/v2.0/metrics/names", {"limit": "1"})] == \
        ["a-only.cpu", "a-only.native", "shared.metric"]
    assert [e["name"] for e in elements(b, "/v2.0/metrics/names", {"limit": "1"})] == ["b-only.mem", "shared.metric"]
    assert [e["dimension_name"] for e in elements(a, "/v2.0/metrics/dimensions/names", {})] == \
        ["a_dim_only", "hostname"]
    assert [e["dimension_name"] for e in elements(b, "/v2.0/metrics/dimensions/names", {})] == \
        ["b_dim_only", "hostname"]
    values = {"dimension_name": "hostname", "limit": "1"}
    assert [e["dimension_value"] for e in elements(a, "/v2.0/metrics/dimensions/names/values", values)] == \
        ["a-host", "a-native-host"]
    assert [e["dimension_value"] for e in elements(b, "/v2.0/metrics/dimensions/names/values", values)] == ["b-host"]


def test_each_project_reads_its_own_measurements_and_statistics(world):
    a, b = world.keys["a-user"], world.keys["b-user"]
    query = {"name": "shared.metric", "start_time": world.start}
    # Same name in both projects: B has exactly one series (no 409 from A's two series).
    body = get(world.server, b, "/v2.0/metrics/measurements", query).json()
    assert [e["dimensions"] for e in body["elements"]] == [{"hostname": "b-host"}]
    assert [row[1] for row in body["elements"][0]["measurements"]] == [200.0, 201.0, 202.0, 203.0, 204.0]
    # A has two series under that name (Monasca JSON and native): 409 without merge, as in Monasca.
    assert get(world.server, a, "/v2.0/metrics/measurements", query).status_code == 409
    merged = get(world.server, a, "/v2.0/metrics/statistics",
                 {**query, "merge_metrics": "true", "statistics": "sum,count", "period": "3600"}).json()
    total = sum(row[1] for row in merged["elements"][0]["statistics"])
    count = sum(row[2] for row in merged["elements"][0]["statistics"])
    assert (total, count) == (100 + 101 + 102 + 103 + 104 + 9 + 10, 7)
    native = get(world.server, a, "/v2.0/metrics/measurements", {"name": "a-only.native", "start_time": world.start})
    assert [row[1] for row in native.json()["elements"][0]["measurements"]] == [7.0, 8.0]
    # B asking for A's metric by name gets nothing (not a 404 that would confirm it exists elsewhere).
    for path, extra in (("/v2.0/metrics/measurements", {}), ("/v2.0/metrics/statistics", {"statistics": "avg"})):
        response = get(world.server, b, path, {"name": "a-only.cpu", "start_time": world.start, **extra})
        assert response.status_code == 200 and response.json()["elements"] == []


# ---------------------------------------------------------------------------------------------
# Roles × endpoints: who may read, who may write (own project, no tenant_id)

READ_ROLES = {  # role -> may read
    "monasca-user": True,
    "monasca-read-only-user": True,
    "monasca-delegate": True,
    "admin": True,
    "monasca-agent": False,
}
WRITE_ROLES = {  # role -> may post metrics
    "monasca-user": True,
    "monasca-agent": True,
    "monasca-delegate": True,
    "admin": True,
    "monasca-read-only-user": False,
}


@pytest.fixture(scope="module")
def role_keys(world) -> dict[str, str]:
    """One key per role, each in its own project ``role-<role>`` holding one metric."""
    keys = {role: world.server.create_key(f"role-{role}", role) for role in READ_ROLES}
    writer = world.server.create_key("role-seed", "admin")
    for role in READ_ROLES:
        body = {"name": "role.seed", "dimensions": {"role": role}, "timestamp": world.t0, "value": 1.0}
        assert post(world.server, writer, body, tenant_id=f"role-{role}").status_code == 204
    return keys


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
@pytest.mark.parametrize("role", READ_ROLES)
def test_role_table_read(world, role_keys, endpoint, role):
    _, path, params = endpoint
    params = {**fill(params, world)}
    if "name" in params:
        params["name"] = "role.seed"
    response = get(world.server, role_keys[role], path, params)
    if READ_ROLES[role]:
        assert response.status_code == 200, response.text
        text = json.dumps(response.json()["elements"])
        for marker in A_MARKERS + B_MARKERS:
            assert marker not in text
        if path.endswith(("/metrics", "/names")):
            assert "role.seed" in text or "role" in text, text
    else:
        assert response.status_code == 403, response.text
        assert set(response.json()) >= {"title", "description"}
        assert "role.seed" not in response.text


@pytest.mark.parametrize("kind", ["monasca", "native"])
@pytest.mark.parametrize("role", WRITE_ROLES)
def test_role_table_write(world, role_keys, role, kind):
    name = f"role.write.{kind}"
    t = now_ms() - 5000
    if kind == "monasca":
        response = post(world.server, role_keys[role], {"name": name, "timestamp": t, "value": 3.0})
        ok = 204
    else:
        response = post_native(world.server, role_keys[role],
                               {"series": [{"name": name}], "series_index": [0], "timestamp": [t], "value": [3.0]})
        ok = 200
    admin = world.keys["admin"]
    stored = get(world.server, admin, "/v2.0/metrics",
                 {"name": name, "tenant_id": f"role-{role}"}).json()["elements"]
    if WRITE_ROLES[role]:
        assert response.status_code == ok, response.text
        assert len(stored) == 1
    else:
        assert response.status_code == 403, response.text
        assert set(response.json()) >= {"title", "description"}
        assert stored == []


def test_unauthenticated_and_unknown_tokens_are_401(world):
    for token in (None, "", "nps_unknown_token", world.keys["a-user"] + "x"):
        for path, params in (("/v2.0/metrics", {}), ("/v2.0/metrics/names", {})):
            with world.server.client(token or None) as client:
                response = client.get(path, params=params)
            assert response.status_code == 401, (token, response.text)
            assert response.headers.get("www-authenticate", "").lower().startswith("token")
        with world.server.client(token or None) as client:
            response = client.post("/v2.0/metrics", json={"name": "x", "timestamp": now_ms(), "value": 1})
        assert response.status_code == 401


# ---------------------------------------------------------------------------------------------
# tenant_id: cross-project reads


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
@pytest.mark.parametrize("caller", ["b-user", "a-agent", "a-reader"])
def test_non_delegate_cannot_read_another_project(world, endpoint, caller):
    _, path, params = endpoint
    target = A if caller == "b-user" else B
    response = get(world.server, world.keys[caller], path, fill(params, world, tenant_id=target))
    assert response.status_code == 403, response.text
    assert set(response.json()) >= {"title", "description"}
    for marker in A_MARKERS + B_MARKERS:
        assert marker not in response.text


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
@pytest.mark.parametrize("caller", ["delegate", "admin", "admin-key"])
def test_delegate_and_admin_read_another_project_with_tenant_id(world, endpoint, caller):
    _, path, params = endpoint
    pages = get_all_pages(world.server, world.keys[caller], path, fill(params, world, tenant_id=A))
    text = text_of(pages)
    for marker in B_MARKERS:
        assert marker not in text
    if path.endswith("/measurements"):
        values = sorted(row[1] for p in pages for e in p["elements"] for row in e["measurements"])
        assert values == [9.0, 10.0, 100.0, 101.0, 102.0, 103.0, 104.0]
    elif path.endswith("/statistics"):
        assert sum(row[1] for p in pages for e in p["elements"] for row in e["statistics"]) == 7
    elif path.endswith("/values"):
        assert "a-host" in text
    elif path.endswith("/dimensions/names"):
        assert "a_dim_only" in text
    else:
        assert "a-only.cpu" in text


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
@pytest.mark.parametrize("caller", ["a-user", "b-user", "a-reader", "a-agent", "delegate"])
def test_only_admin_reads_all_projects(world, endpoint, caller):
    _, path, params = endpoint
    response = get(world.server, world.keys[caller], path, fill(params, world, tenant_id="*"))
    assert response.status_code == 403, response.text
    for marker in A_MARKERS + B_MARKERS:
        assert marker not in response.text


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
@pytest.mark.parametrize("caller", ["admin", "admin-key"])
def test_admin_reads_all_projects_with_star(world, endpoint, caller):
    _, path, params = endpoint
    pages = get_all_pages(world.server, world.keys[caller], path, fill(params, world, tenant_id="*"))
    text = text_of(pages)
    if path.endswith("/measurements"):
        values = sorted(row[1] for p in pages for e in p["elements"] for row in e["measurements"])
        assert values == [9.0, 10.0, 100.0, 101.0, 102.0, 103.0, 104.0, 200.0, 201.0, 202.0, 203.0, 204.0]
    elif path.endswith("/statistics"):
        assert sum(row[1] for p in pages for e in p["elements"] for row in e["statistics"]) == 12
    elif path.endswith("/values"):
        assert "a-host" in text and "b-host" in text
    elif path.endswith("/dimensions/names"):
        assert "a_dim_only" in text and "b_dim_only" in text
    else:
        assert "a-only.cpu" in text and "b-only.mem" in text


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
def test_admin_without_tenant_id_reads_only_its_own_project(world, endpoint):
    _, path, params = endpoint
    text = text_of(get_all_pages(world.server, world.keys["admin"], path, fill(params, world)))
    for marker in A_MARKERS + B_MARKERS:
        assert marker not in text


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
def test_own_project_as_tenant_id_is_allowed(world, endpoint):
    _, path, params = endpoint
    text = text_of(get_all_pages(world.server, world.keys["b-user"], path, fill(params, world, tenant_id=B)))
    for marker in A_MARKERS:
        assert marker not in text


# ---------------------------------------------------------------------------------------------
# tenant_id: cross-project writes


def _everywhere(world: World, name: str) -> list[dict]:
    """Every series called ``name`` in any project (admin, tenant_id=*)."""
    return get(world.server, world.keys["admin"], "/v2.0/metrics", {"name": name, "tenant_id": "*"}).json()["elements"]


@pytest.mark.parametrize("caller", ["a-user", "a-agent", "a-reader"])
@pytest.mark.parametrize("kind", ["monasca", "native"])
def test_non_delegate_cannot_write_another_project(world, caller, kind):
    name = f"cross.write.{caller}.{kind}"
    t = now_ms() - 3000
    if kind == "monasca":
        response = post(world.server, world.keys[caller], {"name": name, "timestamp": t, "value": 1.0}, tenant_id=B)
    else:
        response = post_native(world.server, world.keys[caller], {
            "series": [{"name": name}], "series_index": [0], "timestamp": [t], "value": [1.0], "tenant_id": B})
    assert response.status_code == 403, response.text
    assert set(response.json()) >= {"title", "description"}
    # Nothing landed anywhere: not in B, not silently in A.
    assert _everywhere(world, name) == []


@pytest.mark.parametrize("caller", ["delegate", "admin"])
@pytest.mark.parametrize("kind", ["monasca", "native"])
def test_delegate_and_admin_write_for_another_project(world, caller, kind):
    name = f"delegated.{caller}.{kind}"
    t = now_ms() - 3000
    if kind == "monasca":
        response = post(world.server, world.keys[caller], {"name": name, "dimensions": {"via": caller},
                                                           "timestamp": t, "value": 42.0}, tenant_id=A)
        assert response.status_code == 204, response.text
    else:
        response = post_native(world.server, world.keys[caller], {
            "series": [{"name": name, "dimensions": {"via": caller}}], "series_index": [0], "timestamp": [t],
            "value": [42.0], "tenant_id": A})
        assert response.status_code == 200, response.text
    # It is in A (A reads it without tenant_id), and nowhere else.
    a_view = get(world.server, world.keys["a-user"], "/v2.0/metrics/measurements",
                 {"name": name, "start_time": world.start}).json()["elements"]
    assert [row[1] for row in a_view[0]["measurements"]] == [42.0]
    assert [(e["name"], e["dimensions"]) for e in _everywhere(world, name)] == [(name, {"via": caller})]
    b_view = get(world.server, world.keys["b-user"], "/v2.0/metrics", {"name": name}).json()["elements"]
    assert b_view == []
    # The delegate reads it back with tenant_id.
    back = get(world.server, world.keys["delegate"], "/v2.0/metrics/measurements",
               {"name": name, "start_time": world.start, "tenant_id": A}).json()["elements"]
    assert [row[1] for row in back[0]["measurements"]] == [42.0]


def test_star_is_not_a_project_to_write_into(world):
    """``*`` is the all-projects read scope, not a project: a write with ``tenant_id=*`` (even by a
    delegate) must be refused rather than create a project literally named "*"."""
    name = "star.write"
    t = now_ms() - 3000
    for token in (world.keys["a-user"], world.keys["delegate"]):
        response = post(world.server, token, {"name": name, "timestamp": t, "value": 1.0}, tenant_id="*")
        assert response.status_code in (403, 422), response.text
    assert _everywhere(world, name) == []


def test_delegate_without_tenant_id_writes_its_own_project(world):
    name = "delegate.own"
    t = now_ms() - 3000
    assert post(world.server, world.keys["delegate"], {"name": name, "timestamp": t, "value": 5.0}).status_code == 204
    own = get(world.server, world.keys["delegate"], "/v2.0/metrics", {"name": name}).json()["elements"]
    assert len(own) == 1
    assert get(world.server, world.keys["a-user"], "/v2.0/metrics", {"name": name}).json()["elements"] == []
