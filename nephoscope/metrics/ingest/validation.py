"""Monasca's rules for metric names, dimensions and value_meta (monasca-common's validation).

Shared by ingest and by the query parameters, which apply the same rules.
"""

from __future__ import annotations

import json
import re

from nephoscope.errors import invalid

# monasca-common: dimensions may not contain <>={},"\\;& ; names additionally not ( ) or space.
_DIMENSION_RESTRICTED = '<>={},"\\\\;&'
_DIMENSION_FORBIDDEN = re.compile("[" + _DIMENSION_RESTRICTED + "]")
_NAME_FORBIDDEN = re.compile("[" + _DIMENSION_RESTRICTED + "() ]")
MAX_LENGTH = 255
VALUE_META_MAX_ENTRIES = 16
VALUE_META_MAX_BYTES = 2048


def _check_text(value: object, what: str, forbidden: re.Pattern, where: str) -> str:
    """Monasca's rule for names and dimension keys and values: a string of 1 to 255 characters
    without the forbidden characters."""
    if not isinstance(value, str):
        raise invalid(where, f"{what} must be a string, got {type(value).__name__}")
    if not 1 <= len(value) <= MAX_LENGTH:
        raise invalid(where, f"{what} must be 1 to {MAX_LENGTH} characters, got {len(value)}")
    bad = forbidden.search(value)
    if bad:
        raise invalid(where, f"{what} {value!r} contains the forbidden character {bad.group()!r}")
    return value


def check_name(name: object, where: str) -> str:
    return _check_text(name, "metric name", _NAME_FORBIDDEN, where)


def check_dimension_key(key: object, where: str) -> str:
    _check_text(key, "dimension name", _DIMENSION_FORBIDDEN, where)
    if key.startswith("_"):  # type: ignore[union-attr]
        raise invalid(where, f"dimension name {key!r} must not start with '_' (reserved)")
    return key  # type: ignore[return-value]


def check_dimension_value(key: str, value: object, where: str) -> str:
    return _check_text(value, f"dimension {key!r} value", _DIMENSION_FORBIDDEN, where)


def check_dimensions(dimensions: object, where: str) -> dict[str, str]:
    if dimensions is None:
        return {}
    if not isinstance(dimensions, dict):
        raise invalid(where, f"dimensions must be an object of strings, got {type(dimensions).__name__}")
    for key, value in dimensions.items():
        check_dimension_key(key, where)
        check_dimension_value(key, value, where)
    return dimensions


def check_value_meta(value_meta: object, where: str) -> str | None:
    """Returns the JSON text to keep, or None when there is nothing to keep."""
    if value_meta is None:
        return None
    if not isinstance(value_meta, dict):
        raise invalid(where, f"value_meta must be an object or null, got {type(value_meta).__name__}")
    if not value_meta:
        return None
    if len(value_meta) > VALUE_META_MAX_ENTRIES:
        raise invalid(where, f"value_meta has {len(value_meta)} entries; at most {VALUE_META_MAX_ENTRIES}")
    for key in value_meta:
        if not key or len(key) > MAX_LENGTH:
            raise invalid(where, f"value_meta names must be 1 to {MAX_LENGTH} characters")
    text = json.dumps(value_meta)  # Monasca measures the length of Python's json.dumps
    if len(text) > VALUE_META_MAX_BYTES:
        raise invalid(where, f"value_meta is {len(text)} characters as JSON; at most {VALUE_META_MAX_BYTES}")
    return json.dumps(value_meta, ensure_ascii=False, separators=(",", ":"))
