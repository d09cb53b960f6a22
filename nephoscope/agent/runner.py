"""The agent's loops: collect every interval, close windows into the spool, send the spool.

Three threads, so that no stage waits for another: the collector (every ``interval``, aligned
to the clock; closed windows are written to the spool), the sender (sends the oldest spooled
batch until the spool is empty, backing off with jitter while the server is unreachable or
busy) and, when log files are configured, the log shipper (tails, ships to the logs API,
commits file offsets only after the server acknowledged — the log files are their own spool).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from nephoscope.agent.aggregate import Aggregator, Summary
from nephoscope.agent.collectors.checks import HttpCollector, ProcessCollector
from nephoscope.agent.collectors.host import HostCollector
from nephoscope.agent.config import AgentConfig
from nephoscope.agent.push import Outcome, Sender, encode_monasca, encode_native
from nephoscope.agent.samples import Collector, Sample
from nephoscope.agent.spool import EncodedBatch, Spool
from nephoscope.retry import backoff

log = logging.getLogger(__name__)


def build_collectors(config: AgentConfig) -> list[Collector]:
    collectors: list[Collector] = []
    if config.host.enabled:
        collectors.append(HostCollector(config.host.ignore_filesystems))
    if config.libvirt.enabled != "false":
        try:
            from nephoscope.agent.collectors.libvirt import LibvirtCollector
        except ImportError:
            LibvirtCollector = None
        if LibvirtCollector is not None and (config.libvirt.enabled == "true" or LibvirtCollector.available()):
            collectors.append(LibvirtCollector(config.libvirt.uri))
        elif config.libvirt.enabled == "true":
            log.warning("libvirt is enabled but libvirt-python does not import: no instance metrics")
    if config.http_check:
        collectors.append(HttpCollector(config.http_check))
    if config.process:
        collectors.append(ProcessCollector(config.process))
    return collectors


class Agent:
    def __init__(self, config: AgentConfig, collectors: list[Collector] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.hostname = config.agent.hostname or socket.gethostname()
        self.collectors = build_collectors(config) if collectors is None else collectors
        self.aggregator = Aggregator(config.agent.window)
        self.spool = Spool(Path(config.agent.spool_dir) / "metrics", config.agent.spool_max_bytes)
        self.sender = Sender(config.push.url, config.push.token, config.push.timeout)
        self.stop_event = threading.Event()  # stops sending and log shipping
        self._stop_collecting = threading.Event()
        self.sent_batches = 0
        self.rejected_batches = 0
        self.send_failures = 0
        self.samples_collected = 0
        self._process = psutil.Process()
        self._process.cpu_percent(None)
        self._threads: list[threading.Thread] = []
        self.log_shipper = None
        if config.logs.paths:
            from nephoscope.agent.logship import LogShipper

            self.log_shipper = LogShipper(config, self.hostname)

    # -- collecting -------------------------------------------------------------------------------
    def _dimensions(self, sample: Sample) -> Sample:
        dimensions = {"hostname": self.hostname, **self.config.agent.dimensions, **sample.dimensions}
        return Sample(sample.name, sample.value, dimensions, sample.kind)

    def collect_once(self) -> list[Sample]:
        samples: list[Sample] = []
        started = time.perf_counter()
        for collector in self.collectors:
            try:
                samples += collector.collect()
            except Exception:
                log.exception("collector %s failed", collector.name)
        samples += self._own_metrics(time.perf_counter() - started)
        self.samples_collected += len(samples)
        return [self._dimensions(sample) for sample in samples]

    def _own_metrics(self, collect_seconds: float) -> list[Sample]:
        """The agent reports on itself, so a spool that fills or drops is seen on the server."""
        memory = self._process.memory_info().rss / 1024 / 1024
        own = [Sample("nephoscope.agent.cpu_perc", self._process.cpu_percent(None)),
               Sample("nephoscope.agent.rss_mb", memory),
               Sample("nephoscope.agent.collect_seconds", collect_seconds),
               Sample("nephoscope.agent.spool_bytes", float(self.spool.bytes)),
               Sample("nephoscope.agent.spool_batches", float(len(self.spool))),
               Sample("nephoscope.agent.spool_dropped_points", float(self.spool.dropped_points)),
               Sample("nephoscope.agent.send_failures", float(self.send_failures))]
        if self.log_shipper is not None:
            own += self.log_shipper.own_metrics()
        return own

    def encode(self, summaries: list[Summary]) -> EncodedBatch:
        push = self.config.push
        if push.api == "monasca":
            return encode_monasca(summaries, push.tenant_id)
        return encode_native(summaries, push.compression, push.tenant_id)

    def _baseline(self) -> None:
        """Take the CPU readings the first shares are measured from, now: they then cover the host's
        time from here on, not the agent's own start-up (imports, connecting to libvirt). Counters need
        no baseline: the aggregator's rates start at their second reading."""
        for collector in self.collectors:
            prime = getattr(collector, "prime", None)
            if prime is not None:
                prime()
        self._process.cpu_percent(None)

    def _collect_loop(self) -> None:
        interval = self.config.agent.interval
        self._baseline()
        self._stop_collecting.wait(max(0.0, (self.clock() // interval + 1) * interval - self.clock()))
        while not self._stop_collecting.is_set():
            now = self.clock()
            samples = self.collect_once()
            self.aggregator.add(samples, now)
            self.aggregator.forget({sample.key() for sample in samples})
            closed = self.aggregator.close(now)
            if closed:
                self.spool.append(self.encode(closed))
            next_tick = (now // interval + 1) * interval
            self._stop_collecting.wait(max(0.0, next_tick - self.clock()))
        closed = self.aggregator.flush()  # the open window, so a restart does not lose it
        if closed:
            self.spool.append(self.encode(closed))

    # -- sending ----------------------------------------------------------------------------------
    def _send_loop(self) -> None:
        attempt = 0
        while not self.stop_event.is_set():
            oldest = self.spool.oldest(wait=1.0)
            if oldest is None:
                continue
            path, batch = oldest
            answer = self.sender.send(batch)
            if answer.outcome is Outcome.SENT:
                self.spool.remove(path)
                self.sent_batches += 1
                attempt = 0
                continue
            if answer.outcome is Outcome.REJECTED:
                self.spool.remove(path)
                self.rejected_batches += 1
                log.error("the server rejected a batch of %d points for good (%s); it is dropped", batch.points,
                          answer.detail)
                continue
            self.spool.release()
            self.send_failures += 1
            attempt += 1
            delay = answer.retry_after if answer.retry_after is not None else backoff(
                attempt, 1.0, self.config.push.backoff_max, jitter=0.4)
            if attempt == 1 or attempt % 10 == 0:
                log.warning("cannot send to %s (%s); %d batches spooled, retrying in %.1fs", self.config.push.url,
                            answer.detail, len(self.spool), delay)
            self.stop_event.wait(delay)

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        loops = [("agent-collect", self._collect_loop), ("agent-send", self._send_loop)]
        if self.log_shipper is not None:
            loops.append(("agent-logs", lambda: self.log_shipper.run(self.stop_event)))
        for name, target in loops:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("agent on %s: %d collectors, every %gs, windows of %gs, pushing to %s (%s API)", self.hostname,
                 len(self.collectors), self.config.agent.interval, self.config.agent.window, self.config.push.url,
                 self.config.push.api)

    def stop(self, timeout: float = 15.0) -> None:
        """Close the open window into the spool, give the sender ``timeout`` to empty it (what
        remains is sent by the next start), then stop."""
        self._stop_collecting.set()
        if self._threads:
            self._threads[0].join(timeout)
        deadline, failures = time.monotonic() + timeout, self.send_failures
        while len(self.spool) and time.monotonic() < deadline and self.send_failures - failures < 2:
            time.sleep(0.05)  # the server is there: let the last windows go; it is not: leave them spooled
        self.stop_event.set()
        for thread in self._threads[1:]:
            thread.join(timeout)
        self.sender.close()
        for collector in self.collectors:
            close = getattr(collector, "close", None)
            if close is not None:
                close()

    def run_forever(self) -> None:
        self.start()
        try:
            while not self.stop_event.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def once(self) -> list[Summary]:
        """A baseline, then two collections a second apart, summarised as one window: what the host
        did in those two seconds, not what starting the agent cost it."""
        self._baseline()
        time.sleep(1.0)
        first = self.clock()
        self.aggregator.add(self.collect_once(), first)
        time.sleep(1.0)
        self.aggregator.add(self.collect_once(), max(self.clock(), first + 1.0))
        return self.aggregator.flush()

