"""Agent configurations for tests that run an agent against a server or a receiver."""

from __future__ import annotations

from pathlib import Path

from nephoscope.agent.config import AgentConfig


def agent_config(tmp_path: Path, url: str, token: str = "", **push: object) -> AgentConfig:
    config = AgentConfig()
    config.agent.interval, config.agent.window = 0.5, 2.0
    config.agent.hostname = "edge-1"
    config.agent.spool_dir = str(tmp_path / "spool")
    config.push.url, config.push.token, config.push.backoff_max = url, token, 2.0
    for key, value in push.items():
        setattr(config.push, key, value)
    return config
