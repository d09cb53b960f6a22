"""Audit trails for the tests: a sample one written through the ``AuditTrail`` (``write_sample``),
and tampering with it the way someone with the file would — straight into ``audit.sqlite`` with
``sqlite3`` (the documented layout, docs/audit.md), behind the server's back. Each tampering
function changes one thing; ``nephoscope audit verify`` must then name it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from nephoscope.audit import ALARM_DEFINITION, SUCCESS, AuditTrail, Entry, Initiator, Reason, Target
from nephoscope.audit.chain import COLUMNS, columns


def sample_entry(number: int, project: str = "proj-a", outcome: str = SUCCESS) -> Entry:
    return Entry(action="create", outcome=outcome, project=project,
                 initiator=Initiator(f"user-{number % 3}", project, f"user {number % 3}", f"10.0.0.{number % 7}", "curl"),
                 target=Target(ALARM_DEFINITION, f"def-{number}", f"definition {number}"),
                 reason=Reason("403" if outcome == "denied" else "201"),
                 details={"request": {"name": f"definition {number}", "n": number}}, time=1_700_000_000 + number)


def write_sample(data_dir: Path, count: int) -> AuditTrail:
    """``count`` records, one at a time and in groups of four, as the server writes them."""
    trail = AuditTrail.open(data_dir)
    for start in range(0, count, 4):
        trail.record_many([sample_entry(n) for n in range(start, min(count, start + 4))])
    return trail


def connect(data_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(data_dir / "audit.sqlite", isolation_level=None)


def _canonical(record: dict) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _record(db: sqlite3.Connection, seq: int) -> dict:
    return json.loads(db.execute("SELECT record FROM audit_records WHERE seq = ?", (seq,)).fetchone()[0])


def last_seq(data_dir: Path) -> int:
    with connect(data_dir) as db:
        return db.execute("SELECT max(seq) FROM audit_records").fetchone()[0]


def alter(data_dir: Path, seq: int, rehash: bool = False) -> None:
    """Change who did it (the content); with ``rehash`` also store the new content's hash."""
    db = connect(data_dir)
    record = _record(db, seq)
    record["event"]["initiator"]["id"] = "someone-else"
    text = _canonical(record)
    db.execute("UPDATE audit_records SET record = ?, initiator = ? WHERE seq = ?", (text, "someone-else", seq))
    if rehash:
        db.execute("UPDATE audit_records SET hash = ? WHERE seq = ?", (hashlib.sha256(text.encode()).hexdigest(), seq))
    db.close()


def alter_column(data_dir: Path, seq: int, column: str = "outcome", value: str = "success") -> None:
    """Change an indexed field only (to hide a refusal from a filtered query, say)."""
    db = connect(data_dir)
    db.execute(f"UPDATE audit_records SET {column} = ? WHERE seq = ?", (value, seq))
    db.close()


def delete(data_dir: Path, seq: int) -> None:
    db = connect(data_dir)
    db.execute("DELETE FROM audit_records WHERE seq = ?", (seq,))
    db.close()


def _insert(db: sqlite3.Connection, seq: int, record: dict) -> None:
    """A row as the store would write it: the attacker knows the format (docs/audit.md)."""
    text = _canonical(record)
    fields = columns(record)
    db.execute(f"INSERT INTO audit_records (seq, {', '.join(COLUMNS)}, record, hash) VALUES "
               f"({', '.join('?' * (len(COLUMNS) + 3))})",
               (seq, *(fields[name] for name in COLUMNS), text, hashlib.sha256(text.encode()).hexdigest()))


def insert_after_head(data_dir: Path) -> int:
    """A forged record appended after the last one, correctly chained and hashed (the head untouched)."""
    db = connect(data_dir)
    last, last_hash = db.execute("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1").fetchone()
    record = dict(_record(db, last), seq=last + 1, prev=last_hash)
    _insert(db, last + 1, record)
    db.close()
    return last + 1


def insert_renumbering(data_dir: Path, after: int) -> int:
    """A forged record slipped in after record ``after`` (chained to it and hashed), the records after
    it moved up by one and the head moved too — everything an attacker can do without the next
    records' hashes changing."""
    db = connect(data_dir)
    last = db.execute("SELECT max(seq) FROM audit_records").fetchone()[0]
    for seq in range(last, after, -1):
        db.execute("UPDATE audit_records SET seq = seq + 1 WHERE seq = ?", (seq,))
    prev = db.execute("SELECT hash FROM audit_records WHERE seq = ?", (after,)).fetchone()[0]
    record = dict(_record(db, after), seq=after + 1, prev=prev)
    record["event"] = dict(record["event"], action="read")
    _insert(db, after + 1, record)
    db.execute("UPDATE audit_head SET seq = seq + 1")
    db.close()
    return after + 1


def insert_copy(data_dir: Path, of: int, at: int, move_head: bool = False) -> None:
    """A copy of record ``of`` (its row as it is, hash and all) stored as number ``at``."""
    db = connect(data_dir)
    names = ", ".join(COLUMNS)
    db.execute(f"INSERT INTO audit_records (seq, {names}, record, hash) "
               f"SELECT ?, {names}, record, hash FROM audit_records WHERE seq = ?", (at, of))
    if move_head:
        db.execute("UPDATE audit_head SET seq = ?", (at,))
    db.close()
