"""Masking: the variable parts of a message (ids, addresses, numbers, paths...) out, ``<*>`` in.

One RE2 pass over the whole batch finds every variable part and wraps it in separators; one
split then gives, per message, the constant pieces (joined with ``<*>``: the masked text the
template miner sees) and the values (the parameters), in order. The masks are general
OpenStack knowledge, not tuned to one sample: request ids and UUIDs (instances, volumes,
ports, ...), 32-64 hex digit ids (Keystone user/project ids, image cache names, digests),
libvirt domain and tap device names, MAC and IPv4/IPv6 addresses (with ports, and lists of
them as X-Forwarded-For writes), URLs and absolute paths, ISO dates and times, sizes,
durations, hex and decimal numbers, and the value of ``key=value`` pairs.

Words are never masked: a message's words are its template, which is what makes "VM Paused"
and "VM Resumed" two events rather than one with a parameter.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from nephoscope.logs.processing.columns import control_bytes_possible

WILDCARD = "<*>"
_SEPARATOR = "\x1e"  # ASCII record separator

_HEX = "[0-9a-fA-F]"
_UUID = rf"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"
_IPV4 = r"\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?:/\d{1,2})?"
_NUMBER_UNIT_SECONDS = r"(?:seconds?|secs?|minutes?|mins?|hours?|days?|milliseconds?|microseconds?)"

# Values, most specific first: at one position RE2 takes the first alternative that matches.
VALUE_MASKS: tuple[tuple[str, str], ...] = (
    ("uuid", rf"\b(?:req-)?{_UUID}\b"),
    ("datetime", r"\b\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?\b"),
    ("time", r"\b\d\d:\d\d:\d\d(?:[.,]\d+)?\b"),
    ("hex_id", rf"\b{_HEX}{{32,64}}\b"),
    ("libvirt_domain", r"\binstance-[0-9a-f]{8}\b"),
    ("device", r"\b(?:tap|qvo|qvb|qbr|qr-|qg-|sg-|ha-|o-hm)[0-9a-f]{8}-[0-9a-f]{2}\b"),
    ("mac_or_ipv6", rf"\b{_HEX}{{1,4}}(?::{_HEX}{{0,4}}){{2,7}}(?:/\d{{1,3}})?"),
    ("ipv4", rf"\b{_IPV4}(?:, ?{_IPV4})*"),
    ("hex_number", rf"\b0x{_HEX}+\b"),
    ("size", r"\b\d+(?:\.\d+)? ?(?:[KkMGTPE]i?B|bytes?)\b"),
    ("duration", rf"\b\d+(?:\.\d+)?(?:ms|us|ns|s|m|h| {_NUMBER_UNIT_SECONDS})\b"),
    ("number", r"\b\d+(?:\.\d+)*\b"),
)
URL = r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>\x1d\x1e]+"
# Paths and key=value pairs start a token: after the start, a space, an opening bracket, a quote,
# a comma or a semicolon, which stays in the text. An absolute path (not after ``:``, which keeps
# URLs whole for the URL mask); of a ``key=value`` pair (not inside a URL's query string) the key
# stays and the value goes, whatever it looks like.
_TOKEN_START = r"([\s(\[{,;'\"]|^)"
PATH = r"(/[^\s\"'(),\[\]{}\x1d\x1e]*)"
KEY_VALUE = r"([A-Za-z_][\w.-]*=)('[^'\x1d\x1e]*'|\"[^\"\x1d\x1e]*\"|[^\s,;'\"()\[\]{}<>\x1d\x1e]+)"

# Two passes, because RE2 is fast at finding matches but slow at reporting capture groups:
# the first (paths, key=value: the masks that keep a piece of their match in the text) needs
# groups and marks its values with \x1d; the second (every other value) needs none, passes
# marked values through untouched, and wraps all values in \x1e. Then the \x1d go.
_MARK = "\x1d"
FIRST_PASS = f"{_TOKEN_START}(?:{PATH}|{KEY_VALUE})"
"""Groups: 1 what precedes, 2 path, 3 key, 4 value of a pair."""
SECOND_PASS = f"{_MARK}[^{_MARK}]*{_MARK}|(?:{URL})|" + "|".join(f"(?:{pattern})" for _, pattern in VALUE_MASKS)
MASK_PATTERNS = (FIRST_PASS, SECOND_PASS)


def mask(messages: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(masked text, parameters) of every message: ``<*>`` where a value was, and the list of the
    values taken out, in order. Nulls stay null. The two control characters the masks use as
    separators become U+FFFD in a message that holds them (the raw line keeps them)."""
    if control_bytes_possible(messages):
        for control in (_MARK, _SEPARATOR):
            if pc.any(pc.match_substring(messages, control)).as_py():
                messages = pc.replace_substring(messages, control, "\ufffd")
    marked = pc.replace_substring_regex(messages, FIRST_PASS, rf"\1\3{_MARK}\2\4{_MARK}")
    wrapped = pc.replace_substring_regex(marked, SECOND_PASS, rf"{_SEPARATOR}\0{_SEPARATOR}")
    wrapped = pc.replace_substring(wrapped, _MARK, "")
    parts = pc.split_pattern(wrapped, _SEPARATOR)
    masked = pc.binary_join(pc.list_slice(parts, 0, None, 2), WILDCARD)
    parameters = pc.list_slice(parts, 1, None, 2)
    return masked, parameters


def mask_one(message: str) -> tuple[str, list[str]]:
    """The same as :func:`mask` for one string, in Python (tests, the template miner's callers)."""
    masked, parameters = mask(pa.array([message], pa.string()))
    return masked[0].as_py(), parameters[0].as_py()
