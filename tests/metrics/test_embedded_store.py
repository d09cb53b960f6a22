"""The store below the HTTP layer: compaction, roll-ups, late data, de-duplication, retention."""

from __future__ import annotations

import time

import numpy as np
import pytest

from nephoscope.config import ArchivePolicy, Config
from nephoscope.metrics.query import bucket_statistics, measurement_resolution, statistics_resolution
from nephoscope.metrics.series import IngestBatch, PointBatch, ValueMeta, define_series
from nephoscope.metrics.store import EmbeddedStore
from nephoscope.metrics.summary import ordered

DAY = 86_400_000
HOUR = 3_600_000


def open_store(tmp_path, materialize_rollups: str) -> EmbeddedStore:  # noqa: ANN001
    config = Config()
    config.server.data_dir = str(tmp_path / "data")
    config.store.compaction_interval = 3600  # only explicit compaction in these tests
    config.store.materialize_rollups = materialize_rollups
    opened = EmbeddedStore(config)
    opened.open()
    return opened


@pytest.fixture(params=["on_compaction", "on_expiry"])
def store(tmp_path, request):  # noqa: ANN001
    """Either way of materializing roll-ups: the answers must not depend on it."""
    opened = open_store(tmp_path, request.param)
    yield opened
    opened.close()


@pytest.fixture
def materializing_store(tmp_path):  # noqa: ANN001
    """Roll-ups written at compaction: for the tests of the stored roll-up chunks themselves."""
    opened = open_store(tmp_path, "on_compaction")
    yield opened
    opened.close()


def write_raw(store: EmbeddedStore, name: str, host: str, timestamps: np.ndarray, values: np.ndarray,
              tenant: str = "t") -> int:
    definition = define_series(tenant, name, {"hostname": host})
    batch = IngestBatch(store.new_series([definition]),
                        PointBatch(np.full(len(values), definition.id, np.int64), timestamps.astype(np.int64),
                                   value=values.astype(np.float64)), ValueMeta())
    store.write_now(batch)
    return definition.id


