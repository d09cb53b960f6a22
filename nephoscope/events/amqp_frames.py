"""Deliveries read straight off a pika connection's input: the consumer's hot path.

pika decodes every frame into objects and routes it through its callback registry: for one
delivery (a Basic.Deliver method frame, a content header frame, a body frame) that is some 120
Python calls and 24–37 µs of CPU here (``bench/amqp_client.py``), about as much as parsing and
cataloguing the notification, on a machine where the broker needs a core too. A consumer needs four things of a delivery (delivery
tag, redelivered flag, exchange, routing key) and its body; the properties are never read. So
``DeliveryReader`` sits where pika takes its socket input (``_on_data_available``), takes every
complete delivery for one of its consumers off the head of the input with a few ``struct`` reads,
and hands the consumer's callback those five values. Every other frame (acks' answers,
heartbeats, channel and connection methods, deliveries to other consumers) is handed to pika, one
at a time and in order, exactly as pika would have processed it.

Order is what makes acknowledgements safe (a batch is acknowledged with ``multiple=True`` up to its
last delivery tag), so deliveries must reach the callback in the order the broker sent them. pika
queues the deliveries it handles itself and dispatches them later, so the two paths must never
both deliver on one connection: the first delivery this reader does not take itself (a consumer
it does not know, a delivery whose frames are not contiguous, a malformed frame) turns it off for
the rest of the connection, and from then on pika does everything. RabbitMQ writes a delivery's
frames in one piece, so in practice this happens only after ``stop_taking()`` (a consumer being
cancelled hands its late deliveries to pika, which rejects them).

It depends on four attributes of pika 1.x's connection (``_on_data_available``, ``_frame_buffer``,
``_trim_frame_buffer``, ``_process_frame``) and its byte and frame counters (the heartbeat checker
reads ``bytes_received``); ``install()`` checks them and, if a pika release moved them, leaves
pika's own path in place and says so (slower, never wrong). ``install()`` also sets how much the
connection's transport reads at a time: up to 64 KiB for this reader, so that one read and one
pass take some twenty deliveries, or 16 KiB for pika's own path (pika's default is 4 KiB, about one
delivery a read); a transport without those attributes keeps its own.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from typing import Any

import pika.frame

log = logging.getLogger(__name__)

OnDelivery = Callable[[int, bool, str, str, bytes], None]
"""Called with (delivery tag, redelivered, exchange, routing key, body)."""

_FRAME_HEADER = struct.Struct(">BHI")  # type, channel, payload size
_HEADER_SIZE = 7
_METHOD, _CONTENT_HEADER, _BODY = 1, 2, 3
_FRAME_END = 0xCE
_BASIC_DELIVER = b"\x00\x3c\x00\x3c"  # class 60 (basic), method 60 (deliver)
_TAG_AND_FLAG = struct.Struct(">QB")
_BODY_SIZE = struct.Struct(">Q")  # in a content header, after class id and weight
_INCOMPLETE = 0
# How much a connection's transport reads at a time (pika's own: 4 KiB, about one 3 KB delivery a
# read and a trip through its I/O loop). Through this reader, reads of up to 64 KiB (~20 deliveries)
# cost the least; through pika's own frame decoding 16 KiB did (it trims its frame buffer by copying).
_RECEIVE_BYTES = 65_536
_PIKA_RECEIVE_BYTES = 16_384
_NOT_TAKEN = -1
_NEEDED = ("_on_data_available", "_frame_buffer", "_trim_frame_buffer", "_process_frame", "bytes_received",
           "frames_received")


def _read_in(connection: Any, size: int) -> None:
    """Have ``connection``'s transport read up to ``size`` bytes at a time (if it has pika 1.x's
    knobs for it)."""
    transport = getattr(connection, "_transport", None)
    if transport is not None and hasattr(transport, "_MAX_RECV_BYTES"):
        transport._MAX_RECV_BYTES = size
        transport._MAX_CONSUME_BYTES = max(getattr(transport, "_MAX_CONSUME_BYTES", 0), 4 * size)


class DeliveryReader:
    """Takes the deliveries for its consumers on one channel off a pika connection's input.

    ``add_consumer(tag, callback)`` before ``basic_consume(..., consumer_tag=tag)``: a delivery may
    follow the broker's ConsumeOk in the same read. A callback may send (an ack, say) but must not
    wait for the broker's answer: input that arrives while a callback runs is read after it returns.
    """

    def __init__(self, connection: Any, channel_number: int) -> None:
        # a BlockingConnection wraps the connection that reads the socket
        self._connection = getattr(connection, "_impl", connection)
        self._channel = channel_number
        self._consumers: dict[bytes, OnDelivery] = {}
        self._names: dict[bytes, str] = {}
        self.taking = False
        self.taken = 0
        self._reading = False
        self._arrived: list[bytes] = []

    def install(self) -> bool:
        """Route the connection's input through this reader; False (and pika's path) when this
        pika does not have the internals it relies on."""
        connection = self._connection
        missing = [name for name in _NEEDED if not hasattr(connection, name)]
        if missing or not callable(getattr(pika.frame, "decode_frame", None)):
            log.warning("events: this pika (%s) lacks %s; deliveries take pika's slower path",
                        getattr(pika, "__version__", "?"), ", ".join(missing) or "frame.decode_frame")
            _read_in(connection, _PIKA_RECEIVE_BYTES)
            return False
        connection._on_data_available = self._on_data
        _read_in(connection, _RECEIVE_BYTES)
        self.taking = True
        return True

    def add_consumer(self, consumer_tag: str, on_delivery: OnDelivery) -> None:
        self._consumers[consumer_tag.encode()] = on_delivery

    def stop_taking(self) -> None:
        """From now on pika handles every frame (e.g. before cancelling the consumers)."""
        self.taking = False

    # -- the input -------------------------------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        if self._reading:
            # A callback did I/O on the connection (an ack flushes and reads): the outer call is
            # still working through the input, so this waits its turn behind it.
            self._arrived.append(data)
            return
        self._reading = True
        try:
            self._read(data)
        finally:
            self._reading = False

    def _read(self, data: bytes) -> None:
        connection = self._connection
        buffer = connection._frame_buffer + data if connection._frame_buffer else data
        position = 0
        while True:
            if self._arrived:
                buffer = buffer[position:] + b"".join(self._arrived)
                self._arrived.clear()
                position = 0
            if position >= len(buffer):
                break
            if self.taking:
                end = self._take(buffer, position)
                if end > 0:
                    position = end
                    continue
                if end == _INCOMPLETE:
                    break
            # Anything else: one frame through pika, as its own loop would do it.
            connection._frame_buffer = buffer[position:]
            consumed, frame = pika.frame.decode_frame(connection._frame_buffer)
            if not frame:
                return
            connection._trim_frame_buffer(consumed)
            connection._process_frame(frame)
            buffer = connection._frame_buffer  # pika may have reset it (connection closed)
            position = 0
        connection._frame_buffer = buffer[position:] if position else buffer

    def _take(self, buffer: bytes, start: int) -> int:
        """Where the delivery at ``start`` ends after handing it to its consumer; ``_INCOMPLETE``
        when more input is needed; ``_NOT_TAKEN`` when the frame at ``start`` is not one for us
        (and, if it was a delivery, stop taking any)."""
        size = len(buffer)
        if size - start < _HEADER_SIZE:
            return _INCOMPLETE
        kind, channel, length = _FRAME_HEADER.unpack_from(buffer, start)
        if kind != _METHOD:
            return _NOT_TAKEN  # e.g. a heartbeat: pika's, at once (its checker counts the bytes)
        if size - start < _HEADER_SIZE + 4:
            return _INCOMPLETE
        if buffer[start + 7:start + 11] != _BASIC_DELIVER:
            return _NOT_TAKEN
        method_end = start + _HEADER_SIZE + length
        if method_end >= size:
            return _INCOMPLETE
        if channel != self._channel or buffer[method_end] != _FRAME_END:
            return self._give_up("a delivery on another channel or a malformed frame")
        at = start + 11
        tag_length = buffer[at]
        on_delivery = self._consumers.get(buffer[at + 1:at + 1 + tag_length])
        if on_delivery is None:
            return self._give_up("a delivery for a consumer it does not know")
        at += 1 + tag_length
        delivery_tag, redelivered = _TAG_AND_FLAG.unpack_from(buffer, at)
        at += 9
        length = buffer[at]
        exchange = self._name(buffer[at + 1:at + 1 + length])
        at += 1 + length
        length = buffer[at]
        routing_key = self._name(buffer[at + 1:at + 1 + length])

        header = method_end + 1
        header_end = self._content_frame(buffer, header, _CONTENT_HEADER)
        if header_end <= 0:
            return header_end
        remaining = _BODY_SIZE.unpack_from(buffer, header + _HEADER_SIZE + 4)[0]
        position = header_end + 1
        parts = []
        while remaining > 0:
            body_end = self._content_frame(buffer, position, _BODY)
            if body_end <= 0:
                return body_end
            part = buffer[position + _HEADER_SIZE:body_end]
            if len(part) > remaining:
                return self._give_up("a body longer than its header said")
            parts.append(part)
            remaining -= len(part)
            position = body_end + 1
        body = parts[0] if len(parts) == 1 else b"".join(parts)
        on_delivery(delivery_tag, bool(redelivered), exchange, routing_key, body)
        self.taken += 1
        connection = self._connection
        connection.bytes_received += position - start  # what pika's heartbeat checker watches
        connection.frames_received += 2 + len(parts)
        return position

    def _content_frame(self, buffer: bytes, start: int, kind: int) -> int:
        """Where the frame of ``kind`` on our channel at ``start`` ends (its frame-end byte);
        ``_INCOMPLETE``, or ``_NOT_TAKEN`` (giving up) when it is another frame or malformed."""
        if len(buffer) - start < _HEADER_SIZE:
            return _INCOMPLETE
        found, channel, length = _FRAME_HEADER.unpack_from(buffer, start)
        if found != kind or channel != self._channel:
            return self._give_up("a delivery whose content did not follow it")
        end = start + _HEADER_SIZE + length
        if end >= len(buffer):
            return _INCOMPLETE
        if buffer[end] != _FRAME_END:
            return self._give_up("a malformed content frame")
        return end

    def _name(self, raw: bytes) -> str:
        name = self._names.get(raw)
        if name is None:
            name = self._names[raw] = raw.decode("utf-8", "replace")
        return name

    def _give_up(self, why: str) -> int:
        # Once pika has delivered anything itself, this reader must never deliver again on this
        # connection (see the module docstring): the order of delivery tags depends on it.
        if self.taking:
            log.info("events: pika handles this connection's deliveries from now on (%s)", why)
        self.taking = False
        return _NOT_TAKEN
