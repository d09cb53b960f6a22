"""Failover of a clustered alarm evaluator: from its death (kill -9) to its alarms evaluated again.

A three-node NATS JetStream cluster on loopback (tests/support/cluster.py), two evaluator members in
processes of their own (tests/support/evaluator_member.py, group ``evaluators``, 2 partitions), and
this process as the ingester side (``PartialSources``) publishing, every ``--step`` real seconds, one
simulated minute of points for ``--hosts`` alarms that change state at every period close, then the
watermark closing it. After ``--warmup`` s the member holding a partition is killed -9; the figure is
the time from the kill to the first transition of an alarm of a dead partition appearing in the
transition queue (published by the survivor: lease expiry, snapshot load, replay, next close), and
to the survivor holding the partition. ``--rounds`` rounds, each on fresh streams.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import subprocess
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import common  # noqa: E402
import nats  # noqa: E402
import numpy as np  # noqa: E402
import orjson  # noqa: E402
from common import Report, log, pct  # noqa: E402

from nephoscope.alarms.cluster.partials import evaluator_of  # noqa: E402
from nephoscope.alarms.cluster.sources import PartialSources  # noqa: E402
from nephoscope.alarms.definitions import DefinitionStore  # noqa: E402
from nephoscope.config import ClusterSettings  # noqa: E402
from nephoscope.metrics.series import IngestBatch, PointBatch, ValueMeta, define_series  # noqa: E402
from nephoscope.notify.workqueue import decode, stream_name  # noqa: E402
from tests.support.cluster import NatsCluster  # noqa: E402

MINUTE = 60_000
GRACE = 30_000


def newest_transitions(settings: ClusterSettings, after: int) -> tuple[int, list[tuple[str, int]]]:
    """(last sequence, [(alarm id, timestamp)] of the messages after ``after``) of the queue."""
    async def run() -> tuple[int, list[tuple[str, int]]]:
        connection = await nats.connect(servers=settings.servers)
        js = connection.jetstream()
        try:
            state = (await js.stream_info(stream_name(settings))).state
            found = []
            for sequence in range(max(after + 1, state.first_seq), state.last_seq + 1):
                transition, _ = decode((await js.get_msg(stream_name(settings), sequence)).data)
                found.append((transition.alarm_id, transition.timestamp_ms))
            return state.last_seq, found
        finally:
            await connection.close()

    return asyncio.run(run())


def last_sequence(settings: ClusterSettings) -> int:
    async def run() -> int:
        connection = await nats.connect(servers=settings.servers)
        try:
            return (await connection.jetstream().stream_info(stream_name(settings))).state.last_seq
        finally:
            await connection.close()

    return asyncio.run(run())


def one_round(cluster: NatsCluster, work: Path, args) -> dict:  # noqa: ANN001
    settings = ClusterSettings(servers=cluster.urls, stream=f"FAILOVER{time.time_ns()}", partitions=2,
                               lease_seconds=args.lease)
    data = work / settings.stream
    data.mkdir()
    definitions = DefinitionStore(data)
    definitions.create("p", {"name": "hot", "expression": "avg(a) > 5", "match_by": ["host"],
                             "alarm_actions": ["m"], "ok_actions": ["m"], "undetermined_actions": ["m"]})
    series = [define_series("p", "a", {"host": f"h{i}"}) for i in range(args.hosts)]
    start = (int(time.time() * 1000) // MINUTE + 1) * MINUTE
    clock = [start / 1000]
    sources = PartialSources(settings, definitions, interval_seconds=0, clock=lambda: clock[0])
    sources.start()
    owned: dict[str, tuple[float, frozenset]] = {}

    def member(name: str) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-m", "tests.support.evaluator_member",
                                    orjson.dumps(dataclasses.asdict(settings)).decode(), str(data), name],
                                   cwd=ROOT, stdout=subprocess.PIPE, text=True,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)})

        def read() -> None:
            for line in process.stdout:
                owned[name] = (time.monotonic(), frozenset(int(p) for p in line.split()[1:]))
        threading.Thread(target=read, daemon=True).start()
        return process

    processes = {name: member(name) for name in ("a", "b")}
    stop = threading.Event()
    try:
        deadline = time.monotonic() + 60
        while not all(owned.get(n, (0, frozenset()))[1] for n in processes):
            if time.monotonic() > deadline:
                raise RuntimeError("members did not share the partitions")
            time.sleep(0.05)

        def feed() -> None:
            step = 0
            while not stop.is_set():
                now = start + step * MINUTE + 5_000
                clock[0] = now / 1000
                values = np.full(len(series), 9.0 if step % 2 == 0 else 1.0)
                for source in (0, 1):
                    mine = [s for s in series if s.id % 2 == source]
                    sources.on_batch(IngestBatch(mine if step == 0 else [], PointBatch(
                        np.array([s.id for s in mine], np.int64), np.full(len(mine), now, np.int64),
                        value=values[: len(mine)]), ValueMeta(), "p"))
                clock[0] = (start + (step + 1) * MINUTE + GRACE) / 1000
                sources.report_watermarks([0, 1])
                step += 1
                time.sleep(args.step)

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        time.sleep(args.warmup)
        dead = owned["a"][1]
        processes["a"].kill()
        killed = time.monotonic()
        processes["a"].wait()
        # Everything the victim published is in the queue now; nobody else holds its partitions for
        # a lease yet, so what comes after this sequence is the survivor's.
        time.sleep(0.3)
        seen = last_sequence(settings)
        evaluated = None
        while evaluated is None and time.monotonic() - killed < 60:
            seen, found = newest_transitions(settings, seen)
            if any(evaluator_of(alarm, 2) in dead for alarm, _ in found):
                evaluated = time.monotonic() - killed
            time.sleep(0.02)
        while not dead <= owned["b"][1] and time.monotonic() - killed < 60:
            time.sleep(0.02)
        taken = owned["b"][0] - killed if dead <= owned["b"][1] else None
        return {"dead_partitions": sorted(dead), "evaluated_again_s": evaluated, "taken_over_s": taken}
    finally:
        stop.set()
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        sources.stop()


def main() -> int:
    ap = common.make_parser(__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--lease", type=float, default=ClusterSettings().lease_seconds, help="lease_seconds")
    ap.add_argument("--hosts", type=int, default=20, help="alarms (one per host)")
    ap.add_argument("--step", type=float, default=0.2, help="real seconds per simulated minute")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--results-dir", default=str(common.RESULTS_DIR))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    report = Report("alarm_failover", vars(args))
    with tempfile.TemporaryDirectory() as work:
        cluster = NatsCluster(Path(work) / "nats").start()
        try:
            rounds = []
            for number in range(args.rounds):
                result = one_round(cluster, Path(work), args)
                log(f"round {number + 1}: {result}")
                rounds.append(result)
        finally:
            cluster.stop()
    again = [r["evaluated_again_s"] for r in rounds if r["evaluated_again_s"] is not None]
    taken = [r["taken_over_s"] for r in rounds if r["taken_over_s"] is not None]
    report.add("evaluated again p50", pct(again, 50), "s", target=args.lease + 2, op="<=")
    report.add("evaluated again max", max(again) if again else None, "s")
    report.add("partition taken over p50", pct(taken, 50), "s")
    report.detail("rounds", rounds)
    return report.finish(write=not args.no_write, results_dir=Path(args.results_dir))


if __name__ == "__main__":
    sys.exit(main())