def yesterday_start() -> int:
    return (int(time.time() * 1000) // DAY) * DAY - DAY


def stats(points) -> tuple:  # noqa: ANN001
    return int(points.count.sum()), round(float(points.sum.sum()), 6), float(points.min.min()), float(points.max.max())


def test_compaction_keeps_every_value_and_rollups_are_exact(store: EmbeddedStore) -> None:
    start = yesterday_start()
    timestamps = start + np.arange(8640) * 10_000
    rng = np.random.default_rng(7)
    ids = [write_raw(store, "cpu.percent", f"h{i}", timestamps, np.round(rng.uniform(0, 100, 8640), 1))
           for i in range(3)]
    before = ordered(store.read(ids, start, start + DAY, 0))
    store.flush_now()
    report = store.compactor.run(now_ms=start + DAY + 10 * 60_000)
    assert report.windows == 12
    # Materialized at compaction, yesterday is rolled up; on expiry, nothing is until raw data goes.
    assert (report.days_rolled >= 1) == store.compactor.on_compaction
    remaining = store.database.cursor().execute("SELECT count(*) FROM recent.recent_points").fetchall()[0][0]
    assert remaining == 0
    # Today's windows are still open, so the recent file is kept; drained, it is replaced by an empty one.
    after = ordered(store.read(ids, start, start + DAY, 0))
    assert np.array_equal(before.timestamp, after.timestamp) and np.array_equal(before.last, after.last)
    for resolution in (60, 3600, 86_400):
        rolled = store.read(ids, start, start + DAY, resolution)
        assert stats(rolled) == stats(before), resolution
    # Statistics per 300 s from 1-minute roll-ups equal those from raw data, bucket by bucket.
    raw_buckets, raw_values = bucket_statistics(before, start, 300)
    rollup_buckets, rollup_values = bucket_statistics(store.read(ids, start, start + DAY, 60), start, 300)
    assert np.array_equal(raw_buckets, rollup_buckets)
    for name in ("count", "min", "max"):
        assert np.array_equal(raw_values[name], rollup_values[name])
    assert np.allclose(raw_values["avg"], rollup_values["avg"], rtol=1e-12)


def test_a_drained_recent_file_gives_its_disk_space_back(store: EmbeddedStore, monkeypatch) -> None:  # noqa: ANN001
    from nephoscope.metrics.store.duckdb import database

    monkeypatch.setattr(database, "SHRINK_MIN_FREE_BYTES", 0)
    start = yesterday_start()
    rng = np.random.default_rng(1)
    for host in range(20):
        write_raw(store, "cpu", f"h{host}", start + np.arange(8640) * 10_000, rng.uniform(0, 100, 8640))
    store.flush_now()
    store.database.checkpoint()
    full = store.database.recent_path.stat().st_size
    store.compactor.run(now_ms=start + DAY + 10 * 60_000)
    assert store.database.recent_path.stat().st_size < full / 4
    assert int(store.read([define_series("t", "cpu", {"hostname": "h3"}).id],
                          start, start + DAY, 0).count.sum()) == 8640


def test_compressed_chunks_are_small_for_regular_cloud_series(store: EmbeddedStore) -> None:
    start = yesterday_start()
    timestamps = start + np.arange(8640) * 10_000
    rng = np.random.default_rng(3)
    cpu = np.clip(np.round(40 + np.cumsum(rng.normal(0, 0.5, 8640)), 1), 0, 100)
    write_raw(store, "cpu.percent", "h1", timestamps, cpu)
    store.flush_now()
    store.compactor.run(now_ms=start + DAY + 10 * 60_000)
    raw_bytes = store.database.cursor().execute(
        "SELECT sum(octet_length(payload)) FROM chunks WHERE resolution = 0").fetchall()[0][0]
    assert raw_bytes / 8640 < 1.5


def test_late_data_is_merged_into_compacted_windows_and_rollups(store: EmbeddedStore) -> None:
    start = yesterday_start()
    timestamps = start + np.arange(0, 720) * 10_000  # the first 2 h window, every 10 s
    identifier = write_raw(store, "mem.used", "h1", timestamps[::2], np.full(360, 2.0))
    store.flush_now()
    store.compactor.run(now_ms=start + DAY + 10 * 60_000)
    write_raw(store, "mem.used", "h1", timestamps[1::2], np.full(360, 4.0))  # late, odd slots
    store.flush_now()
    store.compactor.run(now_ms=start + DAY + 20 * 60_000)
    raw = store.read([identifier], start, start + DAY, 0)
    assert len(raw) == 720 and raw.sum.sum() == 360 * 2.0 + 360 * 4.0
    for resolution in (60, 3600, 86_400):
        rolled = store.read([identifier], start, start + DAY, resolution)
        assert int(rolled.count.sum()) == 720, resolution
        assert rolled.sum.sum() == pytest.approx(2160.0), resolution
        assert rolled.min.min() == 2.0 and rolled.max.max() == 4.0


def test_a_resent_sample_replaces_the_stored_one_everywhere(store: EmbeddedStore) -> None:
    start = yesterday_start()
    timestamps = start + np.arange(10) * 60_000
    identifier = write_raw(store, "disk.ops", "h1", timestamps, np.arange(10.0))
    store.flush_now()
    store.compactor.run(now_ms=start + DAY + 10 * 60_000)
    write_raw(store, "disk.ops", "h1", timestamps[3:4], np.array([100.0]))  # resent, in recent points
    write_raw(store, "disk.ops", "h1", timestamps[5:6], np.array([200.0]))  # resent, still in the head
    store.flush_now()
    write_raw(store, "disk.ops", "h1", timestamps[5:6], np.array([300.0]))
    raw = ordered(store.read([identifier], start, start + DAY, 0))
    assert len(raw) == 10
    assert raw.last.tolist() == [0, 1, 2, 100, 4, 300, 6, 7, 8, 9]


def test_retention_drops_whole_windows_per_resolution(materializing_store: EmbeddedStore) -> None:
    store = materializing_store
    start = yesterday_start()
    identifier = write_raw(store, "net.in", "h1", start + np.arange(720) * 10_000, np.ones(720))
    store.flush_now()
    store.compactor.run(now_ms=start + DAY + 10 * 60_000)
    count = lambda resolution: store.database.cursor().execute(  # noqa: E731
        "SELECT count(*) FROM chunks WHERE resolution = ?", [resolution]).fetchall()[0][0]
    assert count(0) == 1 and count(60) == 1
    store.compactor.apply_retention(start + 3 * DAY)  # raw (1 day) expired; minutes (7 days) kept
    assert count(0) == 0 and count(60) == 1
    assert int(store.read([identifier], start, start + DAY, 60).count.sum()) == 720
    store.compactor.apply_retention(start + 9 * DAY)
    assert count(60) == 0 and count(3600) == 1


def test_rollups_read_before_compaction_come_from_raw(store: EmbeddedStore) -> None:
    now = int(time.time() * 1000)
    start = (now // HOUR) * HOUR - HOUR
    timestamps = start + np.arange(360) * 10_000
    identifier = write_raw(store, "load", "h1", timestamps, np.arange(360.0))
    rolled = store.read([identifier], start, start + HOUR, 60)
    assert len(rolled) == 60 and int(rolled.count.sum()) == 360
    assert rolled.sum.sum() == pytest.approx(np.arange(360.0).sum())


def test_restart_keeps_flushed_and_unflushed_points(tmp_path) -> None:
    config = Config()
    config.server.data_dir = str(tmp_path / "data")
    first = EmbeddedStore(config)
    first.open()
    start = yesterday_start()
    identifier = write_raw(first, "cpu", "h1", start + np.arange(100) * 1000, np.arange(100.0))
    first.flush_now()
    write_raw(first, "cpu", "h1", start + 100_000 + np.arange(50) * 1000, np.arange(50.0))
    first.wal.close()  # as after a crash: the second batch is only in the WAL
    first.database.close()
    second = EmbeddedStore(config)
    second.open()
    try:
        points = second.read([identifier], start, start + DAY, 0)
        assert len(points) == 150
        assert identifier in second.registry
    finally:
        second.close()


def test_resolution_choice() -> None:
    policies = [ArchivePolicy()]
    now = 1_800_000_000_000
    assert measurement_resolution(policies, now - HOUR, now) == 0
    assert measurement_resolution(policies, now - 3 * DAY, now) == 60
    assert measurement_resolution(policies, now - 30 * DAY, now) == 3600
    assert measurement_resolution(policies, now - 365 * DAY, now) == 86_400
    recent = (now // HOUR) * HOUR - 2 * HOUR
    assert statistics_resolution(policies, recent, 300, now) == 60
    assert statistics_resolution(policies, recent, 7200, now) == 3600
    assert statistics_resolution(policies, recent + 1000, 300, now) == 60  # partial edge buckets come from raw
    assert statistics_resolution(policies, recent, 45, now) == 0
    # Older than raw retention and unaligned: the finest resolution that covers the range.
    assert statistics_resolution(policies, now - 3 * DAY + 1000, 300, now) == 60


def test_unaligned_ranges_read_from_rollups_are_exact(store: EmbeddedStore) -> None:
    now = int(time.time() * 1000)
    start = (now // HOUR) * HOUR - 6 * HOUR
    rng = np.random.default_rng(11)
    timestamps = start + np.sort(rng.choice(6 * 3600, 3000, replace=False)) * 1000
    identifier = write_raw(store, "io.read", "h1", timestamps, np.round(rng.uniform(0, 50, 3000), 1))
    store.flush_now()
    store.compactor.run(now_ms=now, force=True)
    begin, end = start + 37_123, start + 5 * HOUR + 59_001  # neither on a minute nor an hour
    raw = store.read([identifier], begin, end, 0)
    for resolution in (60, 3600):
        rolled = store.read([identifier], begin, end, resolution)
        assert stats(rolled) == stats(raw), resolution
        period = 1800 if resolution == 60 else 7200  # a multiple of the resolution, as the API chooses
        raw_buckets, raw_values = bucket_statistics(raw, begin, period)
        rolled_buckets, rolled_values = bucket_statistics(rolled, begin, period)
        assert np.array_equal(raw_buckets, rolled_buckets)
        assert np.array_equal(raw_values["count"], rolled_values["count"])
        assert np.allclose(raw_values["sum"], rolled_values["sum"], rtol=1e-12)


def test_late_raw_points_show_in_rollups_before_the_next_compaction(store: EmbeddedStore) -> None:
    now = int(time.time() * 1000)
    window = 7_200_000
    start = (now // window) * window - window  # the previous raw window: compacted below
    identifier = write_raw(store, "late", "h1", start + np.arange(0, 60) * 60_000, np.ones(60))
    store.flush_now()
    store.compactor.run(now_ms=now, force=True)
    write_raw(store, "late", "h1", start + np.arange(60, 120) * 60_000, np.full(60, 3.0))  # late, same window
    for flushed in (False, True):
        if flushed:
            store.flush_now()
        for resolution in (60, 3600):
            rolled = store.read([identifier], start, start + window, resolution)
            assert int(rolled.count.sum()) == 120 and rolled.sum.sum() == 240.0, (resolution, flushed)


def rollup_rows(store: EmbeddedStore) -> int:
    cursor = store.database.cursor()
    return sum(cursor.execute(f"SELECT count(*) FROM {table} WHERE resolution > 0").fetchall()[0][0]
               for table in ("chunks", "recent.rollup_parts"))


def test_on_expiry_rollups_cost_no_disk_until_raw_data_expires_and_answer_the_same(tmp_path) -> None:  # noqa: ANN001
    start = yesterday_start()
    timestamps = start + np.arange(8640) * 10_000
    rng = np.random.default_rng(3)
    values = [np.round(rng.uniform(0, 100, 8640), 1) for _ in range(3)]
    answers = {}
    for mode in ("on_compaction", "on_expiry"):
        store = open_store(tmp_path / mode, mode)
        try:
            ids = [write_raw(store, "cpu.percent", f"h{i}", timestamps, values[i]) for i in range(3)]
            store.flush_now()
            store.compactor.run(now_ms=start + DAY + 10 * 60_000)
            assert (rollup_rows(store) > 0) == (mode == "on_compaction")
            # Unaligned edges, partial buckets: computed from raw, per chunk where a chunk lies whole.
            within = [store.read(ids, start + 90_000, start + DAY - 45_000, r) for r in (60, 3600, 86_400)]
            # Two days later the raw data has expired: every roll-up is stored, raw windows are gone.
            report = store.compactor.run(now_ms=start + 2 * DAY + 3 * HOUR)
            assert mode == "on_compaction" or report.materialized == 12
            assert store.database.cursor().execute(
                "SELECT count(*) FROM chunks WHERE resolution = 0").fetchall()[0][0] == 0
            expired = [store.read(ids, start, start + DAY, r) for r in (60, 3600, 86_400)]
            answers[mode] = (within, expired)
        finally:
            store.close()
    for (a, b) in zip(answers["on_compaction"], answers["on_expiry"], strict=True):
        for x, y in zip(a, b, strict=True):
            x, y = ordered(x), ordered(y)
            for name in ("series", "timestamp", "count", "min", "max", "last"):
                assert np.array_equal(getattr(x, name), getattr(y, name)), name
            assert np.allclose(x.sum, y.sum, rtol=1e-12)
    within, expired = answers["on_expiry"]
    assert int(expired[0].count.sum()) == 3 * 8640 and len(expired[0]) == 3 * 1440


def test_a_late_point_in_a_chunks_window_is_rolled_up_with_it(tmp_path) -> None:  # noqa: ANN001
    """The per-chunk roll-up (cached) must not be used for a window that newer raw points change."""
    store = open_store(tmp_path, "on_expiry")
    try:
        start = yesterday_start() + DAY - 6 * HOUR
        timestamps = start + np.arange(720) * 10_000
        identifier = write_raw(store, "mem.used", "h1", timestamps, np.full(720, 2.0))
        store.compact(force=True)
        assert int(store.read([identifier], start, start + 2 * HOUR, 60).count.sum()) == 720  # cached now
        write_raw(store, "mem.used", "h1", timestamps[:6], np.full(6, 8.0))  # resent: replaces
        write_raw(store, "mem.used", "h1", timestamps[:1] + 5_000, np.full(1, 1.0))  # new: joins
        for _ in range(2):  # from the head, then from the recent points
            rolled = ordered(store.read([identifier], start, start + 2 * HOUR, 60))
            assert int(rolled.count.sum()) == 721
            assert rolled.sum[0] == 6 * 8.0 + 1.0 and rolled.min[0] == 1.0 and rolled.max[0] == 8.0
            assert rolled.sum.sum() == pytest.approx(6 * 8.0 + 1.0 + 714 * 2.0)
            store.flush_now()
    finally:
        store.close()


def test_switching_to_on_compaction_rolls_up_what_waited_for_expiry(tmp_path) -> None:  # noqa: ANN001
    start = (int(time.time() * 1000) // HOUR) * HOUR - 14 * HOUR
    timestamps = start + np.arange(4320) * 10_000  # 12 hours, all inside the raw retention
    store = open_store(tmp_path, "on_expiry")
    identifier = write_raw(store, "load", "h1", timestamps, np.arange(4320.0))
    store.compact(force=True)
    assert rollup_rows(store) == 0
    store.close()
    store = open_store(tmp_path, "on_compaction")
    try:
        store.compactor.run()
        assert rollup_rows(store) > 0
        store.compactor.apply_retention(start + 3 * DAY)  # raw gone: the stored roll-ups answer
        minutes = store.read([identifier], start, start + DAY, 60)
        assert int(minutes.count.sum()) == 4320 and minutes.sum.sum() == np.arange(4320.0).sum()
    finally:
        store.close()


def test_new_files_use_small_blocks_and_files_made_with_large_ones_still_open(tmp_path) -> None:  # noqa: ANN001
    import duckdb

    sizes = "SELECT database_name, block_size FROM pragma_database_size()"
    store = open_store(tmp_path / "new", "on_expiry")
    try:
        assert dict(store.database.cursor().execute(sizes).fetchall()) == {"store": 65536, "recent": 65536}
    finally:
        store.close()
    old = tmp_path / "old" / "data"
    old.mkdir(parents=True)
    for name in ("store.duckdb", "recent.duckdb"):  # as an earlier version made them: DuckDB's default blocks
        duckdb.connect(str(old / name), config={"default_block_size": "262144"}).close()
    store = open_store(tmp_path / "old", "on_expiry")
    try:
        assert set(dict(store.database.cursor().execute(sizes).fetchall()).values()) == {262144}
        identifier = write_raw(store, "load", "h1", (int(time.time() * 1000) // HOUR - 1) * HOUR + np.arange(10) * 1000,
                               np.ones(10))
        store.flush_now()
        assert len(store.read([identifier], 0, 2**62, 0)) == 10
    finally:
        store.close()
