"""API keys: the ``nephoscope keys`` CLI against a running server's data dir, the admin-only
HTTP API ``/v1/keys``, and the static ``NEPHOSCOPE_ADMIN_TOKEN``.

A key created while the server runs works on the very next request; a revoked key is
refused (401) on the very next request, on every server thread.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import ROOT, ServerProcess, now_ms

TOKEN_LINE = re.compile(r"^nps_([0-9a-f]+)_\S+$")


def cli(server: ServerProcess, *args: str, wide: bool = False) -> subprocess.CompletedProcess:
    """``nephoscope keys …`` as an operator runs it, output piped (not a terminal, so 80 columns
    unless ``wide``)."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    if wide:
        env["COLUMNS"] = "400"
    command = [sys.executable, "-m", "nephoscope", "keys", *args, "--data-dir", str(server.data_dir)]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)


def create(server: ServerProcess, project: str, *roles: str, description: str = "") -> tuple[str, str]:
    """(key id, token) through the CLI."""
    args = ["create", "--project", project]
    for role in roles:
        args += ["--role", role]
    if description:
        args += ["--description", description]
    result = cli(server, *args)
    assert result.returncode == 0, result.stderr
    token = result.stdout.rstrip("\n").splitlines()[-1]
    match = TOKEN_LINE.match(token)
    assert match, result.stdout
    return match.group(1), token


def status(server: ServerProcess, token: str | None, path: str = "/v2.0/metrics") -> int:
    with server.client(token) as client:
        return client.get(path).status_code


def statuses_in_parallel(server: ServerProcess, token: str, requests: int = 32) -> list[int]:
    """Many simultaneous requests, so that several server threads answer (each has its own cache state)."""
    def one(_: int) -> int:
        with httpx.Client(base_url=server.url, headers={"X-Auth-Token": token}, timeout=30) as client:
            return client.get("/v2.0/metrics/names").status_code

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(one, range(requests)))


# ---------------------------------------------------------------------------------------------
# CLI


def test_create_prints_the_token_alone_on_the_last_line(shared_server):
    result = cli(shared_server, "create", "--project", "cli-proj", "--role", "monasca-user",
                 "--role", "monasca-read-only-user", "--description", "for the test")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.rstrip("\n").splitlines()
    assert len(lines) >= 2, result.stdout
    token = lines[-1]
    match = TOKEN_LINE.match(token)
    assert match and token == token.strip(), repr(token)
    key_id = match.group(1)
    # The lines before name the key, its project and roles, and never contain the token.
    head = "\n".join(lines[:-1])
    assert key_id in head and "cli-proj" in head and "monasca-user" in head and "monasca-read-only-user" in head
    assert token not in head and token not in result.stderr
    # Works on the very next request.
    assert status(shared_server, token) == 200
    with shared_server.client(token) as client:
        assert client.post("/v2.0/metrics", json={"name": "cli.fresh", "timestamp": now_ms(), "value": 1}).status_code \
            == 204


def test_only_a_hash_of_the_token_is_stored(shared_server):
    _, token = create(shared_server, "hash-proj", "monasca-user")
    for path in shared_server.data_dir.glob("keys.sqlite*"):
        data = path.read_bytes()
        # nps_<key id>_<secret>: the secret is URL-safe base64, so it may itself hold "_"
        secret = token.split("_", 2)[2]
        assert secret and token.encode() not in data and secret.encode() not in data, path


def test_new_key_works_on_the_very_next_request_on_every_thread(shared_server):
    # Warm every worker thread's key cache first (negative and positive lookups).
    warm = shared_server.create_key("warm-proj", "monasca-user")
    assert set(statuses_in_parallel(shared_server, warm)) == {200}
    _, token = create(shared_server, "fresh-proj", "monasca-user")
    assert status(shared_server, token) == 200
    assert set(statuses_in_parallel(shared_server, token)) == {200}


