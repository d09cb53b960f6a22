"""Periodic work: a failure never ends the loop; an engine not answering for a moment is one line of
warning (the next turn retries), a defect keeps its traceback."""

from __future__ import annotations

import asyncio
import logging

import nats.errors
import pytest

from nephoscope.periodic import every


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
