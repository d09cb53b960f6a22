"""Consumer worker processes: reading and understanding notifications off the server's process.

Per notification, the AMQP client, the JSON parse and the catalog cost Python time that one
process (one GIL) cannot spread; the broker wants a core of its own too. So each configured broker
gets ``workers`` processes. A worker consumes (``events.consumer``), parses and catalogues its
batches into Arrow tables (``events.batch``) and sends them over a pipe; the server's thread for
that worker stores each batch (``EventStore.add_batch``, durable) and answers; only then does the
worker acknowledge the broker. Batches are sent without waiting for the answer (``in_flight`` at a
time), so the worker parses the next while the server stores the last; acknowledgements stay in
order (the consumer settles batches in order).

A worker's Python work all happens on its consumer thread (a second thread only waits for the
server's answers), so it never competes with itself for the GIL.

A worker that dies is started again after a backoff; whatever it held unacknowledged goes back to
the queue and is redelivered to a worker (the store recognises what it already holds).

Pipe messages (pickled): worker -> server ``("batch", request, header)`` followed by the batch's
four Arrow IPC streams as raw byte messages, ``("stats", dict)``; server -> worker ``("stored",
request, new)``, ``("failed", request, reason)``, ``("stop", seconds)``.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import queue
import struct
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from nephoscope.events.batch import EventBatch, from_bodies
from nephoscope.events.catalog import Catalog
from nephoscope.events.consumer import BrokerSettings, NotificationConsumer, RawMessage
from nephoscope.retry import backoff

log = logging.getLogger(__name__)

_STATS_EVERY = 1.0
_RESTART_BASE = 1.0
_RESTART_MAX = 60.0


class StoreFailed(RuntimeError):
    """The server could not store a batch (its reason is the message)."""


# --- the pipe ------------------------------------------------------------------------------------

def _read_exactly(descriptor: int, size: int) -> bytearray:
    buffer = bytearray(size)
    view = memoryview(buffer)
    done = 0
    while done < size:
        got = os.readv(descriptor, [view[done:]])
        if not got:
            raise EOFError("the worker's pipe closed")
        done += got
    return buffer


def receive_bytes(pipe: Connection) -> bytearray:
    """One message ``send_bytes`` sent, read straight into one buffer of its size.

    ``Connection.recv_bytes`` reads a message of a megabyte by asking for all that is left at
    each read, so every read allocates (and the kernel maps and faults in) a buffer of the whole
    remainder, then copies the chunk into a BytesIO and that into the result: ~1 ms of CPU for a
    batch of 250 events, 4 µs an event. The framing read here is the one ``send_bytes`` writes
    (``multiprocessing.connection``: a 4-byte big-endian signed length, or -1 and an 8-byte
    length for a message over 2 GiB)."""
    descriptor = pipe.fileno()
    (size,) = struct.unpack("!i", _read_exactly(descriptor, 4))
    if size == -1:
        (size,) = struct.unpack("!Q", _read_exactly(descriptor, 8))
    return _read_exactly(descriptor, size)


# --- the worker process ---------------------------------------------------------------------------

class _ServerLink:
    """The worker's end of the pipe: sends batches, completes each batch's future with the
    server's answer (answers come in the order batches were sent)."""

    def __init__(self, pipe: Connection, on_stop: Callable[[float], None]) -> None:
        self._pipe = pipe
        self._on_stop = on_stop
        self._send_lock = threading.Lock()
        self._waiting: dict[int, Future[int]] = {}
        self._next = 0
        self._closed = False
        self._reader = threading.Thread(target=self._read, name="nephoscope-worker-link", daemon=True)
        self._reader.start()

    def send(self, message: tuple) -> None:
        with self._send_lock:
            self._pipe.send(message)

    def store(self, batch: EventBatch) -> Future[int]:
        """Send ``batch``; the future completes with the number of new events once it is durable."""
        future: Future[int] = Future()
        with self._send_lock:
            if self._closed:
                future.set_exception(StoreFailed("the server went away"))
                return future
            self._next += 1
            self._waiting[self._next] = future
            header, streams = batch.parts()
            self._pipe.send(("batch", self._next, header))
            for stream in streams:  # raw bytes: no pickling of megabytes
                self._pipe.send_bytes(stream)
        return future

    def _read(self) -> None:
        while True:
            try:
                message = self._pipe.recv()
            except (EOFError, OSError):
                break
            kind = message[0]
            if kind in ("stored", "failed"):
                with self._send_lock:
                    future = self._waiting.pop(message[1], None)
                if future is None:
                    continue
                if kind == "stored":
                    future.set_result(int(message[2]))
                else:
                    future.set_exception(StoreFailed(message[2]))
            elif kind == "stop":
                threading.Thread(target=self._on_stop, args=(float(message[1]),), daemon=True).start()
        # The server is gone: nothing in flight can be stored (the broker requeues it), stop.
        with self._send_lock:
            self._closed = True
            waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            future.set_exception(StoreFailed("the server went away"))
        self._on_stop(0.0)


