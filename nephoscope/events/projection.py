"""Decoding only what the events store reads of a notification.

A stored event keeps the notification's JSON text as received; beside it the store needs only a
few fields: the envelope, the core traits (``catalog.CORE_TRAITS``), the request context's ids
and the exception fields of a failure. Decoding the whole document into dicts, and freeing them
again, was the largest part of a consumer worker's CPU. ``Projection`` decodes a v2 envelope's
``oslo.message`` with msgspec into dicts that hold only the keys some store-time path can read;
msgspec skips everything else without making Python objects of it.

The payload is decoded with a decoder made for the event type's definition
(``Catalog.store_paths``), so each level of the payload is matched against the few keys that type
reads rather than the keys of every type (msgspec matches a key by comparing it with each field
of its level in turn, and that comparison was most of the cost of one decoder for all types).
The event type is inside the document it chooses the decoder for, so it is read first from the
text (``_event_type_in``: the first ``"event_type"`` key) and the whole document decoded in one
pass with that type's decoder. When there is no plain event type to read (escaped, or not a
string) or the decoded one is another (the payload's own ``event_type`` key came first), the
document is decoded in two steps: the envelope's fields with the payload left as raw JSON, then
the payload with the decoder of the type found.

The result is the same as decoding everything, because every key a store-time reader asks for
is kept whole or with every key below it that a path reads:

* a trait path ``payload.a.b`` keeps ``a`` with its key ``b`` (``b`` whole); ``data.a.b`` does
  the same at the payload's data, and at every step also keeps the ``<namespace>_object.data``
  of a versioned object (``catalog.compile_path`` opens one at every step); a numeric segment
  keeps a list's elements with the keys below it;
* ``context.k`` keeps ``_context_k``, and the ids the catalog falls back on
  (``catalog.CONTEXT_FALLBACKS``) are always kept;
* the exception fields ``events.failures`` reads are kept whole, at the payload and at its data
  (and an error is decoded whole anyway: ``needs_whole_document``).

Versioned objects are kept for the namespaces the projection knows: ``versioned`` (the library's
default), the definition's service (``nova_object``) and any learned since (``learn``).

What the projection cannot know, it leaves to the whole decode (``needs_whole_document``): a
document msgspec refuses (orjson then gives the error, or decodes what msgspec would not), an
event type the catalog does not define (its sample for the catalog page holds the whole payload),
and a known type with no resource id, which is what a versioned object of a namespace the
projection does not know yet looks like (nothing under it was kept); the whole document then
teaches the projection that namespace. Numbers beyond 64 bits are the one difference: msgspec
keeps them as integers where orjson gives floats.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypedDict, Union

import msgspec
import orjson

from nephoscope.events.catalog import CONTEXT_FALLBACKS, Catalog, path_segments
from nephoscope.events.failures import FAULT_EXTRA_KEYS, MESSAGE_KEYS, reports_error
from nephoscope.events.records import Event, Notification
from nephoscope.events.versioned import OBJECT_DATA

__all__ = ["Projection", "needs_whole_document", "payload_type", "projection_of"]

# oslo.versionedobjects serialise an object as {"<namespace>_object.data": {...}, ...}.
DEFAULT_NAMESPACE = "versioned"  # the library's own; services set theirs (nova_object, ...)
# What events.failures reads of the payload and of its data.
FAILURE_KEYS = ("fault", "exception_payload", "exception", *MESSAGE_KEYS, *FAULT_EXTRA_KEYS)
_ENVELOPE_KEYS = ("oslo.version", "oslo.message", "message_id", "event_type", "publisher_id", "priority", "timestamp")
_SCALARS = (str, int, float, bool, type(None))
_DECODERS_MAX = 4096  # event types with a payload decoder at a time
_NAMESPACES_MAX = 64  # learned namespaces


_NOTHING_KEPT_TYPE = Union[TypedDict("Nothing", {}, total=False), *_SCALARS, list]  # type: ignore[misc]
_NOTHING_KEPT = msgspec.json.Decoder(_NOTHING_KEPT_TYPE)
_EVENT_TYPE_KEY = '"event_type"'


def _decoder_of(fields: dict[str, Any]) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(TypedDict("ProjectedDocument", fields, total=False))  # type: ignore[operator]


def _event_type_in(text: str) -> str | None:
    """The value of the first ``"event_type"`` key in ``text``, when it is a plain string (a
    guess: the decoded document confirms it)."""
    start = text.find(_EVENT_TYPE_KEY)
    if start < 0:
        return None
    start += len(_EVENT_TYPE_KEY)
    if text.startswith(': "', start):  # json.dumps, as oslo.messaging writes it
        start += 3
    elif text.startswith(':"', start):
        start += 2
    else:
        return None
    end = text.find('"', start)
    if end < 0:
        return None
    event_type = text[start:end]
    return None if "\\" in event_type else event_type


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
        if head.lstrip("-").isdigit():  # catalog.paths._step: a list's element, or an object's key
            if self.element is None:
                self.element = _Node()
            self.element.add(rest, opens)


def _value_type(node: _Node, namespaces: tuple[str, ...], with_wrappers: bool = True) -> Any:
    """The msgspec type that decodes a value read as ``node`` says."""
    if node.whole:
        return Any
    members: list[Any] = list(_SCALARS)
    if node.keys or node.opens:
        members.append(_object_type(node, namespaces, with_wrappers))
    members.append(list[_value_type(node.element, namespaces)] if node.element is not None else list)
    return Union[tuple(members)]  # noqa: UP007 -- built at run time


def _object_type(node: _Node, namespaces: tuple[str, ...], with_wrappers: bool = True) -> Any:
    fields = {name: _value_type(child, namespaces) for name, child in node.keys.items()}
    if node.opens and with_wrappers:
        # object_data opens one level: the data inside is read as this node, without wrappers
        inner = _value_type(node, namespaces, with_wrappers=False)
        for namespace in namespaces:
            fields.setdefault(f"{namespace}{OBJECT_DATA}", inner)
    return TypedDict("Projected", fields, total=False)  # type: ignore[operator]


def payload_type(paths: Iterable[str], namespaces: Iterable[str]) -> Any:
    """The msgspec type of a payload read by the trait ``paths`` and ``events.failures``."""
    payload = _Node()
    data = _Node(opens=True)
    for path in paths:
        segments = path_segments(path)
        if segments[0] == "payload":
            payload.add(segments[1:], opens=False)
        elif segments[0] == "data":
            data.add(segments[1:], opens=True)
    for key in FAILURE_KEYS:
        payload.key(key).whole = True
        data.key(key).whole = True
    # An unversioned payload is its own data: the payload is read both as itself and as data.
    return _value_type(_merge(payload, data), tuple(sorted(set(namespaces))))


class Projection:
    """Decodes the ``oslo.message`` of v2 envelopes (``parse_notification``'s ``message_loads``)
    into dicts holding what storing reads, as ``catalog`` defines it."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        context = {key for keys in CONTEXT_FALLBACKS.values() for key in keys}
        for path in catalog.store_paths():
            segments = path_segments(path)
            if segments[0] == "context":
                if len(segments) < 2:
                    raise ValueError("a path reads the whole context")
                context.add(segments[1])
        self._envelope_fields: dict[str, Any] = {key: Any for key in _ENVELOPE_KEYS}
        self._envelope_fields.update((f"_context_{key}", Any) for key in sorted(context))
        self._envelope = _decoder_of({**self._envelope_fields, "payload": msgspec.Raw})
        # event type -> (its payload's decoder, its whole document's)
        self._decoders: dict[str, tuple[msgspec.json.Decoder, msgspec.json.Decoder]] = {}
        # replaced, never changed in place: consumers inside the server share one projection
        self._learned: frozenset[str] = frozenset({DEFAULT_NAMESPACE})

    def decode(self, text: bytes | str) -> Any:
        """The projected document; a document msgspec refuses is decoded whole by orjson (which
        raises its JSONDecodeError for what is not JSON)."""
        event_type = _event_type_in(text) if type(text) is str else None
        try:
            if event_type is not None:
                document = self._decoders_of(event_type)[1].decode(text)
                if document.get("event_type") == event_type:
                    return document
            document = self._envelope.decode(text)
            payload, event_type = document.get("payload"), document.get("event_type")
            if payload.__class__ is msgspec.Raw:
                # not a string: refused by the envelope check, then decided whole
                decoder = self._decoders_of(event_type)[0] if type(event_type) is str else _NOTHING_KEPT
                document["payload"] = decoder.decode(payload)
            return document
        except (msgspec.MsgspecError, RecursionError):
            return orjson.loads(text)

    def _decoders_of(self, event_type: str) -> tuple[msgspec.json.Decoder, msgspec.json.Decoder]:
        """(the payload's decoder, the whole document's) for ``event_type``."""
        decoders = self._decoders.get(event_type)
        if decoders is not None:
            return decoders
        known = self._catalog.describe(event_type)
        if known is None:  # decoded whole anyway (needs_whole_document): keep nothing now
            payload = _NOTHING_KEPT_TYPE
        else:
            payload = payload_type(self._catalog.store_paths(event_type), {*self._learned, known.service})
        decoders = msgspec.json.Decoder(payload), _decoder_of({**self._envelope_fields, "payload": payload})
        if len(self._decoders) >= _DECODERS_MAX:
            self._decoders = {}
        self._decoders[event_type] = decoders
        return decoders

    def learn(self, notification: Notification) -> None:
        """Learn the namespace of a versioned payload decoded whole (see the module)."""
        payload = notification.payload
        if not notification.versioned or type(payload) is not dict or len(self._learned) >= _NAMESPACES_MAX:
            return
        for key in payload:
            if type(key) is str and key.endswith(OBJECT_DATA):
                namespace = key[: -len(OBJECT_DATA)]
                if namespace and namespace not in self._learned:
                    self._learned = self._learned | {namespace}
                    self._decoders = {}
                return


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
    document: an unknown type (its sample is the whole payload), a known one without a resource
    id (see the module), or an error — its resource id may come from the publisher while its fault
    sits in a versioned object of a namespace not learned yet (hypothesis found one); errors are
    few, so they are always read whole. A v1 notification was decoded whole already."""
    return ((not event.known or not event.resource_id or reports_error(event))
            and event.raw.envelope_version != "1.0")


_BY_CATALOG: weakref.WeakKeyDictionary[Catalog, Projection] = weakref.WeakKeyDictionary()


def projection_of(catalog: Catalog) -> Projection:
    """The projection for what ``catalog`` reads when storing (one per catalog)."""
    projection = _BY_CATALOG.get(catalog)
    if projection is None:
        projection = _BY_CATALOG[catalog] = Projection(catalog)
    return projection
