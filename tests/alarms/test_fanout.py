"""Routes (series id -> sub-alarm ids) agree with a plain dictionary, whatever the order of changes."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nephoscope.alarms import fanout as fanout_module
from nephoscope.alarms.fanout import Routes

pairs = st.lists(st.tuples(st.integers(-5, 40), st.integers(0, 30)), max_size=60)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.tuples(st.just("add"), pairs), st.tuples(st.just("remove"), st.lists(st.integers(0, 30)))),
                max_size=8),
       st.lists(st.integers(-5, 45), max_size=50), st.integers(1, 8))
def test_routes_agree_with_a_dictionary(changes, batch, tail_limit) -> None:  # noqa: ANN001
    fanout_module._TAIL_LIMIT, saved = tail_limit, fanout_module._TAIL_LIMIT  # exercise merges often
    try:
        routes, reference = Routes(), defaultdict(set)
        for kind, argument in changes:
            if kind == "add":
                routes.add([s for s, _ in argument], [t for _, t in argument])
                for series, target in argument:
                    reference[series].add(target)
            else:
                routes.remove_targets(argument)
                for targets in reference.values():
                    targets.difference_update(argument)
        points, targets = routes.expand(np.array(batch, np.int64))
        got = sorted(zip(points.tolist(), targets.tolist()))
        expected = sorted((index, target) for index, series in enumerate(batch) for target in reference[series])
        assert got == expected
        assert len(routes) == sum(len(t) for t in reference.values())
    finally:
        fanout_module._TAIL_LIMIT = saved
