"""The log tailer on real files: appends, rename rotation, copytruncate, restarts, multi-line records.

Time is passed to ``poll(now=...)`` so the flush-after and close-after timers are exact; the
files, renames, copies and truncations are real.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nephoscope.agent.tailer import CHUNK_BYTES, LogRecord, LogTailer
from tests.conftest import missing, shared_data, wait_for

LOGHUB = shared_data("loghub-openstack", "OpenStack_2k.log")


class Clock:
    """Virtual monotonic time for ``poll(now=...)``."""

    def __init__(self) -> None:
        self.now = 0.0

    def poll(self, tailer: LogTailer, advance: float = 0.0, max_records: int = 10_000) -> list[LogRecord]:
        self.now += advance
        return tailer.poll(max_records=max_records, now=self.now)

    def drain(self, tailer: LogTailer) -> list[LogRecord]:
        """Everything the tailer will return: poll, jumping past every timer, until nothing comes."""
        got: list[LogRecord] = []
        empty = 0
        while empty < 2:
            records = self.poll(tailer, advance=1000.0)
            got += records
            empty = 0 if records else empty + 1
        return got


def texts(records: list[LogRecord]) -> list[str]:
    return [record.text for record in records]


def append(path: Path, *lines: str, end: str = "\n") -> None:
    with path.open("a", encoding="utf-8", newline="") as handle:  # "a": O_APPEND, as real loggers
        handle.write("".join(line + end for line in lines))


def tailer(tmp_path: Path, patterns: list[str] | None = None, **options) -> LogTailer:
    return LogTailer(patterns or [str(tmp_path / "app.log")], tmp_path / "state" / "offsets.json", **options)


# appends, partial lines, limits


def test_appends_are_read_once_and_partial_lines_wait(tmp_path: Path) -> None:
    log, clock = tmp_path / "app.log", Clock()
    append(log, "one", "two")
    with tailer(tmp_path, multiline=False) as t:
        assert texts(clock.poll(t)) == ["one", "two"]
        assert clock.poll(t) == []
        with log.open("a") as handle:
            handle.write("thr")
        assert clock.poll(t, advance=10) == []  # no newline yet, however long we wait
        with log.open("a") as handle:
            handle.write("ee\nfour\nfi")
        records = clock.poll(t)
        assert texts(records) == ["three", "four"]
        assert [r.offset for r in records] == [8, 14]
        assert records[0].file_id == f"{os.stat(log).st_dev}:{os.stat(log).st_ino}"
        assert records[0].path == str(log)
        append(log, "ve")
        assert texts(clock.poll(t)) == ["five"]
        assert clock.drain(t) == []


def test_last_record_is_held_until_the_next_line_or_flush_after(tmp_path: Path) -> None:
    log, clock = tmp_path / "app.log", Clock()
    append(log, "first", "second")
    with tailer(tmp_path, flush_after=2.0) as t:
        assert texts(clock.poll(t)) == ["first"]  # "second" could still get continuation lines
        assert clock.poll(t, advance=1.9) == []
        assert texts(clock.poll(t, advance=0.2)) == ["second"]  # 2.1 s without new data
        append(log, "third")
        assert clock.poll(t, advance=5) == []  # the clock restarts when data arrives
        append(log, "fourth")
        assert texts(clock.poll(t, advance=0.5)) == ["third"]  # a line that does not continue it
        assert texts(clock.poll(t, advance=2.0)) == ["fourth"]


def test_crlf_and_invalid_utf8(tmp_path: Path) -> None:
    log, clock = tmp_path / "app.log", Clock()
    log.write_bytes(b"windows\r\nbad \xff\xfe byte\nna\xc3\xafve\n")
    with tailer(tmp_path) as t:
        assert texts(clock.drain(t)) == ["windows", "bad \ufffd\ufffd byte", "naïve"]


def test_long_lines_are_cut_at_character_boundaries(tmp_path: Path) -> None:
    log, clock = tmp_path / "app.log", Clock()
    with tailer(tmp_path, max_record_bytes=16, multiline=False) as t:
        append(log, "a" * 40)
        assert texts(clock.poll(t)) == ["a" * 16, "a" * 16, "a" * 8]
        with log.open("a") as handle:
            handle.write("é" * 20)  # 40 bytes, no newline yet: cut anyway, whole characters only
        first = clock.poll(t)
        assert texts(first) == ["é" * 8, "é" * 8]
        append(log, "")
        assert texts(clock.poll(t)) == ["é" * 4]
        assert "".join(texts(first)).encode() == ("é" * 16).encode()


def test_max_records_pages_through_in_order_and_commit_is_exact(tmp_path: Path) -> None:
    log, clock = tmp_path / "app.log", Clock()
    lines = [f"line {i}" for i in range(25)]
    append(log, *lines)
    t = tailer(tmp_path)
    got = clock.poll(t, max_records=3)
    got += clock.poll(t, max_records=4)
    assert texts(got) == lines[:7]
    t.commit()
    got_more = clock.poll(t, max_records=5)  # returned, never committed
    assert texts(got_more) == lines[7:12]
    t.close()
    t = tailer(tmp_path)
    assert texts(clock.drain(t)) == lines[7:]
    t.close()


def test_chunk_boundaries_do_not_change_records(tmp_path: Path) -> None:
    body = ("INFO start\nERROR failed\nTraceback (most recent call last):\n  File \"a.py\", line 3, in f\n"
            "    g()\nKeyError: 'x'\nINFO after\n" * 20 + "é" * 30 + "\nlast\n")
    results = []
    for chunk in (1, 3, 7, 64, CHUNK_BYTES):
        directory = tmp_path / str(chunk)
        directory.mkdir()
        (directory / "app.log").write_text(body, encoding="utf-8")
        with tailer(directory, chunk_bytes=chunk) as t:
            results.append([(r.text, r.offset) for r in Clock().drain(t)])
    assert all(result == results[-1] for result in results)
    assert len(results[-1]) == 20 * 3 + 2


# rotation


def test_rename_rotation_reads_old_file_to_its_end_then_new_file(tmp_path: Path) -> None:
    log, clock = tmp_path / "app.log", Clock()
    t = tailer(tmp_path)
    got: list[LogRecord] = []
    writer = log.open("a", buffering=1)
    for i in range(30):
        writer.write(f"gen0 {i}\n")
        if i % 7 == 0:
            got += clock.poll(t, advance=0.5)
    os.rename(log, tmp_path / "app.log.1")  # logrotate's default: rename ...
    for i in range(30, 40):  # ... while the application keeps writing to the old file until it reopens
        writer.write(f"gen0 {i}\n")
        if i % 4 == 0:
            got += clock.poll(t, advance=0.5)
    writer.close()
    writer = log.open("a", buffering=1)  # ... then it reopens: a new app.log
    for i in range(40):
        writer.write(f"gen1 {i}\n")
        if i % 6 == 0:
            got += clock.poll(t, advance=0.5)
    os.rename(tmp_path / "app.log.1", tmp_path / "app.log.2")  # a second rotation, shifting the names
    os.rename(log, tmp_path / "app.log.1")
    writer.write("gen1 40\n")
    writer.close()
    append(log, *[f"gen2 {i}" for i in range(10)])
    got += clock.drain(t)
    t.close()
    expected = [f"gen0 {i}" for i in range(40)] + [f"gen1 {i}" for i in range(41)] + [f"gen2 {i}" for i in range(10)]
    assert texts(got) == expected  # every line once; each file finished before the next one
    assert {r.path for r in got} == {str(log)}
    assert len({r.file_id for r in got}) == 3


def test_rename_rotation_with_a_concurrent_writer(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    done = threading.Event()
    polls = [0]  # polls finished so far, counted by the reading thread

    def wait_for_polls(count: int) -> None:
        wait_for(lambda: polls[0] >= count, what=f"{count} polls")

    def write() -> None:
        try:
            wait_for_polls(1)  # the tailer has found the first file
            writer = log.open("a", buffering=1)
            for generation in range(4):
                for i in range(2000):
                    writer.write(f"{generation} {i} {'x' * (i % 50)}\n")
                    if i == 1500:  # rename while writing; the writer reopens 300 lines later
                        os.rename(log, tmp_path / f"app.log.{generation}")
                    if i == 1800:
                        writer.close()
                        writer = log.open("a", buffering=1)
                        # A polling tailer sees a file that lives under its name for at least one
                        # poll (a file created and renamed away between two polls is never seen);
                        # the writer is far faster than logrotate, so it lets one poll begin first.
                        wait_for_polls(polls[0] + 2)
            writer.close()
        finally:
            done.set()  # also when the writer failed: the reading loop ends, the assertions report it

    t = tailer(tmp_path)
    thread = threading.Thread(target=write)
    thread.start()
    got: list[LogRecord] = []
    while not done.is_set():
        got += t.poll(max_records=500)
        polls[0] += 1
    thread.join()
    now = time.monotonic()
    for step in range(1, 4):
        got += t.poll(now=now + 1000 * step)
    t.close()
    by_generation: dict[int, list[int]] = {}
    for text in texts(got):
        generation, i, _ = text.split(" ")
        by_generation.setdefault(int(generation), []).append(int(i))
    for generation, numbers in by_generation.items():  # names what differs, for a failure
        missing_numbers = sorted(set(range(2000)) - set(numbers))
        assert not missing_numbers, f"generation {generation} lacks {missing_numbers[:5]}...{missing_numbers[-5:]}"
        assert len(numbers) == len(set(numbers)), f"generation {generation} has duplicates"
        disorder = next((k for k in range(1, len(numbers)) if numbers[k] < numbers[k - 1]), None)
        assert disorder is None, f"generation {generation} out of order: {numbers[disorder - 3:disorder + 3]}"
    assert by_generation == {g: list(range(2000)) for g in range(4)}  # exactly once, in order per generation


def test_copytruncate_reads_lines_after_the_truncation_exactly_once(tmp_path: Path) -> None:
    log, clock = tmp_path / "app.log", Clock()
    t = tailer(tmp_path)
    append(log, *[f"before {i}" for i in range(20)])
    got = clock.poll(t)
    append(log, "written after the last poll")  # in the copy only: the tailer never saw it
    shutil.copyfile(log, tmp_path / "app.log.1")
    append(log, "between copy and truncate")  # dropped by copytruncate itself
    os.truncate(log, 0)
    append(log, *[f"after {i}" for i in range(5)])
    got += clock.poll(t, advance=0.1)
    append(log, *[f"after {i}" for i in range(5, 10)])
    got += clock.drain(t)
    t.close()
    assert texts(got) == [f"before {i}" for i in range(20)] + [f"after {i}" for i in range(10)]


def test_copytruncate_noticed_even_when_rewritten_past_the_old_size(tmp_path: Path) -> None:
    log, clock = tmp_path / "app.log", Clock()
    t = tailer(tmp_path)
    append(log, "short 1", "short 2")
    got = clock.drain(t)
    os.truncate(log, 0)
    append(log, *[f"a longer line after the truncation {i}" for i in range(5)])  # larger than before the next poll
    got += clock.drain(t)
    t.close()
    assert texts(got) == ["short 1", "short 2"] + [f"a longer line after the truncation {i}" for i in range(5)]


def test_deleted_file_is_read_to_its_end_then_closed_and_recreated_file_read(tmp_path: Path) -> None:
    log, clock = tmp_path / "app.log", Clock()
    t = tailer(tmp_path, close_rotated_after=30)
    append(log, "one", "two")
    got = clock.poll(t)
    append(log, "three")  # not read yet when the file is deleted
    log.unlink()
    got += clock.poll(t, advance=1)
    append(log, "new one", "new two")
    got += clock.drain(t)
    assert texts(got) == ["one", "two", "three", "new one", "new two"]
    open_files = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
                  if os.path.islink(f"/proc/self/fd/{fd}")]
    assert not [name for name in open_files if name.endswith("(deleted)") and "app.log" in name]
    t.close()


def test_file_that_does_not_exist_yet_is_read_from_its_start(tmp_path: Path) -> None:
    log, clock = tmp_path / "later.log", Clock()
    with tailer(tmp_path, [str(log)], start_at_end=True) as t:
        assert clock.poll(t) == []
        append(log, "first line", "second line")
        assert texts(clock.drain(t)) == ["first line", "second line"]


def test_start_at_end_skips_history_of_existing_files_only(tmp_path: Path) -> None:
    log, clock = tmp_path / "app.log", Clock()
    append(log, "old history")
    t = tailer(tmp_path, start_at_end=True)
    assert clock.drain(t) == []
    append(log, "new")
    assert texts(clock.drain(t)) == ["new"]
    t.commit()
    t.close()
    append(log, "while stopped")
    t = tailer(tmp_path, start_at_end=True)  # the state knows the file: start_at_end no longer applies
    assert texts(clock.drain(t)) == ["while stopped"]
    t.close()


def test_globs_pick_up_files_created_later(tmp_path: Path) -> None:
    clock = Clock()
    append(tmp_path / "a.log", "a1")
    with tailer(tmp_path, [str(tmp_path / "*.log")]) as t:
        assert texts(clock.drain(t)) == ["a1"]
        append(tmp_path / "b.log", "b1", "b2")
        (tmp_path / "c.txt").write_text("not matched\n")
        append(tmp_path / "a.log", "a2")
        got = clock.drain(t)
    assert sorted((r.path, r.text) for r in got) == [
        (str(tmp_path / "a.log"), "a2"), (str(tmp_path / "b.log"), "b1"), (str(tmp_path / "b.log"), "b2")]


# restarts


def test_offsets_survive_restart_with_and_without_commit(tmp_path: Path) -> None:
    log, clock = tmp_path / "app.log", Clock()
    append(log, *[f"l{i}" for i in range(10)])
    t = tailer(tmp_path)
    assert texts(clock.drain(t)) == [f"l{i}" for i in range(10)]
    t.commit()
    append(log, "l10", "l11")
    with log.open("a") as handle:
        handle.write("partial")
    assert texts(clock.drain(t)) == ["l10", "l11"]  # returned, not committed: the agent crashes now
    t.close()

    t = tailer(tmp_path)
    assert texts(clock.drain(t)) == ["l10", "l11"]  # read again, once
    assert clock.drain(t) == []
    t.commit()
    t.close()

    append(log, "")  # the partial line gets its newline while nothing runs
    t = tailer(tmp_path)
    assert texts(clock.drain(t)) == ["partial"]
    t.commit()
    t.close()
    t = tailer(tmp_path)
    assert clock.drain(t) == []
    t.close()
    assert not list((tmp_path / "state").glob("*.tmp"))


def test_rotation_while_stopped_finishes_old_file_then_new(tmp_path: Path) -> None:
    log, clock = tmp_path / "app.log", Clock()
    append(log, *[f"old {i}" for i in range(10)])
    t = tailer(tmp_path)
    got = clock.poll(t, max_records=6)
    t.commit()
    t.close()
    append(log, *[f"old {i}" for i in range(10, 15)])  # written while the agent is down
    os.rename(log, tmp_path / "app.log.1")
    append(log, *[f"new {i}" for i in range(5)])

    t = tailer(tmp_path)
    got += clock.drain(t)
    t.commit()
    t.close()
    assert texts(got) == [f"old {i}" for i in range(15)] + [f"new {i}" for i in range(5)]
    t = tailer(tmp_path)
    assert clock.drain(t) == []
    t.close()


def test_file_found_but_rotated_away_before_any_commit_is_not_lost(tmp_path: Path) -> None:
    log, clock = tmp_path / "app.log", Clock()
    append(log, "a")
    t = tailer(tmp_path)
    clock.drain(t)
    t.commit()
    os.rename(log, tmp_path / "app.log.1")
    append(log, "b1")  # a new file, found by the next poll ...
    assert texts(clock.drain(t)) == ["b1"]
    t.close()  # ... returned but never committed; then it is rotated away while the agent is down
    os.rename(tmp_path / "app.log.1", tmp_path / "app.log.2")
    os.rename(log, tmp_path / "app.log.1")
    append(log, "c1")
    t = tailer(tmp_path)
    assert texts(clock.drain(t)) == ["b1", "c1"]
    t.close()


def test_truncated_and_rewritten_past_the_offset_while_stopped_is_read_from_zero(tmp_path: Path) -> None:
    log, clock = tmp_path / "app.log", Clock()
    append(log, "one", "two")
    t = tailer(tmp_path)
    assert texts(clock.drain(t)) == ["one", "two"]
    t.commit()
    t.close()
    inode = os.stat(log).st_ino
    os.truncate(log, 0)  # same inode, now longer than the committed offset: only the stored bytes tell
    append(log, *[f"rewritten {i}" for i in range(4)])
    assert os.stat(log).st_ino == inode
    t = tailer(tmp_path)
    assert texts(clock.drain(t)) == [f"rewritten {i}" for i in range(4)]
    t.close()


def test_copytruncate_while_stopped_reads_rest_from_the_copy(tmp_path: Path) -> None:
    log, clock = tmp_path / "app.log", Clock()
    append(log, *[f"2024-01-02 10:00:{i:02d}.000 1 INFO svc [-] before {i}" for i in range(5)])
    t = tailer(tmp_path)
    got = clock.drain(t)
    t.commit()
    t.close()
    append(log, "2024-01-02 10:00:10.000 1 INFO svc [-] unread when the copy was made")
    shutil.copyfile(log, tmp_path / "app.log.1")
    os.truncate(log, 0)
    append(log, "2024-01-02 10:00:11.000 1 INFO svc [-] after")
    t = tailer(tmp_path)
    got += clock.drain(t)
    t.close()
    assert [text.split("] ")[1] for text in texts(got)] == [
        *[f"before {i}" for i in range(5)], "unread when the copy was made", "after"]


# multi-line records


def test_python_traceback_is_one_record(tmp_path: Path) -> None:
    log, clock = tmp_path / "app.log", Clock()
    handler = logging.FileHandler(log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("tailer-test")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("before")
        try:
            try:
                {}["missing"]
            except KeyError as exc:
                raise RuntimeError("wrapped") from exc
        except RuntimeError:
            logger.exception("it failed")
        logger.warning("after")
    finally:
        logger.removeHandler(handler)
        handler.close()
    with tailer(tmp_path) as t:
        records = texts(clock.drain(t))
    assert len(records) == 3
    assert records[0].endswith("before") and records[2].endswith("after")
    failed = records[1].split("\n")
    assert failed[0].endswith("it failed")
    assert failed[1] == "Traceback (most recent call last):"
    assert "KeyError: 'missing'" in failed
    assert "The above exception was the direct cause of the following exception:" in failed
    assert failed[-1] == "RuntimeError: wrapped"


OSLO_TRACEBACK = """\
2024-01-02 10:00:00.100 1234 INFO nova.compute.manager [req-abc u p - - -] Starting instance
2024-01-02 10:00:00.123 1234 ERROR nova.compute.manager [req-abc u p - - -] Traceback (most recent call last):
2024-01-02 10:00:00.123 1234 ERROR nova.compute.manager [req-abc u p - - -]   File "/n/manager.py", line 2, in f
2024-01-02 10:00:00.123 1234 ERROR nova.compute.manager [req-abc u p - - -]     self.driver.spawn()
2024-01-02 10:00:00.123 1234 ERROR nova.compute.manager [req-abc u p - - -] nova.exception.NoValidHost: No host
2024-01-02 10:00:00.123 1234 ERROR nova.compute.manager [req-abc u p - - -] \n\
2024-01-02 10:00:00.124 1234 INFO nova.compute.manager [req-abc u p - - -] Terminating instance
"""

# What oslo.log writes by default: the message line with its context block, then the traceback
# with logging_exception_prefix on every line (no context block, [instance: ] kept), ending in
# an empty prefixed line; the exception's message here spans two lines.
OSLO_DEFAULT_TRACEBACK = """\
2024-01-02 10:00:01.500 77 ERROR nova.compute.manager [None req-1 u p - - default default] [instance: \
0b2c9c4e-0000-4000-8000-000000000001] Instance failed to spawn: ProcessExecutionError: Unexpected error
2024-01-02 10:00:01.500 77 ERROR nova.compute.manager [instance: 0b2c9c4e-0000-4000-8000-000000000001] \
Traceback (most recent call last):
2024-01-02 10:00:01.500 77 ERROR nova.compute.manager [instance: 0b2c9c4e-0000-4000-8000-000000000001] \
  File "/n/manager.py", line 2743, in _build_resources
