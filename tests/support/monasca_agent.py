"""monasca-agent 10.0.0's forwarder, run from its own virtual environment (tests/services.py).

``Forwarder`` writes the agent's own ``agent.yaml`` (the ``Api`` section with Keystone
credentials, the monitoring endpoint found in the catalog of a region) and runs
``monasca-forwarder``; ``emit`` hands it measurements exactly as the agent's collector does
(``monasca_agent.common.metrics`` envelopes posted by ``common.emitter.http_emitter`` to
``/intake``), and the forwarder batches them and posts them to the Monasca API it found.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.conftest import free_port, missing, stop_process, wait_until_serving
from tests.services import monasca_agent_bin

_EMIT = """
import json, logging, sys
from monasca_agent.common.emitter import http_emitter
from monasca_agent.common.metrics import Gauge
url, items = sys.argv[1], json.loads(sys.argv[2])
envelopes = [Gauge(item["name"], item["dimensions"], item.get("tenant")).measurement(item["value"], item["timestamp"])
             for item in items]
http_emitter(envelopes, logging.getLogger("collector"), url)
"""


@dataclass
class Forwarder:
    home: Path
    keystone_url: str
    username: str
    password: str
    project: str
    region: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Forwarder:
        binary = monasca_agent_bin("monasca-forwarder")
        if not binary.exists():
            missing(f"no monasca-agent in {binary.parent.parent}", "run python tests/services.py (make services)")
        self.home.mkdir(parents=True, exist_ok=True)
        config = self.home / "agent.yaml"
        config.write_text(yaml.safe_dump({
            "Api": {"keystone_url": self.keystone_url, "username": self.username, "password": self.password,
                    "project_name": self.project, "user_domain_name": "Default", "project_domain_name": "Default",
                    "region_name": self.region, "service_type": "monitoring", "endpoint_type": "public",
                    "max_buffer_size": 1000, "write_timeout": 10, "backlog_send_rate": 5},
            "Main": {"hostname": "forwarder-test-host", "listen_port": self.port,
                     "forwarder_url": self.url, "dimensions": {"service": "monitoring"}},
            "Logging": {"disable_file_logging": True, "log_level": "DEBUG"}}))
        log = open(self.home / "forwarder.log", "ab")
        self.process = subprocess.Popen([str(binary), f"--config-file={config}"], cwd=self.home, stdout=log,
                                        stderr=subprocess.STDOUT, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        wait_until_serving(self.process, self.url + "/intake", timeout, "monasca-forwarder", self.log,
                           ready=lambda answer: True)  # any answer: it listens
        return self

    def emit(self, measurements: list[dict]) -> None:
        """``[{"name", "dimensions", "value", "timestamp" (seconds), "tenant"?}]`` through the collector's code."""
        python = monasca_agent_bin("python")
        done = subprocess.run([str(python), "-P", "-c", _EMIT, self.url, json.dumps(measurements)],
                              capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        assert done.returncode == 0, done.stderr

    def log(self) -> str:
        path = self.home / "forwarder.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        stop_process(self.process)
