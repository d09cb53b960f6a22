"""The hash chain and its verification, on the embedded store: records written through the
``AuditTrail``, then altered, removed or inserted straight in ``audit.sqlite``; the verifier names
the first record touched, whatever was touched and wherever."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nephoscope.audit import AuditQuery, AuditTrail, RecordFilter
from nephoscope.audit.chain import GENESIS, canonical, digest
from nephoscope.tenancy import ALL_TENANTS
from tests.support import audit_trail as tamper
from tests.support.audit_trail import sample_entry as entry
from tests.support.audit_trail import write_sample as written

JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.text(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20)


@given(JSON, st.randoms())
def test_canonical_bytes_ignore_key_order_and_hold_no_whitespace(value, random) -> None:  # noqa: ANN001
    record = {"seq": 1, "prev": GENESIS, "event": value}
    shuffled = json.loads(json.dumps(record))
    if isinstance(shuffled["event"], dict):
        items = list(shuffled["event"].items())
        random.shuffle(items)
        shuffled["event"] = dict(items)
    assert canonical(shuffled) == canonical(record)
    assert digest(shuffled) == digest(record)
    assert json.loads(canonical(record)) == record
    assert canonical(record) == json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_records_chain_from_genesis_and_come_back_as_written(tmp_path: Path) -> None:
    trail = written(tmp_path, 10)
    rows = list(trail.storage.scan())
    assert [row.seq for row in rows] == list(range(1, 11))
    records = [json.loads(row.text) for row in rows]
    assert records[0]["prev"] == GENESIS
    for before, after, row in zip(records, records[1:], rows):
        assert after["prev"] == digest(before) == row.hash
    assert trail.storage.head() == (10, rows[-1].hash)
    report = trail.verify()
    assert report.intact and report.records == 10
    # CADF events as pycadf builds them
    event = records[3]["event"]
    assert event["typeURI"] == "http://schemas.dmtf.org/cloud/audit/1.0/event"
    assert (event["action"], event["outcome"], event["initiator"]["host"]["address"]) == ("create", "success", "10.0.0.3")
    assert event["target"] == {"id": "def-3", "typeURI": "service/oss/monitoring/alarm-definition", "name": "definition 3"}
    assert event["eventTime"] == "2023-11-14T22:13:23.000000+0000"


def test_two_writers_on_one_file_share_the_chain(tmp_path: Path) -> None:
    """The server and ``nephoscope keys`` append to the same file: each reads the head in its transaction."""
    first, second = AuditTrail.open(tmp_path), AuditTrail.open(tmp_path)
    for number in range(6):
        (first if number % 2 else second).record(entry(number))
    assert [record.seq for record in second.storage.query(ALL_TENANTS, RecordFilter(), None, 100)] == [6, 5, 4, 3, 2, 1]
    assert first.verify().intact


CASES = {
    "altered content": (lambda d, n: tamper.alter(d, n), "altered", lambda n: n),
    "altered indexed field": (lambda d, n: tamper.alter_column(d, n, "outcome", "failure"), "altered", lambda n: n),
    "altered and rehashed": (lambda d, n: tamper.alter(d, n, rehash=True), "altered", lambda n: n),
    "removed": (lambda d, n: tamper.delete(d, n), "removed", lambda n: n),
    "inserted after the head": (lambda d, n: tamper.insert_after_head(d), "inserted", None),
    "inserted, the rest renumbered": (lambda d, n: tamper.insert_renumbering(d, n), "inserted", lambda n: n + 1),
    "a copy inserted after the head": (lambda d, n: tamper.insert_copy(d, n, tamper.last_seq(d) + 1), "inserted",
                                       None),
    "a copy appended, the head moved": (lambda d, n: tamper.insert_copy(d, n, tamper.last_seq(d) + 1, True),
                                        "inserted", None),
    "a copy inserted before the first": (lambda d, n: tamper.insert_copy(d, n, 0), "inserted", lambda n: 0),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_verify_names_what_was_touched(tmp_path: Path, case: str, where: str) -> None:
    written(tmp_path, 12).storage.close()
    seq = {"first": 1, "middle": 6, "last": 12}[where]
    change, kind, expected = CASES[case]
    change(tmp_path, seq)
    report = AuditTrail.open(tmp_path).verify()
    assert not report.intact
    first = report.findings[0]
    assert first.kind == kind, report.findings
    assert first.seq == (expected(seq) if expected else 13), report.findings
    assert str(first.seq) in first.message


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=2, max_value=30), st.data())
def test_any_single_change_is_found_at_its_record(count: int, data: st.DataObject) -> None:
    case = data.draw(st.sampled_from(sorted(CASES)))
    seq = data.draw(st.integers(min_value=1, max_value=count - (1 if case.startswith("inserted, the") else 0)))
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        written(directory, count).storage.close()
        change, kind, expected = CASES[case]
        change(directory, seq)
        report = AuditTrail.open(directory).verify()
        assert report.findings and report.findings[0].kind == kind
        assert report.findings[0].seq == (expected(seq) if expected else count + 1), report.findings


def test_removing_the_last_records_and_the_head_with_them(tmp_path: Path) -> None:
    written(tmp_path, 5).storage.close()
    tamper.delete(tmp_path, 5)
    tamper.delete(tmp_path, 4)
    [finding] = AuditTrail.open(tmp_path).verify().findings
    assert (finding.kind, finding.seq) == ("removed", 4) and "records 4–5" in finding.message
    db = tamper.connect(tmp_path)
    db.execute("DELETE FROM audit_head")
    db.close()
    [finding] = AuditTrail.open(tmp_path).verify().findings
    assert "head" in finding.message


def test_a_hidden_refusal_is_found_although_queries_no_longer_show_it(tmp_path: Path) -> None:
    trail = written(tmp_path, 3)
    trail.record(entry(9, outcome="denied"))
    assert len(trail.page(ALL_TENANTS, AuditQuery(RecordFilter(outcome="denied")), None, 10).entries) == 1
    tamper.alter_column(tmp_path, 4, "outcome", "success")
    assert trail.page(ALL_TENANTS, AuditQuery(RecordFilter(outcome="denied")), None, 10).entries == []
    [finding] = trail.verify().findings
    assert finding.seq == 4 and "indexed fields (outcome)" in finding.message
