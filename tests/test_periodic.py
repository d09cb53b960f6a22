"""Periodic work: a failure never ends the loop; an engine not answering for a moment is one line of
warning (the next turn retries), a defect keeps its traceback."""

from __future__ import annotations

import asyncio
import logging

import nats.errors
import nats.js.errors
import pytest

from nephoscope.engines.outages import describe, is_outage
from nephoscope.periodic import every


def test_outages_are_told_from_defects_through_their_causes() -> None:
    assert is_outage(TimeoutError())
    assert is_outage(nats.errors.TimeoutError())
    assert is_outage(nats.js.errors.ServiceUnavailableError())
    assert is_outage(ConnectionRefusedError(111, "refused"))
    try:
        try:
            raise nats.errors.NoServersError()
        except nats.errors.Error as cause:
            raise RuntimeError("publishing failed") from cause
    except RuntimeError as wrapped:
        assert is_outage(wrapped)
    assert not is_outage(ValueError("bad"))
    assert not is_outage(nats.js.errors.NotFoundError())  # a stream that is not there is no outage
    assert describe(TimeoutError()) == "TimeoutError"
    assert describe(ValueError("bad value")) == "ValueError: bad value"


def test_a_failing_turn_is_logged_and_the_next_turn_comes(caplog: pytest.LogCaptureFixture) -> None:
    turns: list[int] = []

    def work() -> None:
        turns.append(len(turns))
        if len(turns) == 1:
            raise nats.errors.TimeoutError()
        if len(turns) == 2:
            raise KeyError("defect")

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(every(0.01, stop, work, "upkeep"))
        while len(turns) < 3:
            await asyncio.sleep(0.01)
        stop.set()
        await task

    with caplog.at_level(logging.WARNING, logger="nephoscope.periodic"):
        asyncio.run(run())
    outage, defect = caplog.records[:2]
    assert outage.levelno == logging.WARNING and outage.exc_info is None
    assert "upkeep deferred: TimeoutError" in outage.getMessage()
    assert defect.levelno == logging.ERROR and defect.exc_info is not None