def test_revoked_key_is_refused_on_the_very_next_request_on_every_thread(shared_server):
    key_id, token = create(shared_server, "revoke-proj", "monasca-user")
    # Used (and cached) on many threads before the revocation.
    assert set(statuses_in_parallel(shared_server, token, 64)) == {200}
    result = cli(shared_server, "revoke", key_id)
    assert result.returncode == 0, result.stderr
    assert key_id in result.stdout
    assert status(shared_server, token) == 401
    assert set(statuses_in_parallel(shared_server, token, 64)) == {401}
    with shared_server.client(token) as client:
        response = client.post("/v2.0/metrics", json={"name": "revoked.write", "timestamp": now_ms(), "value": 1})
        assert response.status_code == 401
        assert set(response.json()) >= {"title", "description"}
        native = client.post("/v1/points", json={"series": [{"name": "revoked.write"}], "series_index": [0],
                                                 "timestamp": [now_ms()], "value": [1.0]})
        assert native.status_code == 401
    with shared_server.client() as admin:
        found = admin.get("/v2.0/metrics", params={"name": "revoked.write", "tenant_id": "revoke-proj"})
        assert found.json()["elements"] == []


def test_revoking_twice_or_an_unknown_key_fails_clearly(shared_server):
    key_id, _ = create(shared_server, "twice-proj", "monasca-agent")
    assert cli(shared_server, "revoke", key_id).returncode == 0
    again = cli(shared_server, "revoke", key_id)
    assert again.returncode != 0
    assert key_id in again.stderr + again.stdout
    unknown = cli(shared_server, "revoke", "0123456789ab")
    assert unknown.returncode != 0 and "0123456789ab" in unknown.stderr + unknown.stdout


def test_list_shows_full_ids_projects_and_roles(shared_server):
    project = "list-project-with-a-realistic-name"
    key_id, token = create(shared_server, project, "monasca-user", "monasca-read-only-user",
                           description="grafana datasource for the list test")
    result = cli(shared_server, "list")
    assert result.returncode == 0, result.stderr
    # An operator copies the id from this listing to revoke the key: it must be there whole.
    assert key_id in result.stdout, result.stdout
    assert project in result.stdout, result.stdout
    assert token not in result.stdout
    assert cli(shared_server, "revoke", key_id).returncode == 0
    assert key_id not in cli(shared_server, "list").stdout
    everything = cli(shared_server, "list", "--all")
    assert everything.returncode == 0 and key_id in everything.stdout and "revoked" in everything.stdout


@pytest.mark.parametrize("roles", [["monasca-admin"], ["monasca-user", "superuser"], ["Admin"], [""]],
                         ids=["monasca-admin", "one-bad-of-two", "case", "empty"])
def test_invalid_role_exits_non_zero_with_a_clear_message(shared_server, roles):
    before = cli(shared_server, "list", "--all", wide=True).stdout
    args = ["create", "--project", "bad-role-proj"]
    for role in roles:
        args += ["--role", role]
    result = cli(shared_server, *args)
    assert result.returncode != 0
    assert not TOKEN_LINE.match((result.stdout.strip().splitlines() or [""])[-1]), result.stdout
    message = " ".join(result.stderr.split())
    bad = [r for r in roles if r not in ("monasca-user",)][0]
    if bad:
        assert bad in message, message
    # The message lists the valid roles.
    for known in ("admin", "monasca-user", "monasca-agent", "monasca-read-only-user", "monasca-delegate"):
        assert known in message, message
    after = cli(shared_server, "list", "--all", wide=True).stdout
    assert "bad-role-proj" not in after
    assert after.count("\n") == before.count("\n")


def test_missing_role_or_project_exits_non_zero(shared_server):
    no_role = cli(shared_server, "create", "--project", "no-role-proj")
    assert no_role.returncode != 0 and "role" in no_role.stderr.lower()
    no_project = cli(shared_server, "create", "--role", "monasca-user")
    assert no_project.returncode != 0 and "project" in no_project.stderr.lower()
    blank = cli(shared_server, "create", "--project", "  ", "--role", "monasca-user")
    assert blank.returncode != 0 and "project" in blank.stderr.lower()


