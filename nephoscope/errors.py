"""Requests the server refuses: the status to answer, what was wrong, and which field.

Raised by the domains' decoders and validators (metrics, logs, events, alarms) and by the
services when they are overloaded; the API turns each into an error answer. Imports nothing
of nephoscope.
"""

from __future__ import annotations


class Rejected(Exception):
    """``status`` is the HTTP answer; ``field`` names the offending field, with its index."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def invalid(field: str, reason: str) -> Rejected:
    return Rejected(422, f"{field}: {reason}", field)


def malformed(reason: str) -> Rejected:
    return Rejected(400, reason)
