"""A JetStream cluster with one node in a network namespace of its own, so a test can cut it off.

``PartitionableNats``: nodes 0 and 1 run on the host; node 2 runs inside a network namespace joined
to the host by a veth pair (``10.213.N.1`` on the host side, ``10.213.N.2`` inside). ``cut`` takes
the link down: node 2 keeps running (its process, its disk, its view of the world) but nothing
reaches it and it reaches nothing — a partition, not a crash, so its TCP connections hang rather
than close. ``heal`` brings the link back. Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN for
``ip netns``); where that is missing the test is skipped, and under ``CI=true`` it fails.
"""

from __future__ import annotations

import os
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from tests.support.cluster import _stop, _wait_listening, free_ports, nats_server, unavailable


def _ip(*arguments: str) -> None:
    subprocess.run(["ip", *arguments], check=True, capture_output=True)


@dataclass
class PartitionableNats:
    root: Path
    name: str = "nephoscope-partition"
    client_ports: list[int] = field(default_factory=list)
    cluster_ports: list[int] = field(default_factory=list)
    monitor_ports: list[int] = field(default_factory=list)
    processes: list[subprocess.Popen | None] = field(default_factory=lambda: [None, None, None])

    def __post_init__(self) -> None:
        tag = os.getpid() % 100_000
        self.namespace = f"nps{tag}"
        self.host_link, self.inner_link = f"npsh{tag}", f"npsn{tag}"
        subnet = 1 + os.getpid() % 250
        self.host_address, self.inner_address = f"10.213.{subnet}.1", f"10.213.{subnet}.2"

    def _address(self, node: int) -> str:
        return self.inner_address if node == 2 else "127.0.0.1"

    @property
    def urls(self) -> list[str]:
        return [f"nats://{self._address(node)}:{port}" for node, port in enumerate(self.client_ports)]

    def start(self) -> PartitionableNats:
        program = nats_server()
        try:
            _ip("netns", "add", self.namespace)
            _ip("link", "add", self.host_link, "type", "veth", "peer", "name", self.inner_link)
            _ip("link", "set", self.inner_link, "netns", self.namespace)
            _ip("addr", "add", f"{self.host_address}/24", "dev", self.host_link)
            _ip("link", "set", self.host_link, "up")
            for command in (("addr", "add", f"{self.inner_address}/24", "dev", self.inner_link),
                            ("link", "set", self.inner_link, "up"), ("link", "set", "lo", "up")):
                _ip("netns", "exec", self.namespace, "ip", *command)
        except (OSError, subprocess.CalledProcessError) as error:
            self.stop()
            unavailable(f"a network namespace cannot be made here (needs root and iproute2): {error}")
        ports = free_ports(9)
        self.client_ports, self.cluster_ports, self.monitor_ports = ports[:3], ports[3:6], ports[6:]
        for node in range(3):
            self._start_node(node, program)
        for node in range(2):
            _wait_listening(self.client_ports[node], self.processes[node], f"nats node {node}", self._log(node))
        return self

    def _log(self, node: int) -> Path:
        return self.root / f"n{node}.log"

    def _start_node(self, node: int, program: str) -> None:
        # The host's nodes listen everywhere but advertise the veth address, which node 2 can reach;
        # node 2 listens on its own address only.
        seen_from_node_2 = [self.host_address, self.host_address, self.inner_address]
        routes = ",".join(f"nats://{seen_from_node_2[i] if node == 2 else self._address(i)}:{port}"
                          for i, port in enumerate(self.cluster_ports) if i != node)
        store = self.root / f"n{node}"
        store.mkdir(parents=True, exist_ok=True)
        listen = self.inner_address if node == 2 else "0.0.0.0"
        command = [program, "--jetstream", "--store_dir", str(store), "--server_name", f"n{node}",
                   "--addr", listen, "--port", str(self.client_ports[node]), "-m", str(self.monitor_ports[node]),
                   "--cluster_name", self.name, "--cluster", f"nats://{listen}:{self.cluster_ports[node]}",
                   "--cluster_advertise", f"{seen_from_node_2[node]}:{self.cluster_ports[node]}",
                   "--no_advertise", "--routes", routes]
        if node == 2:
            command = ["ip", "netns", "exec", self.namespace, *command]
        log = self._log(node).open("ab")
        self.processes[node] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def cut(self) -> None:
        """Node 2 can no longer reach anyone, nor be reached; it keeps running."""
        _ip("link", "set", self.host_link, "down")

    def heal(self) -> None:
        _ip("link", "set", self.host_link, "up")

    def stream_state(self, node: int, stream: str) -> dict | None:
        """What node ``node``'s replica of ``stream`` holds (``messages``, ``last_seq``), from its
        monitoring endpoint; None when it holds none."""
        url = f"http://{self._address(node)}:{self.monitor_ports[node]}/jsz?streams=true"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=5) as response:
            report = orjson.loads(response.read())
        for account in report.get("account_details") or []:
            for detail in account.get("stream_detail") or []:
                if detail["name"] == stream:
                    return detail["state"]
        return None

    def stop(self) -> None:
        for process in self.processes:
            _stop(process)
        subprocess.run(["ip", "link", "del", self.host_link], check=False, capture_output=True)
        subprocess.run(["ip", "netns", "del", self.namespace], check=False, capture_output=True)
