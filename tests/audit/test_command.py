"""``nephoscope audit verify`` and ``nephoscope audit list`` as an operator runs them: exit 0 on
an intact chain, 1 with one line per finding otherwise, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.support import audit_trail as tamper
from tests.support.audit_trail import sample_entry, write_sample


def nephoscope(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nephoscope", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)


def test_an_intact_trail(tmp_path: Path) -> None:
    write_sample(tmp_path, 8).storage.close()
    result = nephoscope("audit", "verify", "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("intact: 8 records, head 8 sha256:") and result.stderr == ""


@pytest.mark.parametrize(("change", "first_line"), [
    (lambda d: tamper.alter(d, 3), "record 3 was altered: its content no longer matches its hash"),
    (lambda d: tamper.alter(d, 3, rehash=True), "record 3 was altered or replaced: record 4 no longer follows it"),
    (lambda d: tamper.alter_column(d, 5, "initiator", "nobody"), "record 5 was altered: its indexed fields (initiator)"),
    (lambda d: tamper.delete(d, 4), "record 4 was removed (record 5 follows record 3)"),
    (lambda d: tamper.delete(d, 8), "record 8 was removed from the end (the chain's head is record 8)"),
    (lambda d: tamper.insert_after_head(d), "record 9 was inserted after the chain's head (record 8)"),
    (lambda d: tamper.insert_renumbering(d, 2), "record 3 was inserted: the record after it (written as 3) follows "
                                                "record 2 directly"),
], ids=["altered", "altered-rehashed", "indexed-field", "removed", "removed-last", "inserted", "inserted-renumbered"])
def test_each_tampering_is_named_on_the_first_line(tmp_path: Path, change, first_line: str) -> None:  # noqa: ANN001
    write_sample(tmp_path, 8).storage.close()
    change(tmp_path)
    result = nephoscope("audit", "verify", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines and lines[0].startswith(first_line), result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.strip().endswith("records") and "NOT intact" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_several_changes_one_line_each_in_chain_order(tmp_path: Path) -> None:
    write_sample(tmp_path, 10).storage.close()
    tamper.delete(tmp_path, 7)
    tamper.alter(tmp_path, 2)
    result = nephoscope("audit", "verify", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stdout.splitlines() == ["record 2 was altered: its content no longer matches its hash",
                                          "record 7 was removed (record 8 follows record 6)"]


@pytest.mark.parametrize("setup", ["missing", "not-a-database", "table-dropped"])
def test_an_unreadable_trail_is_one_line_and_exit_1(tmp_path: Path, setup: str) -> None:
    if setup == "not-a-database":
        (tmp_path / "audit.sqlite").write_bytes(b"this is not SQLite at all" * 100)
    elif setup == "table-dropped":
        write_sample(tmp_path, 2).storage.close()
        db = tamper.connect(tmp_path)
        db.execute("DROP TABLE audit_records")
        db.close()
    result = nephoscope("audit", "verify", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert str(tmp_path) in result.stderr


def test_list_prints_tab_separated_records_newest_first(tmp_path: Path) -> None:
    trail = write_sample(tmp_path, 5)
    trail.record(sample_entry(9, outcome="denied"))
    trail.close()
    result = nephoscope("audit", "list", "--data-dir", str(tmp_path), "-n", "3")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split("\t") == ["seq", "time (UTC)", "outcome", "action", "target", "initiator", "n"]
    assert [row.split("\t")[0] for row in rows] == ["6", "5", "4"]
    assert rows[0].split("\t")[2:6] == ["denied", "create", "alarm-definition def-9", "user-0@10.0.0.2"]
    denied = nephoscope("audit", "list", "--data-dir", str(tmp_path), "--outcome", "denied").stdout.splitlines()
    assert len(denied) == 2
    wrong = nephoscope("audit", "list", "--data-dir", str(tmp_path), "--outcome", "maybe")
    assert wrong.returncode == 2 and "success" in wrong.stderr and "Traceback" not in wrong.stderr


def test_help_says_what_verify_finds() -> None:
    result = nephoscope("audit", "verify", "--help")
    assert result.returncode == 0
    for word in ("altered", "removed", "inserted", "--data-dir"):
        assert word in result.stdout


def test_keys_made_on_the_command_line_are_recorded_or_say_why_not(tmp_path: Path) -> None:
    made = nephoscope("keys", "create", "--project", "p1", "--role", "monasca-user", "--data-dir", str(tmp_path))
    assert made.returncode == 0, made.stderr
    listed = nephoscope("audit", "list", "--data-dir", str(tmp_path)).stdout.splitlines()
    assert len(listed) == 2 and listed[1].split("\t")[2:4] == ["success", "create"]
    broken = tmp_path / "broken"
    (broken / "audit.sqlite").mkdir(parents=True)  # not a file: the trail cannot be written
    made = nephoscope("keys", "create", "--project", "p1", "--role", "monasca-user", "--data-dir", str(broken))
    assert made.returncode == 1 and made.stdout.splitlines()[-1].startswith("nps_"), "the token is still shown"
    assert "audit trail could not be written" in made.stderr and "Traceback" not in made.stderr
