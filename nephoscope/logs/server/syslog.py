"""Syslog listeners, so rsyslog (or anything speaking syslog) can forward service logs.

TCP (RFC 6587: octet-counted frames ``<length> <message>``, or one message per line, told apart
per frame by its first byte) and UDP (one message per datagram). The messages keep their envelope
(RFC 5424 or RFC 3164): the pipeline reads host, program and time from it, and the message itself
as an oslo.log line when it is one. Messages are gathered for up to ``flush_seconds`` (or
``batch_lines``) and stored as one batch, in the sender project ``[logs] syslog_project``.

rsyslog: ``*.* @@nephoscope-host:5140`` (TCP) or ``*.* @nephoscope-host:5140`` (UDP);
``action(type="omfwd" target="…" port="5140" protocol="tcp" TCP_Framing="octet-counted")``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from nephoscope.logs.processing.sources import Source

log = logging.getLogger(__name__)

Ingest = Callable[[list[str], Source, str], int]
MAX_FRAME = 256 * 1024  # a longer frame is cut (rsyslog's default maximum message size is 8 KB)


class SyslogBatcher:
    """Messages from every connection and datagram, handed to ``ingest`` in batches."""

    def __init__(self, ingest: Ingest, project: str, flush_seconds: float = 0.2, batch_lines: int = 5000) -> None:
        self._ingest = ingest
        self._project = project
        self._flush_seconds = flush_seconds
        self._batch_lines = batch_lines
        self._lines: list[str] = []
        self._wake = asyncio.Event()
        self.received = 0
        self.stored = 0

    def add(self, message: str) -> None:
        message = message.rstrip("\r\n\0")
        if not message:
            return
        self._lines.append(message)
        self.received += 1
        if len(self._lines) >= self._batch_lines:
            self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._flush_seconds):
                    await self._wake.wait()
            self._wake.clear()
            await self.flush()
        await self.flush()

    async def flush(self) -> None:
        lines, self._lines = self._lines, []
        if not lines:
            return
        try:
            self.stored += await asyncio.to_thread(self._ingest, lines, Source(), self._project)
        except Exception:  # a failing store must not end the listener
            log.exception("syslog: could not store %d messages", len(lines))


class TcpFramer:
    """Splits a TCP byte stream into syslog messages (RFC 6587: octet counting, ``<length> <message>``,
    or newline framing), told apart per frame by its first byte: a digit starts a length (a syslog
    message itself starts with ``<``)."""

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> list[str]:
        """The messages ``data`` completes; what is left waits in ``buffer``. Raises ValueError
        for an octet count above ``MAX_FRAME``."""
        buffer = self.buffer + data if self.buffer else data
        messages: list[str] = []
        pos, size = 0, len(buffer)  # read by position: slicing the rest off per message is quadratic
        while pos < size:
            if 48 <= buffer[pos] <= 57:  # a digit: octet counting, "<length> <message>"
                space = buffer.find(b" ", pos, pos + 12)
                digits = buffer[pos:space if space >= 0 else min(size, pos + 12)]
                if space < 0 and size - pos <= 12 and digits.isdigit():
                    break  # the length so far: wait for the rest of it
                if space >= 0 and digits.isdigit():
                    length = int(digits)
                    end = space + 1 + length
                    if end > size:
                        if length > MAX_FRAME:
                            raise ValueError(f"frame of {length} bytes exceeds {MAX_FRAME}")
                        break
                    messages.append(buffer[space + 1:end].decode("utf-8", "replace"))
                    pos = end
                    continue
                # not a length after all (a line that starts with a digit): newline framing
            newline = buffer.find(b"\n", pos)
            if newline < 0:
                break
            messages.append(buffer[pos:newline].decode("utf-8", "replace"))
            pos = newline + 1
        self.buffer = buffer[pos:]
        if len(self.buffer) > MAX_FRAME:  # a line without end: cut it rather than grow without bound
            messages.append(self.buffer.decode("utf-8", "replace"))
            self.buffer = b""
        return messages


class _TcpProtocol(asyncio.Protocol):
    def __init__(self, batcher: SyslogBatcher) -> None:
        self.batcher = batcher
        self.framer = TcpFramer()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            for message in self.framer.feed(data):
                self.batcher.add(message)
        except ValueError as error:
            log.warning("syslog: closing a TCP connection: %s", error)
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.framer.buffer.strip():
            self.batcher.add(self.framer.buffer.decode("utf-8", "replace"))


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, batcher: SyslogBatcher) -> None:
        self.batcher = batcher

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.batcher.add(data.decode("utf-8", "replace"))


async def serve_syslog(ingest: Ingest, project: str, host: str, tcp_port: int, udp_port: int,
                       stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
    """Listen until ``stop`` is set (ports 0 leave that listener off)."""
    batcher = SyslogBatcher(ingest, project)
    loop = asyncio.get_running_loop()
    servers: list = []
    if tcp_port:
        servers.append(await loop.create_server(lambda: _TcpProtocol(batcher), host, tcp_port))
        log.info("syslog: listening on tcp %s:%d", host, tcp_port)
    if udp_port:
        transport, _ = await loop.create_datagram_endpoint(lambda: _UdpProtocol(batcher), local_addr=(host, udp_port))
        servers.append(transport)
        log.info("syslog: listening on udp %s:%d", host, udp_port)
    if ready is not None:
        ready.set()
    try:
        await batcher.run(stop)
    finally:
        for server in servers:
            server.close()
