"""A real rsyslogd (Debian's ``rsyslog``, installed by tests/services.py) forwarding to the syslog
listener under test, the way a cloud's hosts forward their services' logs.

It runs in the foreground as the test's own user, with its own configuration, work directory and
pid file, and opens no port: its inputs are a Unix socket (``imuxsock``: what a service logging to
syslog writes to, as glibc's ``syslog(3)`` and Python's ``SysLogHandler`` do) and a log file
(``imfile``: a service's oslo.log file). Each *route* is one of rsyslog's standard templates over
one transport; a message is forwarded by the route whose ``route=<name> `` marker it carries, so
one rsyslogd exercises every combination.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import missing, stop_process

# rsyslog's built-in forwarding templates (https://www.rsyslog.com/doc/configuration/templates.html)
TEMPLATES = {
    "rfc5424": "RSYSLOG_SyslogProtocol23Format",  # <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD  MSG
    "rfc3164": "RSYSLOG_ForwardFormat",  # <PRI>ISO-TIMESTAMP HOST TAG MSG
    "rfc3164-traditional": "RSYSLOG_TraditionalForwardFormat",  # <PRI>Mmm dd hh:mm:ss HOST TAG MSG
}
# omfwd's transports: TCP with RFC 6587 octet counting or newline ("traditional") framing, UDP
TRANSPORTS = {
    "tcp-octet-counted": ("tcp", 'protocol="tcp" TCP_Framing="octet-counted"'),
    "tcp-newline": ("tcp", 'protocol="tcp" TCP_Framing="traditional"'),
    "udp": ("udp", 'protocol="udp"'),
}
ROUTES = [f"{template}.{transport}" for template in TEMPLATES for transport in TRANSPORTS]


def rsyslogd() -> str:
    """The rsyslogd program (in /usr/sbin, which a user's PATH may lack), or skip/fail."""
    found = shutil.which("rsyslogd", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if found is None:
        missing("rsyslogd is not installed", "make services installs Debian's rsyslog", module=True)
    return str(found)


@dataclass
class Rsyslog:
    process: subprocess.Popen
    socket: Path  # imuxsock's input socket
    log_file: Path  # imfile's input file (tag nova-compute)
    directory: Path

    def stop(self) -> None:
        stop_process(self.process, 10)

    def log(self) -> str:
        path = self.directory / "rsyslogd.out"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def _config(directory: Path, socket: Path, log_file: Path, tcp_port: int, udp_port: int) -> str:
    actions = []
    for route in ROUTES:
        template, transport = route.split(".")
        protocol, options = TRANSPORTS[transport]
        port = tcp_port if protocol == "tcp" else udp_port
        actions.append(f'  if ($msg contains "route={route} ") then {{\n'
                       f'    action(type="omfwd" target="127.0.0.1" port="{port}" {options} '
                       f'template="{TEMPLATES[template]}")\n  }}')
    body = "\n".join(actions)
    return f"""global(workDirectory="{directory}" maxMessageSize="64k")
module(load="imuxsock" SysSock.Use="off")
module(load="imfile" mode="polling" PollingInterval="1")
input(type="imuxsock" Socket="{socket}" ruleset="forward")
input(type="imfile" File="{log_file}" Tag="nova-compute:" Facility="local0" Severity="info" ruleset="forward")
ruleset(name="forward") {{
{body}
}}
"""


def start_rsyslog(directory: Path, tcp_port: int, udp_port: int) -> Rsyslog:
    """An rsyslogd forwarding every route to 127.0.0.1 (TCP routes to ``tcp_port``, UDP to
    ``udp_port``), its inputs ready when this returns."""
    program = rsyslogd()
    directory.mkdir(parents=True, exist_ok=True)
    socket, log_file = directory / "log.sock", directory / "nova-compute.log"
    log_file.touch()
    conf = directory / "rsyslog.conf"
    conf.write_text(_config(directory, socket, log_file, tcp_port, udp_port))
    check = subprocess.run([program, "-N1", "-f", str(conf)], check=False, capture_output=True, text=True)
    assert check.returncode == 0, f"rsyslogd refused its configuration:\n{check.stdout}{check.stderr}"
    out = open(directory / "rsyslogd.out", "ab")  # noqa: SIM115 - the process writes it until stopped
    process = subprocess.Popen([program, "-n", "-f", str(conf), "-i", str(directory / "rsyslogd.pid")],
                               stdout=out, stderr=subprocess.STDOUT)
    started = Rsyslog(process, socket, log_file, directory)
    deadline = time.monotonic() + 15
    while not socket.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            started.stop()
            raise AssertionError(f"rsyslogd did not open its input socket:\n{started.log()}")
        time.sleep(0.05)
    time.sleep(1.2)  # imfile polls every second: let it see the (empty) file before lines arrive
    return started
