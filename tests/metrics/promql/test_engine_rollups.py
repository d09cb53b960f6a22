"""Which windows the roll-up buckets answer (``engine._rollups_where_raw_expired``).

Raw points answer every window they hold completely (Prometheus's exact edges); a series' buckets
stand in at the expired steps only when the raw points have lost data: a bucket older than the
bucket of its first raw point, or no raw point at all.
"""

from __future__ import annotations

import numpy as np

from nephoscope.metrics.promql.engine import Rollups, _rollups_where_raw_expired
from nephoscope.metrics.promql.values import InstantVector

MINUTE = 60_000
A, B, C = (("host", "a"),), (("host", "b"),), (("host", "c"),)
EXPIRED = np.array([True, True, False, False])


def _raw() -> InstantVector:
    return InstantVector([A, B], np.array([[1.0, 2, 3, 4], [10, 20, 30, 40]]),
                         np.array([[False, True, True, True], [True, True, True, True]]))


def _buckets(first: dict) -> Rollups:
    vector = InstantVector([A, B, C], np.array([[7.0, 8, 0, 0], [70, 80, 0, 0], [700, 800, 0, 0]]),
                           np.array([[True, True, False, False]] * 3))
    return Rollups(vector, EXPIRED, first, MINUTE)


def test_raw_points_that_hold_everything_answer_alone() -> None:
    raw = _raw()
    # Each series' first bucket is its first raw point's bucket: nothing expired from raw.
    answer = _rollups_where_raw_expired(raw, {A: 5 * MINUTE + 30, B: 5 * MINUTE}, Rollups(
        InstantVector([A, B], raw.values, raw.present & EXPIRED), EXPIRED, {A: 5 * MINUTE, B: 5 * MINUTE}, MINUTE))
    assert answer is raw


def test_buckets_stand_in_at_expired_steps_of_series_whose_raw_points_were_lost() -> None:
    # a: a bucket two minutes before its first raw point (raw lost it); b: complete; c: no raw point.
    answer = _rollups_where_raw_expired(_raw(), {A: 5 * MINUTE + 30, B: 5 * MINUTE},
                                        _buckets({A: 3 * MINUTE, B: 5 * MINUTE, C: MINUTE}))
    assert answer.labels == [A, B, C]
    assert answer.values[0].tolist() == [7, 8, 3, 4] and answer.present[0].tolist() == [True] * 4
    assert answer.values[1].tolist() == [10, 20, 30, 40]
    assert answer.values[2, :2].tolist() == [700, 800] and answer.present[2].tolist() == [True, True, False, False]
