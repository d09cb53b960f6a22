"""The ``running`` fixture: start notification services (``tests.support.outbox.Running``) on the
test's data dir; every one still running is stopped at teardown."""

from __future__ import annotations

from pathlib import Path

import pytest

from nephoscope.audit import AuditTrail
from nephoscope.notify import NotifySettings
from tests.support.outbox import Running, make_config


@pytest.fixture
def running(tmp_path: Path):
    started: list[Running] = []

    def start(config: NotifySettings | None = None, start_worker: bool = True,
              audit: AuditTrail | None = None) -> Running:
        instance = Running(tmp_path / "data", config or make_config(), start_worker, audit)
        started.append(instance)
        return instance

    yield start
    for instance in started:
        if instance.thread.is_alive():
            instance.stop()
