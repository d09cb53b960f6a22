"""Over capacity the server says so (429/503 with Retry-After) and loses nothing it acknowledged."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from nephoscope.metrics.series import IngestBatch, PointBatch, ValueMeta
from nephoscope.metrics.store.interface import Overloaded
from nephoscope.metrics.store.wal import WriteAheadLog
from tests.conftest import ServerProcess, now_ms


@pytest.fixture
def tight_server(tmp_path):  # noqa: ANN001, ANN201
    # A head bound of 500 points and flushing effectively off: the third batch of 300 must be refused.
    process = ServerProcess(tmp_path / "data", extra_env={
        "NEPHOSCOPE_LIMITS_MAX_HEAD_POINTS": "500", "NEPHOSCOPE_STORE_FLUSH_INTERVAL": "3600",
        "NEPHOSCOPE_TELEMETRY_ENABLED": "false", "NEPHOSCOPE_LIMITS_RETRY_AFTER_SECONDS": "3"}).start()
    yield process
    process.stop()


def iso_minutes_ago(minutes: int) -> str:
    from datetime import datetime, timedelta, timezone

    return (datetime.now(timezone.utc) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def batch(name: str, count: int) -> list[dict]:
    base = now_ms() - 60_000
    return [{"name": name, "dimensions": {"i": str(i)}, "timestamp": base, "value": float(i)} for i in range(count)]


def test_a_full_head_answers_429_with_retry_after_and_keeps_what_it_acknowledged(tight_server) -> None:  # noqa: ANN001
    with tight_server.client() as client:
        assert client.post("/v2.0/metrics", json=batch("first", 300)).status_code == 204
        assert client.post("/v2.0/metrics", json=batch("second", 300)).status_code == 204
        refused = client.post("/v2.0/metrics", json=batch("third", 300))
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "3"
        assert "retry" in refused.json()["description"]
        names = {e["name"] for e in client.get("/v2.0/metrics/names").json()["elements"]}
        assert {"first", "second"} <= names and "third" not in names
        for name in ("first", "second"):
            stats = client.get("/v2.0/metrics/statistics", params={
                "name": name, "start_time": iso_minutes_ago(10), "statistics": "count,sum",
                "merge_metrics": "true", "period": "0"}).json()["elements"][0]["statistics"]
            assert stats[0][1] == 300 and stats[0][2] == sum(range(300))


def test_the_wal_refuses_rather_than_queueing_without_bound(tmp_path) -> None:  # noqa: ANN001
    applied = []
    wal = WriteAheadLog(tmp_path / "wal", lambda sequence, b: applied.append(sequence), max_pending_points=100,
                        next_sequence=1)
    wal.replay(0)  # the writer thread is deliberately not started: the disk "stalls"

    def points(count: int) -> IngestBatch:
        return IngestBatch([], PointBatch(np.arange(count, dtype=np.int64), np.zeros(count, np.int64),
                                          value=np.zeros(count)), ValueMeta())

    async def scenario() -> None:
        wal.submit(points(80))
        with pytest.raises(Overloaded):
            wal.submit(points(80))

    asyncio.run(scenario())
    assert wal.pending_points == 80 and applied == []
