"""python-observabilityclient's ``openstack metric list / show / query`` against Nephoscope behind Keystone.

The unmodified ``openstack`` CLI (python-openstackclient with python-observabilityclient, from the
clients' venv) authenticates with a Keystone user's password and finds the Prometheus-style API as
it finds Aetos: the ``metric-storage`` endpoint of the catalog (the server's root; the client adds
``/api/v1/...``). Nothing else tells it where Nephoscope is: no ``prometheus.yaml``, no
``PROMETHEUS_HOST``. Ceilometer's service user remote-writes instances' meters labelled with their
project (the delegate path), a project's user posts a Monasca metric; then each project's user sees
only its project's series whatever it asks, and an admin (``telemetry:query:all_projects``) sees every
project's and narrows with the ``project`` label, as with Aetos.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import wait_for
from tests.support.clients import openstack_cli
from tests.support.remote_write import post, v1_body

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def people(keystone) -> dict:
    return {"a": keystone.user("obs-user-a", "obs-proj-a", "monasca-user"),
            "b": keystone.user("obs-user-b", "obs-proj-b", "monasca-read-only-user", "monasca-user"),
            "agent": keystone.user("obs-agent", "obs-proj-a", "monasca-agent"),
            "admin": keystone.user("obs-admin", "obs-admin-proj", "admin"),
            "ceilometer": keystone.user("obs-ceilometer", "service", "monasca-delegate")}


@pytest.fixture(scope="module")
def written(keystone, keystone_server, people) -> dict:
    """Ceilometer's meters of three instances in two projects (remote write, with the ``project``
    label), and a Monasca metric of project b; returns when the admin can read all of it."""
    a, b = people["a"].project_id, people["b"].project_id
    now = int(time.time() * 1000)
    instances = {"vm-a1": (a, "sg-a", 1.0), "vm-a2": (a, "sg-a", 3.0), "vm-b1": (b, "sg-b", 5.0)}
    entries = [({"__name__": "ceilometer_cpu", "resource": resource, "project": project, "server_group": group},
                [(scale * 10**9, now - 30_000), (scale * 2 * 10**9, now - 15_000)])
               for resource, (project, group, scale) in instances.items()]
    with httpx.Client(base_url=keystone_server.url, timeout=30) as client:
        sent = post(client, v1_body(entries), Authorization=f"Bearer {keystone.token(people['ceilometer'])}")
        assert sent.status_code == 204, sent.text
        monasca = client.post("/v2.0/metrics", headers={"X-Auth-Token": keystone.token(people["b"])},
                              json={"name": "cpu.utilization_perc", "dimensions": {"hostname": "compute-b"},
                                    "timestamp": now - 10_000, "value": 42.0})
        assert monasca.status_code == 204, monasca.text
        admin = {"X-Auth-Token": keystone.token(people["admin"])}

        def stored() -> bool:
            counted = client.get("/api/v1/query", headers=admin, params={
                "query": 'count({__name__=~"ceilometer_cpu|cpu.utilization_perc"})'}).json()["data"]["result"]
            return bool(counted) and counted[0]["value"][1] == "4"
        wait_for(stored, timeout=30, what="the written series")
    return {"a": a, "b": b}


def openstack(keystone, keystone_server, user, *arguments: str, home: Path, expect_ok: bool = True):
    """``openstack <arguments> -f json`` as ``user``, with nothing but Keystone credentials and a region;
    the parsed JSON (or the failed process when ``expect_ok`` is false)."""
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("OS_", "PROMETHEUS_"))}
    # No prometheus.yaml can be found (HOME and the working directory are empty): only the catalog can.
    environment.update(HOME=str(home), PYTHONWARNINGS="ignore")
    command = [openstack_cli(), "--os-auth-url", keystone.main.url, "--os-username", user.name,
               "--os-password", user.password, "--os-project-name", user.project,
               "--os-user-domain-name", "Default", "--os-project-domain-name", "Default",
               "--os-region-name", keystone_server.region, "--os-interface", "public", *arguments, "-f", "json"]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=120, env=environment,
                          cwd=home)
    if not expect_ok:
        assert done.returncode != 0, f"openstack {' '.join(arguments)} unexpectedly succeeded:\n{done.stdout}"
        return done
    assert done.returncode == 0, f"openstack {' '.join(arguments)} failed ({done.returncode}):\n{done.stderr[-3000:]}"
    return json.loads(done.stdout)


@pytest.fixture
def cli(keystone, keystone_server, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    return lambda user, *arguments, **options: openstack(keystone, keystone_server, user, *arguments, home=home,
                                                         **options)


def test_metric_list_shows_a_projects_own_metric_names(cli, people, written) -> None:
    assert [row["metric_name"] for row in cli(people["a"], "metric", "list")] == ["ceilometer_cpu"]
    assert [row["metric_name"] for row in cli(people["b"], "metric", "list")] == ["ceilometer_cpu",
                                                                                   "cpu.utilization_perc"]
    # The admin sees every project's names (the server's own nephoscope.* metrics of project admin too).
    names = {row["metric_name"] for row in cli(people["admin"], "metric", "list")}
    assert {"ceilometer_cpu", "cpu.utilization_perc"} <= names
    assert any(name.startswith("nephoscope.") for name in names)


def test_metric_show_answers_the_projects_series_only(cli, people, written) -> None:
    shown = cli(people["a"], "metric", "show", "ceilometer_cpu")
    assert sorted((row["resource"], row["project"], float(row["value"])) for row in shown) == [
        ("vm-a1", written["a"], 2e9), ("vm-a2", written["a"], 6e9)]
    assert [row["__name__"] for row in shown] == ["ceilometer_cpu", "ceilometer_cpu"]
    # A Monasca metric under its underscore-escaped name, reported under its stored name.
    monasca = cli(people["b"], "metric", "show", "cpu_utilization_perc")
    assert [(row["__name__"], row["hostname"], float(row["value"])) for row in monasca] == [
        ("cpu.utilization_perc", "compute-b", 42.0)]
    assert cli(people["a"], "metric", "show", "cpu_utilization_perc") == []
    assert {row["resource"] for row in cli(people["admin"], "metric", "show", "ceilometer_cpu")} == {
        "vm-a1", "vm-a2", "vm-b1"}


def test_metric_query_is_scoped_to_the_token_and_the_admin_narrows_by_project(cli, people, written) -> None:
    by_project = "count by (project) (ceilometer_cpu)"
    assert [(row["project"], row["value"]) for row in cli(people["a"], "metric", "query", by_project)] == [
        (written["a"], "2")]
    assert sorted((row["project"], row["value"]) for row in cli(people["admin"], "metric", "query", by_project)) == sorted(
        [(written["a"], "2"), (written["b"], "1")])
    # Naming another project's label does not cross the boundary; for the admin it narrows.
    other = f"ceilometer_cpu{{project='{written['b']}'}}"
    assert cli(people["a"], "metric", "query", other) == []
    assert [row["resource"] for row in cli(people["admin"], "metric", "query", other)] == ["vm-b1"]
    # Aodh's evaluator query, as the project's user would alarm on it (rate over 15 s, x100).
    aodh = cli(people["a"], "metric", "query", "rate(ceilometer_cpu{server_group=~'sg-a'}[60s]) * 100")
    assert sorted(row["resource"] for row in aodh) == ["vm-a1", "vm-a2"]
    assert all(float(row["value"]) > 0 for row in aodh)


def test_a_user_without_a_reader_role_is_refused(cli, keystone, keystone_server, people, written) -> None:
    # keystoneauth reads no message from Prometheus's error shape: the CLI says the status.
    refused = cli(people["agent"], "metric", "list", expect_ok=False)
    assert "(HTTP 403)" in refused.stderr
    answer = httpx.get(keystone_server.url + "/api/v1/label/__name__/values", timeout=30,
                       headers={"X-Auth-Token": keystone.token(people["agent"])})
    assert answer.status_code == 403 and "telemetry:query" in answer.json()["error"]
