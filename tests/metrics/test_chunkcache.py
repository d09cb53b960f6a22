"""The decoded-chunk cache answers exactly what decoding (and rolling up) the chunks would; with a
time range, each chunk's points in ``[start, end)``, exactly what decoding everything and masking gives."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nephoscope.metrics.store.chunkcache import ChunkCache
from nephoscope.metrics.store.codec import ChunkColumns, decode_chunks, encode_chunks
from nephoscope.metrics.summary import Points, rollup

FIELDS = ("timestamps", "count", "sum", "min", "max", "last")


@st.composite
def chunks(draw) -> list[bytes]:  # noqa: ANN001
    lengths = draw(st.lists(st.integers(1, 300), min_size=1, max_size=6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    blobs = []
    for length in lengths:
        start = int(rng.integers(0, 10**12))
        timestamps = start + np.cumsum(rng.integers(1, 30_000, length))
        values = np.round(rng.normal(50, 20, length), int(rng.integers(0, 4)))
        columns = ChunkColumns.raw(timestamps.astype(np.int64), values)
        blobs += encode_chunks(np.array([0, length]), columns)
    return blobs


@settings(max_examples=60, deadline=None)
@given(chunks(), st.lists(st.integers(0, 5), min_size=1, max_size=12), st.sampled_from([60_000, 3_600_000]))
def test_cached_answers_equal_decoding_whatever_was_cached_before(blobs, picks, width) -> None:  # noqa: ANN001
    cache = ChunkCache(40_000)  # small: entries are evicted along the way
    for round_ in range(2):
        chosen = [blobs[i % len(blobs)] for i in picks[round_:] or picks]
        lengths, columns = cache.decode(chosen)
        expected_lengths, expected = decode_chunks(chosen)
        assert np.array_equal(lengths, expected_lengths)
        for name in FIELDS:
            assert np.array_equal(getattr(columns, name), getattr(expected, name)), name
            assert getattr(columns, name).dtype == getattr(expected, name).dtype, name
        lengths, columns = cache.rollups(chosen, width)
        offset = 0
        for index, blob in enumerate(chosen):
            _, raw = decode_chunks([blob])
            want = rollup(Points(np.zeros(len(raw), np.int64), raw.timestamps, raw.count, raw.sum, raw.min, raw.max,
                                 raw.last), width)
            assert lengths[index] == len(want)
            got = slice(offset, offset + lengths[index])
            for name, column in zip(FIELDS, ("timestamp", "count", "sum", "min", "max", "last"), strict=True):
                assert np.array_equal(getattr(columns, name)[got], getattr(want, column)), name
            offset += lengths[index]
        assert cache._bytes <= cache.max_bytes


_CHUNKS = st.lists(st.lists(st.integers(0, 10_000), min_size=1, max_size=40, unique=True), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(_CHUNKS, st.integers(-100, 10_100), st.integers(0, 10_200))
def test_a_bounded_decode_is_the_masked_decode(chunks: list[list[int]], start: int, width: int) -> None:
    times = np.concatenate([np.sort(np.asarray(chunk, np.int64)) for chunk in chunks])
    values = np.arange(len(times), dtype=np.float64)
    offsets = np.concatenate([[0], np.cumsum([len(chunk) for chunk in chunks])]).astype(np.int64)
    blobs = encode_chunks(offsets, ChunkColumns(times, np.ones(len(times), np.int64), values, values, values, values))
    _, everything = decode_chunks(blobs)
    inside = (everything.timestamps >= start) & (everything.timestamps < start + width)
    expected_lengths = np.add.reduceat(inside.astype(np.int64), offsets[:-1]) if len(inside) else []
    cache = ChunkCache(1 << 20)
    for _ in ("cold", "warm"):
        lengths, columns = cache.decode(blobs, start, start + width)
        assert lengths.tolist() == list(expected_lengths)
        assert columns.timestamps.tolist() == everything.timestamps[inside].tolist()
        assert columns.sum.tolist() == everything.sum[inside].tolist()
