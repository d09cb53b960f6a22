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


async def declare_queues(url: str, settings) -> None:  # noqa: ANN001
    """Bind our queues before publishing, as a running server would have."""
    from nephoscope.events.consumer import NotificationConsumer

    consumer = NotificationConsumer(settings, lambda batch: asyncio.sleep(0))
    await consumer.start()
    await consumer.wait_connected(30)
    await consumer.stop()


async def drain(settings, data_dir: Path, expected: int, rep: Report) -> None:  # noqa: ANN001
    from nephoscope.events.service import EventService

    service = EventService(data_dir, [settings])
    process = psutil.Process()
    peak_rss = 0
    started = time.perf_counter()
    await service.start()
    with common.progress() as bar:
        task = bar.add_task("draining", total=expected, info="")
        while service.counters.stored < expected and time.perf_counter() - started < 900:
            await asyncio.sleep(0.5)
            peak_rss = max(peak_rss, process.memory_info().rss)
            bar.update(task, completed=service.counters.stored, info=f"{service.counters.stored:,} stored")
    elapsed = time.perf_counter() - started
    stats = service.stats()
    await service.stop()
    consumer = next(iter(stats.get("consumers", {}).values()), {})
    rep.add("drain.messages_stored", service.counters.stored, "messages")
    rep.add("drain.messages_per_s", service.counters.stored / elapsed, "msg/s", target=20_000, op=">=",
            note="consumer + parse + catalog + failures + DuckDB, one process, broker on the same 2 cores")
    rep.add("drain.peak_unacked", consumer.get("pending_high_water"), "messages", note="bounded by prefetch")
    rep.add("drain.process_rss_peak_mb", peak_rss / 2**20, "MB")


def main(argv=None) -> int:
    args = parse_args(argv)
    from nephoscope.events.consumer import RabbitSettings

    rep = Report("events", vars(args))
    vhost = f"nephoscope-bench-{uuid.uuid4().hex[:8]}"
    ctl("add_vhost", vhost)
    ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    url = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    settings = RabbitSettings(url=url, exchanges=["nova"], topics=["versioned_notifications"],
                              queue_arguments={"x-queue-mode": "lazy"})
    try:
        asyncio.run(declare_queues(url, settings))
        log(f"encoding {args.messages:,} notifications")
        payloads = bodies(args.messages)
        rep.add("backlog.bytes_per_message", sum(map(len, payloads)) / len(payloads), "B")
        log("publishing the backlog (persistent, confirmed)")
        rep.add("backlog.publish_per_s", asyncio.run(publish(url, payloads)), "msg/s")
        memory_before, _ = broker_memory()
        with tempfile.TemporaryDirectory(prefix="bench-events-") as directory:
            asyncio.run(drain(settings, Path(directory), args.messages, rep))
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
