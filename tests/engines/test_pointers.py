"""Manifest pointers on the suite's JetStream cluster: switched only from the revision read; a
switch whose answer was lost is recognised as one's own on its retry."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from nephoscope.engines.jetstream import StreamLog
from nephoscope.engines.pointers import Moved, Pointers
from tests.support.cluster import NatsCluster, SeaweedS3, cluster_settings

pytestmark = pytest.mark.engines  # the distributed engines' lane (tests/lanes.py)


@pytest.fixture
def pointers(nats_cluster: NatsCluster, seaweed: SeaweedS3) -> Iterator[Pointers]:
    name = f"ptr{time.time_ns()}"
    settings = cluster_settings(nats_cluster, seaweed, name)
    log = StreamLog(settings, f"S_{name}", f"{name}.s", name="pointers-test")
    log.open()
    table = Pointers(log, f"{name}_manifests", settings.replicas)
    table.open()
    yield table
    log.close()


def test_only_a_writer_that_read_the_latest_switches_the_pointer(pointers: Pointers) -> None:
    assert pointers.get("p0") == (None, None)
    first = pointers.swap("p0", "p0/manifests/1.json", None)
    with pytest.raises(Moved):  # another writer that also saw nothing
        pointers.swap("p0", "p0/manifests/other.json", None)
    second = pointers.swap("p0", "p0/manifests/2.json", first)
    with pytest.raises(Moved):  # a writer still holding the first revision: stalled past its lease
        pointers.swap("p0", "p0/manifests/stale.json", first)
    assert pointers.get("p0") == ("p0/manifests/2.json", second)


def test_a_switch_retried_after_its_answer_was_lost_is_the_writers_own(pointers: Pointers) -> None:
    revision = pointers.swap("p1", "p1/manifests/1.json", None)
    landed = pointers.swap("p1", "p1/manifests/2.json", revision)
    # The same request again (its first answer lost to a leader change): the pointer names it already.
    assert pointers.swap("p1", "p1/manifests/2.json", revision) == landed