def settle_collector() -> None:
    """Set a worker's garbage collector for parsing: parsing makes and drops many small
    containers, and what lives long (the catalog, its decoders) was made before. Freezing that
    and collecting less often keeps the collector from re-scanning it at every batch."""
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def worker_main(settings: BrokerSettings, definitions: Sequence[str], pipe: Connection, log_level: str) -> None:
    """The body of a worker process (``multiprocessing`` spawns it with these arguments)."""
    from nephoscope.logsetup import setup_logging

    setup_logging(log_level)
    catalog = Catalog.load([Path(p) for p in definitions] if definitions else None)
    stopped = threading.Event()
    consumer: NotificationConsumer | None = None

    def stop(seconds: float) -> None:
        if consumer is not None:
            consumer.stop(seconds)
        stopped.set()

    link = _ServerLink(pipe, stop)

    def sink(messages: list[RawMessage]) -> Future[int]:
        # Parsed here, on the consumer's thread; stored by the server while the next batch is read.
        return link.store(from_bodies(messages, catalog))

    consumer = NotificationConsumer(settings, sink)
    settle_collector()
    consumer.start()
    while not stopped.wait(_STATS_EVERY):
        with contextlib.suppress(Exception):
            link.send(("stats", consumer.stats()))
    with contextlib.suppress(Exception):
        link.send(("stats", consumer.stats()))
        pipe.close()


# --- the server's side ----------------------------------------------------------------------------

@dataclass
class _Worker:
    settings: BrokerSettings
    index: int
    process: Any = None
    pipe: Connection | None = None
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    stats: dict[str, Any] = field(default_factory=dict)
    restarts: int = 0
    thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return f"nephoscope-events-{self.settings.label}-{self.index}"


