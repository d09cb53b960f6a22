"""Tests of the compressed chunk codec (nephoscope.metrics.store.codec)."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nephoscope.metrics.store.codec import (
    FORMAT_VERSION,
    ChunkColumns,
    CodecError,
    decode_chunk,
    decode_chunks,
    encode_chunk,
    encode_chunks,
)

FIELDS = ("timestamps", "count", "sum", "min", "max", "last")
I64_MIN, I64_MAX = -(2**63), 2**63 - 1
SPECIAL = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1e308, -1e308,
           1.7976931348623157e308, 1e-300, 0.1, 1 / 3, 2.0**53, 2.0**53 + 2, -1.5]

# CODEC_EXAMPLES=1000 for a deeper run
EXAMPLES = int(os.environ.get("CODEC_EXAMPLES", "60"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)


def assert_same(got: ChunkColumns, want: ChunkColumns) -> None:
    assert got.timestamps.dtype == np.int64 and got.count.dtype == np.int64
    np.testing.assert_array_equal(got.timestamps, want.timestamps)
    np.testing.assert_array_equal(got.count, want.count)
    for f in ("sum", "min", "max", "last"):
        g = getattr(got, f)
        assert g.dtype == np.float64, f
        np.testing.assert_array_equal(bits(g), bits(getattr(want, f)), err_msg=f)


# --------------------------------------------------------------------------
# strategies


@st.composite
def timestamps(draw: st.DrawFn, n: int) -> np.ndarray:
    """Strictly increasing int64: regular grids (with jitter, gaps) or arbitrary."""
    kind = draw(st.sampled_from(["grid", "grid", "arbitrary", "extreme"]))
    if kind == "arbitrary" or n <= 2:
        vals = draw(st.lists(st.integers(I64_MIN, I64_MAX), min_size=n, max_size=n, unique=True))
        return np.array(sorted(vals), dtype=np.int64)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if kind == "extreme":  # huge gaps spanning almost the whole int64 range
        inner = np.unique(rng.integers(I64_MIN + 1, I64_MAX, size=n - 2, dtype=np.int64))
        assume(inner.size == n - 2)
        return np.concatenate([[I64_MIN], inner, [I64_MAX]]).astype(np.int64)
    step = draw(st.sampled_from([1, 2, 1000, 10_000, 60_000, 3_600_000]))
    jitter = min(draw(st.sampled_from([0, 0, 1, 5, step // 3])), (step - 1) // 2)
    start = draw(st.integers(-(2**50), 2**50))
    idx = np.arange(n, dtype=np.int64)
    if draw(st.booleans()):  # gaps (missing points)
        idx = np.cumsum(1 + (rng.random(n) < 0.05) * rng.integers(1, 100, n)).astype(np.int64)
    t = start + idx * step
    if jitter:
        t = t + rng.integers(-jitter, jitter + 1, n)
    assume(np.all(np.diff(t) > 0))
    return t


float_elements = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(SPECIAL)


@st.composite
def values(draw: st.DrawFn, n: int) -> np.ndarray:
    """Finite float64: arbitrary, special values, decimals, integers, near-constant."""
    kind = draw(st.sampled_from(["arbitrary", "decimal", "integral", "constant", "mixed"]))
    if kind == "arbitrary":
        return draw(hnp.arrays(np.float64, n, elements=float_elements))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "decimal":
        d = draw(st.integers(0, 8))
        return np.round(np.cumsum(rng.normal(0, 3, n)) + rng.normal(0, 1, n), d)
    if kind == "integral":
        return (rng.integers(-(2**60), 2**60, n) // (4096 ** rng.integers(0, 3))).astype(np.float64)
    if kind == "constant":
        return np.full(n, draw(float_elements))
    v = np.round(rng.normal(0, 100, n), 1)  # decimals sprinkled with special values
    hits = rng.random(n) < 0.1
    v[hits] = rng.choice(np.array(SPECIAL), hits.sum())
    return v


@st.composite
def raw_columns(draw: st.DrawFn, max_n: int = 3000) -> ChunkColumns:
    n = draw(st.integers(1, max_n))
    return ChunkColumns.raw(draw(timestamps(n)), draw(values(n)))


@st.composite
def summary_columns(draw: st.DrawFn, max_n: int = 3000) -> ChunkColumns:
    n = draw(st.integers(1, max_n))
    ts = draw(timestamps(n))
    if draw(st.booleans()):  # genuine rollups of windows of raw samples
        w = draw(st.integers(1, 8))
        raw = draw(values(n * w)).reshape(n, w)
        with np.errstate(over="ignore"):
            total = raw.sum(axis=1)
        total[~np.isfinite(total)] = 1e308  # inputs are always finite
        cols = ChunkColumns(ts, np.full(n, w, dtype=np.int64), total,
                            raw.min(axis=1), raw.max(axis=1), raw[:, -1].copy())
    else:  # independent arbitrary columns
        cols = ChunkColumns(ts, draw(hnp.arrays(np.int64, n, elements=st.integers(1, 2**62))),
                            draw(values(n)), draw(values(n)), draw(values(n)), draw(values(n)))
    # make sure it is not raw mode
    if np.all(cols.count == 1):
        cols = ChunkColumns(ts, cols.count + 1, cols.sum, cols.min, cols.max, cols.last)
    return cols


# --------------------------------------------------------------------------
# round trips


@SETTINGS
@given(raw_columns())
def test_raw_round_trip(cols: ChunkColumns) -> None:
    blob = encode_chunk(cols)
    assert blob[0] == FORMAT_VERSION
    assert blob[1] == 0, "raw samples must use raw mode"
    assert_same(decode_chunk(blob), cols)


@SETTINGS
@given(summary_columns())
def test_summary_round_trip(cols: ChunkColumns) -> None:
    blob = encode_chunk(cols)
    assert blob[0] == FORMAT_VERSION
    assert blob[1] == 1, "summaries must use summary mode"
    assert_same(decode_chunk(blob), cols)


@SETTINGS
@given(st.integers(1, 300).flatmap(lambda n: st.tuples(timestamps(n), hnp.arrays(np.float64, (5, n), elements=float_elements))))
def test_arbitrary_columns_round_trip(args: tuple[np.ndarray, np.ndarray]) -> None:
    ts, v = args
    cols = ChunkColumns(ts, np.ones(ts.size, dtype=np.int64), v[0], v[1], v[2], v[3])
    assert_same(decode_chunk(encode_chunk(cols)), cols)


def test_raw_mode_compares_bit_patterns() -> None:
    ts = np.arange(4, dtype=np.int64)
    v = np.array([0.0, 1.0, 2.0, 3.0])
    neg = v.copy()
    neg[0] = -0.0  # == 0.0 numerically but a different bit pattern
    cols = ChunkColumns(ts, np.ones(4, dtype=np.int64), v, neg, v, v)
    blob = encode_chunk(cols)
    assert blob[1] == 1
    assert_same(decode_chunk(blob), cols)
    assert np.signbit(decode_chunk(blob).min[0])


def test_special_values_exact() -> None:
    v = np.array(SPECIAL * 20)
    ts = np.cumsum(np.full(v.size, 7, dtype=np.int64)) - 2**40
    for cols in (ChunkColumns.raw(ts, v), ChunkColumns(ts, np.full(v.size, 3, dtype=np.int64), v, v[::-1].copy(), -v, v)):
        assert_same(decode_chunk(encode_chunk(cols)), cols)


def test_empty_and_tiny_chunks() -> None:
    for n in (0, 1, 2, 3):
        ts = np.arange(n, dtype=np.int64) * 10_000 + 1_700_000_000_000
        cols = ChunkColumns.raw(ts, np.linspace(-1, 1, n))
        blob = encode_chunk(cols)
        assert_same(decode_chunk(blob), cols)
        assert len(blob) <= 40 + 12 * n


def test_non_contiguous_and_other_dtype_inputs() -> None:
    ts = np.arange(0, 2000, 2, dtype=np.int32)[::2]
    v = np.arange(1000, dtype=np.float32)[::2]
    want = ChunkColumns.raw(ts.astype(np.int64), v.astype(np.float64))
    assert_same(decode_chunk(encode_chunk(ChunkColumns(ts, np.ones(500, np.int8), v, v, v, v))), want)


def test_mismatched_lengths_rejected() -> None:
    ts = np.arange(3, dtype=np.int64)
    with pytest.raises(ValueError):
        encode_chunk(ChunkColumns(ts, np.ones(3, np.int64), np.zeros(3), np.zeros(3), np.zeros(2), np.zeros(3)))


# --------------------------------------------------------------------------
# batches


@settings(max_examples=max(10, EXAMPLES // 2), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(raw_columns(400) | summary_columns(400), min_size=0, max_size=6))
def test_batch_matches_single(chunks: list[ChunkColumns]) -> None:
    lengths = np.array([len(c) for c in chunks], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    merged = ChunkColumns(*(
        np.concatenate([getattr(c, f) for c in chunks]) if chunks else np.empty(0, np.int64 if f in ("timestamps", "count") else np.float64)
        for f in FIELDS
    ))
    blobs = encode_chunks(offsets, merged)
    assert blobs == [encode_chunk(c) for c in chunks]
    got_lengths, got = decode_chunks(blobs)
    np.testing.assert_array_equal(got_lengths, lengths)
    assert_same(got, merged)
    for blob, c in zip(blobs, chunks):
        assert_same(decode_chunk(blob), c)


def test_batch_rejects_bad_offsets() -> None:
    cols = ChunkColumns.raw(np.arange(10, dtype=np.int64), np.zeros(10))
    for bad in ([0, 5], [1, 10], [0, 6, 5, 10], []):
        with pytest.raises(ValueError):
            encode_chunks(np.array(bad, dtype=np.int64), cols)


# --------------------------------------------------------------------------
# corrupt input


def test_decode_rejects_unknown_version_and_garbage() -> None:
    blob = encode_chunk(ChunkColumns.raw(np.arange(100, dtype=np.int64), np.arange(100.0)))
    with pytest.raises(CodecError):
        decode_chunk(bytes([FORMAT_VERSION + 1]) + blob[1:])
    with pytest.raises(CodecError):
        decode_chunk(blob + b"\x00")
    with pytest.raises(CodecError):
        decode_chunk(b"")


def test_truncated_blobs_raise_codec_error() -> None:
    rng = np.random.default_rng(3)
    ts = 1_700_000_000_000 + 10_000 * np.arange(500, dtype=np.int64) + rng.integers(-5, 6, 500)
    v = np.round(rng.normal(50, 10, 500), 1)
    for cols in (ChunkColumns.raw(ts, v), ChunkColumns(ts, np.full(500, 6, np.int64), v * 6, v - 1, v + 1, v)):
        blob = encode_chunk(cols)
        for cut in range(len(blob)):
            with pytest.raises(CodecError):
                decode_chunk(blob[:cut])


# --------------------------------------------------------------------------
# compression on realistic shapes


def cpu_series(rng: np.random.Generator, n: int) -> np.ndarray:
    """cpu % with one decimal: slow mean-reverting walk plus sampling noise."""
    walk = np.zeros(n)
    e = rng.normal(0, 0.4, n)
    for i in range(1, n):
        walk[i] = 0.995 * walk[i - 1] + e[i]
    return np.round(np.clip(35 + walk + rng.normal(0, 1.0, n), 0, 100), 1)


def aligned(n: int) -> np.ndarray:
    return 1_699_999_980_000 + 10_000 * np.arange(n, dtype=np.int64)


def per_sample(cols: ChunkColumns) -> float:
    blob = encode_chunk(cols)
    assert_same(decode_chunk(blob), cols)
    return len(blob) / len(cols)


def test_cpu_percent_aligned_under_one_byte_per_sample() -> None:
    rng = np.random.default_rng(0)
    assert per_sample(ChunkColumns.raw(aligned(8640), cpu_series(rng, 8640))) < 1.0


def test_aligned_timestamps_cost_almost_nothing() -> None:
    ts = aligned(8640)
    assert len(encode_chunk(ChunkColumns.raw(ts, np.zeros(8640)))) < 40
    # a few missing points still keep timestamps well under a bit per sample
    gappy = np.delete(ts, [5, 100, 101, 4000])
    assert len(encode_chunk(ChunkColumns.raw(gappy, np.zeros(gappy.size)))) < 200


def test_jittered_timestamps_close_to_jitter_entropy() -> None:
    rng = np.random.default_rng(1)
    ts = aligned(8640) + rng.integers(-5, 6, 8640)
    size = len(encode_chunk(ChunkColumns.raw(ts, np.zeros(8640))))
    assert size < 8640 * np.log2(11) / 8 * 1.1  # uniform +-5 ms: 3.46 bits/sample


def test_memory_multiples_of_4096_compress() -> None:
    rng = np.random.default_rng(2)
    pages = 1_000_000 + np.cumsum(np.where(rng.random(8640) < 0.08, rng.integers(-3000, 3000, 8640), 0))
    assert per_sample(ChunkColumns.raw(aligned(8640), pages * 4096.0)) < 0.4


def test_mostly_zero_iops_compress() -> None:
    rng = np.random.default_rng(3)
    v = np.where(rng.random(8640) < 0.03, np.round(rng.gamma(1.5, 40, 8640), 1), 0.0)
    assert per_sample(ChunkColumns.raw(aligned(8640), v)) < 0.25


def test_counter_uses_second_order_structure() -> None:
    rng = np.random.default_rng(4)
    inc = (200_000 + 1_000 * rng.normal(size=8640)).astype(np.int64)  # ~12 bits of noise
    v = (10**12 + np.cumsum(inc)).astype(np.float64)
    assert per_sample(ChunkColumns.raw(aligned(8640), v)) < 2.0  # raw deltas would need 18 bits


def test_constant_and_identical_columns_cost_almost_nothing() -> None:
    rng = np.random.default_rng(5)
    n = 1440
    v = cpu_series(rng, n)
    base = len(encode_chunk(ChunkColumns.raw(aligned(n), v)))
    const = np.full(n, 7.5)
    cols = ChunkColumns(aligned(n), np.full(n, 6, np.int64), const, v, v.copy(), v.copy())
    # the column itself + 3 times nothing: constant count and sum, max and last as references
    assert len(encode_chunk(cols)) < base + 30
    assert_same(decode_chunk(encode_chunk(cols)), cols)


def test_rollups_are_cheaper_than_four_independent_columns() -> None:
    rng = np.random.default_rng(6)
    raw = cpu_series(rng, 6 * 1440).reshape(1440, 6)
    ts = 1_699_999_980_000 + 60_000 * np.arange(1440, dtype=np.int64)
    cols = ChunkColumns(ts, np.full(1440, 6, np.int64), raw.sum(axis=1), raw.min(axis=1), raw.max(axis=1), raw[:, -1].copy())
    size = len(encode_chunk(cols))
    singles = sum(len(encode_chunk(ChunkColumns.raw(ts, getattr(cols, f)))) for f in ("sum", "min", "max", "last"))
    assert size < 0.9 * singles  # references between min, max, last and sum pay
    assert size / 1440 < 3.5


def test_raw_mode_is_smaller_than_summary_of_same_data() -> None:
    rng = np.random.default_rng(7)
    v = cpu_series(rng, 720)
    raw = encode_chunk(ChunkColumns.raw(aligned(720), v))
    two = encode_chunk(ChunkColumns(aligned(720), np.full(720, 2, np.int64), v, v, v, v))
    assert len(raw) < len(two)


def test_decode_8640_points_fast() -> None:
    rng = np.random.default_rng(8)
    ts = aligned(8640) + rng.integers(-5, 6, 8640)
    blob = encode_chunk(ChunkColumns.raw(ts, cpu_series(rng, 8640)))
    timings = []
    for _ in range(30):
        t0 = time.perf_counter()
        decode_chunk(blob)
        timings.append(time.perf_counter() - t0)
    assert min(timings) < 1e-3


def test_decoded_columns_are_safe_to_share() -> None:
    cols = ChunkColumns.raw(aligned(100), np.arange(100.0))
    one = decode_chunk(encode_chunk(cols))
    assert np.shares_memory(one.sum, one.max)  # raw mode: one value array ...
    with pytest.raises(ValueError):
        one.sum[0] = 1.0  # ... hence read-only
    _, many = decode_chunks([encode_chunk(cols)] * 2)
    many.sum[0] = 42.0  # batch results are fresh, independent arrays
    assert many.max[0] == 0.0 and many.sum.size == 200
