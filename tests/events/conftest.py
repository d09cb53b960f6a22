"""Fixtures of the events tests: the real RabbitMQ broker (skipped when absent, a failure under
``CI=true``) and a throw-away vhost per test (created with ``rabbitmqctl``, deleted at teardown)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import missing
from tests.support.rabbitmq import broker_problem, ctl, ensure_broker_running


@pytest.fixture(scope="module")
def broker() -> None:
    problem = broker_problem()
    if problem:
        missing(problem, "make services starts RabbitMQ")


@pytest.fixture
def vhosts() -> Iterator[Callable[[], str]]:
    created: list[str] = []

    def make() -> str:
        name = f"nephoscope-test-{uuid.uuid4().hex[:10]}"
        ctl("add_vhost", name)
        created.append(name)
        ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        return name

    yield make
    ensure_broker_running()
    for name in created:
        ctl("delete_vhost", name)


@pytest.fixture
def vhost(vhosts: Callable[[], str]) -> str:
    return vhosts()
