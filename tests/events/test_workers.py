"""events.workers: the worker-to-server pipe reads what multiprocessing's send_bytes writes."""

from __future__ import annotations

import multiprocessing
import os
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nephoscope.events.workers import receive_bytes


def _exchange(messages: list[bytes | tuple]) -> list[object]:
    """Send ``messages`` (bytes with send_bytes, tuples pickled with send) down a real pipe from
    another thread; read each back the way the server does."""
    reader, writer = multiprocessing.Pipe()

    def send() -> None:
        for message in messages:
            if isinstance(message, bytes):
                writer.send_bytes(message)
            else:
                writer.send(message)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        return [receive_bytes(reader) if isinstance(message, bytes) else reader.recv() for message in messages]
    finally:
        sender.join()
        reader.close()
        writer.close()


def test_messages_of_every_framing_size_arrive_whole_and_in_order() -> None:
    # 16,384 bytes and less go in one write with their header; more in two; megabytes in many reads
    sizes = [0, 1, 3, 16_384, 16_385, 65_536, 200_000, 3_000_000]
    messages: list[bytes | tuple] = []
    for size in sizes:
        messages += [("batch", size, (size, 0, [])), os.urandom(size)]
    received = _exchange(messages)
    assert [bytes(item) if isinstance(item, bytearray) else item for item in received] == messages
    assert all(isinstance(item, bytearray) for item in received[1::2])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=40_000) | st.tuples(st.text(max_size=5), st.integers()), max_size=12))
def test_any_mix_with_pickled_messages_keeps_the_stream_in_step(messages: list[bytes | tuple]) -> None:
    received = _exchange(messages)
    assert [bytes(item) if isinstance(item, bytearray) else item for item in received] == messages


def test_a_closed_pipe_is_the_end() -> None:
    reader, writer = multiprocessing.Pipe()
    writer.send_bytes(b"\x00" * 10)
    writer.close()
    assert receive_bytes(reader) == bytearray(10)
    with pytest.raises(EOFError):
        receive_bytes(reader)
    reader.close()


def test_a_message_cut_short_is_the_end_too() -> None:
    reader, writer = multiprocessing.Pipe()
    os.write(writer.fileno(), (1000).to_bytes(4, "big") + b"x" * 10)  # promises 1,000, sends 10
    writer.close()
    with pytest.raises(EOFError):
        receive_bytes(reader)
    reader.close()
