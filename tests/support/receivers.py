"""A real HTTP receiver for notification tests: records every POST (webhooks, Slack, PagerDuty)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson

from tests.conftest import free_port


class BurstServer(ThreadingHTTPServer):
    """http.server with a listen backlog for bursts: the default of 5 drops the SYNs of a burst of
    notifications, which then wait a 1 s TCP retransmit — latency that is the receiver's, not ours."""

    request_queue_size = 128
    daemon_threads = True


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict
    at: float


@dataclass
class Receiver:
    """An HTTP server recording every POST; answers 500 to the first ``fail_first`` of each path."""

    port: int = field(default_factory=free_port)
    fail_first: int = 0
    always_fail: bool = False
    delay_first: float = 0.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                      orjson.loads(raw), time.monotonic()))
                    seen = sum(1 for r in receiver.received if r.path == self.path)
                if receiver.delay_first and seen == 1:
                    time.sleep(receiver.delay_first)
                status = 500 if receiver.always_fail or seen <= receiver.fail_first else 202
                payload = b'{"error": "try later"}' if status == 500 else b'{"status": "success"}'
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self._server = BurstServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def bodies(self, path: str) -> list[dict]:
        with self.lock:
            return [r.body for r in self.received if r.path == path]

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]
