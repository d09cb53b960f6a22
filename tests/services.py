"""Make sure the services the test suite needs are up, starting them if they are not.

Today the suite needs no external service beyond what it starts itself (the server
under test, SMTP and webhook receivers in-process). Later suites need RabbitMQ;
this script is the one place that knows how to start each service.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time

SERVICES: dict[str, tuple[int, list[str]]] = {}


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


def ensure_chromium() -> None:
    """The browser tests drive Debian's Chromium (Playwright never downloads browsers here)."""
    if shutil.which("chromium"):
        print("chromium: installed")
        return
    if not shutil.which("apt-get"):
        sys.exit("chromium is needed by the browser tests; install Debian's chromium package")
    print("chromium: installing Debian's chromium package")
    subprocess.run(["apt-get", "update", "-qq"], check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True,
                   env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})


if __name__ == "__main__":
    ensure_chromium()
    for service, (service_port, command) in SERVICES.items():
        ensure(service, service_port, command)
    print("services ready")
