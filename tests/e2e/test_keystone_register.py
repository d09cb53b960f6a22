"""``deploy/keystone-register.sh`` run as an operator runs it: admin credentials in ``OS_*``, the stock
``openstack`` CLI, a real Keystone. Afterwards the catalog has Nephoscope's three services in the
region — ``monitoring`` at ``…/v2.0``, ``logs`` at ``…/v3.0`` and ``metric-storage`` at the root, on
every interface — and a second run changes nothing.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.support.clients import openstack_cli
from tests.support.keystone import ADMIN_PASSWORD, SERVICE_USER

pytestmark = pytest.mark.timeout(600)

SCRIPT = ROOT / "deploy" / "keystone-register.sh"
URL = "http://nephoscope.example.org:8070"


def _run(keystone, region: str, home: Path) -> subprocess.CompletedProcess:  # noqa: ANN001
    environment = {key: value for key, value in os.environ.items() if not key.startswith("OS_")}
    environment.update(
        PATH=f"{Path(openstack_cli()).parent}:{environment.get('PATH', '')}", HOME=str(home), PYTHONWARNINGS="ignore",
        OS_AUTH_URL=keystone.main.url, OS_USERNAME="admin", OS_PASSWORD=ADMIN_PASSWORD, OS_PROJECT_NAME="admin",
        OS_USER_DOMAIN_NAME="Default", OS_PROJECT_DOMAIN_NAME="Default", OS_IDENTITY_API_VERSION="3",
        NEPHOSCOPE_URL=URL, REGION=region, SERVICE_USER=SERVICE_USER)  # the service user exists: no prompt
    done = subprocess.run(["sh", str(SCRIPT)], check=False, capture_output=True, text=True, timeout=500,
                          env=environment, cwd=home, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"keystone-register.sh failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def test_the_script_registers_the_three_services_once(keystone, tmp_path) -> None:  # noqa: ANN001
    region = "register-test"
    keystone._api("POST", "/regions", json={"region": {"id": region}})
    _run(keystone, region, tmp_path)
    services = {service["id"]: service["type"] for service in keystone._api("GET", "/services")["services"]}
    endpoints = sorted((services[e["service_id"]], e["interface"], e["url"])
                       for e in keystone._api("GET", "/endpoints")["endpoints"] if e["region_id"] == region)
    assert endpoints == sorted((kind, interface, URL + path)
                               for kind, path in (("monitoring", "/v2.0"), ("logs", "/v3.0"), ("metric-storage", ""))
                               for interface in ("public", "internal", "admin"))
    again = _run(keystone, region, tmp_path)
    assert again.stdout.count("endpoint in register-test exists") == 9
    assert len([e for e in keystone._api("GET", "/endpoints")["endpoints"] if e["region_id"] == region]) == 9