2024-01-02 10:00:01.500 77 ERROR nova.compute.manager [instance: 0b2c9c4e-0000-4000-8000-000000000001] \
    yield resources
2024-01-02 10:00:01.500 77 ERROR nova.compute.manager [instance: 0b2c9c4e-0000-4000-8000-000000000001] \
oslo_concurrency.processutils.ProcessExecutionError: Unexpected error while running command.
2024-01-02 10:00:01.500 77 ERROR nova.compute.manager [instance: 0b2c9c4e-0000-4000-8000-000000000001] \
Command: qemu-img info
2024-01-02 10:00:01.500 77 ERROR nova.compute.manager [instance: 0b2c9c4e-0000-4000-8000-000000000001] \n\
2024-01-02 10:00:01.500 77 ERROR nova.compute.manager [None req-1 u p - - default default] [instance: \
0b2c9c4e-0000-4000-8000-000000000001] Another error in the same millisecond
2024-01-02 10:00:01.501 77 INFO nova.compute.manager [-] Periodic task
"""


def test_oslo_traceback_with_repeated_header_is_one_record(tmp_path: Path) -> None:
    log, clock = tmp_path / "app.log", Clock()
    log.write_text(OSLO_TRACEBACK)
    with tailer(tmp_path) as t:
        records = texts(clock.drain(t))
    lines = OSLO_TRACEBACK.splitlines()
    assert records == [lines[0], "\n".join(lines[1:6]), lines[6]]


def test_oslo_default_exception_prefix_joins_the_message_line(tmp_path: Path) -> None:
    log, clock = tmp_path / "app.log", Clock()
    log.write_text(OSLO_DEFAULT_TRACEBACK)
    with tailer(tmp_path) as t:
        records = texts(clock.drain(t))
    lines = OSLO_DEFAULT_TRACEBACK.splitlines()
    assert records == ["\n".join(lines[:7]), lines[7], lines[8]]


def test_multiline_off_keeps_every_line(tmp_path: Path) -> None:
    log, clock = tmp_path / "app.log", Clock()
    log.write_text(OSLO_TRACEBACK)
    with tailer(tmp_path, multiline=False) as t:
        assert texts(clock.poll(t)) == OSLO_TRACEBACK.splitlines()


def test_pending_traceback_released_by_flush_after(tmp_path: Path) -> None:
    log, clock = tmp_path / "app.log", Clock()
    append(log, "ERROR failed", "Traceback (most recent call last):", '  File "a.py", line 1, in <module>')
    with tailer(tmp_path, flush_after=2.0) as t:
        assert clock.poll(t) == []
        append(log, "ValueError: boom")
        assert clock.poll(t, advance=1.5) == []  # new data: the clock starts again
        assert clock.poll(t, advance=1.5) == []
        assert texts(clock.poll(t, advance=0.6)) == [
            'ERROR failed\nTraceback (most recent call last):\n  File "a.py", line 1, in <module>\nValueError: boom']
        append(log, "  late indented line")  # after the flush it can only start a record of its own
        assert texts(clock.drain(t)) == ["  late indented line"]


def test_merged_record_is_bounded_by_max_record_bytes(tmp_path: Path) -> None:
    log, clock = tmp_path / "app.log", Clock()
    frames = [f'  File "f{i}.py", line {i}, in g' for i in range(10)]
    append(log, "Traceback (most recent call last):", *frames, "ValueError: x", "next")
    with tailer(tmp_path, max_record_bytes=100) as t:
        records = texts(clock.drain(t))
    assert all(len(record.encode()) <= 100 for record in records)
    assert "\n".join(records) == "\n".join(["Traceback (most recent call last):", *frames, "ValueError: x", "next"])
    assert records[-1] == "next"


def test_real_oslo_lines_are_one_record_each(tmp_path: Path) -> None:
    if not LOGHUB.exists():
        missing(f"the Loghub OpenStack sample is not at {LOGHUB}", "set NEPHOSCOPE_SHARED_DATA")
    raw = LOGHUB.read_bytes()  # CRLF line endings; each line prefixed with its source file name
    lines = [line.split(b" ", 1)[1] for line in raw.split(b"\r\n") if line]
    log, clock = tmp_path / "nova.log", Clock()
    log.write_bytes(b"".join(line + b"\r\n" for line in lines) + OSLO_DEFAULT_TRACEBACK.encode())
    with tailer(tmp_path, [str(log)]) as t:
        records = texts(clock.drain(t))
    assert len(lines) == 2000
    assert records[:2000] == [line.decode() for line in lines]
    assert len(records) == 2003


# property: whatever happens, the committed records are exactly the lines written

LINE = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\n\r"), max_size=40),
    st.sampled_from([
        "", "    indented", "\tTabbed", "Traceback (most recent call last):", '  File "a.py", line 1, in f',
        "ValueError: boom", "During handling of the above exception, another exception occurred:",
        "2024-01-02 10:00:00.123 1 ERROR svc.mod [req-1 - -] failed",
        "2024-01-02 10:00:00.123 1 ERROR svc.mod Traceback (most recent call last):",
        '2024-01-02 10:00:00.123 1 ERROR svc.mod   File "x.py", line 2, in g',
        "2024-01-02 10:00:00.123 1 ERROR svc.mod KeyError: 'k'",
        "2024-01-02 10:00:00.123 1 ERROR svc.mod ",
    ]),
)
OPERATION = st.one_of(
    st.tuples(st.just("append"), st.lists(LINE, min_size=1, max_size=8)),
    st.tuples(st.just("split"), LINE, st.integers(0, 40)),
    st.tuples(st.just("poll"), st.integers(1, 30), st.floats(0, 3)),
    st.just(("commit",)),
    st.just(("rotate",)),
    st.just(("copytruncate",)),
    st.just(("stop",)),
    st.just(("start",)),
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations=st.lists(OPERATION, max_size=40), chunk_bytes=st.sampled_from([5, 64, CHUNK_BYTES]),
       multiline=st.booleans())
def test_committed_records_are_exactly_the_lines_written(tmp_path_factory: pytest.TempPathFactory,
                                                          operations: list[tuple], chunk_bytes: int,
                                                          multiline: bool) -> None:
    directory = tmp_path_factory.mktemp("prop")
    log, clock = directory / "app.log", Clock()
    log.touch()
    written: list[str] = []
    committed: list[str] = []
    uncommitted: list[str] = []
    copies = 0
    current_found = False  # a tailer has seen the current app.log (so the state names it)

    def start() -> LogTailer:
        return LogTailer([str(log)], directory / "offsets.json", multiline=multiline, max_record_bytes=512,
                         chunk_bytes=chunk_bytes)

    def poll(max_records: int = 10_000, advance: float = 0.0) -> None:
        nonlocal current_found
        uncommitted.extend(texts(clock.poll(t, advance=advance, max_records=max_records)))
        current_found = True

    def commit() -> None:
        t.commit()
        committed.extend(uncommitted)
        uncommitted.clear()

    t: LogTailer | None = start()
    for operation in operations:
        kind = operation[0]
        if kind == "append":
            append(log, *operation[1])
            written.extend(operation[1])
        elif kind == "split":  # a line written in two parts, a poll in between
            line, cut = operation[1], operation[2]
            append(log, line[:cut], end="")
            if t is not None:
                poll()
            append(log, line[cut:])
            written.append(line)
        elif kind == "poll" and t is not None:
            poll(operation[1], operation[2])
        elif kind == "commit" and t is not None:
            commit()
        elif kind == "rotate":
            if t is not None:
                poll()  # a running tailer sees every file (rotations are far apart)
            elif not current_found:
                continue  # two rotations while stopped: the middle file is never seen (documented)
            for n in sorted((int(p.name.rsplit(".", 1)[1]) for p in directory.glob("app.log.[0-9]*")), reverse=True):
                os.rename(directory / f"app.log.{n}", directory / f"app.log.{n + 1}")
            os.rename(log, directory / "app.log.1")
            log.touch()  # logrotate's "create"
            current_found = False
        elif kind == "copytruncate" and t is not None:
            # Exact by design: only once everything was read and committed, so nothing is in the
            # copy only, and the truncation is seen before anything else is written.
            uncommitted.extend(texts(clock.drain(t)))
            commit()
            copies += 1
            shutil.copyfile(log, directory / f"app.log.copy{copies}")
            os.truncate(log, 0)
            poll()
            commit()
        elif kind == "stop" and t is not None:
            t.close()
            t = None
            uncommitted.clear()  # returned but not committed: the next tailer reads them again
        elif kind == "start" and t is None:
            t = start()
    if t is None:
        t = start()
    uncommitted.extend(texts(clock.drain(t)))
    commit()
    t.close()
    assert "\n".join(committed) == "\n".join(written)
    assert len(committed) <= len(written)
