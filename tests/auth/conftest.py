"""memcached for the shared token cache: Debian's binary on a free port (tests/services.py installs it)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest

from tests.conftest import free_port, missing


@pytest.fixture(scope="module")
def memcached():
    """``host:port`` of a fresh memcached."""
    binary = shutil.which("memcached")
    if binary is None:
        missing("no memcached binary", "apt-get install memcached (python tests/services.py)")
    port = free_port()
    process = subprocess.Popen([binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-u", "root", "-m", "16"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    yield f"127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)
