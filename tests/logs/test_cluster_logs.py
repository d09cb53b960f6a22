"""The log store clustered (a JetStream stream, Parquet files in S3) against the embedded one, on the
session's engines (tests/conftest.py). The same records give the same answers to search, filters
(project, time, request id, level, text), facets and paging, whether they are in the tail or in
Parquet files and when read by a node that did not write them; a client's retry of the same
records is stored once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nephoscope.config import ClusterSettings
from nephoscope.logs.processing.pipeline import LogPipeline
from nephoscope.logs.processing.sources import Source
from nephoscope.logs.server.store import LogQuery, LogStore
from nephoscope.tenancy import ALL_TENANTS
from tests.support.cluster import cluster_settings

pytestmark = pytest.mark.engines  # the distributed engines' lane (tests/lanes.py)

T0 = 1_800_000_000_000  # 2027-01-15 08:00:00 UTC, the lines' first second
REQUEST = "req-11111111-2222-4333-8444-555555555555"


def lines(project: str, start: int, count: int) -> list[str]:
    """Line ``n`` at second ``n``, levels in turn, every tenth of request ``REQUEST``."""
    levels = ("INFO", "WARNING", "ERROR")

    def request(n: int) -> str:
        return REQUEST if n % 10 == 0 else f"req-{n:08d}-2222-4333-8444-555555555555"

    return [f"2027-01-15 08:{n // 60:02d}:{n % 60:02d}.000 7 {levels[n % 3]} nova.compute.manager "
            f"[{request(n)} u1 {project} - - -] Claim {n} on node{n % 4} done" for n in range(start, start + count)]


@pytest.fixture
def settings(nats_cluster, seaweed) -> ClusterSettings:  # noqa: ANN001 - the session's engines
    return cluster_settings(nats_cluster, seaweed, f"l{uuid.uuid4().hex[:10]}")


@pytest.fixture(params=["embedded", "cluster"])
def open_node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], LogStore]]:
    """``open_node(name)``: a log store on a node of its own (the first owns every partition, the
    others read); embedded, the one node opened again on its directory."""
    opened: list[LogStore] = []
    cluster = request.getfixturevalue("settings") if request.param == "cluster" else None

    def open_node(name: str = "a") -> LogStore:
        if cluster is None:
            for store in opened:
                store.close()
            opened.clear()
            store = LogStore(tmp_path / "node")
        else:
            store = LogStore(tmp_path / name, cluster=cluster, owned_partitions=None if not opened else tuple)
        opened.append(store)
        return store

    yield open_node
    for store in opened:
        store.close()


def messages(table) -> list[str]:  # noqa: ANN001 - a pyarrow table of records
    return table.column("message").to_pylist()


def test_the_same_answers_from_tail_files_and_another_node(open_node) -> None:  # noqa: ANN001
    store = open_node("a")
    pipeline = LogPipeline()
    source = Source(service="nova", host="cmp-1")
    store.append(pipeline.process(lines("p1", 0, 40), source), "p1")
    store.append(pipeline.process(lines("p2", 40, 20), source), "p2")
    store.table.flush()  # these in Parquet files (the cluster: S3), the rest in the tail
    store.append(pipeline.process(lines("p1", 60, 30), source), "p1")

    def answers(node: LogStore) -> dict:
        first = node.search(ALL_TENANTS, LogQuery(), None, 25)
        last = first.slice(first.num_rows - 1).to_pylist()[0]
        facets = node.facets("p1", LogQuery())
        return {"all": messages(node.search(ALL_TENANTS, LogQuery(), None, 1000)),
                "p2": messages(node.search("p2", LogQuery(), None, 1000)),
                "request": messages(node.search(ALL_TENANTS, LogQuery(request_id=REQUEST), None, 1000)),
                "errors of p1": messages(node.search("p1", LogQuery(level="ERROR"), None, 1000)),
                "range": messages(node.matching(ALL_TENANTS, LogQuery(start_ms=T0 + 10_000, end_ms=T0 + 50_000,
                                                                      text="NODE3"))),
                "next page": messages(node.search(ALL_TENANTS, LogQuery(), (last["ts"], last["seq"]), 5)),
                "levels": {row["value"]: row["count"] for row in facets["level"]}}

    expected = answers(store)
    assert len(expected["all"]) == 90 and expected["all"][0] == "Claim 89 on node1 done"
    assert expected["p2"] == [f"Claim {n} on node{n % 4} done" for n in range(59, 39, -1)]
    assert expected["request"] == [f"Claim {n} on node{n % 4} done" for n in range(80, -1, -10)]
    assert expected["errors of p1"] == [f"Claim {n} on node{n % 4} done" for n in range(89, -1, -1)
                                        if n % 3 == 2 and not 40 <= n < 60]
    assert expected["range"] == [f"Claim {n} on node3 done" for n in range(11, 50, 4)]
    assert expected["next page"] == [f"Claim {n} on node{n % 4} done" for n in range(64, 59, -1)]
    assert expected["levels"] == {"INFO": 24, "WARNING": 23, "ERROR": 23}
    assert answers(open_node("b")) == expected  # another node: files from S3, the tail from the stream


def test_a_retry_of_the_same_records_is_stored_once(settings: ClusterSettings, tmp_path: Path) -> None:
    store = LogStore(tmp_path / "a", cluster=settings)
    try:
        records = LogPipeline().process(lines("p1", 0, 10), Source(service="nova", host="cmp-1"))
        store.append(records, "p1")
        store.append(records, "p1")  # the client did not hear the answer and sent it again
        store.append(records, "p2")  # the same lines from another project are its own
        assert len(store.search(ALL_TENANTS, LogQuery(), None, 100)) == 20
    finally:
        store.close()
