"""oslo.messaging notifications off the wire: envelope removed, context collected, versioned
payloads unwrapped, timestamp in epoch milliseconds.

What arrives (oslo.messaging ``notify/notifier.py`` builds the dict, the AMQP driver flattens the
request context into it as ``_context_<key>`` fields, ``_drivers/common.serialize_msg`` wraps it):

* ``messagingv2``: ``{"oslo.version": "2.0", "oslo.message": "<the notification, JSON-encoded>"}``
  (decoded twice);
* ``messaging`` (v1.0): the notification dict itself;
* a dict already decoded (``POST /v1/events``, tests).

The notification dict: ``message_id``, ``publisher_id``, ``event_type``, ``priority``, ``payload``,
``timestamp`` (``str(utcnow())``: ``2024-01-02 10:00:00.123456``, naive UTC) and the ``_context_*``
fields. Versioned payloads are oslo.versionedobjects primitives (``nova_object.data``,
``cinder_object.data``, ... -- generically ``<namespace>_object.data``); the payload object's data is
``Notification.top`` (objects nested deeper are stepped through lazily, see ``Notification.data``),
``payload`` stays as sent.

Anything malformed raises ``EnvelopeError`` (a ``ValueError``) saying what is wrong; no other
exception leaves ``parse_notification``.

Speed: one or two ``orjson.loads`` and one pass over the top-level keys for the context; the
payload is never walked here (unwrapping every nested object cost more than everything else).
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from nephoscope.events.records import Notification
from nephoscope.events.versioned import object_data

__all__ = ["EnvelopeError", "parse_notification", "parse_text_timestamp", "parse_timestamp_ms"]

MAX_EVENT_TYPE_LENGTH = 255

_loads = orjson.loads
Loads = Callable[[Any], Any]
_JSONDecodeError = orjson.JSONDecodeError
_EPOCH_NAIVE = datetime(1970, 1, 1)
_EPOCH_AWARE = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_fromisoformat = datetime.fromisoformat
# Top-level key -> context name ("" for a key that is not a ``_context_*`` field): the same few dozen
# keys come in every message, and a dict hit is cheaper than slicing every key. Bounded.
_CONTEXT_NAMES: dict[Any, str] = {}
_CONTEXT_NAMES_MAX = 4096


class EnvelopeError(ValueError):
    """The body is not an oslo.messaging notification; the message says why."""


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- timestamps ---------------------------------------------------------------------------------

def _datetime_to_ms(dt: datetime) -> int:
    if dt.tzinfo is None:  # oslo's str(timeutils.utcnow()): naive UTC
        return (dt - _EPOCH_NAIVE) // _ONE_MS
    return (dt - _EPOCH_AWARE) // _ONE_MS


def parse_text_timestamp(text: str) -> datetime:
    """The datetime of a timestamp text (naive when it names no offset; the catalog's datetime traits
    use it too). Raises ValueError."""
    try:
        return _fromisoformat(text)
    except ValueError:
        pass
    # Rarer spellings: "... UTC", lower-case "t"/"z", surrounding blanks.
    cleaned = text.strip()
    upper = cleaned.upper()
    if upper.endswith("UTC"):
        cleaned = cleaned[:-3].rstrip() + "+00:00"
    elif upper.endswith("Z"):
        cleaned = cleaned[:-1] + "+00:00"
    if len(cleaned) > 10 and cleaned[10] in "tT":
        cleaned = cleaned[:10] + "T" + cleaned[11:]
    return _fromisoformat(cleaned)  # ValueError goes to the caller


def parse_timestamp_ms(value: Any) -> int:
    """Epoch milliseconds (UTC) of an oslo timestamp: ``2024-01-02 10:00:00.123456`` (naive = UTC),
    ISO 8601 with ``T``, with or without ``Z`` or an offset; a number is epoch seconds (epoch
    milliseconds when above 1e11). Raises ``EnvelopeError``."""
    if type(value) is str:
        if not value or len(value) > 64:
            raise EnvelopeError(f"timestamp {_short(value)} is not a date and time")
        try:
            return _datetime_to_ms(parse_text_timestamp(value))
        except (ValueError, OverflowError):
            raise EnvelopeError(
                f"timestamp {_short(value)} is not a date and time oslo.messaging writes "
                "(expected e.g. '2024-01-02 10:00:00.123456' or '2024-01-02T10:00:00Z')") from None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or abs(value) > 1e15:
            raise EnvelopeError(f"timestamp {_short(value)} is out of range")
        return int(value) if abs(value) > 1e11 else int(value * 1000)
    if value is None:
        raise EnvelopeError("timestamp is missing")
    raise EnvelopeError(f"timestamp must be a string, got {_kind(value)}")


# --- versioned objects --------------------------------------------------------------------------

def _payload_top(payload: Any) -> tuple[dict, bool]:
    """(the payload's own data, versioned): one level only; deeper objects are stepped through
    by whoever reads them (the catalog's paths, ``Notification.data``)."""
    if type(payload) is not dict:
        return {}, False
    top = object_data(payload)
    return (payload, False) if top is None else (top, True)


# --- the notification ---------------------------------------------------------------------------

def _derived_message_id(msg: dict, raw: str | bytes | None) -> str:
    """A stable id for a notification that carries none (not oslo.messaging: it always sets one), so
    that a redelivery of the same body is still recognised as the same message."""
    if raw is None:
        try:
            raw = orjson.dumps(msg, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=repr)
        except (TypeError, ValueError):
            raw = repr(msg)
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    return str(uuid.UUID(bytes=hashlib.blake2b(data, digest_size=16).digest()))


def _decode(body: bytes | bytearray | memoryview | str, what: str, loads: Loads) -> Any:
    try:
        return loads(body)
    except _JSONDecodeError as exc:
        raise EnvelopeError(f"{what} is not JSON: {exc}") from None


def _notification(body: Any, exchange: str, routing_key: str, message_loads: Loads) -> Notification:
    raw: str | bytes | None = None
    if type(body) is dict:
        doc = body
    elif isinstance(body, (bytes, str)):
        doc = _decode(body, "body", _loads)
        raw = body
    elif isinstance(body, (bytearray, memoryview)):
        raw = bytes(body)
        doc = _decode(raw, "body", _loads)
    elif isinstance(body, dict):
        doc = body
    else:
        raise EnvelopeError(f"body must be bytes, str or a dict, not {type(body).__name__}")
    if type(doc) is not dict:
        raise EnvelopeError(f"body must be a JSON object (an oslo.messaging notification), got {_kind(doc)}")

    if "oslo.message" in doc or "oslo.version" in doc:
        inner = doc.get("oslo.message")
        version = doc.get("oslo.version", "2.0")
        if type(version) is not str:
            raise EnvelopeError(f"oslo.version must be a string like '2.0', got {_kind(version)}")
        if version.split(".", 1)[0] != "2":
            raise EnvelopeError(f"unsupported oslo.version {_short(version)} (only 2.x envelopes exist)")
        if inner is None:
            raise EnvelopeError("v2 envelope without oslo.message")
        if type(inner) is not str:
            raise EnvelopeError(f"oslo.message must be a string holding the JSON-encoded notification, "
                                f"got {_kind(inner)}")
        msg = _decode(inner, "oslo.message", message_loads)
        if type(msg) is not dict:
            raise EnvelopeError(f"oslo.message must encode a JSON object, got {_kind(msg)}")
        raw = inner
        envelope_version = version
    else:
        msg = doc
        envelope_version = "1.0"

    event_type = msg.get("event_type")
    if type(event_type) is not str:
        if event_type is None:
            raise EnvelopeError("event_type is missing" + ("" if msg else " (empty notification)"))
        raise EnvelopeError(f"event_type must be a string, got {_kind(event_type)}")
    if not event_type or len(event_type) > MAX_EVENT_TYPE_LENGTH or not event_type.isprintable():
        raise EnvelopeError(f"event_type {_short(event_type)} is empty, too long or not printable")

    timestamp_ms = parse_timestamp_ms(msg.get("timestamp"))

    priority = msg.get("priority", "INFO")
    if type(priority) is not str:
        if priority is not None:
            raise EnvelopeError(f"priority must be a string, got {_kind(priority)}")
        priority = "INFO"
    publisher_id = msg.get("publisher_id", "")
    if type(publisher_id) is not str:
        if publisher_id is not None:
            raise EnvelopeError(f"publisher_id must be a string, got {_kind(publisher_id)}")
        publisher_id = ""
    message_id = msg.get("message_id")
    if type(message_id) is not str or not message_id:
        if message_id not in (None, ""):
            raise EnvelopeError(f"message_id must be a string, got {_kind(message_id)}")
        message_id = _derived_message_id(msg, raw)

    payload = msg.get("payload")
    if payload is None:
        payload = {}
    top, versioned = _payload_top(payload)
    context = {}
    names = _CONTEXT_NAMES
    for key, value in msg.items():
        name = names.get(key)
        if name is None:
            name = key[9:] if key[:9] == "_context_" else ""
            if len(names) < _CONTEXT_NAMES_MAX:
                names[key] = name
        if name:
            context[name] = value

    # Positional, in the fields' order: a dataclass called with 13 keywords costs 0.6 µs more.
    return Notification(message_id, event_type, publisher_id, priority.upper(), timestamp_ms, payload, top,
                        context, versioned, envelope_version, exchange, routing_key, raw)


def parse_notification(body: bytes | str | dict, *, exchange: str = "", routing_key: str = "",
                       message_loads: Loads = _loads) -> Notification:
    """The notification in ``body`` (a v2 envelope, a v1 bare notification, as bytes, str or an
    already decoded dict). Raises ``EnvelopeError`` for anything that is not one.
    ``message_loads`` decodes a v2 envelope's ``oslo.message`` text (``events.projection`` passes
    one that keeps only what storing reads; it raises orjson's JSONDecodeError for what is not
    JSON); the envelope itself, and a v1 notification, are decoded whole."""
    try:
        return _notification(body, exchange, routing_key, message_loads)
    except EnvelopeError:
        raise
    except RecursionError:
        raise EnvelopeError("notification is nested too deeply") from None
    except (TypeError, AttributeError, KeyError, IndexError, ValueError, OverflowError) as exc:
        # a shape no check above foresaw (e.g. non-string keys in a dict body)
        raise EnvelopeError(f"malformed notification: {type(exc).__name__}: {exc}") from None
