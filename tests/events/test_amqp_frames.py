"""``events.amqp_frames``: deliveries taken off a pika connection's input, everything else to pika.

The wire bytes are made by pika's own frame encoders; the connection is pika's real
``SelectConnection`` (never connected), with only its frame processing recorded, so what the reader
hands to pika is checked against what pika itself would have been handed. The real broker's side
(deliveries of every size through the consumer) is in ``tests/events/test_consumer.py``.
"""

from __future__ import annotations

import itertools

import pika
import pika.frame
import pika.spec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nephoscope.events.amqp_frames import DeliveryReader
from tests.conftest import missing

CHANNEL = 1
TAGS = ("nephoscope.cell1.notifications:1", "nephoscope.cell1.versioned_notifications:1")


class RecordingConnection(pika.SelectConnection):
    """pika's connection, its input path untouched; the frames it would process are recorded."""

    def __init__(self) -> None:
        super().__init__(pika.ConnectionParameters(), internal_connection_workflow=False)
        self.log: list[tuple] = []

    def _process_frame(self, frame_value: pika.frame.Frame) -> None:
        self.frames_received += 1
        self.log.append(("pika", describe(frame_value)))


def describe(frame_value: pika.frame.Frame) -> tuple:
    if isinstance(frame_value, pika.frame.Method):
        method = frame_value.method
        return ("method", frame_value.channel_number, method.NAME, tuple(sorted(vars(method).items())))
    if isinstance(frame_value, pika.frame.Header):
        return ("header", frame_value.channel_number, frame_value.body_size)
    if isinstance(frame_value, pika.frame.Body):
        return ("body", frame_value.channel_number, frame_value.fragment)
    return (type(frame_value).__name__,)


def delivery_frames(tag: str, delivery_tag: int, redelivered: bool, exchange: str, routing_key: str, body: bytes,
                    body_frame_max: int, properties: pika.spec.BasicProperties, channel: int = CHANNEL) -> list[bytes]:
    frames = [pika.frame.Method(channel, pika.spec.Basic.Deliver(tag, delivery_tag, redelivered, exchange,
                                                                 routing_key)).marshal(),
              pika.frame.Header(channel, len(body), properties).marshal()]
    frames += [pika.frame.Body(channel, body[start:start + body_frame_max]).marshal()
               for start in range(0, len(body), body_frame_max)]
    return frames


def expected_pika(frames: list[bytes]) -> list[tuple]:
    """What pika's own decoder makes of ``frames`` (the reference)."""
    log = []
    for data in frames:
        consumed, frame_value = pika.frame.decode_frame(data)
        assert consumed == len(data)
        log.append(("pika", describe(frame_value)))
    return log


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20).filter(
    lambda text: len(text.encode()) < 256)
properties = st.builds(pika.spec.BasicProperties, content_type=st.sampled_from([None, "application/json"]),
                       delivery_mode=st.sampled_from([None, 1, 2]),
                       headers=st.one_of(st.none(), st.dictionaries(st.text(max_size=8), st.integers(0, 9), max_size=3)),
                       message_id=st.one_of(st.none(), st.text(max_size=12)))
deliveries = st.tuples(st.just("delivery"), st.sampled_from(TAGS), st.booleans(), names, names,
                       st.binary(max_size=3000), st.integers(1, 4096), properties)
others = st.one_of(
    st.just(("heartbeat",)),
    st.builds(lambda tag: ("method", pika.spec.Basic.ConsumeOk(tag)), st.sampled_from(TAGS)),
    st.builds(lambda active: ("method", pika.spec.Channel.Flow(active)), st.booleans()),
    st.builds(lambda tag: ("method", pika.spec.Basic.Cancel(tag)), st.sampled_from(TAGS)),
    st.builds(lambda count: ("method", pika.spec.Basic.QosOk()), st.integers(0, 1)),
)


def cut(data: bytes, points: list[int]) -> list[bytes]:
    """``data`` in reads as a socket might return them."""
    edges = sorted({0, len(data), *(point % (len(data) + 1) for point in points)})
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@settings(max_examples=300, deadline=None)
@given(items=st.lists(st.one_of(deliveries, others), max_size=25),
       stranger_at=st.one_of(st.none(), st.integers(0, 25)),
       cut_points=st.lists(st.integers(0, 200_000), max_size=40))