# ---------------------------------------------------------------------------------------------
# HTTP API /v1/keys (admin only)


def test_http_create_list_revoke(shared_server):
    with shared_server.client() as admin:
        response = admin.post("/v1/keys", json={"project": "http-proj", "roles": ["monasca-user"],
                                                "description": "over http"})
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["project"] == "http-proj" and created["roles"] == ["monasca-user"]
        assert created["revoked_at"] is None and TOKEN_LINE.match(created["token"])
        key_id, token = created["id"], created["token"]
        assert status(shared_server, token) == 200
        assert set(statuses_in_parallel(shared_server, token)) == {200}

        listed = admin.get("/v1/keys").json()["elements"]
        mine = [k for k in listed if k["id"] == key_id]
        assert len(mine) == 1 and mine[0]["project"] == "http-proj" and mine[0]["description"] == "over http"
        assert "token" not in mine[0] and token not in admin.get("/v1/keys").text
        # The CLI sees keys created over HTTP.
        assert key_id in cli(shared_server, "list", wide=True).stdout

        assert admin.delete(f"/v1/keys/{key_id}").status_code == 204
        assert status(shared_server, token) == 401
        assert set(statuses_in_parallel(shared_server, token)) == {401}
        assert key_id not in [k["id"] for k in admin.get("/v1/keys").json()["elements"]]
        revoked = [k for k in admin.get("/v1/keys", params={"include_revoked": "true"}).json()["elements"]
                   if k["id"] == key_id]
        assert len(revoked) == 1 and revoked[0]["revoked_at"] is not None
        again = admin.delete(f"/v1/keys/{key_id}")
        assert again.status_code == 404 and set(again.json()) >= {"title", "description"}
        assert admin.delete("/v1/keys/doesnotexist").status_code == 404


def test_http_and_cli_revoke_each_others_keys(shared_server):
    key_id, token = create(shared_server, "mixed-proj", "monasca-user")
    with shared_server.client() as admin:
        assert key_id in [k["id"] for k in admin.get("/v1/keys").json()["elements"]]
        assert status(shared_server, token) == 200
        assert admin.delete(f"/v1/keys/{key_id}").status_code == 204
        assert status(shared_server, token) == 401
        created = admin.post("/v1/keys", json={"project": "mixed-proj", "roles": ["monasca-agent"]}).json()
    assert cli(shared_server, "revoke", created["id"]).returncode == 0
    with shared_server.client(created["token"]) as agent:
        assert agent.post("/v2.0/metrics", json={"name": "m", "timestamp": now_ms(), "value": 1}).status_code == 401


@pytest.mark.parametrize("body,field", [
    ({"project": "p", "roles": ["bogus"]}, "roles"),
    ({"project": "p", "roles": ["monasca-user", "bogus"]}, "roles"),
    ({"project": "p", "roles": []}, "roles"),
    ({"project": "p"}, "roles"),
    ({"roles": ["monasca-user"]}, "project"),
    ({"project": "", "roles": ["monasca-user"]}, "project"),
    ({"project": "p" * 256, "roles": ["monasca-user"]}, "project"),
    ({"project": "p", "roles": "monasca-user"}, "roles"),
], ids=["bad-role", "one-bad-role", "no-roles", "missing-roles", "missing-project", "empty-project",
        "long-project", "roles-not-list"])
def test_http_create_rejects_bad_requests(shared_server, body, field):
    with shared_server.client() as admin:
        before = len(admin.get("/v1/keys").json()["elements"])
        response = admin.post("/v1/keys", json=body)
        assert response.status_code == 422, response.text
        error = response.json()
        assert set(error) >= {"title", "description"} and field in error["description"], error
        assert "token" not in error
        assert len(admin.get("/v1/keys").json()["elements"]) == before


