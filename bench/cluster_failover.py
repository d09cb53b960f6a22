"""Failover of a cluster ingester: from its death (kill -9) to its partitions answering again.

Starts a three-node JetStream cluster and SeaweedFS on loopback (tests/support/cluster.py), then
`nephoscope serve --role` processes: two ingesters, one API node, one querier
(tests/support/cluster_nodes.py). A writer posts Monasca JSON batches (8 series, one sample each)
through the API node without pause. Each round waits until both ingesters hold partitions, notes
the latest acknowledged batch, kills one ingester -9 and measures the seconds until the querier
answers with that batch's samples (a query meanwhile waits for the partitions' new owner, or is
refused with 503 and asked again); then starts the dead one again. Goal: ≤ 15 s.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common  # noqa: E402
from common import Report, log  # noqa: E402

from tests.support.cluster import NatsCluster, SeaweedS3  # noqa: E402
from tests.support.cluster_nodes import (  # noqa: E402
    Writer,
    cluster_env,
    failover_seconds,
    latest_acknowledged,
    owned_partitions,
    start_nodes,
)

GOAL_SECONDS = 15.0


def parse_args(argv=None):
    ap = common.make_parser(__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="ingester kills (alternating between the two)")
    ap.add_argument("--lease-seconds", type=float, default=5.0, help="[cluster] lease_seconds (the default's)")
    ap.add_argument("--partitions", type=int, default=8, help="[cluster] partitions")
    return ap.parse_args(argv)


def wait_balanced(ingesters, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if all(owned_partitions(i) for i in ingesters):
                return
        except Exception:  # noqa: BLE001 - an ingester starting
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("the ingesters did not share the partitions")
        time.sleep(0.2)


def main(argv=None) -> int:
    args = parse_args(argv)
    report = Report("cluster_failover", vars(args))
    with tempfile.TemporaryDirectory(prefix="nephoscope-failover-") as tmp:
        root = Path(tmp)
        nats = NatsCluster(root / "nats").start()
        s3 = SeaweedS3(root / "s3").start()
        nodes = []
        try:
            env = cluster_env(nats, s3, f"failover{os.getpid()}", args.lease_seconds, args.partitions)
            nodes = start_nodes(env, root, ["ingester", "ingester", "api", "querier"])
            ingesters, api, querier = nodes[:2], nodes[2], nodes[3]
            writer = Writer("a", [api.url, api.url], (int(time.time()) - 3600) * 1000)
            writer.start()
            seconds = []
            for round_ in range(args.rounds):
                wait_balanced(ingesters)
                time.sleep(2)
                victim = ingesters[round_ % 2]
                latest = latest_acknowledged([writer])
                killed = time.monotonic()
                victim.kill9()
                took = failover_seconds(querier, [writer], killed, latest)
                seconds.append(round(took, 2))
                log(f"round {round_ + 1}: partitions {owned_partitions(ingesters[1 - round_ % 2])} answered "
                    f"{took:.2f}s after the kill")
                victim.start(timeout=120)
            writer.stop.set()
            writer.join(timeout=30)
            report.add("failover_median_s", statistics.median(seconds), "s", target=GOAL_SECONDS, op="<=")
            report.add("failover_max_s", max(seconds), "s", target=GOAL_SECONDS, op="<=")
            report.detail("failover_seconds", seconds)
            report.detail("batches_acknowledged", len(writer.acknowledged))
        except Exception as error:  # noqa: BLE001 - reported
            report.error("failover", error)
        finally:
            for node in nodes:
                node.stop()
            s3.stop()
            nats.stop()
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
