"""The syslog listener (nephoscope/logs/server/syslog.py): the TCP frame parser's properties, and a
real rsyslogd forwarding oslo.log lines to a running server with its standard templates (RFC 5424's
RSYSLOG_SyslogProtocol23Format, RFC 3164's RSYSLOG_ForwardFormat and the traditional one) over TCP
with octet-counted and newline framing and over UDP. Whatever the route, a stored line keeps its
oslo.log level (an ERROR stays an error), its service and its request id."""

from __future__ import annotations

import logging
import logging.handlers
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nephoscope.logs.server.syslog import MAX_FRAME, TcpFramer
from tests.conftest import ServerProcess, free_port, wait_for
from tests.support.log_samples import OsloOutput, request_context
from tests.support.rsyslog import ROUTES, Rsyslog, start_rsyslog

# --- the frame parser ------------------------------------------------------------------------------

# A syslog message as senders write it: "<PRI>" first, then any text (newline framing cannot
# carry a newline; octet counting can carry anything).
_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)
_MESSAGES = st.builds(lambda pri, text: f"<{pri}>{text}", st.integers(0, 191), _TEXT)


def _frame(message: str, octet_counted: bool) -> bytes:
    data = message.encode()
    return f"{len(data)} ".encode() + data if octet_counted else data + b"\n"


def _feed(framer: TcpFramer, stream: bytes, cuts: list[int]) -> list[str]:
    found: list[str] = []
    start = 0
    for cut in sorted({min(cut, len(stream)) for cut in cuts}):
        found += framer.feed(stream[start:cut])
        start = cut
    return found + framer.feed(stream[start:])


@given(st.lists(st.tuples(_MESSAGES, st.booleans()), max_size=20), st.lists(st.integers(0, 8000), max_size=30))
def test_frames_come_back_whole_however_the_stream_is_cut(frames: list[tuple[str, bool]], cuts: list[int]) -> None:
    """Octet-counted and newline-framed messages, mixed on one connection and cut anywhere into
    segments (a length, a multi-byte character), come back as sent and in order."""
    sendable = [(message if counted else message.replace("\n", " "), counted) for message, counted in frames]
    stream = b"".join(_frame(message, counted) for message, counted in sendable)
    framer = TcpFramer()
    assert _feed(framer, stream, cuts) == [message for message, _ in sendable]
    assert framer.buffer == b""


@given(st.lists(st.from_regex(r"[0-9][0-9 .:T-]{0,30}[^\n]{0,40}", fullmatch=True), min_size=1, max_size=10))
def test_lines_that_start_with_a_digit_are_lines(lines: list[str]) -> None:
    """A sender that frames by newline and writes no <PRI> (an oslo.log line starts with its
    date) is read line by line, never taken for a length unless its first word is all digits."""
    lines = [line for line in lines if not line.split(" ", 1)[0].isdigit()]
    framer = TcpFramer()
    assert framer.feed("".join(f"{line}\n" for line in lines).encode()) == lines


@given(st.binary(max_size=2000), st.lists(st.integers(0, 2000), max_size=10))
def test_any_bytes_leave_the_framer_bounded(stream: bytes, cuts: list[int]) -> None:
    """Garbage never raises anything but the oversized-frame error, and never grows the buffer
    past a frame."""
    framer = TcpFramer()
    try:
        _feed(framer, stream, cuts)
    except ValueError as error:
        assert "exceeds" in str(error)
    assert len(framer.buffer) <= MAX_FRAME


def test_an_oversized_octet_count_is_refused() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        TcpFramer().feed(f"{MAX_FRAME + 1} <14>".encode())


