"""The authentication sections of the configuration: ``[auth]``, ``[keystone_authtoken]`` (with
keystonemiddleware's option names) and ``[security]`` (Monasca's role lists), from the TOML file
and from ``NEPHOSCOPE_<SECTION>_<KEY>`` even when the section's name has an underscore; a value
that cannot work stops the start with a message naming its section and key.
"""

from __future__ import annotations

import pytest

from nephoscope.config import ConfigError, load_config

KEYSTONE = {"NEPHOSCOPE_AUTH_STRATEGY": "keystone",
            "NEPHOSCOPE_KEYSTONE_AUTHTOKEN_AUTH_URL": "http://keystone:5000/v3",
            "NEPHOSCOPE_KEYSTONE_AUTHTOKEN_USERNAME": "nephoscope",
            "NEPHOSCOPE_KEYSTONE_AUTHTOKEN_PASSWORD": "secret"}


def test_defaults_are_the_embedded_mode_and_monascas_roles():
    config = load_config(None, {})
    assert config.auth.strategy == "keys" and config.auth.policy_file == ""
    assert config.keystone_authtoken.token_cache_time == 300 and config.keystone_authtoken.auth_type == "password"
    assert config.keystone_authtoken.memcached_servers == []
    security = config.security
    assert security.default_authorized_roles == ["monasca-user"]
    assert security.agent_authorized_roles == ["monasca-agent"]
    assert security.read_only_authorized_roles == ["monasca-read-only-user"]
    assert "admin" in security.delegate_authorized_roles and security.admin_roles == ["admin"]


def test_the_file_uses_keystonemiddlewares_names(tmp_path):
    path = tmp_path / "nephoscope.toml"
    path.write_text("""
[auth]
strategy = "keystone"

[keystone_authtoken]
www_authenticate_uri = "https://keystone.example.org:5000"
auth_url = "http://keystone.internal:5000/v3"
auth_type = "password"
username = "monasca"
password = "secret"
project_name = "service"
user_domain_name = "Default"
project_domain_name = "Default"
region_name = "RegionOne"
token_cache_time = 120
memcached_servers = ["10.0.0.1:11211", "10.0.0.2:11211"]

[security]
default_authorized_roles = ["monasca-user"]
agent_authorized_roles = ["agent"]
read_only_authorized_roles = ["monasca-read-only-user"]
delegate_authorized_roles = ["admin"]
""")
    config = load_config(path, {})
    keystone = config.keystone_authtoken
    assert (keystone.username, keystone.token_cache_time, keystone.region_name) == ("monasca", 120, "RegionOne")
    assert keystone.memcached_servers == ["10.0.0.1:11211", "10.0.0.2:11211"]
    assert config.security.agent_authorized_roles == ["agent"]
    assert config.security.all_roles() == ["admin", "monasca-user", "agent", "monasca-read-only-user"]


def test_environment_variables_reach_sections_with_underscores():
    config = load_config(None, {**KEYSTONE, "NEPHOSCOPE_KEYSTONE_AUTHTOKEN_TOKEN_CACHE_TIME": "7",
                                "NEPHOSCOPE_KEYSTONE_AUTHTOKEN_MEMCACHED_SERVERS": "a:1,b:2",
                                "NEPHOSCOPE_SECURITY_AGENT_AUTHORIZED_ROLES": "agent,monasca-agent",
                                "NEPHOSCOPE_STORE_FLUSH_INTERVAL": "2"})
    assert config.keystone_authtoken.token_cache_time == 7
    assert config.keystone_authtoken.memcached_servers == ["a:1", "b:2"]
    assert config.keystone_authtoken.password == "secret"
    assert config.security.agent_authorized_roles == ["agent", "monasca-agent"]
    assert config.store.flush_interval == 2.0


@pytest.mark.parametrize("environ,where", [
    ({"NEPHOSCOPE_AUTH_STRATEGY": "ldap"}, "[auth] strategy"),
    ({"NEPHOSCOPE_AUTH_POLICY_FILE": "/nonexistent/policy.yaml"}, "[auth] policy_file"),
    ({**KEYSTONE, "NEPHOSCOPE_KEYSTONE_AUTHTOKEN_AUTH_URL": ""}, "[keystone_authtoken] auth_url"),
    ({**KEYSTONE, "NEPHOSCOPE_KEYSTONE_AUTHTOKEN_AUTH_URL": "keystone:5000"}, "[keystone_authtoken] auth_url"),
    ({**KEYSTONE, "NEPHOSCOPE_KEYSTONE_AUTHTOKEN_PASSWORD": ""}, "[keystone_authtoken] password"),
    ({**KEYSTONE, "NEPHOSCOPE_KEYSTONE_AUTHTOKEN_AUTH_TYPE": "v3token"}, "[keystone_authtoken] auth_type"),
    ({**KEYSTONE, "NEPHOSCOPE_KEYSTONE_AUTHTOKEN_TOKEN_CACHE_TIME": "-1"}, "[keystone_authtoken] token_cache_time"),
    ({**KEYSTONE, "NEPHOSCOPE_KEYSTONE_AUTHTOKEN_TOKEN_CACHE_TIME": "soon"}, "keystone_authtoken_token_cache_time"),
    ({**KEYSTONE, "NEPHOSCOPE_KEYSTONE_AUTHTOKEN_MEMCACHED_SERVERS": "cache"}, "[keystone_authtoken] memcached_servers"),
    ({"NEPHOSCOPE_SECURITY_ADMIN_ROLES": ""}, "[security] admin_roles"),
    ({"NEPHOSCOPE_SECURITY_DEFAULT_AUTHORIZED_ROLES": "monasca user"}, "[security] default_authorized_roles"),
    ({"NEPHOSCOPE_SECURITY_DEFAULT_AUTHORIZED_ROLES": "role:x"}, "[security] default_authorized_roles"),
    ({"NEPHOSCOPE_SERVER_ROLES": "api,ingestor"}, "[server] roles: unknown role 'ingestor'"),
    ({"NEPHOSCOPE_SERVER_ROLES": " , "}, "[server] roles: no role given"),
    ({"NEPHOSCOPE_SERVER_ROLES": "api,querier"}, "needs a cluster: set [cluster] servers"),
])
def test_a_setting_that_cannot_work_is_named(environ, where):
    with pytest.raises(ConfigError) as refused:
        load_config(None, environ)
    assert where in str(refused.value).lower() or where in str(refused.value)


def test_a_keystone_only_setting_is_not_needed_with_keys():
    assert load_config(None, {"NEPHOSCOPE_KEYSTONE_AUTHTOKEN_AUTH_URL": ""}).auth.strategy == "keys"


def test_roles_are_all_by_default_and_any_combination_with_a_cluster():
    from nephoscope.config import ROLES, is_all, parse_roles

    assert is_all(parse_roles(load_config(None, {}).server.roles))
    config = load_config(None, {"NEPHOSCOPE_SERVER_ROLES": "querier, api", "NEPHOSCOPE_CLUSTER_SERVERS": "nats://n1:4222"})
    assert parse_roles(config.server.roles) == {"api", "querier"}
    assert parse_roles("api,all") == frozenset(ROLES)
