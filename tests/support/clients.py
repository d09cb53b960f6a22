"""The telemetry clients' own virtualenv: the OpenTelemetry SDK's OTLP/HTTP exporter and
Ceilometer's publishers, which pin versions the suite's venv does not share (installed by
``tests/services.py``). A test writes a small script and runs it with that venv's Python."""

from __future__ import annotations

import subprocess
import textwrap

from tests.conftest import missing
from tests.services import CLIENTS_CHECK, CLIENTS_VENV


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
