"""Consuming OpenStack notifications from RabbitMQ into the events store.

The whole pipeline the server runs — consumer worker processes (own queues, prefetch, ack after
the store), envelope parsing, the catalog, failure summaries, lifecycle rows, the events store —
against the local broker, with persistent ~2.9 KB notifications (nova's instance samples in
oslo.messaging v2 envelopes, a fresh message id each), in two phases:

* steady: a publisher process sends ``--rate`` notifications/s for ``--seconds`` while the server
  consumes; reported: the queue depth over time (it must stay flat), the server's and the workers'
  RSS, the broker's memory;
* backlog: ``--messages`` are published with nobody consuming (an outage), then the server drains
  them; reported: drain rate, CPU per part, peak RSS, whether the broker's memory alarm went off;
* parse (not run by default; no broker): a worker's parsing of one batch (``events.batch.
  from_bodies``) on one core, the ``oslo.message`` projected (what the workers do) against decoded
  whole, alternating, median of ``--rounds`` rounds.

Targets (issue 5): sustained consumption >= 20,000/s; the backlog drained at >= 5x the steady rate;
flat queue depth and bounded RSS; the broker below its memory alarm throughout.

The publisher runs in its own process so the server's (this process's) RSS is its own. The queue is
declared lazy (RabbitMQ 3.10 here; 3.12+ classic queues behave so by default), so a backlog sits on
the broker's disk, not in its memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common  # noqa: E402
import psutil  # noqa: E402
from common import Report, log  # noqa: E402

QUEUE = "nephoscope.bench.versioned_notifications"
SPAWN = mp.get_context("spawn")  # the server side has threads: never fork


def parse_args(argv=None):
    ap = common.make_parser(__doc__, epilog="examples:\n  .venv/bin/python bench/events.py\n"
                            "  .venv/bin/python bench/events.py --messages 1000000 --rate 4000 --seconds 120\n"
                            "  .venv/bin/python bench/events.py --phases backlog --messages 200000 --workers 1\n"
                            "  .venv/bin/python bench/events.py --phases parse --no-write\n")
    ap.add_argument("--phases", default="steady,backlog", help="which phases to run: steady, backlog, parse")
    ap.add_argument("--rounds", type=int, default=15, help="parse phase: alternating rounds of each way")
    ap.add_argument("--messages", type=int, default=1_000_000, help="backlog size")
    ap.add_argument("--rate", type=int, default=4000, help="steady publish rate, notifications/s")
    ap.add_argument("--seconds", type=float, default=60.0, help="steady phase duration")
    ap.add_argument("--workers", type=int, default=2, help="consumer worker processes (0: in the server process)")
    from nephoscope.events.consumer import BrokerSettings

    defaults = BrokerSettings()  # measure what the server runs unless told otherwise
    ap.add_argument("--prefetch", type=int, default=defaults.prefetch, help="unacked messages per broker connection")
    ap.add_argument("--batch", type=int, default=defaults.batch_size, help="messages per batch")
    ap.add_argument("--queue-mode", choices=("lazy", "default"), default="lazy",
                    help="RabbitMQ < 3.12 classic queue mode: lazy keeps a backlog on disk, default in memory")
    ap.add_argument("--queue-version", type=int, choices=(1, 2), default=None,
                    help="classic queue storage version (x-queue-version, RabbitMQ 3.10+); default: the broker's")
    ap.add_argument("--settle", type=float, default=0.0, metavar="SECONDS",
                    help="after publishing the backlog, wait up to this long for the host to be back at its usual "
                         "speed (common.reference_ms <= --settled-ms) before draining: the publishers' minutes at "
                         "full load on the same cores slow a shared host down, which a real outage (publishers "
                         "elsewhere) would not")
    ap.add_argument("--settled-ms", type=float, default=115.0, help="the reference reading that counts as settled")
    ap.add_argument("--no-write", action="store_true", help="do not write bench/results/events.json")
    return ap.parse_args(argv)


def ctl(*args: str) -> str:
    return subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=120).stdout


@contextlib.contextmanager
def throwaway_vhost() -> Iterator[str]:
    """The AMQP URL of a vhost of its own on the local broker (guest may use it), deleted after."""
    vhost = f"nephoscope-bench-{uuid.uuid4().hex[:8]}"
    ctl("add_vhost", vhost)
    ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        ctl("delete_vhost", vhost)


def broker_status() -> tuple[int, bool, int]:
    """(memory in bytes, memory alarm on, the memory high watermark in bytes) from rabbitmqctl."""
    status = json.loads(ctl("status", "--formatter", "json") or "{}")
    used = int(status.get("memory", {}).get("total", {}).get("rss", 0) or 0)
    limit = int(status.get("vm_memory_high_watermark_limit", 0) or 0)
    return used, bool(status.get("alarms")), limit


def broker_process() -> psutil.Process:
    return next(p for p in psutil.process_iter(["name"]) if p.info["name"] == "beam.smp")


# -- the publisher process ---------------------------------------------------------------------------

def _templates() -> list[tuple[str, str, object]]:
    from tests.support.notifications import load_samples

    return [(s["event_type"], s["publisher_id"], s["payload"]) for name, s in sorted(load_samples().items())
            if name.startswith("instance-") and s["priority"] == "INFO"]


def _body(template: tuple[str, str, object]) -> bytes:
    event_type, publisher, payload = template
    message = {"message_id": str(uuid.uuid4()), "publisher_id": publisher, "event_type": event_type,
               "priority": "INFO", "payload": payload, "timestamp": "2026-11-25 05:00:00.000000",
               "_context_project_id": "6f70656e737461636b20342065766572", "_context_user_id": "u1",
               "_context_request_id": f"req-{uuid.uuid4()}", "_context_global_request_id": None}
    return json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(message)}).encode()


def publisher(url: str, total: int, rate: float, sent) -> None:  # noqa: ANN001
    """Publish ``total`` persistent notifications to exchange nova (``rate`` per second, 0 = as fast
    as possible), counting them in ``sent``."""
    import pika

    templates = _templates()
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.exchange_declare("nova", exchange_type="topic", passive=True)
    properties = pika.BasicProperties(delivery_mode=2, content_type="application/json")
    started = time.perf_counter()
    count = 0
    while count < total:
        target = total if rate <= 0 else min(total, int((time.perf_counter() - started) * rate) + 1)
        while count < target:
            channel.basic_publish("nova", "versioned_notifications.info", _body(templates[count % len(templates)]),
                                  properties)
            count += 1
            if count % 1000 == 0:
                sent.value = count
                connection.process_data_events(0)
        sent.value = count
        if rate > 0:
            time.sleep(0.002)
    connection.process_data_events(0)
    connection.close()


def queue_depth(url: str) -> int:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return connection.channel().queue_declare(QUEUE, passive=True).method.message_count
    finally:
        connection.close()


# -- the server side -------------------------------------------------------------------------------

def cpu_seconds(processes) -> float:  # noqa: ANN001
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def rss(processes) -> int:  # noqa: ANN001
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            pass
    return total


def settings_for(url: str, args):  # noqa: ANN001, ANN201
    from nephoscope.events.consumer import BrokerSettings

    return BrokerSettings(url=url, exchanges=["nova"], topics=["versioned_notifications"], queue_prefix="nephoscope",
                          name="bench", prefetch=args.prefetch, batch_size=args.batch,
                          queue_arguments=queue_arguments(args))


def queue_arguments(args) -> dict[str, object]:  # noqa: ANN001
    arguments: dict[str, object] = {"x-queue-mode": "lazy"} if args.queue_mode == "lazy" else {}
    if args.queue_version is not None:
        arguments["x-queue-version"] = args.queue_version
    return arguments


def declare(settings) -> None:  # noqa: ANN001
    """Bind our queue before anything is published, as a running server would have."""
    from nephoscope.events.consumer import NotificationConsumer

    consumer = NotificationConsumer(settings, lambda batch: None)
    consumer.start()
    consumer.wait_connected(30)
    consumer.stop()


async def steady(url: str, settings, data_dir: Path, args, rep: Report) -> float:  # noqa: ANN001
    from nephoscope.events.service import EventService

    service = EventService(data_dir, [settings], workers=args.workers)
    server, broker = psutil.Process(), broker_process()
    _, alarm, limit = await asyncio.to_thread(broker_status)
    await service.start()
    await asyncio.to_thread(service.wait_connected, 60)
    total = int(args.rate * args.seconds)
    sent = SPAWN.Value("q", 0)
    process = SPAWN.Process(target=publisher, args=(url, total, args.rate, sent))
    depths, server_rss, worker_rss, broker_rss = [], 0, 0, 0
    started = time.perf_counter()
    process.start()
    with common.progress() as bar:
        task = bar.add_task("steady", total=total, info="")
        while process.is_alive() or service.counters.stored < sent.value:
            await asyncio.sleep(1.0)
            depths.append(await asyncio.to_thread(queue_depth, url))
            server_rss = max(server_rss, rss([server]))
            worker_rss = max(worker_rss, rss(server.children()))
            broker_rss = max(broker_rss, rss([broker]))  # /proc, as in the backlog phase
            alarm = alarm or broker_rss >= limit
            bar.update(task, completed=service.counters.stored, info=f"depth {depths[-1]:,}")
            if time.perf_counter() - started > args.seconds * 3 + 60:
                break
    elapsed = time.perf_counter() - started
    process.join()
    await service.stop()
    alarm = alarm or (await asyncio.to_thread(broker_status))[1]
    published = sent.value
    rate = published / args.seconds
    rep.add("steady.published_per_s", rate, "msg/s", note=f"{published:,} in {args.seconds:.0f} s")
    rep.add("steady.stored", service.counters.stored, "messages")
    rep.add("steady.depth_max", max(depths), "messages", note="queue depth sampled every second")
    half = len(depths) // 2
    rep.add("steady.depth_mean_first_half", sum(depths[:half]) / max(half, 1), "messages")
    rep.add("steady.depth_mean_second_half", sum(depths[half:]) / max(len(depths) - half, 1), "messages",
            note="flat: no growth from the first half to the second")
    rep.add("steady.depth_flat", max(depths) <= max(2 * args.prefetch, args.rate), "",
            target=True, op="==", note="never more than a second of traffic (or the prefetch) waiting")
    rep.add("steady.server_rss_peak_mb", server_rss / 2**20, "MB")
    rep.add("steady.workers_rss_peak_mb", worker_rss / 2**20, "MB")
    rep.add("steady.broker_rss_peak_mb", broker_rss / 2**20, "MB")
    rep.add("steady.broker_memory_alarm", alarm, "")
    rep.add("steady.elapsed_s", elapsed, "s")
    return rate


async def backlog(url: str, settings, data_dir: Path, args, rep: Report, steady_rate: float | None) -> None:  # noqa: ANN001
    from nephoscope.events.service import EventService

    log(f"publishing a backlog of {args.messages:,} persistent notifications with nobody consuming")
    started = time.perf_counter()
    shares = (args.messages - args.messages // 2, args.messages // 2)  # two publishers: one is too slow
    counters = [SPAWN.Value("q", 0) for _ in shares]
    publishers = [SPAWN.Process(target=publisher, args=(url, share, 0, counter))
                  for share, counter in zip(shares, counters)]
    for process in publishers:
        process.start()
    with common.progress() as bar:
        task = bar.add_task("publishing", total=args.messages, info="")
        while any(p.is_alive() for p in publishers):
            await asyncio.sleep(0.5)
            bar.update(task, completed=sum(c.value for c in counters))
    depth = await asyncio.to_thread(queue_depth, url)
    rep.add("backlog.publish_per_s", args.messages / (time.perf_counter() - started), "msg/s")
    rep.add("backlog.queue_depth", depth, "messages")
    used, alarm, limit = await asyncio.to_thread(broker_status)
    rep.add("backlog.broker_rss_mb", used / 2**20, "MB", note=f"memory alarm at {limit / 2**20:,.0f} MB")

    settling = time.monotonic()
    reference_before = common.reference_ms()
    while reference_before > args.settled_ms and time.monotonic() - settling < args.settle:
        await asyncio.sleep(5)
        reference_before = common.reference_ms()
    if args.settle:
        rep.add("backlog.settle_wait_s", time.monotonic() - settling, "s",
                note=f"waited for a reference reading <= {args.settled_ms:.0f} ms")
    service = EventService(data_dir, [settings], workers=args.workers)
    server, broker = psutil.Process(), broker_process()
    await service.start()
    await asyncio.to_thread(service.wait_connected, 60)
    workers = server.children()
    peak = {"server": 0, "workers": 0, "broker": used}
    before = {"server": cpu_seconds([server]), "workers": cpu_seconds(workers), "broker": cpu_seconds([broker])}
    started = time.perf_counter()
    with common.progress() as bar:
        task = bar.add_task("draining", total=depth, info="")
        while service.counters.stored < depth and time.perf_counter() - started < 3600:
            await asyncio.sleep(0.25)
            peak["server"] = max(peak["server"], rss([server]))
            peak["workers"] = max(peak["workers"], rss(workers))
            # The broker's RSS from /proc, not rabbitmqctl: each rabbitmqctl call starts an Erlang
            # VM (~0.8 s of CPU), which the drain would pay for. RabbitMQ's memory alarm compares
            # its RSS (vm_memory_calculation_strategy = rss) with the watermark.
            peak["broker"] = max(peak["broker"], rss([broker]))
            alarm = alarm or peak["broker"] >= limit
            bar.update(task, completed=service.counters.stored, info=f"{service.counters.stored:,} stored")
    elapsed = time.perf_counter() - started
    cpu = {"server": cpu_seconds([server]) - before["server"], "workers": cpu_seconds(workers) - before["workers"],
           "broker": cpu_seconds([broker]) - before["broker"]}
    stats = service.stats()
    await service.stop()
    used, on, _ = await asyncio.to_thread(broker_status)
    alarm = alarm or on
    stored = service.counters.stored
    rate = stored / elapsed
    consumer = next(iter(stats.get("consumers", {}).values()), {})
    rep.add("backlog.stored", stored, "messages")
    rep.add("backlog.drain_per_s", rate, "msg/s", target=20_000, op=">=",
            note=f"{args.workers} worker process(es) + the server; broker on the same 2 cores")
    if steady_rate:
        rep.add("backlog.drain_over_steady", rate / steady_rate, "x", target=5, op=">=")
    for part in ("server", "workers", "broker"):
        rep.add(f"backlog.cpu_cores.{part}", cpu[part] / elapsed, "cores")
        rep.add(f"backlog.cpu_us_per_message.{part}", cpu[part] / max(stored, 1) * 1e6, "µs")
    rep.add("backlog.peak_unacked", consumer.get("pending_high_water"), "messages", note="bounded by the prefetch")
    rep.add("backlog.direct_reads", consumer.get("direct_reads"), "",
            note="every worker's deliveries read by events.amqp_frames (not pika's slower path)")
    rep.add("backlog.server_rss_peak_mb", peak["server"] / 2**20, "MB")
    rep.add("backlog.workers_rss_peak_mb", peak["workers"] / 2**20, "MB")
    rep.add("backlog.broker_rss_peak_mb", peak["broker"] / 2**20, "MB")
    rep.add("backlog.broker_memory_alarm", alarm, "", target=False, op="==")
    rep.add("backlog.parts", stats.get("table_parts"), "files")
    rep.add("machine.reference_ms_before", reference_before, "ms",
            note="fixed single-core work (common.reference_ms): ≈100 when this host ran fastest, up to ≈190 when it was slowed")
    rep.add("machine.reference_ms_after", common.reference_ms(), "ms", note="the same, after the drain")


def parse(args, rep: Report) -> None:  # noqa: ANN001
    """A worker's per-notification parsing, projected and whole (see the module)."""
    from nephoscope.events.batch import from_bodies
    from nephoscope.events.catalog import Catalog
    from nephoscope.events.workers import settle_collector

    catalog = Catalog.load()
    templates = _templates()
    messages = [(_body(templates[i % len(templates)]), "nova", "versioned_notifications.info")
                for i in range(args.batch)]
    repeats = max(1, 20_000 // len(messages))
    settle_collector()  # as in a worker
    timings: dict[bool, list[float]] = {False: [], True: []}
    with common.progress() as bar:
        task = bar.add_task("parsing", total=args.rounds * 2, info="")
        for _ in range(args.rounds):
            for whole in (False, True):  # alternating: this host's speed drifts
                started = time.process_time()
                for _ in range(repeats):
                    from_bodies(messages, catalog, whole=whole)
                timings[whole].append((time.process_time() - started) / (repeats * len(messages)) * 1e6)
                bar.advance(task)
    projected, whole = (sorted(timings[key])[len(timings[key]) // 2] for key in (False, True))
    rep.add("parse.us_per_message.projected", projected, "µs", note="events.projection: what the workers do")
    rep.add("parse.us_per_message.whole", whole, "µs", note="every document decoded whole (orjson)")
    rep.add("parse.speedup", whole / projected, "x")
    rep.add("parse.reference_ms", common.reference_ms(), "ms", note="this host's speed when measured")


def run(url: str, phases: set[str], args, rep: Report) -> None:
    settings = settings_for(url, args)
    declare(settings)
    rep.add("message.bytes", len(_body(_templates()[0])), "B", note="one notification on the wire")
    steady_rate = None
    with tempfile.TemporaryDirectory(prefix="bench-events-") as directory:
        if "steady" in phases:
            steady_rate = asyncio.run(steady(url, settings, Path(directory) / "steady", args, rep))
        if "backlog" in phases:
            asyncio.run(backlog(url, settings, Path(directory) / "backlog", args, rep,
                                steady_rate or (args.rate if "steady" not in phases else None)))


def main(argv=None) -> int:
    args = parse_args(argv)
    phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    rep = Report("events", vars(args))
    try:
        if "parse" in phases:
            parse(args, rep)
        if phases & {"steady", "backlog"}:
            with throwaway_vhost() as url:
                run(url, phases, args, rep)
    except Exception as error:  # noqa: BLE001 - reported
        rep.error("events", error)
    return rep.finish(write=not args.no_write)


if __name__ == "__main__":
    sys.exit(main())
