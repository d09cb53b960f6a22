"""The consumer's AMQP client alone: CPU per delivery with pika's own decoding and with ``events.amqp_frames``.

A backlog of persistent notifications (the events bench's publisher and bodies, ~3.2 KB) is
published to a lazy queue in a throw-away vhost, then consumed by one client on this process's thread — prefetch and
acknowledgements (``multiple=True`` every batch) as the server's consumer does, no parsing, no
store — once through pika's callbacks (``basic_consume`` on a blocking connection, which is what the
consumer did before) and once with its deliveries read by ``events.amqp_frames.DeliveryReader``.
The two alternate ``--rounds`` times on fresh backlogs, so a slower minute of this shared host
falls on both. Reported per path: deliveries per second, the client's and the broker's CPU per
delivery (the broker's cost depends on how fast the client takes what it sends), and the host's
reference reading (``common.reference_ms``) at each round.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common  # noqa: E402
import psutil  # noqa: E402
from common import Report, log  # noqa: E402
from events import broker_process, cpu_seconds, publisher, throwaway_vhost  # noqa: E402

QUEUE = "nephoscope.bench.client"
SPAWN = mp.get_context("spawn")


def parse_args(argv=None):
    ap = common.make_parser(__doc__, epilog="examples:\n  .venv/bin/python bench/amqp_client.py\n"
                            "  .venv/bin/python bench/amqp_client.py --messages 100000 --rounds 3\n")
    ap.add_argument("--messages", type=int, default=200_000, help="deliveries per path and round")
    ap.add_argument("--rounds", type=int, default=2, help="times each path is measured (alternating)")
    ap.add_argument("--prefetch", type=int, default=1000, help="unacknowledged deliveries at most")
    ap.add_argument("--batch", type=int, default=250, help="deliveries per multiple=True acknowledgement")
    ap.add_argument("--no-write", action="store_true", help="do not write bench/results/amqp_client.json")
    return ap.parse_args(argv)


def consume(url: str, total: int, prefetch: int, batch: int, direct: bool) -> None:
    import pika

    import nephoscope.events.consumer  # noqa: F401 - its socket read size (16 KB) for both paths
    from nephoscope.events.amqp_frames import DeliveryReader

    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=prefetch)
    state = {"received": 0, "acked": 0, "last": 0}

    def on_delivery(delivery_tag: int, _redelivered: bool, _exchange: str, _routing_key: str, _body: bytes) -> None:
        state["received"] += 1
        state["last"] = delivery_tag

    def on_message(_channel, method, _properties, body: bytes) -> None:  # noqa: ANN001
        on_delivery(method.delivery_tag, method.redelivered, method.exchange, method.routing_key, body)

    reader = DeliveryReader(connection, channel.channel_number)
    if direct:
        assert reader.install()
        reader.add_consumer("bench", on_delivery)
    channel.basic_consume(QUEUE, on_message, consumer_tag="bench")
    while state["acked"] < total:
        # acknowledged outside the callbacks, a batch at a time, as the server's consumer does
        unacked = state["received"] - state["acked"]
        connection.process_data_events(time_limit=0 if unacked >= batch else 0.01)
        unacked = state["received"] - state["acked"]
        if unacked >= batch or (unacked and state["received"] == total):
            channel.basic_ack(state["last"], multiple=True)
            state["acked"] = state["received"]
    assert not direct or (reader.taking and reader.taken == total), "the reader handed deliveries to pika"
    connection.close()


def main(argv=None) -> int:
    args = parse_args(argv)
    rep = Report("amqp_client", vars(args))
    results: dict[str, list[dict]] = {"pika": [], "direct": []}
    with throwaway_vhost() as url:
        import pika

        connection = pika.BlockingConnection(pika.URLParameters(url))
        channel = connection.channel()
        channel.exchange_declare("nova", exchange_type="topic")  # where events.publisher sends
        channel.queue_declare(QUEUE, durable=True, arguments={"x-queue-mode": "lazy"})
        channel.queue_bind(QUEUE, "nova", routing_key="versioned_notifications.*")
        connection.close()
        broker = broker_process()
        me = psutil.Process()
        with common.progress() as bar:
            task = bar.add_task("rounds", total=args.rounds * 2, info="")
            for _ in range(args.rounds):
                for path in ("pika", "direct"):
                    bar.update(task, info=f"publishing for {path}")
                    sent = SPAWN.Value("q", 0)  # held here until the publisher has it
                    publishing = SPAWN.Process(target=publisher, args=(url, args.messages, 0, sent))
                    publishing.start()
                    publishing.join()
                    if publishing.exitcode != 0 or sent.value != args.messages:
                        raise RuntimeError(f"the publisher failed (exit code {publishing.exitcode}, "
                                           f"{sent.value:,} of {args.messages:,} sent)")
                    reference = common.reference_ms()
                    bar.update(task, info=f"consuming: {path}")
                    broker_before, client_before = cpu_seconds([broker]), cpu_seconds([me])
                    started = time.perf_counter()
                    consume(url, args.messages, args.prefetch, args.batch, path == "direct")
                    elapsed = time.perf_counter() - started
                    results[path].append({
                        "per_s": args.messages / elapsed,
                        "client_us": (cpu_seconds([me]) - client_before) / args.messages * 1e6,
                        "broker_us": (cpu_seconds([broker]) - broker_before) / args.messages * 1e6,
                        "reference_ms": reference})
                    bar.advance(task)
    for path, runs in results.items():
        if not runs:
            continue
        best = min(runs, key=lambda run: run["client_us"])
        rep.add(f"{path}.client_us_per_delivery", best["client_us"], "µs",
                note="lowest of " + ", ".join(f"{run['client_us']:.1f}" for run in runs))
        rep.add(f"{path}.broker_us_per_delivery", best["broker_us"], "µs",
                note="same run; all: " + ", ".join(f"{run['broker_us']:.1f}" for run in runs))
        rep.add(f"{path}.deliveries_per_s", best["per_s"], "msg/s",
                note="same run; all: " + ", ".join(f"{run['per_s']:,.0f}" for run in runs))
        rep.add(f"{path}.reference_ms", best["reference_ms"], "ms",
                note="host speed before that run (≈100 fastest); all: "
                     + ", ".join(f"{run['reference_ms']:.0f}" for run in runs))
    rep.detail("runs", results)
    if results["pika"] and results["direct"]:
        ratios = [p["client_us"] / d["client_us"] for p, d in zip(results["pika"], results["direct"])]
        rep.add("client_cpu_ratio", min(ratios), "x", note="pika's CPU per delivery over the reader's, per round "
                "(lowest): " + ", ".join(f"{ratio:.1f}" for ratio in ratios))
    log("done")
    return rep.finish(write=not args.no_write)


if __name__ == "__main__":
    raise SystemExit(main())
