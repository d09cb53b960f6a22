"""Prometheus's request parameters: times, durations, ``match[]``, and form-encoded POST bodies.

A time is RFC 3339 or Unix seconds (a float); a duration is a PromQL duration (``5m``, ``1h30m``) or
float seconds. Every parameter may come in the query string or, for POST, in an
``application/x-www-form-urlencoded`` body (the body wins, as Go's ``FormValue``).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from urllib.parse import parse_qsl

import promql_parser
from starlette.requests import Request

from nephoscope.api.bodies import read_body
from nephoscope.metrics.promql import PromQLError

# Prometheus's own "no bound" times (Go's time range of the TSDB), which clients send literally.
_MIN_TIME = "-292273086-05-16T16:47:06Z"
_MAX_TIME = "292277025-08-18T07:12:54.999999999Z"
MIN_MS, MAX_MS = -(2**62), 2**62


class Parameters:
    """A request's parameters, every value of each name, query string and body together."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in items:
            self._values.setdefault(name, []).append(value)

    def get(self, name: str) -> str | None:
        values = self._values.get(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return list(self._values.get(name, ()))


async def parameters(request: Request, body_limit: int) -> Parameters:
    items: list[tuple[str, str]] = []
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method == "POST" and content_type == "application/x-www-form-urlencoded":
        body = await read_body(request, body_limit)
        try:
            items += parse_qsl(body.decode(), keep_blank_values=True)
        except UnicodeDecodeError:
            raise invalid("body", "the form is not UTF-8") from None
    items += request.query_params.multi_items()
    return Parameters(items)


def invalid(name: str, reason: str) -> PromQLError:
    return PromQLError("bad_data", f'invalid parameter "{name}": {reason}')


def time_ms(text: str, name: str) -> int:
    """A timestamp parameter in milliseconds (Unix seconds, rounded to the millisecond, or RFC 3339)."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        if not math.isfinite(seconds):
            raise invalid(name, f'cannot parse "{text}" to a valid timestamp')
        return max(MIN_MS, min(MAX_MS, round(seconds * 1000)))
    if text == _MIN_TIME:
        return MIN_MS
    if text == _MAX_TIME:
        return MAX_MS
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise invalid(name, f'cannot parse "{text}" to a valid timestamp') from None
    if moment.tzinfo is None or "T" not in text.upper():
        raise invalid(name, f'cannot parse "{text}" to a valid timestamp (RFC 3339 needs a time and a zone)')
    return round(moment.astimezone(timezone.utc).timestamp() * 1000)


def duration_ms(text: str, name: str) -> int:
    """A duration parameter in milliseconds: float seconds or a PromQL duration."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        if not math.isfinite(seconds) or abs(seconds) > 9.2e9:
            raise invalid(name, f'cannot parse "{text}" to a valid duration. It overflows int64')
        return round(seconds * 1000)
    try:
        delta = promql_parser.parse_duration(text)
    except (ValueError, OverflowError):
        raise invalid(name, f'cannot parse "{text}" to a valid duration') from None
    return round(delta.total_seconds() * 1000)


def optional_time(found: Parameters, name: str) -> int | None:
    text = found.get(name)
    return time_ms(text, name) if text not in (None, "") else None


def limit(found: Parameters) -> int | None:
    text = found.get("limit")
    if text in (None, "", "0"):
        return None
    try:
        value = int(text)
    except ValueError:
        raise invalid("limit", f'cannot parse "{text}" to a valid limit') from None
    if value < 0:
        raise invalid("limit", "limit must be non-negative")
    return value
