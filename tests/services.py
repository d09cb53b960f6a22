"""Make sure the services the test suite needs are up, starting them if they are not.

The suite starts most of what it needs itself (the server under test, SMTP and webhook
receivers in-process, Prometheus and its node exporter on free ports). Beyond that: RabbitMQ for
the notification consumer, and installs: Debian's Chromium for the browser tests, libvirt-python
for the agent's instance collector, Debian's prometheus (with promtool) and
prometheus-node-exporter for the remote write tests and the PromQL comparisons, and a separate virtualenv with the telemetry clients (the OpenTelemetry SDK's
OTLP/HTTP exporter and Ceilometer's publishers, which pin versions the suite's own venv does not
share). This script is the one place that knows how to start or install each.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

# name -> (port, how to start it when it is not listening)
SERVICES: dict[str, tuple[int, list[str]]] = {
    "rabbitmq": (5672, ["service", "rabbitmq-server", "start"]),  # the events consumer's tests
}


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def ensure(name: str, port: int, start: list[str]) -> None:
    if _listening(port):
        print(f"{name}: running on {port}")
        return
    if not shutil.which(start[0]):
        sys.exit(f"{name} is not installed and is needed by the tests ({' '.join(start)})")
    print(f"{name}: starting ({' '.join(start)})")
    subprocess.run(start, check=False)
    for _ in range(60):
        if _listening(port):
            return
        time.sleep(1)
    sys.exit(f"{name} did not come up on port {port}")


def ensure_debian(command: str, package: str, needed_by: str) -> None:
    """A command from a Debian package, installed when missing."""
    if shutil.which(command):
        print(f"{command}: installed")
        return
    if not shutil.which("apt-get"):
        sys.exit(f"{command} is needed by {needed_by}; install Debian's {package} package")
    print(f"{command}: installing Debian's {package} package")
    subprocess.run(["apt-get", "update", "-qq"], check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True,
                   env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})


def ensure_chromium() -> None:
    """The browser tests drive Debian's Chromium (Playwright never downloads browsers here)."""
    ensure_debian("chromium", "chromium", "the browser tests")


def ensure_libvirt_python() -> None:
    """The agent's instance collector is tested against libvirt's test driver (no daemon needed):
    libvirt-python is built from PyPI against Debian's libvirt-dev."""
    check = [sys.executable, "-c", "import libvirt; libvirt.open('test:///default').close()"]
    if subprocess.run(check, capture_output=True).returncode == 0:
        print("libvirt-python: installed")
        return
    if not shutil.which("apt-get"):
        sys.exit("libvirt-python is needed by the agent tests; install libvirt-dev and pkg-config, then "
                 "pip install libvirt-python")
    print("libvirt-python: installing libvirt-dev, pkg-config, gcc and building libvirt-python")
    environment = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    if subprocess.run(["apt-get", "install", "-y", "-qq", "libvirt-dev", "pkg-config", "gcc"],
                      env=environment).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=environment)
        subprocess.run(["apt-get", "install", "-y", "-qq", "libvirt-dev", "pkg-config", "gcc"], check=True,
                       env=environment)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "libvirt-python>=9.0"], check=True)


DEBIAN_TOOLS = {"prometheus": "prometheus", "promtool": "prometheus",
                "prometheus-node-exporter": "prometheus-node-exporter"}
"""Debian packages the suite runs as its own processes: binary -> package (their services are not started)."""

CLIENTS_VENV = Path(os.environ.get("NEPHOSCOPE_CLIENTS_VENV", Path.home() / ".cache" / "nephoscope" / "clients-venv"))
"""The telemetry clients' virtualenv (tests/support/clients.py finds it)."""
CLIENTS = ["opentelemetry-sdk>=1.20", "opentelemetry-exporter-otlp-proto-http>=1.20", "ceilometer>=24"]
CLIENTS_CHECK = "import opentelemetry.exporter.otlp.proto.http.metric_exporter, ceilometer.publisher.opentelemetry_http"


def ensure_debian_tools() -> None:
    missing = sorted({package for binary, package in DEBIAN_TOOLS.items() if not shutil.which(binary)})
    if not missing:
        print(f"{', '.join(DEBIAN_TOOLS)}: installed")
        return
    if not shutil.which("apt-get"):
        sys.exit(f"{', '.join(missing)} are needed by the remote write tests; install Debian's packages")
    print(f"{', '.join(missing)}: installing Debian's packages")
    environment = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    command = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]
    if subprocess.run(command, env=environment).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=environment)
        subprocess.run(command, check=True, env=environment)


def ensure_clients_venv() -> None:
    python = CLIENTS_VENV / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", CLIENTS_CHECK], capture_output=True).returncode == 0:
        print(f"telemetry clients: installed in {CLIENTS_VENV}")
        return
    print(f"telemetry clients: installing {', '.join(CLIENTS)} into {CLIENTS_VENV}")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(CLIENTS_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *CLIENTS], check=True)


if __name__ == "__main__":
    ensure_chromium()
    ensure_debian("curl", "curl", "the documentation's examples and the large-body tests")
    ensure_libvirt_python()
    ensure_debian_tools()
    ensure_clients_venv()
    for service, (service_port, command) in SERVICES.items():
        ensure(service, service_port, command)
    print("services ready")
