"""Decoding only what the events store reads of a notification.

A stored event keeps the notification's JSON text as received; beside it the store needs only a
few fields: the envelope, the core traits (``catalog.CORE_TRAITS``), the request context's ids
and the exception fields of a failure. Decoding the whole document into dicts, and freeing them
again, was about a third of a consumer worker's CPU. ``Projection`` decodes with msgspec into
dicts that hold only the keys some store-time path can read (a ``TypedDict`` per level, built
from the loaded catalog); msgspec skips everything else without making Python objects of it.

The result is the same as decoding everything, because every key a store-time reader asks for
is kept whole or with every key below it that a path reads:

* a trait path ``payload.a.b`` keeps ``a`` with its key ``b`` (``b`` whole); ``data.a.b`` does
  the same at the payload's data, and at every step also keeps the ``<namespace>_object.data``
  of a versioned object (``catalog.compile_path`` opens one at every step); a numeric segment
  keeps a list's elements with the keys below it;
* ``context.k`` keeps ``_context_k``, and the ids the catalog falls back on
  (``catalog.CONTEXT_FALLBACKS``) are always kept;
* the exception fields ``events.failures`` reads are kept whole, at the payload and at its data.

What the projection cannot know, it leaves to the whole decode (``needs_whole_document``): a
document msgspec refuses (orjson then gives the error, or decodes what msgspec would not), an
event type the catalog does not define (its sample for the catalog page holds the whole payload),
and a known type with no resource id, which is what a versioned object of a namespace missing
from ``NAMESPACES`` looks like (nothing under it was kept). Numbers beyond 64 bits are the one
difference: msgspec keeps them as integers where orjson gives floats.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypedDict, Union

import msgspec
import orjson

from nephoscope.events.catalog import CONTEXT_FALLBACKS, Catalog, path_segments
from nephoscope.events.model import Event

__all__ = ["NAMESPACES", "Projection", "needs_whole_document", "projection_of"]

# oslo.versionedobjects serialise an object as {"<namespace>_object.data": {...}, ...}; the
# namespaces OpenStack services use ("versioned" is the library's default).
NAMESPACES = (
    "nova", "cinder", "ironic", "manila", "octavia", "masakari", "watcher", "zun", "cyborg", "placement",
    "glance", "neutron", "heat", "keystone", "designate", "magnum", "trove", "senlin", "blazar", "versioned",
)
# What events.failures reads of the payload and of its data.
FAILURE_KEYS = ("fault", "reason", "exception_payload", "exception", "message")
_ENVELOPE_KEYS = ("oslo.version", "oslo.message", "message_id", "event_type", "publisher_id", "priority", "timestamp")
_SCALARS = (str, int, float, bool, type(None))


@dataclass
class _Node:
    """What is read below one JSON value: some keys of an object, the elements of a list, or all."""

    keys: dict[str, _Node] = field(default_factory=dict)
    element: _Node | None = None  # a numeric segment reads a list's elements
    whole: bool = False  # a path ends here: the value is read as it is
    opens: bool = False  # a data path steps here: a versioned object is opened

    def key(self, name: str) -> _Node:
        return self.keys.setdefault(name, _Node())

    def add(self, segments: list[str], opens: bool) -> None:
        """Read ``segments`` below this value (``opens``: a data path, which opens objects)."""
        self.opens = self.opens or opens
        if not segments:
            self.whole = True
            return
        head, rest = segments[0], segments[1:]
        self.key(head).add(rest, opens)
        if head.lstrip("-").isdigit():  # catalog._step: a list's element, or an object's key
            if self.element is None:
                self.element = _Node()
            self.element.add(rest, opens)


def _value_type(node: _Node, with_wrappers: bool = True) -> Any:
    """The msgspec type that decodes a value read as ``node`` says."""
    if node.whole:
        return Any
    members: list[Any] = list(_SCALARS)
    if node.keys or node.opens:
        members.append(_object_type(node, with_wrappers))
    members.append(list[_value_type(node.element)] if node.element is not None else list)
    return Union[tuple(members)]  # noqa: UP007 -- built at run time


def _object_type(node: _Node, with_wrappers: bool = True) -> Any:
    fields = {name: _value_type(child) for name, child in node.keys.items()}
    if node.opens and with_wrappers:
        # object_data opens one level: the data inside is read as this node, without wrappers
        inner = _value_type(node, with_wrappers=False)
        for namespace in NAMESPACES:
            fields.setdefault(f"{namespace}_object.data", inner)
    return TypedDict("Projected", fields, total=False)  # type: ignore[operator]


class Projection:
    """A decoder of notification bodies (v1, v2 envelopes and the ``oslo.message`` inside) into
    dicts holding what the store reads, for the trait ``paths`` it reads."""

    def __init__(self, paths: Iterable[str], context_keys: Iterable[str]) -> None:
        payload = _Node()
        data = _Node(opens=True)
        context = set(context_keys)
        for path in paths:
            segments = path_segments(path)
            root, rest = segments[0], segments[1:]
            if root == "payload":
                payload.add(rest, opens=False)
            elif root == "data":
                data.add(rest, opens=True)
            elif root == "context":
                if not rest:
                    raise ValueError("a path reads the whole context")
                context.add(rest[0])
            # else: the envelope's own fields (publisher_id, event_type, ...), always decoded
        for key in FAILURE_KEYS:
            payload.key(key).whole = True
            data.key(key).whole = True
        # An unversioned payload is its own data: the payload is read both as itself and as data.
        merged = _merge(payload, data)
        fields: dict[str, Any] = {key: Any for key in _ENVELOPE_KEYS}
        fields["payload"] = _value_type(merged)
        for key in sorted(context):
            fields[f"_context_{key}"] = Any
        self._decoder = msgspec.json.Decoder(TypedDict("ProjectedNotification", fields, total=False))  # type: ignore[operator]

    def decode(self, text: bytes | str) -> Any:
        """The projected document; a document msgspec refuses is decoded whole by orjson (which
        raises its JSONDecodeError for what is not JSON)."""
        try:
            return self._decoder.decode(text)
        except (msgspec.MsgspecError, RecursionError):
            return orjson.loads(text)


def _merge(first: _Node, second: _Node) -> _Node:
    merged = _Node(whole=first.whole or second.whole, opens=first.opens or second.opens)
    for name in {*first.keys, *second.keys}:
        a, b = first.keys.get(name), second.keys.get(name)
        merged.keys[name] = _merge(a, b) if a is not None and b is not None else (a or b)  # type: ignore[arg-type]
    if first.element is not None and second.element is not None:
        merged.element = _merge(first.element, second.element)
    else:
        merged.element = first.element or second.element
    return merged


def needs_whole_document(event: Event) -> bool:
    """Whether an event made from a projected ``oslo.message`` must be made again from the whole
    document: an unknown type (its sample is the whole payload) or a known one without a
    resource id (see the module). A v1 notification was decoded whole already."""
    return (not event.known or not event.resource_id) and event.raw.envelope_version != "1.0"


_BY_CATALOG: weakref.WeakKeyDictionary[Catalog, Projection] = weakref.WeakKeyDictionary()


def projection_of(catalog: Catalog) -> Projection:
    """The projection for what ``catalog`` reads when storing (built once per catalog)."""
    projection = _BY_CATALOG.get(catalog)
    if projection is None:
        fallbacks = {key for keys in CONTEXT_FALLBACKS.values() for key in keys}
        projection = _BY_CATALOG[catalog] = Projection(catalog.store_paths(), fallbacks)
    return projection
