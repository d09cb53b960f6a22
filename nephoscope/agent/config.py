"""The agent's configuration: one TOML file overlaid by ``NEPHOSCOPE_AGENT_<SECTION>_<KEY>`` variables.

Sample: ``deploy/nephoscope-agent.toml``. Every setting has a default, so ``nephoscope agent``
runs with no file: host metrics every 10 s, summarised per minute, pushed to a local server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from nephoscope.config import ConfigError, load_sections


@dataclass
class AgentSettings:
    interval: float = 10.0  # seconds between samples
    window: float = 60.0  # seconds summarised into one point (count, sum, min, max, last) per series
    hostname: str = ""  # default: this machine's name
    dimensions: dict[str, str] = field(default_factory=dict)  # added to every series (region, service…)
    spool_dir: str = "/var/lib/nephoscope-agent"
    spool_max_bytes: int = 256 * 1024 * 1024  # beyond this the oldest batches are dropped, and counted


@dataclass
class PushSettings:
    url: str = "http://127.0.0.1:8070"
    api: str = "native"  # "native" (/v1/points, summaries, msgpack + zstd) or "monasca" (/v2.0/metrics)
    token: str = ""  # X-Auth-Token; an agent key (role monasca-agent) is enough
    tenant_id: str = ""  # post for another project (needs the delegate role)
    compression: str = "zstd"  # zstd, gzip or none (native API only)
    timeout: float = 10.0
    backoff_max: float = 300.0  # the longest wait between retries while the server is unreachable


@dataclass
class HostSettings:
    enabled: bool = True
    # Mount points of these filesystem types are not reported (pseudo and overlay filesystems).
    ignore_filesystems: list[str] = field(default_factory=lambda: [
        "tmpfs", "devtmpfs", "overlay", "squashfs", "proc", "sysfs", "cgroup", "cgroup2", "nsfs", "autofs"])


@dataclass
class LibvirtSettings:
    enabled: str = "auto"  # auto: when libvirt-python imports and the URI answers
    uri: str = "qemu:///system"


@dataclass
class HttpCheck:
    name: str = ""
    url: str = ""
    timeout: float = 5.0
    expected_status: int = 0  # 0: any 2xx or 3xx


@dataclass
class ProcessCheck:
    name: str = ""  # the service, e.g. nova-compute
    pattern: str = ""  # a substring of the command line; default: the name


@dataclass
class LogSettings:
    paths: list[str] = field(default_factory=list)  # files or globs, e.g. /var/log/nova/*.log
    url: str = ""  # default: the push URL; records go to <url>/v3.0/logs (Monasca log API)
    batch_records: int = 1000
    state_file: str = ""  # default: <spool_dir>/log-offsets.json


@dataclass
class AgentConfig:
    agent: AgentSettings = field(default_factory=AgentSettings)
    push: PushSettings = field(default_factory=PushSettings)
    host: HostSettings = field(default_factory=HostSettings)
    libvirt: LibvirtSettings = field(default_factory=LibvirtSettings)
    logs: LogSettings = field(default_factory=LogSettings)
    http_check: list[HttpCheck] = field(default_factory=list)
    process: list[ProcessCheck] = field(default_factory=list)


def load_agent_config(path: str | os.PathLike | None = None, environ: dict[str, str] | None = None) -> AgentConfig:
    environ = dict(os.environ if environ is None else environ)
    config = AgentConfig()
    load_sections(config, path or environ.pop("NEPHOSCOPE_AGENT_CONFIG", None), environ, "NEPHOSCOPE_AGENT_")
    _check(config)
    return config


def _check(config: AgentConfig) -> None:
    settings = config.agent
    if settings.interval <= 0 or settings.window < settings.interval:
        raise ConfigError("agent.window must be at least agent.interval, and both positive")
    if config.push.api not in ("native", "monasca"):
        raise ConfigError(f"push.api: {config.push.api!r} is not 'native' or 'monasca'")
    if config.push.compression not in ("zstd", "gzip", "none"):
        raise ConfigError(f"push.compression: {config.push.compression!r} is not zstd, gzip or none")
    config.libvirt.enabled = str(config.libvirt.enabled).lower()
    if config.libvirt.enabled not in ("auto", "true", "false"):
        raise ConfigError("libvirt.enabled: auto, true or false")
    for index, check in enumerate(config.http_check):
        if not check.url.startswith(("http://", "https://")):
            raise ConfigError(f"http_check[{index}].url: an http:// or https:// URL is needed")
    for index, check in enumerate(config.process):
        if not check.name:
            raise ConfigError(f"process[{index}].name: the service name is needed")
