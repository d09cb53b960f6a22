"""The query API's matrix rows (``api.prometheus.responses._pairs``), property-tested: whatever the
values (non-finite, negative zero, huge, tiny, whole), the bytes are JSON ``[[t, "v"], ...]`` whose
timestamps and values read back exactly, with Go's spellings of the non-finite ones."""

from __future__ import annotations

import json
import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from nephoscope.api.prometheus.responses import _pairs

_SPELLED = {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf}


@given(st.lists(st.tuples(st.integers(0, 4 * 10**12), st.floats(allow_nan=True, allow_infinity=True)), max_size=60))
def test_rows_read_back_exactly(points: list[tuple[int, float]]) -> None:
    seconds = np.asarray([ms / 1000 for ms, _ in points], np.float64)
    values = np.asarray([value for _, value in points], np.float64)
    rows = json.loads(_pairs(seconds, values))
    assert len(rows) == len(points)
    for (ms, value), (stamp, text) in zip(points, rows):
        assert isinstance(stamp, float) and stamp == ms / 1000
        assert isinstance(text, str)
        read = _SPELLED[text] if text in _SPELLED else float(text)
        assert (math.isnan(read) and math.isnan(value)) or (read == value and math.copysign(1, read) == math.copysign(
            1, value))
        assert text in _SPELLED or not text.endswith(".0")  # whole numbers as Prometheus writes them: "3"
