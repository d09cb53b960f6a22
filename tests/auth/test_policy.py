"""The policy: every route declares an oslo.policy rule, the defaults are documented (``nephoscope
policy sample``), an operator's file overrides them (and is re-read when it changes), ``[security]``
names the roles, and a refusal is 403 naming the rule.
"""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest
import yaml
from oslo_policy import policy as oslo_policy

from nephoscope.auth import rules
from nephoscope.auth.policy import Denied, Policy, PolicyFileError
from nephoscope.config import SecuritySettings
from nephoscope.tenancy import ALL_TENANTS, Principal
from tests.conftest import ROOT, ServerProcess, now_ms, wait_for
from tests.support.routes import app_routes, declared_rules, route_rules

# Rules a handler enforces inside itself (a decision about the data, not about the endpoint).
IN_HANDLER_RULES = {rules.DELEGATE, rules.ALL_TENANTS, rules.LOGS_OPERATOR, rules.EVENTS_UNKNOWN_TYPES,
                    rules.QUERY_ALL_PROJECTS}
BASE_RULES = {"admin_required", "default_authorized", "agent_authorized", "read_only_authorized",
              "delegate_authorized", "reader", "writer", "ingest"}


def principal(*roles: str, project: str = "p") -> Principal:
    return Principal(project, frozenset(roles))


# ---------------------------------------------------------------------------------------------
# every endpoint has its rule


def test_every_route_declares_exactly_one_registered_rule():
    registered = {default.name for default in rules.default_rules(SecuritySettings())}
    routes = app_routes()
    assert len(routes) >= 60
    used = set()
    for route in routes:
        declared = declared_rules(route.dependant)
        assert len(declared) == 1, f"{sorted(route.methods)} {route.path} declares {declared or 'no rule'}"
        assert declared[0] in registered, f"{route.path}: {declared[0]} is not a registered rule"
        used.add(declared[0])
    # Every API rule guards an endpoint or a decision inside one: none is dead (a typo would be).
    api_rules = {name for name in registered if name.startswith(("api:", "telemetry:"))}
    assert api_rules == used | IN_HANDLER_RULES
    assert registered == api_rules | BASE_RULES


def test_monasca_rule_names_are_kept():
    monasca = {"api:versions", "api:healthcheck", "api:delegate", "api:metrics:get", "api:metrics:post",
               "api:metrics:dimension:values", "api:metrics:dimension:names", "api:alarms:definition:post",
               "api:alarms:definition:get", "api:alarms:definition:put", "api:alarms:definition:patch",
               "api:alarms:definition:delete", "api:alarms:put", "api:alarms:patch", "api:alarms:delete",
               "api:alarms:get", "api:alarms:count", "api:alarms:state_history", "api:notifications:put",
               "api:notifications:patch", "api:notifications:delete", "api:notifications:get",
               "api:notifications:post", "api:notifications:type", "api:logs:post"}
    assert monasca <= {default.name for default in rules.default_rules(SecuritySettings())}
    by_path = route_rules()
    assert by_path[("POST", "/v2.0/metrics")] == "api:metrics:post"
    assert by_path[("GET", "/v2.0/alarm-definitions/{definition_id}")] == "api:alarms:definition:get"
    assert by_path[("GET", "/v2.0/notification-methods/types")] == "api:notifications:type"
    assert by_path[("POST", "/v3.0/logs")] == by_path[("POST", "/v1/logs")] == "api:logs:post"


# ---------------------------------------------------------------------------------------------
# decisions (the rules in process)


READ = {"api:metrics:get", "api:alarms:get", "api:logs:get"}
POST = {"api:metrics:post", "api:logs:post", "api:events:post"}
ADMIN_ONLY = {"api:keys:create", "api:tenants:all", "api:admin:compact"}


@pytest.mark.parametrize("roles,allowed", [
    (("monasca-user",), READ | POST | {"api:alarms:definition:post"}),
    (("monasca-read-only-user",), READ),
    (("monasca-agent",), POST),
    (("monasca-delegate",), READ | POST | {"api:delegate"}),
    (("admin",), READ | POST | ADMIN_ONLY | {"api:alarms:definition:post", "api:delegate"}),
    (("member",), set()),
    (("monasca-read-only-user", "monasca-agent"), READ | POST),
])
def test_default_decisions(roles, allowed):
    decisions = Policy(SecuritySettings())
    checked = READ | POST | ADMIN_ONLY | {"api:alarms:definition:post", "api:delegate"}
    assert {rule for rule in checked if decisions.allows(rule, principal(*roles))} == allowed
    assert decisions.allows("api:whoami", principal(*roles)) and decisions.allows("api:healthcheck", None)