@pytest.mark.parametrize("role", ["monasca-user", "monasca-read-only-user", "monasca-agent", "monasca-delegate"])
def test_http_key_api_refuses_non_admins(shared_server, role):
    victim_id, victim = create(shared_server, "victim-proj", "monasca-user")
    caller_project = f"caller-{role}"
    caller = shared_server.create_key(caller_project, role)
    # A valid key without the role: 403 naming the rule; no key or an unknown one: 401.
    for token, refusal in ((caller, 403), (None, 401), ("not-a-key", 401)):
        with shared_server.client(token) as client:
            listed = client.get("/v1/keys")
            assert listed.status_code == refusal, listed.text
            assert victim_id not in listed.text
            made = client.post("/v1/keys", json={"project": caller_project, "roles": ["admin"]})
            assert made.status_code == refusal and "token" not in made.json()
            revoked = client.delete(f"/v1/keys/{victim_id}")
            assert revoked.status_code == refusal
            if refusal == 403:
                assert [listed.json()["rule"], made.json()["rule"], revoked.json()["rule"]] == [
                    "api:keys:list", "api:keys:create", "api:keys:revoke"]
    assert status(shared_server, victim) == 200  # not revoked by any of them
    with shared_server.client() as admin:
        projects = [k["project"] for k in admin.get("/v1/keys").json()["elements"]]
    assert projects.count(caller_project) == 1  # no admin key was minted


def test_an_admin_key_from_the_cli_manages_keys(shared_server):
    _, admin_key = create(shared_server, "ops", "admin")
    with shared_server.client(admin_key) as client:
        made = client.post("/v1/keys", json={"project": "ops-made", "roles": ["monasca-read-only-user"]})
        assert made.status_code == 201
        assert status(shared_server, made.json()["token"]) == 200
        assert client.delete(f"/v1/keys/{made.json()['id']}").status_code == 204
        assert status(shared_server, made.json()["token"]) == 401


# ---------------------------------------------------------------------------------------------
# NEPHOSCOPE_ADMIN_TOKEN


def test_static_admin_token_is_admin_of_project_admin(shared_server):
    admin_token = shared_server.admin_token
    name = "static.admin.metric"
    with shared_server.client(admin_token) as admin:
        assert admin.post("/v2.0/metrics", json={"name": name, "timestamp": now_ms() - 1000, "value": 3.0}).status_code \
            == 204
        assert admin.get("/v1/keys").status_code == 200
        assert admin.get("/v2.0/metrics", params={"tenant_id": "*", "name": name}).status_code == 200
    # Its metrics land in project "admin": a key of project admin sees them, another project does not.
    admin_project_reader = shared_server.create_key("admin", "monasca-read-only-user")
    other = shared_server.create_key("not-admin", "monasca-user")
    with shared_server.client(admin_project_reader) as client:
        assert [e["name"] for e in client.get("/v2.0/metrics", params={"name": name}).json()["elements"]] == [name]
    with shared_server.client(other) as client:
        assert client.get("/v2.0/metrics", params={"name": name}).json()["elements"] == []
    # Near misses of the static token are not accepted.
    for wrong in (admin_token + "x", admin_token[:-1], admin_token.upper()):
        assert status(shared_server, wrong) == 401, wrong
        assert status(shared_server, wrong, "/v1/keys") == 401, wrong


def test_keys_survive_a_restart(tmp_path):
    server = ServerProcess(tmp_path / "data").start()
    try:
        key_id, token = create(server, "restart-proj", "monasca-user")
        revoked_id, revoked = create(server, "restart-proj", "monasca-user")
        assert cli(server, "revoke", revoked_id).returncode == 0
        server.kill9()
        server.start()
        assert status(server, token) == 200
        assert status(server, revoked) == 401
    finally:
        server.stop()
