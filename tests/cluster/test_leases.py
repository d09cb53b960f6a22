"""Partition leases on the suite's three-node JetStream cluster: spread, takeover, exclusivity.

Members in this process and one in a process of its own (killed -9); what each believes it owns is
checked against the bucket itself. Leases of two seconds keep the waits short; the bounds are the
ones the module promises (a lease plus a beat, with scheduling slack).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nephoscope.cluster import LeaseTable, PartitionLeases
from nephoscope.cluster.leases import assign
from nephoscope.config import ClusterSettings
from tests.support.cluster import NatsCluster

pytestmark = pytest.mark.engines  # the distributed engines' lane (tests/lanes.py)

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 8
LEASE = 2.0
SLACK = 1.5
"""Scheduling on a loaded two-core machine: a beat may start this much late."""


@given(st.integers(1, 64), st.sets(st.text("abcdef:/.0123456789", min_size=1, max_size=12), min_size=1, max_size=9))
def test_every_partition_has_one_member_and_counts_differ_by_at_most_one(partitions: int, members: set[str]) -> None:
    shares = assign("ingesters", partitions, members)
    assert set(shares) == members
    everything = [p for share in shares.values() for p in share]
    assert sorted(everything) == list(range(partitions))
    sizes = [len(share) for share in shares.values()]
    assert max(sizes) - min(sizes) <= 1
    assert assign("ingesters", partitions, sorted(members, reverse=True)) == shares  # the same on every member


@pytest.fixture
def settings(nats_cluster: NatsCluster) -> ClusterSettings:
    return ClusterSettings(servers=nats_cluster.urls, stream=f"LEASES{time.time_ns()}", lease_seconds=LEASE)


@pytest.fixture
def table(settings: ClusterSettings) -> Iterator[LeaseTable]:
    table = LeaseTable(settings, "ingesters", PARTITIONS)
    yield table
    table.stop()


def wait_for(condition, timeout: float, what: str, check=lambda: None) -> float:  # noqa: ANN001
    """Seconds until ``condition()`` held; ``check()`` runs at every poll (an invariant)."""
    started = time.monotonic()
    while not condition():
        check()
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what} within {timeout}s")
        time.sleep(0.05)
    return time.monotonic() - started


def exclusive(members: list[PartitionLeases], table: LeaseTable) -> None:
    """No two members own a partition, and what a member owns throughout a read of the bucket is
    held there in its name."""
    before = [m.owned() for m in members]
    holders = table.owners()
    after = [m.owned() for m in members]
    for i, member in enumerate(members):
        for other in members[i + 1:]:
            assert not member.owned() & other.owned()
        for partition in before[i] & after[i]:
            assert holders.get(partition) == member.member, (partition, holders)


def spawn(settings: ClusterSettings, member: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.support.lease_member",
                             orjson.dumps(dataclasses.asdict(settings)).decode(), "ingesters", member,
                             str(PARTITIONS)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_spread_evenly_never_two_owners_and_taken_over_after_kill_9(settings: ClusterSettings,
                                                                     table: LeaseTable) -> None:
    changes: list[tuple[frozenset[int], frozenset[int]]] = []
    a = PartitionLeases(settings, "ingesters", "127.0.0.1:9001", PARTITIONS)
    a.add_listener(lambda gained, lost: changes.append((gained, lost)))
    b = PartitionLeases(settings, "ingesters", "127.0.0.1:9002", PARTITIONS)
    a.start()
    b.start()
    table.start()
    other = spawn(settings, "127.0.0.1:9003")
    try:
        members = [a, b]

        def spread() -> bool:
            holders = table.owners()
            counts = sorted(list(holders.values()).count(m) for m in ("127.0.0.1:9001", "127.0.0.1:9002",
                                                                        "127.0.0.1:9003"))
            return len(holders) == PARTITIONS and counts == [2, 3, 3] and \
                len(a.owned()) + len(b.owned()) == PARTITIONS - list(holders.values()).count("127.0.0.1:9003")

        wait_for(spread, 4 * LEASE + 10, "three members share eight partitions 3/3/2",
                 lambda: exclusive(members, table))
        theirs = {p for p, m in table.owners().items() if m == "127.0.0.1:9003"}
        os.kill(other.pid, signal.SIGKILL)
        other.wait()
        taken = wait_for(lambda: len(a.owned() | b.owned()) == PARTITIONS, LEASE + LEASE / 4 + SLACK + 2,
                         "the killed member's partitions taken over", lambda: exclusive(members, table))
        assert taken <= LEASE + LEASE / 4 + SLACK, taken
        assert {len(a.owned()), len(b.owned())} == {4}
        assert set(table.owners().values()) == {a.member, b.member}
        assert theirs <= a.owned() | b.owned()
        # The listener heard every change, in order (on its own thread: soon after the change).

        def replayed() -> set[int]:
            owned: set[int] = set()
            for gained, lost in list(changes):
                assert not gained & owned and lost <= owned
                owned = (owned | gained) - lost
            return owned

        wait_for(lambda: replayed() == a.owned(), 2, "the listener told of every change")
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()
        a.stop()
        b.stop()


def test_stop_hands_over_at_once(settings: ClusterSettings, table: LeaseTable) -> None:
    a = PartitionLeases(settings, "ingesters", "a", PARTITIONS)
    b = PartitionLeases(settings, "ingesters", "b", PARTITIONS)
    a.start()
    b.start()
    table.start()
    try:
        wait_for(lambda: len(a.owned()) == len(b.owned()) == PARTITIONS // 2, 3 * LEASE, "two members share")
        b.stop()
        assert b.owned() == frozenset()
        # Well before b's leases could have expired: it released them.
        handed = wait_for(lambda: len(a.owned()) == PARTITIONS, LEASE, "a takes b's partitions",
                          lambda: exclusive([a], table))
        assert handed < LEASE * 0.75 + 0.5, handed
        assert set(table.owners().values()) == {"a"}
    finally:
        a.stop()
        b.stop()
    assert table.owners() == {}
