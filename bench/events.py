"""Consuming OpenStack notifications from RabbitMQ into the events store.

A backlog of ``--messages`` persistent ~2 KB notifications (nova's instance samples in
oslo.messaging v2 envelopes, unique message ids) is published to a fresh vhost on the local
broker; then the whole pipeline the server runs — consumer (own queues, prefetch, ack after
the store), envelope parsing, the catalog, failure summaries, the DuckDB store — drains it.
Reported: messages/s stored, the consumer's peak unacked window, the broker's memory and
whether its memory alarm went off, and this process's peak RSS.
Target (issue 5): >= 20,000 notifications/s sustained; a backlog drained at >= 5x the steady rate.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import aio_pika  # noqa: E402
import psutil  # noqa: E402

import common  # noqa: E402
from common import Report, log  # noqa: E402


def parse_args(argv=None):
    ap = common.make_parser(__doc__, epilog="examples:\n  .venv/bin/python bench/events.py\n"
                            "  .venv/bin/python bench/events.py --messages 1000000\n")
    ap.add_argument("--messages", type=int, default=200_000, help="backlog size")
    ap.add_argument("--workers", type=int, default=1, help="consumer worker processes (0: in the server process)")
    ap.add_argument("--prefetch", type=int, default=1000, help="unacked messages per broker connection")
    ap.add_argument("--batch", type=int, default=500, help="messages per batch")
    ap.add_argument("--no-write", action="store_true", help="do not write bench/results/events.json")
    return ap.parse_args(argv)


def ctl(*args: str) -> str:
    return subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=120).stdout


def broker_memory() -> tuple[int, bool]:
    """(bytes used, memory alarm on) from rabbitmqctl status."""
    status = json.loads(ctl("status", "--formatter", "json") or "{}")
    used = int(status.get("memory", {}).get("total", {}).get("rss", 0) or 0)
    return used, bool(status.get("alarms"))


def bodies(count: int) -> list[bytes]:
    from tests.test_events_catalog import load_samples

    samples = [s for name, s in load_samples().items() if name.startswith("instance-") and s["priority"] == "INFO"]
    context = {f"_context_{k}": v for k, v in {"project_id": "6f70656e737461636b20342065766572", "user_id": "u1",
                                                "request_id": "req-1", "global_request_id": None}.items()}
    out = []
    for index in range(count):
        sample = samples[index % len(samples)]
        message = {"message_id": str(uuid.uuid4()), "publisher_id": sample["publisher_id"],
                   "event_type": sample["event_type"], "priority": "INFO", "payload": sample["payload"],
                   "timestamp": "2026-11-25 05:00:00.000000", **context}
        out.append(json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(message)}).encode())
    return out


async def publish(url: str, payloads: list[bytes]) -> float:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange("nova", aio_pika.ExchangeType.TOPIC, durable=False)
        started = time.perf_counter()
        for begin in range(0, len(payloads), 2000):
            await asyncio.gather(*(exchange.publish(aio_pika.Message(body, delivery_mode=2),
                                                    routing_key="versioned_notifications.info")
                                   for body in payloads[begin:begin + 2000]))
        return len(payloads) / (time.perf_counter() - started)


def declare_queues(settings) -> None:  # noqa: ANN001
    """Bind our queues before publishing, as a running server would have."""
    from nephoscope.events.consumer import NotificationConsumer

    consumer = NotificationConsumer(settings, lambda batch: None)
    consumer.start()
    consumer.wait_connected(30)
    consumer.stop()


async def drain(settings, data_dir: Path, expected: int, workers: int, rep: Report) -> None:  # noqa: ANN001
    from nephoscope.events.service import EventService

    service = EventService(data_dir, [settings], workers=workers)
    server = psutil.Process()
    broker = next(p for p in psutil.process_iter(["name"]) if p.info["name"] == "beam.smp")
    await service.start()
    await asyncio.to_thread(service.wait_connected, 60)
    workers_now = server.children()
    peak_rss = {"server": 0, "workers": 0}
    cpu_before = {"server": cpu_seconds([server]), "workers": cpu_seconds(workers_now), "broker": cpu_seconds([broker])}
    started = time.perf_counter()
    with common.progress() as bar:
        task = bar.add_task("draining", total=expected, info="")
        while service.counters.stored < expected and time.perf_counter() - started < 1800:
            await asyncio.sleep(0.5)
            peak_rss["server"] = max(peak_rss["server"], server.memory_info().rss)
            peak_rss["workers"] = max(peak_rss["workers"], sum(rss(p) for p in workers_now))
            bar.update(task, completed=service.counters.stored, info=f"{service.counters.stored:,} stored")
    elapsed = time.perf_counter() - started
    cpu = {"server": cpu_seconds([server]) - cpu_before["server"],
           "workers": cpu_seconds(workers_now) - cpu_before["workers"],
           "broker": cpu_seconds([broker]) - cpu_before["broker"]}
    stats = service.stats()
    await service.stop()
    consumer = next(iter(stats.get("consumers", {}).values()), {})
    stored = service.counters.stored
    rep.add("drain.messages_stored", stored, "messages")
    rep.add("drain.messages_per_s", stored / elapsed, "msg/s", target=20_000, op=">=",
            note=f"consumer + parse + catalog + failures + DuckDB; {workers} worker process(es) + server; "
                 "broker on the same 2 cores")
    for part in ("server", "workers", "broker"):
        rep.add(f"drain.cpu_cores.{part}", cpu[part] / elapsed, "cores")
        rep.add(f"drain.cpu_us_per_message.{part}", cpu[part] / max(stored, 1) * 1e6, "µs")
    rep.add("drain.peak_unacked", consumer.get("pending_high_water"), "messages", note="bounded by prefetch")
    rep.add("drain.server_rss_peak_mb", peak_rss["server"] / 2**20, "MB")
    rep.add("drain.workers_rss_peak_mb", peak_rss["workers"] / 2**20, "MB")


def cpu_seconds(processes) -> float:  # noqa: ANN001
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def rss(process) -> int:  # noqa: ANN001
    try:
        return process.memory_info().rss
    except psutil.Error:
        return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    from nephoscope.events.consumer import RabbitSettings

    rep = Report("events", vars(args))
    vhost = f"nephoscope-bench-{uuid.uuid4().hex[:8]}"
    ctl("add_vhost", vhost)
    ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    url = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    settings = RabbitSettings(url=url, exchanges=["nova"], topics=["versioned_notifications"], prefetch=args.prefetch,
                              batch_size=args.batch,
                              queue_arguments={"x-queue-mode": "lazy"})
    try:
        declare_queues(settings)
        log(f"encoding {args.messages:,} notifications")
        payloads = bodies(args.messages)
        rep.add("backlog.bytes_per_message", sum(map(len, payloads)) / len(payloads), "B")
        log("publishing the backlog (persistent, confirmed)")
        rep.add("backlog.publish_per_s", asyncio.run(publish(url, payloads)), "msg/s")
        del payloads  # the bench process is the server: its RSS must be the server's own
        memory_before, _ = broker_memory()
        with tempfile.TemporaryDirectory(prefix="bench-events-") as directory:
            asyncio.run(drain(settings, Path(directory), args.messages, args.workers, rep))
        memory_after, alarm = broker_memory()
        rep.add("broker.rss_mb_after_publish", memory_before / 2**20, "MB")
        rep.add("broker.memory_alarm", alarm, note="rabbitmqctl status alarms")
    except Exception as error:  # noqa: BLE001 - reported
        rep.error("events", error)
    finally:
        ctl("delete_vhost", vhost)
    return rep.finish(write=not args.no_write)


if __name__ == "__main__":
    sys.exit(main())
