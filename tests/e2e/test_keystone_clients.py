"""OpenStack's own clients against a server connected to a real Keystone, as in a cloud.

The unmodified python-monascaclient CLI and library authenticate with a Keystone user's password
and find the server in the catalog (service type ``monitoring``, the server's region); metrics,
alarm definitions, alarms and notification methods go through them. Logs go to the catalog's
``logs`` endpoint through a keystoneauth session (as monasca-log-api clients do). monasca-agent's
forwarder, configured with Keystone credentials only, posts the collector's measurements, which
are then readable.
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.conftest import wait_for
from tests.support.monasca_agent import Forwarder
from tests.support.monasca_cli import KeystoneCLI, keystone_library_client, keystone_session

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def people(keystone) -> dict:
    return {"user": keystone.user("cli-user", "cli-proj", "monasca-user"),
            "reader": keystone.user("cli-reader", "cli-proj", "monasca-read-only-user"),
            "agent": keystone.user("cli-agent", "cli-proj", "monasca-agent"),
            "other": keystone.user("cli-other", "cli-other-proj", "monasca-user")}


def cli_for(keystone, keystone_server, user) -> KeystoneCLI:  # noqa: ANN001
    return KeystoneCLI(auth_url=keystone.main.url, username=user.name, password=user.password, project=user.project,
                       region=keystone_server.region, timeout=120)


def test_the_monasca_cli_with_a_keystone_password(keystone, keystone_server, people):
    cli = cli_for(keystone, keystone_server, people["user"])
    now_ms = int(time.time() * 1000)
    assert cli.ok("metric-create", "ks.cli.load", "5", "--dimensions", "hostname=cli-1",
                  "--time", str(now_ms - 2000)).stdout.strip() == "Successfully created metric"
    listed = wait_for(lambda: cli.json("metric-list", "--name", "ks.cli.load"), timeout=30, what="the metric")
    assert listed[0]["dimensions"] == {"hostname": "cli-1"}
    measured = cli.json("measurement-list", "ks.cli.load", "-10")
    assert [row[1] for row in measured[0]["measurements"]] == [5.0]

    method = cli.ok("notification-create", "ks-hook", "WEBHOOK", "http://127.0.0.1:9/hook", "-j").json()
    assert method["id"] in [m["id"] for m in cli.json("notification-list")]
    definition = cli.ok("alarm-definition-create", "ks-load-high", "max(ks.cli.load) > 3", "--match-by", "hostname",
                        "--alarm-actions", method["id"], "-j").json()
    assert [d["name"] for d in cli.json("alarm-definition-list")] == ["ks-load-high"]
    cli.ok("metric-create", "ks.cli.load", "7", "--dimensions", "hostname=cli-1")
    alarms = wait_for(lambda: cli.json("alarm-list", "--alarm-definition-id", definition["id"]), timeout=60,
                      what="the alarm the engine makes")
    cli.ok("alarm-patch", alarms[0]["id"], "--lifecycle-state", "ACKNOWLEDGED")
    assert cli.json("alarm-show", alarms[0]["id"])["lifecycle_state"] == "ACKNOWLEDGED"
    assert isinstance(cli.json("alarm-history", alarms[0]["id"]), list)

    # The project's other users: the reader reads and may not write, another project sees nothing.
    reader, other = cli_for(keystone, keystone_server, people["reader"]), cli_for(keystone, keystone_server,
                                                                               people["other"])
    assert [d["name"] for d in reader.json("alarm-definition-list")] == ["ks-load-high"]
    refused = reader.fail("alarm-definition-delete", definition["id"])
    assert "(HTTP 403)" in refused.stderr and "api:alarms:definition:delete" in refused.stderr
    assert other.json("alarm-definition-list") == [] and other.json("metric-list", "--name", "ks.cli.load") == []
    cli.ok("alarm-definition-delete", definition["id"])
    cli.ok("notification-delete", method["id"])
    assert cli.json("alarm-definition-list") == []


def test_the_monasca_library_and_the_logs_endpoint_from_the_catalog(keystone, keystone_server, people):
    user = people["user"]
    sess = keystone_session(keystone.main.url, user.name, user.password, user.project)
    client = keystone_library_client(sess, keystone_server.region)
    client.metrics.create(jsonbody={"name": "ks.lib.mem", "dimensions": {"hostname": "lib-1"},
                                    "timestamp": int(time.time() * 1000) - 1000, "value": 42.0})
    found = wait_for(lambda: client.metrics.list(name="ks.lib.mem"), timeout=30, what="the library's metric")
    assert found[0]["dimensions"] == {"hostname": "lib-1"}
    created = client.notifications.create(name="lib-mail", type="EMAIL", address="ops@example.org")
    assert created["id"] in [m["id"] for m in client.notifications.list()]
    client.notifications.delete(notification_id=created["id"])

    # monasca-log-api's clients post to the catalog's "logs" endpoint + /logs.
    marker = uuid.uuid4().hex
    line = f"2026-01-01 00:00:00.000 7 ERROR nova.compute.manager [req-{marker}] boot failed {marker}"
    posted = sess.post("/logs", endpoint_filter={"service_type": "logs", "interface": "public",
                                                  "region_name": keystone_server.region},
                       json={"dimensions": {"hostname": "compute-1", "service": "nova"}, "logs": [{"message": line}]},
                       raise_exc=False)
    assert posted.status_code == 204, posted.text
    assert posted.url == keystone_server.url + "/v3.0/logs"
    token = sess.get_token()
    found_logs = wait_for(lambda: httpx.get(keystone_server.url + "/v1/logs", params={"q": marker},
                                            headers={"X-Auth-Token": token}, timeout=30).json()["elements"],
                          timeout=30, what="the posted log line")
    assert marker in found_logs[0]["message"]


def test_monasca_agents_forwarder_posts_with_keystone_credentials(keystone, keystone_server, people, tmp_path):
    agent = people["agent"]
    forwarder = Forwarder(tmp_path / "agent", keystone.main.url, agent.name, agent.password, agent.project,
                          keystone_server.region).start()
    try:
        now = time.time()
        forwarder.emit([{"name": "ks.agent.cpu", "dimensions": {"hostname": "agent-host", "service": "monitoring"},
                         "value": float(index), "timestamp": now - 10 + index} for index in range(5)])
        reader = people["reader"]
        token = keystone.token(reader)
        measurements = wait_for(lambda: httpx.get(
            keystone_server.url + "/v2.0/metrics/measurements", headers={"X-Auth-Token": token}, timeout=30,
            params={"name": "ks.agent.cpu", "start_time": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                          time.gmtime(now - 60))}).json()["elements"],
            timeout=60, what="the forwarder's metrics")
        assert [row[1] for row in measurements[0]["measurements"]] == [0.0, 1.0, 2.0, 3.0, 4.0]
        assert measurements[0]["dimensions"] == {"hostname": "agent-host", "service": "monitoring"}
        # The agent's user may post but not read.
        agent_token = keystone.token(agent)
        assert httpx.get(keystone_server.url + "/v2.0/metrics", headers={"X-Auth-Token": agent_token},
                         timeout=30).status_code == 403
        # It found this server in the catalog of its region (no URL was configured).
        assert f"Using monasca-api url {keystone_server.url}/v2.0 from catalog" in forwarder.log()
    finally:
        forwarder.stop()