def test_tenancy_decisions_and_the_refusal_names_the_rule():
    decisions = Policy(SecuritySettings())
    user, admin = principal("monasca-user"), principal("admin", project="ops")
    assert decisions.effective_tenant(user, None) == "p" and decisions.effective_tenant(user, "p") == "p"
    with pytest.raises(Denied) as refused:
        decisions.effective_tenant(user, "q")
    assert refused.value.rule == "api:delegate" and refused.value.principal == user
    assert "api:delegate" in refused.value.reason and "admin" in refused.value.reason
    with pytest.raises(Denied) as everything:
        decisions.read_scope(user, ALL_TENANTS)
    assert everything.value.rule == "api:tenants:all"
    assert decisions.read_scope(admin, ALL_TENANTS) == ALL_TENANTS and decisions.read_scope(admin, "q") == "q"
    with pytest.raises(Denied):  # "*" is a read scope, never a project to write into
        decisions.effective_tenant(admin, ALL_TENANTS)
    with pytest.raises(Denied) as reader:
        decisions.enforce("api:metrics:post", principal("monasca-read-only-user"))
    assert reader.value.rule == "api:metrics:post"
    assert "monasca-read-only-user" in reader.value.reason and "monasca-agent" in reader.value.reason


def test_security_role_lists_shape_the_defaults():
    security = SecuritySettings(default_authorized_roles=["observer"], agent_authorized_roles=["agent", "ceilometer"],
                                read_only_authorized_roles=[], delegate_authorized_roles=["admin"],
                                admin_roles=["cloud-admin"])
    decisions = Policy(security)
    assert decisions.allows("api:metrics:post", principal("ceilometer"))
    assert not decisions.allows("api:metrics:get", principal("agent"))
    assert not decisions.allows("api:metrics:get", principal("monasca-read-only-user"))  # no read-only role now
    assert decisions.allows("api:keys:create", principal("cloud-admin"))
    assert not decisions.allows("api:keys:create", principal("admin"))  # admin_roles replaced it
    assert decisions.roles_allowed("api:metrics:post") == ["cloud-admin", "observer", "agent", "ceilometer", "admin"]


