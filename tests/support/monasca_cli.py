"""Driving the unmodified python-monascaclient (2.8.0) against a Nephoscope server.

``MonascaCLI`` runs the ``monasca`` console script as a subprocess, exactly as an
operator would (``--os-auth-type admin_token --os-token T --os-endpoint URL/v2.0``);
``KeystoneCLI`` runs it as a cloud user does, with a Keystone password
(``--os-auth-url``, ``--os-username``, ...) and the endpoint found in the catalog;
``library_client`` builds the library client the way the reference (§8.1) describes,
on a keystoneauth session with a static token (``keystone_library_client``: a password session
and the catalog). ``expected_statistics`` is the
test oracle for ``/metrics/statistics``: plain Python arithmetic over known samples.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


def _monasca_executable() -> str:
    beside = Path(sys.executable).with_name("monasca")
    if beside.exists():
        return str(beside)
    found = shutil.which("monasca")
    if not found:
        raise RuntimeError("the monasca console script (python-monascaclient) is not installed")
    return found


MONASCA = _monasca_executable()


def _clean_environment() -> dict[str, str]:
    """The caller's environment without OS_* / MONASCA_* settings that would change what the CLI does."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "MONASCA_"))}
    env["PYTHONWARNINGS"] = "ignore"  # osc_lib's DeprecationWarning would clutter stderr
    return env


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class MonascaCLI:
    endpoint: str  # http://127.0.0.1:PORT/v2.0
    token: str
    timeout: float = 60

    def auth_args(self) -> list[str]:
        return ["--os-auth-type", "admin_token", "--os-token", self.token, "--os-endpoint", self.endpoint]

    def run(self, *args: str) -> CliResult:
        command = [MONASCA, *self.auth_args(), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=self.timeout, env=_clean_environment())
        return CliResult(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str) -> CliResult:
        result = self.run(*args)
        assert result.returncode == 0, f"monasca {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
        return result

    def json(self, *args: str) -> Any:
        """The command's raw JSON answer (``-j``): for list commands, the ``elements``."""
        return self.ok(*args, "-j").json()

    def ok_all(self, *commands: Sequence[str]) -> list[CliResult]:
        """Independent commands run side by side (each still a separate ``monasca`` process)."""
        with ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(lambda command: self.ok(*command), commands))

    def json_all(self, *commands: Sequence[str]) -> list[Any]:
        with ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(lambda command: self.json(*command), commands))

    def run_all(self, *commands: Sequence[str]) -> list[CliResult]:
        with ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(lambda command: self.run(*command), commands))

    def fail(self, *args: str) -> CliResult:
        result = self.run(*args)
        assert result.returncode != 0, f"monasca {' '.join(args)} unexpectedly succeeded:\n{result.stdout}"
        return result


@dataclass
class KeystoneCLI(MonascaCLI):
    """The CLI with a Keystone user's password: the monitoring endpoint comes from the catalog of
    ``region`` (no ``--os-endpoint``)."""

    endpoint: str = ""
    token: str = ""
    auth_url: str = ""
    username: str = ""
    password: str = ""
    project: str = ""
    region: str = "RegionOne"

    def auth_args(self) -> list[str]:
        return ["--os-auth-url", self.auth_url, "--os-username", self.username, "--os-password", self.password,
                "--os-project-name", self.project, "--os-user-domain-name", "Default",
                "--os-project-domain-name", "Default", "--os-region-name", self.region, "--os-interface", "public"]


def keystone_session(auth_url: str, username: str, password: str, project: str):  # noqa: ANN201
    """A keystoneauth password session, as OpenStack clients and services build them."""
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    return session.Session(auth=v3.Password(auth_url=auth_url, username=username, password=password,
                                            project_name=project, user_domain_name="Default",
                                            project_domain_name="Default"))


def keystone_library_client(sess, region: str):  # noqa: ANN001, ANN201 - monascaclient.v2_0.client.Client
    """``client.Client('2_0', session=..., endpoint=...)`` with the ``monitoring`` endpoint of ``region``
    from the session's catalog, as monasca-agent and Heat do (2.8.0 does not filter by region itself)."""
    from monascaclient import client

    endpoint = sess.get_endpoint(service_type="monitoring", interface="public", region_name=region)
    return client.Client("2_0", session=sess, endpoint=endpoint)


def library_client(endpoint: str, token: str):  # noqa: ANN201 - monascaclient.v2_0.client.Client
    """``client.Client('2_0', session=...)`` on a static-token session.

    keystoneauth's ``token_endpoint.Token`` alone is not enough for 2.8.0 (the request
    fails with EndpointNotFound because the client asks the session for a
    ``monitoring`` catalog entry), so the endpoint is passed as well.
    """
    from keystoneauth1 import session, token_endpoint
    from monascaclient import client

    sess = session.Session(auth=token_endpoint.Token(endpoint, token))
    return client.Client("2_0", session=sess, endpoint=endpoint)


def next_offset(href: str | None) -> str | None:
    if not href:
        return None
    return parse_qs(urlsplit(href).query)["offset"][0]


def iso_millis(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def iso_seconds(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def expected_statistics(samples: list[tuple[int, float]], start_ms: int, period_s: int, statistics: list[str],
                        end_ms: int | None = None) -> list[list]:
    """Rows ``[timestamp, *statistics]`` for buckets of ``period_s`` from ``start_ms`` (empty buckets dropped)."""
    width = period_s * 1000
    buckets: dict[int, list[float]] = defaultdict(list)
    for timestamp, value in samples:
        if timestamp < start_ms or (end_ms is not None and timestamp >= end_ms):
            continue
        buckets[start_ms + (timestamp - start_ms) // width * width].append(value)
    rows = []
    for bucket in sorted(buckets):
        values = buckets[bucket]
        computed = {"avg": sum(values) / len(values), "min": min(values), "max": max(values),
                    "sum": sum(values), "count": len(values)}
        rows.append([iso_seconds(bucket), *(computed[s.lower()] for s in statistics)])
    return rows
