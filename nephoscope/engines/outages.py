"""Which failures are an engine not answering for a moment (a JetStream node or leader gone, a
network cut, a timeout), as opposed to a defect: background work retries the first at its next
turn and says so in one log line; the second keeps its traceback."""

from __future__ import annotations

import nats.errors
import nats.js.errors

_OUTAGES: tuple[type[BaseException], ...] = (
    TimeoutError, ConnectionError,  # nats-py's TimeoutError is one too
    nats.errors.NoServersError, nats.errors.ConnectionClosedError, nats.errors.StaleConnectionError,
    nats.errors.NoRespondersError, nats.js.errors.ServiceUnavailableError,
)


def is_outage(error: BaseException) -> bool:
    """True when ``error`` (or what caused it) is an engine not answering."""
    seen = 0
    while error is not None and seen < 8:
        if isinstance(error, _OUTAGES):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def describe(error: BaseException) -> str:
    """One line: the error's type and message (``TimeoutError`` often has none)."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
