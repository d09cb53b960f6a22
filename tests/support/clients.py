"""The telemetry clients' own virtualenvs (installed by ``tests/services.py``), which pin versions the
suite's venv does not share: the OpenTelemetry SDK's OTLP/HTTP exporter and Ceilometer's publishers
(a test writes a small script and runs it with that venv's Python), and the ``openstack`` CLI with
python-observabilityclient."""

from __future__ import annotations

import subprocess
import textwrap

from tests.conftest import missing
from tests.services import CLIENTS_CHECK, CLIENTS_VENV, OPENSTACK_CLI_CHECK, OPENSTACK_CLI_VENV


def clients_python() -> str:
    python = CLIENTS_VENV / "bin" / "python"
    if not python.exists() or subprocess.run([str(python), "-c", CLIENTS_CHECK], capture_output=True).returncode:
        missing(f"the telemetry clients' venv ({CLIENTS_VENV}) is missing", "run tests/services.py")
    return str(python)


def run_client(script: str, *arguments: str, timeout: float = 120) -> str:
    """Run ``script`` (dedented Python) with the clients' Python; its stdout, or fail with its stderr."""
    result = subprocess.run([clients_python(), "-c", textwrap.dedent(script), *arguments], capture_output=True,
                            text=True, timeout=timeout)
    if result.returncode:
        raise AssertionError(f"the client script failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result.stdout


def openstack_cli() -> str:
    """The ``openstack`` console script with python-observabilityclient's ``metric`` commands."""
    python, program = OPENSTACK_CLI_VENV / "bin" / "python", OPENSTACK_CLI_VENV / "bin" / "openstack"
    if not program.exists() or subprocess.run([str(python), "-c", OPENSTACK_CLI_CHECK],
                                              check=False, capture_output=True).returncode:
        missing(f"the openstack CLI's venv ({OPENSTACK_CLI_VENV}) is missing", "run tests/services.py")
    return str(program)