def test_deliveries_come_out_in_order_and_everything_else_reaches_pika_unchanged(
        items: list[tuple], stranger_at: int | None, cut_points: list[int]) -> None:
    connection = RecordingConnection()
    reader = DeliveryReader(connection, CHANNEL)
    assert reader.install()
    for tag in TAGS:
        reader.add_consumer(tag, lambda *delivery, tag=tag: connection.log.append(("delivery", tag, *delivery)))

    stream: list[bytes] = []
    expected: list[tuple] = []
    taking = True
    for index, item in enumerate(items):
        if index == stranger_at:
            # a delivery for a consumer the reader does not know: pika's from here on
            frames = delivery_frames("someone-else", 10_000 + index, False, "x", "y", b"z", 10,
                                     pika.spec.BasicProperties())
            stream += frames
            expected += expected_pika(frames)
            taking = False
        if item[0] == "delivery":
            _, tag, redelivered, exchange, routing_key, body, frame_max, props = item
            frames = delivery_frames(tag, index + 1, redelivered, exchange, routing_key, body, frame_max, props)
            stream += frames
            expected += ([("delivery", tag, index + 1, redelivered, exchange, routing_key, body)] if taking
                         else expected_pika(frames))
        else:
            frames = [pika.frame.Heartbeat().marshal() if item[0] == "heartbeat"
                      else pika.frame.Method(CHANNEL, item[1]).marshal()]
            stream += frames
            expected += expected_pika(frames)

    data = b"".join(stream)
    for chunk in cut(data, cut_points):
        connection._on_data_available(chunk)

    assert connection.log == expected
    assert connection._frame_buffer == b""
    assert connection.bytes_received == len(data)  # what pika's heartbeat checker watches
    assert connection.frames_received == len(stream)
    assert reader.taking == taking


def test_a_partial_delivery_waits_for_the_rest_and_a_lone_heartbeat_does_not() -> None:
    connection = RecordingConnection()
    reader = DeliveryReader(connection, CHANNEL)
    reader.install()
    got = []
    reader.add_consumer(TAGS[0], lambda *delivery: got.append(delivery))
    frames = delivery_frames(TAGS[0], 7, True, "nova", "notifications.info", b"x" * 5000, 4096,
                             pika.spec.BasicProperties(delivery_mode=2))
    data = b"".join(frames)
    connection._on_data_available(data[:-1])  # all but the last frame-end byte
    assert got == [] and connection.bytes_received == 0
    connection._on_data_available(data[-1:])
    assert got == [(7, True, "nova", "notifications.info", b"x" * 5000)]

    # An idle connection's heartbeat is pika's at once, alone in its read: pika's checker closes a
    # connection that has received no bytes for two intervals.
    connection._on_data_available(pika.frame.Heartbeat().marshal())
    assert connection.log == [("pika", ("Heartbeat",))]
    assert connection.bytes_received == len(data) + 8


def test_a_callback_that_reads_from_the_connection_keeps_the_order() -> None:
    """An ack from inside a callback flushes the connection, which reads more input: it is taken
    after the deliveries already read, never before."""
    connection = RecordingConnection()
    reader = DeliveryReader(connection, CHANNEL)
    reader.install()
    first = b"".join(b"".join(delivery_frames(TAGS[0], tag, False, "nova", "k", b"%d" % tag, 100,
                                              pika.spec.BasicProperties())) for tag in (1, 2, 3))
    later = b"".join(delivery_frames(TAGS[0], 4, False, "nova", "k", b"4", 100, pika.spec.BasicProperties()))
    order = []

    def on_delivery(delivery_tag: int, *_: object) -> None:
        order.append(delivery_tag)
        if delivery_tag == 1:
            connection._on_data_available(later)  # arrives while 2 and 3 are still unread
    reader.add_consumer(TAGS[0], on_delivery)
    connection._on_data_available(first)
    assert order == [1, 2, 3, 4]


def test_a_malformed_frame_is_pikas_to_refuse() -> None:
    connection = RecordingConnection()
    reader = DeliveryReader(connection, CHANNEL)
    reader.install()
    reader.add_consumer(TAGS[0], lambda *delivery: None)
    method, header, body = delivery_frames(TAGS[0], 1, False, "nova", "k", b"abc", 100, pika.spec.BasicProperties())
    with pytest.raises(pika.exceptions.InvalidFrameError):
        connection._on_data_available(method + header + body[:-1] + b"\x00")
    assert not reader.taking


def test_install_refuses_a_connection_without_the_internals_it_needs(caplog: pytest.LogCaptureFixture) -> None:
    class Transport:
        _MAX_RECV_BYTES = 4096
        _MAX_CONSUME_BYTES = 102_400

    class Elsewhere:  # e.g. a pika release that renamed its input path
        bytes_received = 0
        _transport = Transport()

    connection = Elsewhere()
    reader = DeliveryReader(connection, CHANNEL)
    assert not reader.install()
    assert not reader.taking
    assert "lacks" in caplog.text and "_on_data_available" in caplog.text
    # pika's own path reads 16 KiB at a time (4 KiB is about one delivery a read)
    assert connection._transport._MAX_RECV_BYTES == 16_384


def test_install_has_pika_read_the_socket_in_large_pieces() -> None:
    # pika reads 4 KiB at a time: a read, and a pass of the reader, for every 1.25 deliveries of 3 KB
    try:
        connection = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/%2F"))
    except pika.exceptions.AMQPConnectionError:
        missing("RabbitMQ is not running on 127.0.0.1:5672", "make test starts it")
    try:
        channel = connection.channel()
        transport = connection._impl._transport
        assert transport._MAX_RECV_BYTES == 4096  # pika's own
        assert DeliveryReader(connection, channel.channel_number).install()
        assert transport._MAX_RECV_BYTES == 65_536
        assert transport._MAX_CONSUME_BYTES >= 4 * transport._MAX_RECV_BYTES
        channel.queue_declare("", exclusive=True)  # the connection still works both ways
    finally:
        connection.close()
