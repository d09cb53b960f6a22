"""Events and log records stored through the cluster (JetStream, S3) against the embedded stores.

Starts a three-node JetStream cluster and SeaweedFS's S3 gateway on loopback (the test suite's
``tests/support/cluster.py``), then stores the same prebuilt batches into the embedded stores
(Arrow log fsynced on this disk) and into the clustered ones (``tables.cluster``: events one
JetStream message per notification with its message id as ``Nats-Msg-Id``, log records one message
per project partition, replicated three times) from ``--writers`` threads, each batch acknowledged
before its thread sends the next. Reported: events/s and log records/s each way, the ratio, the
time to flush what the cluster holds into Parquet files in S3, and the Parquet bytes per record.
Everything shares this machine's cores with the three nats-servers and SeaweedFS.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common  # noqa: E402
import psutil  # noqa: E402
from common import Report, log  # noqa: E402

from nephoscope.events.batch import from_events  # noqa: E402
from nephoscope.events.store import EventStore  # noqa: E402
from nephoscope.logs.processing.pipeline import LogPipeline  # noqa: E402
from nephoscope.logs.processing.sources import Source  # noqa: E402
from nephoscope.logs.server.store import LogStore  # noqa: E402
from tests.support.cluster import NatsCluster, SeaweedS3, cluster_settings  # noqa: E402
from tests.support.record_writer import T0, event  # noqa: E402


def parse_args(argv=None):
    ap = common.make_parser(__doc__, epilog="example:\n  .venv/bin/python bench/cluster_records.py\n"
                            "  .venv/bin/python bench/cluster_records.py --events 50000 --lines 200000\n")
    ap.add_argument("--events", type=int, default=20_000, help="events stored each way")
    ap.add_argument("--event-batch", type=int, default=250, help="events per batch (the consumer's batch size)")
    ap.add_argument("--lines", type=int, default=100_000, help="log lines stored each way")
    ap.add_argument("--line-batch", type=int, default=1000, help="lines per batch (one POST)")
    ap.add_argument("--writers", type=int, default=4, help="threads storing batches at once")
    ap.add_argument("--results-dir", default=str(common.RESULTS_DIR), help="where cluster_records.json is written")
    ap.add_argument("--no-write", action="store_true", help="do not write the results file")
    return ap.parse_args(argv)


def event_batches(count: int, size: int) -> list:
    batches = []
    for start in range(0, count, size):
        events = [event(f"b-{n}", T0 + n, project=f"p{n % 10}", resource=f"vm-{n % 997}")
                  for n in range(start, min(start + size, count))]
        for one in events:
            one.raw.payload = {"id": one.message_id, "pad": "x" * 1500}  # about a nova notification's size
        batches.append(from_events(events))
    return batches


def line_batches(count: int, size: int) -> list:
    pipeline = LogPipeline()
    source = Source(service="nova", host="cmp-1")
    batches = []
    for start in range(0, count, size):
        lines = [f"2027-01-15 08:{(n // 60) % 60:02d}:{n % 60:02d}.{n % 1000:03d} 7 INFO nova.compute.manager "
                 f"[req-{n:08d}-2222-4333-8444-555555555555 u1 p{n % 10} - - -] Claim {n} on node{n % 40} successful"
                 for n in range(start, min(start + size, count))]
        batches.append(pipeline.process(lines, source))
    return batches


def timed(store_one, batches, writers: int) -> float:
    """Seconds to store every batch from ``writers`` threads (as the consumer's batches in flight and
    concurrent API requests arrive), each batch acknowledged before its thread sends the next."""
    started = time.perf_counter()
    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(store_one, batches))
    return time.perf_counter() - started


def cpu(nats: NatsCluster) -> tuple[float, float]:
    """CPU seconds used so far by this process and by the three nats-servers."""
    own = psutil.Process().cpu_times()
    servers = [psutil.Process(p.pid).cpu_times() for p in nats.processes if p is not None]
    return own.user + own.system, sum(t.user + t.system for t in servers)


def spent(before: tuple[float, float], after: tuple[float, float], seconds: float) -> str:
    return (f"CPU cores busy: this process {(after[0] - before[0]) / seconds:.2f}, "
            f"the three nats-servers {(after[1] - before[1]) / seconds:.2f}")


def main(argv=None) -> int:
    args = parse_args(argv)
    report = Report("cluster_records", vars(args))
    events = event_batches(args.events, args.event_batch)
    lines = line_batches(args.lines, args.line_batch)
    with tempfile.TemporaryDirectory(prefix="nephoscope-cluster-bench-") as work:
        root = Path(work)
        nats, s3 = NatsCluster(root / "nats"), SeaweedS3(root / "s3")
        (root / "nats").mkdir()
        (root / "s3").mkdir()
        try:
            nats.start()
            s3.start()
            settings = cluster_settings(nats, s3, "bench", stream_max_bytes=2 * 2**30)
            for mode, cluster in (("embedded", None), ("cluster", settings)):
                log(f"{mode}: {args.events} events, {args.lines} log lines")
                event_store = EventStore(root / mode / "events", cluster=cluster)
                before = cpu(nats)
                seconds = timed(event_store.add_batch, events, args.writers)
                report.add(f"events_per_s_{mode}", round(args.events / seconds), "events/s",
                           note=spent(before, cpu(nats), seconds) if cluster else "")
                log_store = LogStore(root / mode / "logs", cluster=cluster)
                before = cpu(nats)
                seconds = timed(lambda table: log_store.append(table, "p1"), lines, args.writers)
                report.add(f"log_records_per_s_{mode}", round(args.lines / seconds), "records/s",
                           note=spent(before, cpu(nats), seconds) if cluster else "")
                if cluster is not None:
                    started = time.perf_counter()
                    event_store.table.flush()
                    log_store.table.flush()
                    report.add("flush_to_s3_seconds", round(time.perf_counter() - started, 2), "s",
                               note="every partition's tail of both stores into Parquet, manifests, purge")
                    report.add("parquet_bytes_per_event", round(event_store.table.stats()["bytes"] / args.events, 1),
                               "B")
                    report.add("parquet_bytes_per_log_record", round(log_store.table.stats()["bytes"] / args.lines, 1),
                               "B")
                event_store.close()
                log_store.close()
            for kind in ("events", "log_records"):
                embedded = {m.key: m.value for m in report.metrics}[f"{kind}_per_s_embedded"]
                clustered = {m.key: m.value for m in report.metrics}[f"{kind}_per_s_cluster"]
                report.add(f"{kind}_cluster_over_embedded", round(clustered / embedded, 2), "x")
        finally:
            s3.stop()
            nats.stop()
    return report.finish(write=not args.no_write, results_dir=Path(args.results_dir))


if __name__ == "__main__":
    sys.exit(main())
