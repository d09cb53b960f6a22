"""The audit chain on each metadata database: two processes (two nodes) starting at once on an
empty database migrate it once, their appends serialize on the chain's head, and the chain
verifies afterwards; queries page newest first."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nephoscope.audit.chain import Pending
from nephoscope.audit.store import RecordFilter, SqliteAuditStorage
from nephoscope.audit.verify import verify
from nephoscope.tenancy import ALL_TENANTS
from tests.conftest import ROOT
from tests.support.sql import drop_tables

pytestmark = pytest.mark.engines  # the distributed engines' lane (tests/lanes.py)

_APPENDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from nephoscope.audit.chain import Pending
    from nephoscope.audit.store import SqliteAuditStorage
    from nephoscope.sql import bind
    data_dir, url, name, count = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    bind(data_dir, url)
    storage = SqliteAuditStorage(data_dir)
    for i in range(count):
        event = {"action": "create", "outcome": "success", "initiator": {"id": name}, "target": {"id": str(i)}}
        storage.append([Pending(int(time.time() * 1000), name, 1, event)] * (1 + i % 3))
    storage.close()
""")


def _event(i: int) -> dict:
    return {"action": "update" if i % 2 else "create", "outcome": "success", "initiator": {"id": "u"},
            "target": {"typeURI": "service/alarm-definition", "id": f"d{i}"}}


def test_two_processes_append_to_one_chain_and_it_verifies(metadata_dir: Path, sql_url: str) -> None:
    # Both open a database with no tables yet: they migrate it once, under the migration lock.
    if sql_url:
        drop_tables(sql_url)
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = [subprocess.Popen([sys.executable, "-c", _APPENDER, str(metadata_dir), sql_url, name, "40"],
                                env=environment, cwd=ROOT) for name in ("node-a", "node-b")]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0]
    storage = SqliteAuditStorage(metadata_dir)
    try:
        report = verify(storage.scan(), storage.head())
        expected = 2 * sum(1 + i % 3 for i in range(40))
        assert report.intact and report.records == expected
        assert storage.head()[0] == expected
    finally:
        storage.close()


def test_queries_page_newest_first_and_read_only_verifies(metadata_dir: Path) -> None:
    storage = SqliteAuditStorage(metadata_dir)
    try:
        assert storage.head() is None
        stored = storage.append([Pending(1000 + i // 2, "p1" if i % 3 else "p2", 1, _event(i)) for i in range(9)])
        assert [s.seq for s in stored] == list(range(1, 10))
        first = storage.query(ALL_TENANTS, RecordFilter(), None, 4)
        assert [s.seq for s in first] == [9, 8, 7, 6]
        last = first[-1]
        rest = storage.query(ALL_TENANTS, RecordFilter(), (last.record["time_ms"], last.seq), 100)
        assert [s.seq for s in rest] == [5, 4, 3, 2, 1]
        assert [s.seq for s in storage.query("p2", RecordFilter(), None, 100)] == [7, 4, 1]
        assert [s.seq for s in storage.query(ALL_TENANTS, RecordFilter(action="upd*"), None, 100)] == [8, 6, 4, 2]
        assert len(storage.query(ALL_TENANTS, RecordFilter(target="alarm-definition"), None, 100)) == 9
        assert len(storage.query(ALL_TENANTS, RecordFilter(target="definition"), None, 100)) == 0
        assert [s.seq for s in storage.query(ALL_TENANTS, RecordFilter(start_ms=1003, end_ms=1004), None, 9)] == [8, 7]
    finally:
        storage.close()
    reader = SqliteAuditStorage(metadata_dir, read_only=True)
    try:
        assert verify(reader.scan(), reader.head()).intact
    finally:
        reader.close()
