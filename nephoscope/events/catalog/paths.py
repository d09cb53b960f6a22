"""Trait paths: where a trait's value is in a notification, compiled once into getter closures,
and the converters that turn the value found into the trait's type.

Paths: ``payload.<key>...``, ``data.<key>...`` (the payload with versioned objects unwrapped),
``context.<key>`` (the ``_context_*`` fields), ``publisher_id``, ``publisher.host``,
``publisher.binary``, ``event_type``, ``priority``, ``message_id``. A numeric segment indexes a
list; a key holding a dot is double-quoted (``'data.network."router:external"'`` needs none: only
dots do). Types: ``text``, ``int``, ``float``, ``datetime`` (``TRAIT_TYPES``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from nephoscope.events.envelope import parse_text_timestamp
from nephoscope.events.records import Notification
from nephoscope.events.versioned import object_data, unwrap

__all__ = ["CONVERTERS", "TRAIT_TYPES", "Getter", "compile_path", "path_segments", "split_publisher", "splitter"]

TRAIT_TYPES = ("text", "int", "float", "datetime")

Getter = Callable[[Notification], Any]


# --- publisher ids ------------------------------------------------------------------------------

def split_publisher(publisher_id: str) -> tuple[str, str]:
    """(binary, host) of a publisher id: ``nova-compute:compute1`` (versioned nova), or
    ``compute.compute1`` / ``network.node-1.example.org`` (``<topic>.<host>``: legacy nova, cinder,
    neutron, glance, heat, keystone). The host is "" when there is none."""
    if ":" in publisher_id:
        binary, _, host = publisher_id.partition(":")
    elif "." in publisher_id:
        binary, _, host = publisher_id.partition(".")
    else:
        binary, host = publisher_id, ""
    return binary, host


def _publisher_host(n: Notification) -> str | None:
    return split_publisher(n.publisher_id)[1] or None


def _publisher_binary(n: Notification) -> str | None:
    return split_publisher(n.publisher_id)[0] or None


# --- paths -> getters ---------------------------------------------------------------------------

_ROOT_CONTAINERS: dict[str, Getter] = {
    "payload": lambda n: n.payload,
    "data": lambda n: n.top,
    "context": lambda n: n.context,
}
_ROOT_SCALARS: dict[str, Getter] = {
    "publisher_id": lambda n: n.publisher_id,
    "publisher.host": _publisher_host,
    "publisher.binary": _publisher_binary,
    "event_type": lambda n: n.event_type,
    "priority": lambda n: n.priority,
    "message_id": lambda n: n.message_id,
}


def _opened(value: Any) -> Any:
    """A versioned object's data in place of the object (``data.`` paths step through them)."""
    if type(value) is dict:
        inner = object_data(value)
        if inner is not None:
            return inner
    return value


def path_segments(path: str) -> list[str]:
    """Split on dots; a double-quoted segment may hold dots. Raises ValueError."""
    segments: list[str] = []
    i, size = 0, len(path)
    while i <= size:
        if i < size and path[i] == '"':
            end = path.find('"', i + 1)
            if end < 0:
                raise ValueError("unterminated double quote")
            segment = path[i + 1:end]
            i = end + 1
            if i < size and path[i] != ".":
                raise ValueError("a quoted segment must be followed by '.' or end the path")
        else:
            end = path.find(".", i)
            end = size if end < 0 else end
            segment = path[i:end]
            if '"' in segment:
                raise ValueError("a double quote may only enclose a whole segment")
            i = end
        if not segment:
            raise ValueError("empty segment")
        segments.append(segment)
        i += 1  # past the dot
    return segments


def _step(value: Any, key: str, index: int | None) -> Any:
    if isinstance(value, dict):
        return value.get(key)
    if index is not None and isinstance(value, list):
        try:
            return value[index]
        except IndexError:
            return None
    return None


def _leaf(value: Any) -> Any:
    """A container at the end of a ``data.`` path, with the objects inside it unwrapped too."""
    kind = type(value)
    return unwrap(value) if kind is dict or kind is list else value


