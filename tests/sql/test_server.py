"""Two servers (two nodes, each its own data dir) on one PostgreSQL or MariaDB metadata database
(``NEPHOSCOPE_CLUSTER_SQL_URL``): a key made by the CLI for one serves the other, a definition
made through one is read and refused as a duplicate through the other, and the audit trail they
both appended to verifies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, ServerProcess

pytestmark = pytest.mark.engines  # the distributed engines' lane (tests/lanes.py)

DEFINITION = {"name": "cpu high", "expression": "avg(cpu.idle_perc) < 10", "match_by": ["hostname"]}


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_two_nodes_share_keys_definitions_and_the_audit_trail(tmp_path: Path, backend: str,
                                                              _server_databases: dict) -> None:
    url = _server_databases[backend]
    if isinstance(url, Exception):
        from tests.conftest import missing
        missing(f"no {backend} server", "start the machine's database servers")
    from tests.support.sql import empty
    empty(url)
    environment = {"NEPHOSCOPE_CLUSTER_SQL_URL": url}
    nodes = [ServerProcess(tmp_path / name / "data", extra_env=environment) for name in ("a", "b")]
    for node in nodes:
        node.data_dir.mkdir(parents=True)
        node.start()
    try:
        token = nodes[0].create_key("p1", "monasca-user")
        with nodes[0].client(token) as one, nodes[1].client(token) as two:
            created = one.post("/v2.0/alarm-definitions", json=DEFINITION)
            assert created.status_code == 201, created.text
            listed = two.get("/v2.0/alarm-definitions").json()["elements"]
            assert [d["id"] for d in listed] == [created.json()["id"]]
            duplicate = two.post("/v2.0/alarm-definitions", json=DEFINITION)
            assert duplicate.status_code == 409
    finally:
        for node in nodes:
            node.stop()
    verified = subprocess.run([sys.executable, "-m", "nephoscope", "audit", "verify", "--data-dir",
                               str(nodes[1].data_dir)], capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, **environment})
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("intact:") and not verified.stdout.startswith("intact: 0 ")
    assert not (nodes[0].data_dir / "keys.sqlite").exists()  # the keys are the database's