# --- a real rsyslogd ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def forwarding(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Rsyslog]]:
    tcp_port, udp_port = free_port(), free_port()
    root = tmp_path_factory.mktemp("syslog")
    server = ServerProcess(root / "data", extra_env={
        "NEPHOSCOPE_LOGS_SYSLOG_TCP_PORT": str(tcp_port), "NEPHOSCOPE_LOGS_SYSLOG_UDP_PORT": str(udp_port)}).start()
    try:
        rsyslog = start_rsyslog(root / "rsyslog", tcp_port, udp_port)
        try:
            yield server, rsyslog
        finally:
            rsyslog.stop()
    finally:
        server.stop()


def _log(output: OsloOutput, run: str, route: str, via: str, requests: dict[tuple[str, str], str]) -> None:
    """An ERROR with a request context and an INFO without, as nova-compute logs them."""
    request_id = f"req-{uuid.uuid4()}"
    requests[(route, via)] = request_id
    context = request_context(request_id=request_id, project="proj-syslog")
    output.log.error("Instance failed to spawn: route=%s via=%s run=%s", route, via, run, context=context,
                     instance={"uuid": "6f1f5a2e-3c4b-4d5e-8f90-123456789abc"})
    output.log.info("Claim successful route=%s via=%s run=%s", route, via, run)


def test_rsyslog_forwards_keep_the_oslo_level_service_and_request(forwarding: tuple[ServerProcess, Rsyslog]) -> None:
    server, rsyslog = forwarding
    run = uuid.uuid4().hex
    requests: dict[tuple[str, str], str] = {}
    # A service logging to syslog (oslo.log's use_syslog): its formatter, Python's syslog handler
    # writing to rsyslog's socket with the level as the priority.
    handler = logging.handlers.SysLogHandler(address=str(rsyslog.socket), facility=logging.handlers.SysLogHandler.LOG_LOCAL0)
    handler.ident = "nova-compute[4242]: "
    try:
        via_socket = OsloOutput("nova.compute.manager", handler=handler)
        for route in ROUTES:
            _log(via_socket, run, route, "socket", requests)
    finally:
        handler.close()
    # A service writing its log file, which rsyslog reads (every line at the input's severity: info).
    to_file = OsloOutput("nova.compute.manager")
    for route in ROUTES:
        _log(to_file, run, route, "file", requests)
    with Path(rsyslog.log_file).open("a") as log_file:
        log_file.write("".join(f"{line}\n" for line in to_file.lines))

    client = server.client()
    expected = 4 * len(ROUTES)

    def stored() -> list[dict]:
        answer = client.get("/v1/logs", params={"q": run, "limit": 1000, "facets": "false", "tenant_id": "*"})
        assert answer.status_code == 200, answer.text
        found = answer.json()["elements"]
        return found if len(found) >= expected else []

    try:
        records = wait_for(stored, 30, f"{expected} forwarded lines")
    except AssertionError:
        raise AssertionError(f"rsyslogd:\n{rsyslog.log()}\nserver:\n{server.log()}") from None
    assert isinstance(records, list) and len(records) == expected, "each line stored once"
    seen = set()
    for record in records:
        words = dict(word.split("=", 1) for word in record["message"].split() if word.count("=") == 1)
        route, via = words["route"], words["via"]
        where = f"{route} via {via}: {record}"
        assert record["service"] == "nova" and record["component"] == "nova-compute", where
        assert record["host"] == socket.gethostname().split(".")[0], where  # rsyslog's own host name
        assert record["logger"] == "nova.compute.manager" and record["format"] == "oslo", where
        if record["message"].startswith("Instance failed"):
            assert record["level"] == "ERROR" and record["category"] == "error", where
            assert record["request_id"] == requests[(route, via)], where
            assert record["instance_id"] == "6f1f5a2e-3c4b-4d5e-8f90-123456789abc", where
            seen.add((route, via, "ERROR"))
        else:
            assert record["level"] == "INFO" and record["category"] != "error", where
            seen.add((route, via, "INFO"))
    assert seen == {(route, via, level) for route in ROUTES for via in ("socket", "file") for level in ("ERROR", "INFO")}