class WorkerPool:
    """The server's worker processes for every broker, and the threads that store their batches."""

    def __init__(self, brokers: Sequence[BrokerSettings], per_broker: int, store: Callable[[EventBatch], int],
                 definitions: Sequence[str] = (), log_level: str | None = None) -> None:
        if per_broker < 1:
            raise ValueError("per_broker must be >= 1")
        self._store = store
        self._definitions = list(definitions)
        self._log_level = log_level or logging.getLevelName(logging.getLogger().getEffectiveLevel())
        self._context = multiprocessing.get_context("spawn")  # the server has threads: never fork it
        self._workers = [_Worker(settings, index) for settings in brokers for index in range(per_broker)]
        self._stopping = threading.Event()

    def start(self) -> None:
        self._stopping.clear()
        for worker in self._workers:
            self._spawn(worker)

    def _spawn(self, worker: _Worker) -> None:
        ours, theirs = self._context.Pipe(duplex=True)
        settings = worker.settings
        worker.process = self._context.Process(target=worker_main, name=worker.name, daemon=True,
                                               args=(settings, self._definitions, theirs, self._log_level))
        worker.process.start()
        theirs.close()
        worker.pipe = ours
        worker.thread = threading.Thread(target=self._serve, args=(worker,), name=f"{worker.name}-read", daemon=True)
        worker.thread.start()

    def _serve(self, worker: _Worker) -> None:
        """Read the worker's pipe without pause (so its sends never wait on a store in progress);
        a second thread stores the batches in order and answers."""
        pipe = worker.pipe
        assert pipe is not None
        batches: queue.Queue[tuple[int, EventBatch] | None] = queue.Queue()
        storer = threading.Thread(target=self._store_batches, args=(worker, pipe, batches),
                                  name=f"{worker.name}-store", daemon=True)
        storer.start()
        while True:
            try:
                message = pipe.recv()
            except (EOFError, OSError):
                break
            kind = message[0]
            if kind == "batch":
                try:
                    streams = [receive_bytes(pipe) for _ in range(4)]
                except (EOFError, OSError):
                    break
                # at most ``in_flight`` wait here: the worker bounds it
                batches.put((message[1], EventBatch.from_parts(message[2], streams)))
            elif kind == "stats":
                worker.stats = message[1]
        batches.put(None)
        storer.join()
        with contextlib.suppress(Exception):
            pipe.close()
        worker.process.join(5)
        if self._stopping.is_set():
            return
        worker.restarts += 1
        delay = backoff(worker.restarts, _RESTART_BASE, _RESTART_MAX)
        log.warning("events: worker %s ended (exit code %s); starting it again in %.1fs",
                    worker.name, worker.process.exitcode, delay)
        if not self._stopping.wait(delay):
            self._spawn(worker)

    def _store_batches(self, worker: _Worker, pipe: Connection,
                       batches: queue.Queue[tuple[int, EventBatch] | None]) -> None:
        while (item := batches.get()) is not None:
            request, batch = item
            try:
                answer: tuple = ("stored", request, self._store(batch))
            except Exception as error:  # noqa: BLE001 - the worker nacks; the broker keeps the messages
                log.warning("events: could not store a batch from %s: %s", worker.name, error)
                answer = ("failed", request, f"{type(error).__name__}: {error}")
            try:
                with worker.send_lock:
                    pipe.send(answer)
            except OSError:
                return

    def stop(self, timeout: float = 30.0) -> None:
        """Ask every worker to drain and acknowledge what it holds, then end it."""
        self._stopping.set()
        for worker in self._workers:
            if worker.pipe is not None:
                with contextlib.suppress(OSError), worker.send_lock:
                    worker.pipe.send(("stop", timeout))
        deadline = time.monotonic() + timeout + 15
        for worker in self._workers:
            if worker.thread is not None:
                worker.thread.join(max(0.1, deadline - time.monotonic()))
            if worker.process is not None and worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(5)

    def wait_connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(worker.stats.get("connected") for worker in self._workers):
                return True
            time.sleep(0.1)
        return False

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per broker: the workers' consumer figures summed, plus per-worker restarts."""
        merged: dict[str, dict[str, Any]] = {}
        for worker in self._workers:
            entry = merged.setdefault(worker.settings.label, {"workers": 0, "restarts": 0, "connected": True,
                                                               "direct_reads": True, "queues": {}})
            entry["workers"] += 1
            entry["restarts"] += worker.restarts
            for flag in ("connected", "direct_reads"):
                entry[flag] = entry[flag] and bool(worker.stats.get(flag))
            for key, value in worker.stats.items():
                if key == "queues":
                    for queue_name, count in value.items():
                        entry["queues"][queue_name] = entry["queues"].get(queue_name, 0) + count
                elif isinstance(value, (int, float)) and not isinstance(value, bool):
                    entry[key] = entry.get(key, 0) + value
                elif key == "last_error" and value:
                    entry["last_error"] = value
        return merged