def compile_path(path: str) -> Getter:
    """A function of a Notification giving the value at ``path`` (None when absent). Raises
    ValueError for a path that is not valid. ``data.`` paths open every versioned object they pass
    through, so they read the payload as if it were fully unwrapped without unwrapping it."""
    if not isinstance(path, str) or not path.strip():
        raise ValueError("a path must be a non-empty string")
    if path in _ROOT_SCALARS:
        return _ROOT_SCALARS[path]
    segments = path_segments(path)
    root = _ROOT_CONTAINERS.get(segments[0])
    if root is None:
        roots = sorted([*_ROOT_CONTAINERS, *_ROOT_SCALARS])
        raise ValueError(f"path must start with one of {', '.join(roots)}")
    keys = segments[1:]
    opening = segments[0] == "data"
    if not keys:
        return (lambda n: n.data) if opening else root
    steps = tuple((k, int(k) if k.lstrip("-").isdigit() else None) for k in keys)
    if opening:
        def get_opening(n: Notification) -> Any:
            value = n.top
            for key, index in steps:
                value = _step(value, key, index)
                if value is None:
                    return None
                kind = type(value)
                if kind is dict:
                    inner = object_data(value)
                    if inner is not None:
                        value = inner
            return _leaf(value)
        if len(keys) == 1 and steps[0][1] is None:
            (k1,) = keys

            def get1_opening(n: Notification) -> Any:
                value = n.top.get(k1)
                return value if type(value) is not dict and type(value) is not list else _leaf(_opened(value))
            return get1_opening
        if len(keys) == 2 and steps[0][1] is None and steps[1][1] is None:
            k1, k2 = keys

            def get2_opening(n: Notification) -> Any:
                value = n.top.get(k1)
                if type(value) is not dict:
                    return None
                inner = object_data(value)
                value = (value if inner is None else inner).get(k2)
                return value if type(value) is not dict and type(value) is not list else _leaf(_opened(value))
            return get2_opening
        return get_opening
    if any(index is not None for _, index in steps):  # list indexes somewhere: the general walk
        def get_indexed(n: Notification) -> Any:
            value = root(n)
            for key, index in steps:
                value = _step(value, key, index)
                if value is None:
                    return None
            return value
        return get_indexed
    if len(keys) == 1:
        (k1,) = keys

        def get1(n: Notification) -> Any:
            value = root(n)
            return value.get(k1) if isinstance(value, dict) else None
        return get1
    if len(keys) == 2:
        k1, k2 = keys

        def get2(n: Notification) -> Any:
            value = root(n)
            if isinstance(value, dict):
                value = value.get(k1)
                if isinstance(value, dict):
                    return value.get(k2)
            return None
        return get2
    keys_t = tuple(keys)

    def get_n(n: Notification) -> Any:
        value = root(n)
        for key in keys_t:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value
    return get_n


# --- converters ---------------------------------------------------------------------------------

def _to_text(value: Any) -> str | None:
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return str(value)
    if kind is dict or kind is list:
        try:
            return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
        except (TypeError, ValueError):
            return None
    return str(value)


def _to_int(value: Any) -> int | None:
    kind = type(value)
    if kind is int:
        return value
    if kind is bool:
        return int(value)
    if kind is float:
        return int(value) if math.isfinite(value) else None
    if kind is str:
        text = value.strip()
        lowered = text.lower()
        if lowered in ("true", "false"):
            return int(lowered == "true")
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                return None
            return int(number) if math.isfinite(number) else None
    return None


def _to_float(value: Any) -> float | None:
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int or kind is bool:
        return float(value)
    if kind is str:
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _to_datetime(value: Any) -> datetime | None:
    """An aware UTC datetime; naive texts are UTC (what OpenStack services write)."""
    kind = type(value)
    try:
        if kind is str:
            if len(value) > 64:
                return None
            parsed = parse_text_timestamp(value)
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        if (kind is int or kind is float) and math.isfinite(value):
            return datetime.fromtimestamp(value / 1000 if abs(value) > 1e11 else value, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


# trait type -> converter: the value, or None when it does not convert
CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "text": _to_text, "int": _to_int, "float": _to_float, "datetime": _to_datetime,
}


def splitter(separator: str, segment: int) -> Callable[[Any], Any]:
    """A trait's ``split:``: keep one segment of a text value (other values pass unchanged)."""
    def split(value: Any) -> Any:
        if type(value) is not str:
            return value
        parts = value.split(separator)
        try:
            return parts[segment] or None
        except IndexError:
            return None
    return split
