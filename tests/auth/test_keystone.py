"""Keystone tokens against a real Keystone (tests/support/keystone.py) and real servers.

A Keystone token becomes a principal (user, project, roles, expiry); refusals say why (401 with
``reason`` and ``WWW-Authenticate: Keystone uri=...``, 403 naming the rule); headers a client may
send about itself are never believed; API keys keep working beside Keystone tokens. Revoked and
expired tokens are refused once the cache time has passed; while Keystone is away a token it
vouched for keeps working until it expires, an unknown one gets 503 + Retry-After, and the server
recovers when Keystone returns. Several servers share validations through memcached, whose
entries are not trusted blindly.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime

import httpx
import pytest

from tests.conftest import ServerProcess, now_ms, wait_for
from tests.support.keystone import Keystone


@pytest.fixture(scope="module")
def users(keystone: Keystone) -> dict:
    return {"user": keystone.user("ks-alice", "ks-proj-a", "monasca-user"),
            "reader": keystone.user("ks-rita", "ks-proj-a", "monasca-read-only-user"),
            "other": keystone.user("ks-bob", "ks-proj-b", "monasca-user"),
            "member": keystone.user("ks-mia", "ks-proj-a", "member"),
            "admin": keystone.user("ks-ada", "ks-ops", "admin")}


def call(server: ServerProcess, token: str | None, method: str = "GET", path: str = "/v2.0/metrics",
         **kwargs) -> httpx.Response:
    headers = {**({"X-Auth-Token": token} if token else {}), **kwargs.pop("headers", {})}
    return httpx.request(method, server.url + path, headers=headers, timeout=30, **kwargs)


def metric(name: str, value: float = 1.0) -> dict:
    return {"name": name, "dimensions": {"hostname": "ks-host"}, "timestamp": now_ms() - 1000, "value": value}


def names(server: ServerProcess, token: str, **params) -> list[str]:
    answer = call(server, token, path="/v2.0/metrics/names", params=params)
    assert answer.status_code == 200, answer.text
    return [element["name"] for element in answer.json()["elements"]]


# ---------------------------------------------------------------------------------------------
# tokens to principals


def test_a_keystone_token_is_its_user_project_and_roles(keystone_server, keystone, users):
    alice = users["user"]
    token = keystone.token(alice)
    me = call(keystone_server, token, path="/v1/whoami").json()
    assert me["project"] == alice.project_id and me["project_name"] == "ks-proj-a"
    assert me["user"] == "ks-alice" and me["domain"] == "Default" and me["issuer"] == "keystone"
    assert "monasca-user" in me["roles"] and me["admin"] is False and me["delegate"] is False
    expires = datetime.fromisoformat(me["expires_at"].replace("Z", "+00:00")).timestamp()
    assert time.time() < expires < time.time() + 3700

    assert call(keystone_server, token, "POST", json=metric("ks.alice.cpu")).status_code == 204
    wait_for(lambda: "ks.alice.cpu" in names(keystone_server, token), what="alice's metric")
    # The data belongs to the Keystone project's id: a reader of the project sees it, another project does not.
    assert "ks.alice.cpu" in names(keystone_server, keystone.token(users["reader"]))
    assert "ks.alice.cpu" not in names(keystone_server, keystone.token(users["other"]))
    admin = keystone.token(users["admin"])
    assert "ks.alice.cpu" in names(keystone_server, admin, tenant_id=alice.project_id)
    assert call(keystone_server, admin, path="/v1/whoami").json()["admin"] is True


def test_refusals_say_why(keystone_server, keystone, users):
    challenge = f'Keystone uri="{keystone.main.url}"'
    for token, reason in ((None, "missing"), ("gAAAAABnot-a-real-fernet-token", "invalid")):
        refused = call(keystone_server, token)
        assert refused.status_code == 401, refused.text
        assert refused.headers["www-authenticate"] == challenge
        assert refused.json()["reason"] == reason and refused.json()["title"] == "Unauthorized"
    # A valid token whose roles are none of Monasca's: 403 naming the rule, with the roles that would do.
    member = call(keystone_server, keystone.token(users["member"]))
    assert member.status_code == 403 and member.json()["rule"] == "api:metrics:get"
    assert "monasca-user" in member.json()["description"] and "www-authenticate" not in member.headers
    # A token scoped to no project carries no roles here: authenticated, allowed nothing.
    unscoped = keystone.token(users["user"], project_scoped=False)
    me = call(keystone_server, unscoped, path="/v1/whoami")
    assert me.status_code == 200 and me.json()["roles"] == [] and me.json()["project"] == ""
    assert call(keystone_server, unscoped, "POST", json=metric("ks.unscoped")).status_code == 403


def test_headers_about_the_caller_are_never_trusted(keystone_server, keystone, users):
    reader = keystone.token(users["reader"])
    other_project = users["other"].project_id
    assert call(keystone_server, keystone.token(users["other"]), "POST", json=metric("ks.b.secret")).status_code == 204
    forged = {"X-Roles": "admin,monasca-user", "X-Service-Roles": "admin", "X-Tenant-Id": other_project,
              "X-Project-Id": other_project, "X-Tenant": "ks-proj-b", "X-User-Id": users["admin"].name,
              "X-Identity-Status": "Confirmed", "X-Is-Admin-Project": "True", "X-Auth-Project-Id": other_project}
    # The reader stays a reader of its own project, whatever it says about itself.
    assert call(keystone_server, reader, "POST", json=metric("ks.forged"), headers=forged).status_code == 403
    own = call(keystone_server, reader, path="/v2.0/metrics/names", headers=forged)
    assert own.status_code == 200 and "ks.b.secret" not in own.text
    assert call(keystone_server, reader, path="/v1/keys", headers=forged).status_code == 403
    me = call(keystone_server, reader, path="/v1/whoami", headers=forged).json()
    assert me["project"] == users["reader"].project_id and me["roles"] == ["monasca-read-only-user"]
    # No token at all: the headers alone (keystonemiddleware's output) never authenticate.
    assert call(keystone_server, None, headers=forged).status_code == 401
    # API keys likewise.
    key = keystone_server.create_key("key-proj", "monasca-read-only-user")
    assert call(keystone_server, key, "POST", json=metric("ks.forged"), headers=forged).status_code == 403


def test_api_keys_work_beside_keystone_tokens(keystone_server, keystone, users):
    key = keystone_server.create_key("agents-proj", "monasca-agent")
    assert call(keystone_server, key, "POST", json=metric("ks.from.key")).status_code == 204
    assert call(keystone_server, key, path="/v1/whoami").json()["issuer"] == "key"
    assert call(keystone_server, keystone_server.admin_token, path="/v1/keys").status_code == 200
    unknown = call(keystone_server, "nps_0123456789ab_not-a-key")
    assert unknown.status_code == 401 and unknown.json()["reason"] == "invalid"
    # A Keystone admin manages API keys too.
    made = call(keystone_server, keystone.token(users["admin"]), "POST", path="/v1/keys",
                json={"project": "agents-proj", "roles": ["monasca-agent"]})
    assert made.status_code == 201 and call(keystone_server, made.json()["token"], path="/v1/whoami").status_code == 200


# ---------------------------------------------------------------------------------------------
# revocation, expiry, outages


def test_a_revoked_token_is_refused_once_the_cache_time_has_passed(keystone, users, tmp_path):
    server = ServerProcess(tmp_path / "data", extra_env=keystone.server_env(cache_time=3)).start()
    try:
        token = keystone.token(users["user"], fresh=True)
        assert call(server, token).status_code == 200
        keystone.revoke(token)
        revoked_at = time.monotonic()
        cached = call(server, token)
        if time.monotonic() - revoked_at < 2.5:
            assert cached.status_code == 200  # still within the cache time: not asked again
        refused = wait_for(lambda: (r := call(server, token)).status_code == 401 and r, timeout=15,
                           what="the revoked token to be refused")
        assert time.monotonic() - revoked_at >= 2.5
        assert refused.json()["reason"] == "revoked"
        assert refused.headers["www-authenticate"].startswith("Keystone uri=")
        assert call(server, keystone.token(users["user"], fresh=True)).status_code == 200  # a new token works
    finally:
        server.stop()


def test_an_expired_token_is_refused(keystone, users, tmp_path):
    short = keystone.serve(expiration=6)  # tokens it issues last 6 s
    server = ServerProcess(tmp_path / "data", extra_env=keystone.server_env(cache_time=300)).start()
    try:
        seen, unseen = keystone.token(users["user"], short), keystone.token(users["reader"], short)
        assert call(server, seen).status_code == 200  # cached for 300 s, but never past its expiry
        time.sleep(7)
        expired = call(server, seen)
        assert expired.status_code == 401 and expired.json()["reason"] == "expired", expired.text
        never_seen = call(server, unseen)  # Keystone itself refuses it
        assert never_seen.status_code == 401 and never_seen.json()["reason"] in ("invalid", "expired")
    finally:
        server.stop()
        short.stop()


def test_keystone_away_cached_tokens_work_unknown_ones_get_503_and_it_recovers(keystone, users, tmp_path):
    replica = keystone.serve()  # the Keystone this server talks to: stopped and started by the test
    server = ServerProcess(tmp_path / "data", extra_env=keystone.server_env(replica, cache_time=2)).start()
    try:
        known = keystone.token(users["user"])
        assert call(server, known).status_code == 200
        key = server.create_key("outage-proj", "monasca-user")
        replica.stop()
        unknown = keystone.token(users["other"], fresh=True)  # never shown to this server
        time.sleep(2.5)  # past the cache time: the server would ask Keystone again, and cannot
        for _ in range(3):
            assert call(server, known).status_code == 200
            away = call(server, unknown)
            assert away.status_code == 503, away.text
            assert int(away.headers["retry-after"]) >= 1 and "Keystone" in away.json()["description"]
        assert call(server, key).status_code == 200  # API keys need no Keystone
        assert call(server, known, "POST", json=metric("ks.during.outage")).status_code == 204
        replica.start()  # Keystone is back, on the same address
        wait_for(lambda: call(server, unknown).status_code == 200, timeout=20, what="recovery after Keystone returns")
        assert call(server, known).status_code == 200
    finally:
        server.stop()
        replica.stop()


def test_servers_share_validations_through_memcached_and_distrust_forged_entries(keystone, users, tmp_path,
                                                                               memcached):
    from pymemcache.client.base import Client

    replica = keystone.serve()
    env = keystone.server_env(replica, cache_time=60, NEPHOSCOPE_KEYSTONE_AUTHTOKEN_MEMCACHED_SERVERS=memcached)
    first = ServerProcess(tmp_path / "first", extra_env=env).start()
    second = ServerProcess(tmp_path / "second", extra_env=env).start()
    host, port = memcached.split(":")
    cache = Client((host, int(port)))
    try:
        # An admin's entry copied under a reader's key: the MAC (keyed by the token) does not match.
        admin, reader = keystone.token(users["admin"], fresh=True), keystone.token(users["reader"], fresh=True)
        assert call(first, admin, path="/v1/keys").status_code == 200
        key = "nephoscope/token/" + hashlib.sha256(admin.encode()).hexdigest()
        entry = wait_for(lambda: cache.get(key), timeout=5, what="the admin's entry in memcached")
        assert b"ks-ada" in entry
        cache.set("nephoscope/token/" + hashlib.sha256(reader.encode()).hexdigest(), entry, noreply=False)
        refused = call(second, reader, path="/v1/keys")
        assert refused.status_code == 403 and refused.json()["rule"] == "api:keys:list"
        # A token validated by one server is known to the other while Keystone is away.
        token = keystone.token(users["user"], fresh=True)
        assert call(first, token).status_code == 200
        replica.stop()
        assert call(second, token).status_code == 200
        assert call(second, keystone.token(users["other"], fresh=True)).status_code == 503
    finally:
        cache.close()
        first.stop()
        second.stop()
        replica.stop()


# ---------------------------------------------------------------------------------------------
# the login endpoint (the dashboard's form)


def test_login_gives_a_project_scoped_token(keystone_server, keystone, users):
    info = call(keystone_server, None, path="/v1/auth/info").json()
    assert info == {"strategy": "keystone", "keystone": {"auth_url": keystone.main.url, "default_domain": "Default"}}
    alice = users["user"]
    answer = call(keystone_server, None, "POST", "/v1/auth/tokens",
                  json={"username": alice.name, "password": alice.password, "project": alice.project})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert answer.headers["x-subject-token"] == body["token"] and answer.headers["cache-control"] == "no-store"
    assert body["project"] == alice.project_id and body["user"] == alice.name and "monasca-user" in body["roles"]
    assert alice.password not in answer.text
    assert call(keystone_server, body["token"], path="/v1/whoami").json()["expires_at"] == body["expires_at"]
    assert call(keystone_server, body["token"], "POST", json=metric("ks.after.login")).status_code == 204
    for wrong in ({"password": "not-it"}, {"project": "ks-proj-b"}, {"domain": "Elsewhere"}):
        refused = call(keystone_server, None, "POST", "/v1/auth/tokens",
                       json={"username": alice.name, "password": alice.password, "project": alice.project, **wrong})
        assert refused.status_code == 401 and refused.json()["reason"] == "invalid", refused.text
        assert "token" not in refused.json()
    incomplete = call(keystone_server, None, "POST", "/v1/auth/tokens", json={"username": alice.name})
    assert incomplete.status_code == 422 and incomplete.json()["field"] in ("password", "project")


def test_login_is_off_without_keystone(shared_server):
    assert call(shared_server, None, path="/v1/auth/info").json() == {"strategy": "keys", "keystone": None}
    answer = call(shared_server, None, "POST", "/v1/auth/tokens", json={"username": "u", "password": "p", "project": "x"})
    assert answer.status_code == 404 and "Keystone" in answer.json()["description"]