def test_an_operator_file_overrides_and_is_reread(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text('"api:metrics:get": "role:auditor"\n"reader": "role:nobody"\n')
    decisions = Policy(SecuritySettings(), str(path))
    assert decisions.allows("api:metrics:get", principal("auditor"))
    assert not decisions.allows("api:metrics:get", principal("monasca-user"))
    assert not decisions.allows("api:alarms:get", principal("monasca-user"))  # via the base rule "reader"
    assert decisions.allows("api:metrics:post", principal("monasca-user"))  # untouched rules keep their default
    path.write_text('"api:metrics:get": "@"\n')
    wait_for(lambda: decisions.allows("api:metrics:get", principal("anything")), timeout=5, what="the reload")
    assert decisions.allows("api:alarms:get", principal("monasca-user"))
    # A file that stops parsing leaves the rules in force as they were.
    path.write_text('"api:metrics:get": [role:broken\n')
    time.sleep(1.2)
    assert decisions.allows("api:metrics:get", principal("anything"))
    assert not decisions.reload()
    with pytest.raises(PolicyFileError, match="policy.yaml"):
        Policy(SecuritySettings(), str(path))


# ---------------------------------------------------------------------------------------------
# nephoscope policy sample


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nephoscope", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, env=env)


def test_policy_sample_documents_every_rule(tmp_path):
    printed = run_cli("policy", "sample")
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    commented = [line[1:] for line in lines if line.startswith('#"')]
    defaults = yaml.safe_load("\n".join(commented))
    registered = {default.name: default.check_str for default in rules.default_rules(SecuritySettings())}
    assert defaults == registered
    assert "# POST  /v2.0/metrics" in printed.stdout and "# GET  /v2.0/alarm-definitions" in printed.stdout
    # Every rule comes with its description; uncommented, the file is a valid oslo.policy file.
    assert printed.stdout.count("\n# ") > len(registered)
    assert oslo_policy.parse_file_contents("\n".join(commented)) == registered
    written = tmp_path / "policy.yaml"
    to_file = run_cli("policy", "sample", "--output", str(written))
    assert to_file.returncode == 0 and written.read_text() == printed.stdout
    assert f"{len(registered)} rules" in to_file.stderr
    # The configuration's role lists go into the base rules.
    custom = run_cli("policy", "sample", env={"PATH": "/usr/bin:/bin", "NEPHOSCOPE_SECURITY_AGENT_AUTHORIZED_ROLES":
                                              "agent,ceilometer"})
    assert '#"agent_authorized": "role:agent or role:ceilometer"' in custom.stdout


# ---------------------------------------------------------------------------------------------
# against a server


def test_a_policy_file_on_a_running_server(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text('"api:metrics:get": "role:admin"\n')
    server = ServerProcess(tmp_path / "data", extra_env={"NEPHOSCOPE_AUTH_POLICY_FILE": str(path)}).start()
    try:
        user = server.create_key("policy-proj", "monasca-user")
        with server.client(user) as client:
            assert client.post("/v2.0/metrics", json={"name": "p.m", "timestamp": now_ms(), "value": 1}).status_code == 204
            refused = client.get("/v2.0/metrics")
            assert refused.status_code == 403 and refused.json() == {
                "title": "Forbidden", "rule": "api:metrics:get",
                "description": "policy rule api:metrics:get does not allow this token (roles: monasca-user); "
                               "it allows the roles admin"}
            path.write_text('"api:metrics:get": "rule:reader"\n')
            wait_for(lambda: client.get("/v2.0/metrics").status_code == 200, timeout=10, what="the policy reload")
            # Tightening an open endpoint makes it ask for a token.
            path.write_text('"api:healthcheck": "role:admin"\n')
            wait_for(lambda: httpx.get(server.url + "/healthcheck").status_code == 401, timeout=10,
                     what="the health check to want a token")
            assert httpx.get(server.url + "/healthcheck", headers={"X-Auth-Token": server.admin_token}).status_code \
                == 200
            assert client.get("/healthcheck").json()["rule"] == "api:healthcheck"
            # A file that does not parse leaves the rules in force; every reload is in the audit trail.
            path.write_text('"api:healthcheck": [broken\n')
            wait_for(lambda: "failure" in [r["outcome"] for r in _reloads(server)], timeout=10,
                     what="the refused reload")
        reloads = _reloads(server)
        assert [r["outcome"] for r in reloads] == ["failure", "success", "success"]  # newest first
        assert all(r["target"]["id"] == str(path) and r["target"]["type"] == "data/security/policy" for r in reloads)
        assert "expected ',' or ']'" in reloads[0]["reason"]["text"] and reloads[0]["reason"]["code"] == "invalid"
        assert httpx.get(server.url + "/healthcheck").status_code == 401  # still the last good file's rule
    finally:
        server.stop()


def _reloads(server: ServerProcess) -> list[dict]:
    answer = httpx.get(server.url + "/v1/audit", params={"action": "configure/reload"},
                       headers={"X-Auth-Token": server.admin_token}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["elements"]


def test_roles_named_in_security_are_roles_keys_may_carry(tmp_path):
    server = ServerProcess(tmp_path / "data", extra_env={
        "NEPHOSCOPE_SECURITY_AGENT_AUTHORIZED_ROLES": "agent"}).start()
    try:
        agent = server.create_key("ceilo-proj", "agent")
        with server.client(agent) as client:
            assert client.post("/v2.0/metrics", json={"name": "c.m", "timestamp": now_ms(), "value": 1}).status_code \
                == 204
            assert client.get("/v2.0/metrics").json()["rule"] == "api:metrics:get"
        old_agent = server.create_key("ceilo-proj", "monasca-agent")  # no longer an agent role here
        with server.client(old_agent) as client:
            assert client.post("/v2.0/metrics", json={"name": "c.m", "timestamp": now_ms(), "value": 1}).status_code \
                == 403
    finally:
        server.stop()


def test_a_bad_policy_file_or_strategy_stops_the_server_with_one_line(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text('"api:metrics:get": [\n')
    for env, expected in (({"NEPHOSCOPE_AUTH_POLICY_FILE": str(broken)}, "[auth] policy_file"),
                          ({"NEPHOSCOPE_AUTH_POLICY_FILE": str(tmp_path / "none.yaml")}, "[auth] policy_file"),
                          ({"NEPHOSCOPE_AUTH_STRATEGY": "ldap"}, "[auth] strategy"),
                          ({"NEPHOSCOPE_AUTH_STRATEGY": "keystone"}, "[keystone_authtoken] auth_url")):
        done = run_cli("serve", "--data-dir", str(tmp_path / "data"), "--port", "1",
                       env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env})
        assert done.returncode == 2, done.stdout + done.stderr
        assert expected in done.stderr and "Traceback" not in done.stderr, done.stderr
