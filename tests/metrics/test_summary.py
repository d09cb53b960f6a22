"""Property tests of the roll-up arithmetic: merging summaries equals aggregating the raw samples."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nephoscope.metrics.summary import Points, latest_per_timestamp, rollup

values = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)


@st.composite
def raw_samples(draw):  # noqa: ANN001, ANN201
    """Raw samples of a few series: unique, strictly increasing timestamps per series."""
    series_count = draw(st.integers(1, 4))
    series, timestamps, samples = [], [], []
    for identifier in range(series_count):
        offsets = draw(st.lists(st.integers(0, 7_200_000), min_size=1, max_size=60, unique=True))
        offsets.sort()
        series += [identifier + 1] * len(offsets)
        timestamps += [1_700_000_000_000 + o for o in offsets]
        samples += draw(st.lists(values, min_size=len(offsets), max_size=len(offsets)))
    return np.array(series, np.int64), np.array(timestamps, np.int64), np.array(samples, np.float64)


def as_points(series: np.ndarray, timestamps: np.ndarray, samples: np.ndarray) -> Points:
    return Points(series, timestamps, np.ones(len(samples), np.int64), samples.copy(), samples.copy(),
                  samples.copy(), samples.copy())


def direct_aggregate(series, timestamps, samples, width):  # noqa: ANN001, ANN201
    """The reference: aggregate raw samples per (series, bucket) with plain Python."""
    result = {}
    for s, t, v in sorted(zip(series.tolist(), timestamps.tolist(), samples.tolist())):
        key = (s, (t // width) * width)
        count, total, low, high, _ = result.get(key, (0, 0.0, float("inf"), float("-inf"), None))
        result[key] = (count + 1, total + v, min(low, v), max(high, v), v)
    return result


@settings(max_examples=200, deadline=None)
@given(raw_samples(), st.sampled_from([60_000, 300_000, 3_600_000]))
def test_rollup_of_raw_equals_direct_aggregation(data, width) -> None:  # noqa: ANN001
    series, timestamps, samples = data
    rolled = rollup(as_points(series, timestamps, samples), width)
    expected = direct_aggregate(series, timestamps, samples, width)
    assert len(rolled) == len(expected)
    for i in range(len(rolled)):
        count, total, low, high, last = expected[(int(rolled.series[i]), int(rolled.timestamp[i]))]
        assert rolled.count[i] == count
        assert np.isclose(rolled.sum[i], total, rtol=1e-12, atol=1e-6)
        assert rolled.min[i] == low and rolled.max[i] == high and rolled.last[i] == last


@settings(max_examples=200, deadline=None)
@given(raw_samples())
def test_rolling_up_in_stages_equals_rolling_up_once(data) -> None:  # noqa: ANN001
    """raw → 1 min → 1 h gives the same buckets as raw → 1 h (what compaction relies on)."""
    series, timestamps, samples = data
    points = as_points(series, timestamps, samples)
    direct = rollup(points, 3_600_000)
    staged = rollup(rollup(points, 60_000), 3_600_000)
    assert np.array_equal(direct.series, staged.series)
    assert np.array_equal(direct.timestamp, staged.timestamp)
    assert np.array_equal(direct.count, staged.count)
    assert np.allclose(direct.sum, staged.sum, rtol=1e-12, atol=1e-6)
    assert np.array_equal(direct.min, staged.min) and np.array_equal(direct.max, staged.max)
    assert np.array_equal(direct.last, staged.last)


@settings(max_examples=200, deadline=None)
@given(raw_samples(), st.integers(1, 5))
def test_merging_partial_summaries_is_exact(data, parts) -> None:  # noqa: ANN001
    """Splitting samples into windows, summarising each and merging equals summarising all."""
    series, timestamps, samples = data
    points = as_points(series, timestamps, samples)
    # Summaries of arbitrary sub-windows (what agents push), then merged per hour.
    partial = rollup(points, 60_000 * parts)
    merged = rollup(partial, 3_600_000)
    direct = rollup(points, 3_600_000)
    assert np.array_equal(merged.count, direct.count)
    assert np.allclose(merged.sum, direct.sum, rtol=1e-12, atol=1e-6)
    assert np.array_equal(merged.min, direct.min) and np.array_equal(merged.max, direct.max)
    assert np.array_equal(merged.last, direct.last)
    assert np.allclose(merged.average, direct.average, rtol=1e-9, atol=1e-6)


@settings(max_examples=100, deadline=None)
@given(raw_samples(), st.data())
def test_resent_points_replace_rather_than_add(data, draw) -> None:  # noqa: ANN001
    series, timestamps, samples = data
    points = as_points(series, timestamps, samples)
    resent_index = draw.draw(st.lists(st.integers(0, len(samples) - 1), min_size=1, max_size=5, unique=True))
    replacement = np.array(draw.draw(st.lists(values, min_size=len(resent_index), max_size=len(resent_index))))
    again = as_points(series[resent_index], timestamps[resent_index], replacement)
    both = Points.concat([points, again])
    sequence = np.concatenate([np.zeros(len(points), np.int64), np.ones(len(again), np.int64)])
    kept = latest_per_timestamp(both, sequence)
    assert len(kept) == len(points)
    expected = samples.copy()
    expected[resent_index] = replacement
    order = np.lexsort((timestamps, series))
    assert np.array_equal(kept.last, expected[order])



@settings(max_examples=200, deadline=None)
@given(raw_samples(), st.sampled_from([0, 7, 60, 300, 3600]))
def test_statistics_over_merged_series_equal_direct_aggregation(data, period) -> None:  # noqa: ANN001
    from nephoscope.metrics.query import bucket_statistics

    series, timestamps, samples = data
    start = int(timestamps.min())
    buckets, stats = bucket_statistics(as_points(series, timestamps, samples), start, period)
    expected: dict[int, list[float]] = {}
    for t, v in zip(timestamps.tolist(), samples.tolist()):
        key = (t // (period * 1000)) * period * 1000 if period else start
        expected.setdefault(key, []).append(v)
    assert buckets.tolist() == sorted(expected)
    for i, bucket in enumerate(buckets.tolist()):
        values = expected[bucket]
        assert stats["count"][i] == len(values)
        assert stats["min"][i] == min(values) and stats["max"][i] == max(values)
        assert np.isclose(stats["sum"][i], sum(values), rtol=1e-12, atol=1e-6)
        assert np.isclose(stats["avg"][i], sum(values) / len(values), rtol=1e-9, atol=1e-6)
