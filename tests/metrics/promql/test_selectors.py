"""``selectors.series_time_order``: the (series, time) order of points read in any order, exactly
``np.lexsort``'s (stable: equal keys keep their order), whatever the rows and times."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from nephoscope.metrics.promql.selectors import series_time_order

_POINTS = st.lists(st.tuples(st.integers(0, 2**20 + 5), st.integers(-(2**45), 2**45)), max_size=200)


@given(_POINTS, st.booleans())
def test_the_order_is_lexsorts(points: list[tuple[int, int]], narrow: bool) -> None:
    rows = np.asarray([row % 7 if narrow else row for row, _ in points], np.int64)
    times = np.asarray([time % 10**6 if narrow else time for _, time in points], np.int64)
    assert series_time_order(rows, times).tolist() == np.lexsort((times, rows)).tolist()
