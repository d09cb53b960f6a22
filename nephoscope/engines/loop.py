"""An asyncio event loop on a thread of its own, for clients (nats-py) used from anywhere.

Blocking callers (threads of a store, a lease keeper) ``call`` a coroutine and wait for its result;
code on another event loop ``submit``s it and awaits the future (``asyncio.wrap_future``). One
connection then serves both, and no caller's loop is ever blocked by another's.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return self.submit(coroutine).result(timeout)

    def stop(self) -> None:
        """Stop the loop (after the coroutines running on it were finished or cancelled)."""
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
