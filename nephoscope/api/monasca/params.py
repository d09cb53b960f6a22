"""Monasca's query-parameter syntax: dimension filters, ISO 8601 times, limits, flags.

``dimensions=k:v1|v2,k2`` means k is v1 or v2 and k2 exists; the parameter may be
repeated. Keys and values follow the same rules as on POST (422 otherwise).
"""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi import Request

from nephoscope.api.errors import ApiError, unprocessable
from nephoscope.errors import Rejected
from nephoscope.metrics.ingest import validation


def dimension_filter(request: Request, parameter: str = "dimensions") -> tuple[tuple[str, tuple[str, ...] | None], ...]:
    merged: dict[str, set[str] | None] = {}
    for raw in request.query_params.getlist(parameter):
        for item in raw.split(","):
            item = item.strip()
            if not item:
                continue
            key, _, value = item.partition(":")
            try:
                validation.check_dimension_key(key.strip(), parameter)
                values = [v for v in value.split("|") if v] if value else []
                for v in values:
                    validation.check_dimension_value(key, v, parameter)
            except Rejected as error:
                raise unprocessable(f"{error.message}: {parameter} takes key:value pairs separated by commas "
                                    f"(key:v1|v2 for any of the values, a bare key for 'has this key'), "
                                    f"got {item[:60]!r}", parameter) from None
            key = key.strip()
            if not values:
                merged.setdefault(key, None)
            else:
                existing = merged.get(key)
                merged[key] = (existing or set()) | set(values)
    return tuple((k, tuple(sorted(v)) if v else None) for k, v in merged.items())


def equality_dimensions(filters: tuple[tuple[str, tuple[str, ...] | None], ...]) -> dict[str, str]:
    """The filter as a dimensions dict, as merged elements report it (``a|c`` for alternatives)."""
    return {k: "|".join(v) for k, v in filters if v}


def parse_time(value: str | None, name: str, required: bool = False) -> int | None:
    if value is None or value == "":
        if required:
            raise unprocessable(f"{name} is required (ISO 8601, e.g. 2024-01-01T00:00:00Z)", name)
        return None
    text = value.strip().replace(" ", "T")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise unprocessable(f"{name}: {value!r} is not an ISO 8601 time such as 2024-01-01T00:00:00Z", name) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def time_range(request: Request, start_required: bool) -> tuple[int | None, int | None]:
    start = parse_time(request.query_params.get("start_time"), "start_time", start_required)
    end = parse_time(request.query_params.get("end_time"), "end_time")
    if start is not None and end is not None and start >= end:
        raise ApiError(400, "start_time must be before end_time", "Bad Request", "start_time")
    return start, end


def limit(request: Request, maximum: int) -> int:
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return maximum
    # isdigit() alone accepts digits int() refuses ("²"), and int() refuses 4,300+ digit strings.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or int(raw) < 1:
        raise unprocessable(f"limit must be a whole number ≥ 1 (at most {maximum} are answered), got {raw[:40]!r}",
                            "limit")
    return min(int(raw), maximum)


def flag(request: Request, name: str) -> bool:
    return (request.query_params.get(name) or "").strip().lower() == "true"


def group_by(request: Request) -> list[str]:
    raw = ",".join(request.query_params.getlist("group_by"))
    return [item.strip() for item in raw.split(",") if item.strip()]


def required(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        raise unprocessable(f"{name} is required", name)
    return value
