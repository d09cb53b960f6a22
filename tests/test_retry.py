"""The one backoff every client uses: exponential, capped, shortened by at most its jitter."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from nephoscope.retry import backoff


@given(st.integers(1, 200), st.floats(0.01, 10), st.floats(0.1, 1000), st.floats(0, 0.9), st.integers(0, 2**32))
def test_backoff_grows_is_capped_and_jitter_only_shortens(attempt, base, maximum, jitter, seed) -> None:  # noqa: ANN001
    capped = min(maximum, base * 2.0 ** min(attempt - 1, 60))
    delay = backoff(attempt, base, maximum, jitter, random.Random(seed))
    assert capped * (1 - jitter) - 1e-9 <= delay <= capped + 1e-9
    assert backoff(attempt, base, maximum, 0) == capped
    assert backoff(attempt + 1, base, maximum, 0) >= capped
