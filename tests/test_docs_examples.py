"""The examples of README.md and docs/*.md run as printed against the demo.

Every ```bash block of a document is run, in order, as one script — the way a reader follows it —
against a server running ``--demo`` (```sh blocks are installation and deployment steps for a host,
not run here). The script runs in a directory laid out like a checkout after ``make run``:
``var/admin-token``, ``var/nephoscope`` (the server's data), ``docs/``, ``.venv/bin/{nephoscope,monasca}``;
the only change to the text is the server's address (``127.0.0.1:8070`` → the test server's). ``curl``
fails on an HTTP error or an empty list, so an example that answers nothing fails too.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, ServerProcess, wait_for
from tests.support.monasca_cli import MONASCA

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```bash\n(.*?)^```", re.M | re.S)
PREAMBLE = r"""set -euo pipefail
curl() {  # as printed, but an HTTP error or an empty list fails the example
  local out
  out=$(command curl -sS --fail-with-body "$@") || { printf '%s\n' "$out" >&2; return 22; }
  printf '%s\n' "$out"
  printf '%s' "$out" | python3 -c '
import json, sys
try:
    answer = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
if isinstance(answer, dict) and answer.get("elements") == []:
    sys.exit("an empty answer")'
}
"""


def _examples(document: Path) -> str:
    return "\n".join(BLOCK.findall(document.read_text()))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    process = ServerProcess(tmp_path_factory.mktemp("docs") / "data", extra_args=["--demo"], extra_env={
        "NEPHOSCOPE_DEMO_HYPERVISORS": "4", "NEPHOSCOPE_DEMO_INSTANCES_PER_HYPERVISOR": "3",
        "NEPHOSCOPE_DEMO_BACKFILL_MINUTES": "40", "NEPHOSCOPE_DEMO_INTERVAL": "5"}).start()
    with process.client() as admin:  # what the examples read: the demo's failures, lines and alarms
        wait_for(lambda: any("no compute host" in f["summary"] for f in admin.get(
            "/v1/failures", params={"limit": 200}).json()["elements"]), timeout=90, what="a NoValidHost failure")
        wait_for(lambda: admin.get("/v2.0/alarms").json()["elements"], timeout=90, what="the demo's alarms")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def checkout(demo: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory as ``make run`` leaves a checkout: the admin token, the data, the docs, the venv's commands."""
    place = tmp_path_factory.mktemp("checkout")
    (place / "var").mkdir()
    (place / "var" / "admin-token").write_text(demo.admin_token + "\n")
    (place / "var" / "nephoscope").symlink_to(demo.data_dir)
    (place / "docs").symlink_to(ROOT / "docs")
    bin_dir = place / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    nephoscope = bin_dir / "nephoscope"
    nephoscope.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m nephoscope "$@"\n')
    nephoscope.chmod(nephoscope.stat().st_mode | stat.S_IEXEC)
    (bin_dir / "monasca").symlink_to(MONASCA)
    return place


@pytest.mark.parametrize("document", [d for d in DOCUMENTS if BLOCK.search(d.read_text())],
                         ids=lambda d: d.name)
def test_the_examples_run_as_printed(document: Path, demo: ServerProcess, checkout: Path) -> None:
    if shutil.which("curl") is None:
        pytest.fail("curl is needed to run the examples (apt-get install -y curl)")
    script = PREAMBLE + _examples(document).replace("http://127.0.0.1:8070", demo.url)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEPHOSCOPE_", "OS_", "MONASCA_"))}
    env.update({"PATH": f"{checkout / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}", "COLUMNS": "100",
                "NEPHOSCOPE_URL": demo.url, "PYTHONWARNINGS": "ignore"})
    done = subprocess.run(["bash", "-c", script], cwd=checkout, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, (f"{document.name}: exit {done.returncode}\n{done.stdout[-3000:]}\n"
                                  f"{done.stderr[-3000:]}")
    assert "Traceback" not in done.stderr, done.stderr[-3000:]


def test_every_document_with_commands_is_covered() -> None:
    """A shell example is a ```bash block (run here) or a ```sh block (steps on a host, shown only)."""
    for document in DOCUMENTS:
        fences = re.findall(r"^```(\w*)$", document.read_text(), re.M)
        assert "shell" not in fences and "console" not in fences, (document.name, fences)
