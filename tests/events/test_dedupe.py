"""events.dedupe: the ids the events store remembers, checked against a plain Python set."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nephoscope.events.dedupe import RecentIds

_HASHES = st.integers(0, 2**64 - 1)


@settings(max_examples=150, deadline=None)
@given(batches=st.lists(st.lists(_HASHES, max_size=40), max_size=30),
       asked=st.lists(_HASHES, max_size=60), capacity=st.integers(2, 400))
def test_what_it_holds_matches_a_set_of_the_recent_ids(batches: list[list[int]], asked: list[int],
                                                       capacity: int) -> None:
    recent = RecentIds(capacity)
    added: list[list[int]] = []
    for batch in batches:
        recent.add(np.array(batch, np.uint64))
        added.append(batch)
    everything = {value for batch in added for value in batch}
    # the newest capacity/2 distinct ids, at least, are always remembered
    newest: set[int] = set()
    for batch in reversed(added):
        if len(newest) >= capacity // 2:
            break
        newest.update(batch)
    # ask in any order, with repeats: ids added (old and new) and ids never added
    question = np.array([*asked, *everything, *asked[:5]], np.uint64)
    held = recent.maybe_held(question)
    assert held.dtype == bool and len(held) == len(question)
    for value, answer in zip(question.tolist(), held.tolist()):
        if value in newest:
            assert answer, value
        if value not in everything:
            assert not answer, value  # exact 64-bit values here: a hit is never made up
    assert len(recent) <= capacity + max((len(set(batch)) for batch in batches), default=0)


def test_a_large_unsorted_batch_is_answered_in_its_own_order() -> None:
    rng = np.random.default_rng(7)
    recent = RecentIds(1_000_000)
    stored = rng.integers(0, 2**63, 50_000, dtype=np.uint64)
    for start in range(0, len(stored), 250):
        recent.add(stored[start:start + 250])
    fresh = rng.integers(2**63, 2**64 - 1, 250, dtype=np.uint64)
    question = rng.permutation(np.concatenate([stored[rng.integers(0, len(stored), 250)], fresh]))
    held = recent.maybe_held(question)
    assert held.tolist() == [value < 2**63 for value in question.tolist()]
