"""Background work on an interval: the one loop the server's periodic tasks share (self-metrics,
lifecycle metrics, events and logs upkeep)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from nephoscope.engines.outages import describe, is_outage

log = logging.getLogger(__name__)


async def every(interval: float, stop: asyncio.Event, work: Callable[[], object], what: str,
                first: float | None = None) -> None:
    """Run ``work`` (blocking, on a worker thread) every ``interval`` seconds until ``stop`` is set,
    the first time after ``first`` seconds (default: one interval). A failure is logged and the next
    turn comes as usual: periodic work never ends the server. An engine that did not answer (a
    JetStream node or S3 gone for a moment) is one line of warning, not a traceback."""
    if interval <= 0:
        return
    wait = interval if first is None else first
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=wait)
            return
        except TimeoutError:
            pass
        wait = interval
        try:
            await asyncio.to_thread(work)
        except Exception as error:  # noqa: BLE001 - logged; the next turn comes anyway
            if is_outage(error):
                log.warning("%s deferred: %s; again in %.0f s", what, describe(error), interval)
            else:
                log.exception("%s failed", what)
