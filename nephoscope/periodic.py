"""Background work on an interval: the one loop the server's periodic tasks share (self-metrics,
lifecycle metrics, events and logs upkeep)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


async def every(interval: float, stop: asyncio.Event, work: Callable[[], object], what: str,
                first: float | None = None) -> None:
    """Run ``work`` (blocking, on a worker thread) every ``interval`` seconds until ``stop`` is set,
    the first time after ``first`` seconds (default: one interval). A failure is logged and the next
    turn comes as usual: periodic work never ends the server."""
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
        except Exception:  # noqa: BLE001 - logged; the next turn comes anyway
            log.exception("%s failed", what)
