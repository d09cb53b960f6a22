"""``ChunkCache.decode`` with a time range: each chunk's points in ``[start, end)``, exactly what
decoding everything and masking gives (property-tested over chunks and ranges, cold and warm)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nephoscope.metrics.store.chunkcache import ChunkCache
from nephoscope.metrics.store.codec import ChunkColumns, decode_chunks, encode_chunks

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
