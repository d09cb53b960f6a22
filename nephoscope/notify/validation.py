"""Monasca's rules for a notification method body (POST, PUT, PATCH).

Errors are ``InvalidMethod`` (the API answers 400, as Monasca's Python API does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from nephoscope.errors import unknown_names
from nephoscope.notify.model import NotificationMethod

MAX_NAME = 250
MAX_ADDRESS = 512
_EMAIL = re.compile(r"^.+@.+$", re.DOTALL)
_FIELDS = ("name", "type", "address", "period")
_IGNORED = frozenset({"id", "links", "created_at", "updated_at"})  # echoed back from a GET


class InvalidMethod(ValueError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True, slots=True)
class MethodFields:
    name: str
    type: str
    address: str
    period: int


def parse(body: object, types: tuple[str, ...], valid_periods: tuple[int, ...], *,
          required: tuple[str, ...] = ("name", "type", "address"),
          base: NotificationMethod | None = None) -> MethodFields:
    """Validate a body; fields it lacks come from ``base`` (PATCH) when given."""
    if not isinstance(body, dict):
        raise InvalidMethod("the body must be a JSON object")
    unknown = [key for key in body if key not in _FIELDS and key not in _IGNORED]
    if unknown:  # voluptuous' words, as Monasca answers, and what would have been right
        raise InvalidMethod(f"extra keys not allowed: {unknown_names('field', unknown, _FIELDS)}", unknown[0])
    for name in required:
        if name not in body:
            raise InvalidMethod(f"required key not provided: {name}", name)
    merged = {"name": base.name, "type": base.type, "address": base.address,
              "period": base.period} if base else {"period": 0}
    merged.update({k: v for k, v in body.items() if k in _FIELDS})

    name = merged["name"]
    if not isinstance(name, str):
        raise InvalidMethod("name must be a string", "name")
    if not name.strip():
        raise InvalidMethod("name must not be empty", "name")
    if len(name) > MAX_NAME:
        raise InvalidMethod(f"name must be at most {MAX_NAME} characters", "name")

    kind = merged["type"]
    if not isinstance(kind, str):
        raise InvalidMethod("type must be a string", "type")
    kind = kind.upper()
    if kind not in types:
        raise InvalidMethod(f"Not a valid notification method type {merged['type']}", "type")

    address = merged["address"]
    if not isinstance(address, str):
        raise InvalidMethod("address must be a string", "address")
    if not address:
        raise InvalidMethod("address must not be empty", "address")
    if len(address) > MAX_ADDRESS:
        raise InvalidMethod(f"address must be at most {MAX_ADDRESS} characters", "address")
    if kind == "EMAIL" and not _EMAIL.match(address):
        raise InvalidMethod(f"Address {address} is not of correct format", "address")
    if kind in ("WEBHOOK", "SLACK"):
        _check_url(address)

    return MethodFields(name, kind, address, _period(merged["period"], valid_periods))


def _check_url(address: str) -> None:
    try:
        parts = urlsplit(address)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise InvalidMethod(f"Address {address} is not of correct format", "address") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidMethod(f"Address {address} is not an absolute http or https URL", "address")


def _period(value: object, valid_periods: tuple[int, ...]) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidMethod(f"Period {value} must be a valid integer", "period")
    try:
        period = int(value)
    except ValueError:
        raise InvalidMethod(f"Period {value} must be a valid integer", "period") from None
    if period != 0 and period not in valid_periods:
        raise InvalidMethod(f"{period} is not a valid period, not in {sorted(set(valid_periods) | {0})}",
                            "period")
    return period
