"""Ingest failures that carry an HTTP status and say what was wrong and where."""

from __future__ import annotations


class IngestError(Exception):
    """``status`` is the HTTP answer; ``field`` names the offending field, with its index."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def invalid(field: str, reason: str) -> IngestError:
    return IngestError(422, f"{field}: {reason}", field)


def malformed(reason: str) -> IngestError:
    return IngestError(400, reason)
