"""Filters of the tables' queries: a SQL ``WHERE`` built from optional criteria.

The events and the logs are read with the same criteria (a time range, a request id in either
of its two columns, equalities, a newest-first keyset page); each criterion is written once here,
its clause beside its parameters.
"""

from __future__ import annotations

from typing import Any


class Where:
    """Clauses joined by AND, with their positional parameters in order."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.parameters: list[Any] = []

    def __str__(self) -> str:
        return " AND ".join(self.clauses) or "TRUE"

    def add(self, clause: str, *parameters: Any) -> None:
        self.clauses.append(clause)
        self.parameters.extend(parameters)

    def equal(self, column: str, value: Any) -> None:
        """``column = value`` unless ``value`` is None (no criterion)."""
        if value is not None:
            self.add(f"{column} = ?", value)

    def time_range(self, start_ms: int | None, end_ms: int | None) -> None:
        """``start_ms <= ts < end_ms``, either bound optional."""
        if start_ms is not None:
            self.add("ts >= ?", start_ms)
        if end_ms is not None:
            self.add("ts < ?", end_ms)

    def request(self, request_id: str | None) -> None:
        """The id as the local request id or as the global one (the id a client sent on)."""
        if request_id is not None:
            self.add("(request_id = ? OR global_request_id = ?)", request_id, request_id)

    def before(self, after: tuple[int, Any] | None, tie_column: str) -> None:
        """The next page, newest first: rows before ``after`` = (ts, tie) of the last row shown."""
        if after is not None:
            self.add(f"(ts, {tie_column}) < (?, ?)", *after)


def page_end(end_ms: int | None, after: tuple[int, Any] | None) -> int | None:
    """The newest timestamp a page can hold (exclusive): lets the table skip newer parts."""
    if after is None:
        return end_ms
    return min(after[0] + 1, end_ms if end_ms is not None else after[0] + 1)
