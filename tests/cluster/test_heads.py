"""The question a querier asks an ingester and the answer, on the wire: nothing lost, bad input named."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nephoscope.metrics.series import define_series
from nephoscope.metrics.store.cluster.heads import HeadAnswer, HeadQuery, decode_answer, encode_answer
from nephoscope.metrics.summary import FIELDS, Points

pytestmark = pytest.mark.engines  # the distributed engines' lane (tests/lanes.py)

rows = st.lists(st.tuples(st.integers(-2**63, 2**63 - 1), st.integers(0, 2**62), st.integers(1, 10**6),
                          *[st.floats(allow_nan=False)] * 4, st.integers(1, 2**62)), max_size=50)


@settings(max_examples=40, deadline=None)
@given(rows, st.dictionaries(st.tuples(st.integers(0, 10**9), st.integers(0, 10**12)), st.text(max_size=20),
                             max_size=5),
       st.lists(st.integers(0, 15), unique=True, max_size=8), st.integers(0, 10**12))
def test_an_answer_reads_back_as_written(points: list, meta: dict, served: list, covered: int) -> None:
    columns = list(zip(*points)) if points else [[] for _ in range(8)]
    data = Points(*(np.asarray(c, np.int64 if i < 3 else np.float64) for i, c in enumerate(columns[:7])))
    definitions = [define_series("p", "m", {"h": str(i)}) for i in range(3)]
    answer = HeadAnswer(data, np.asarray(columns[7], np.int64), np.unique(data.series), meta, definitions,
                        {p: covered + p for p in served}, set(served))
    again = decode_answer(encode_answer(answer))
    for name in FIELDS:
        assert getattr(again.points, name).tolist() == getattr(data, name).tolist()
    assert again.sequence.tolist() == answer.sequence.tolist()
    assert again.ids.tolist() == answer.ids.tolist()
    assert again.value_meta == meta
    assert [(d.id, d.dimensions) for d in again.definitions] == [(d.id, d.dimensions) for d in definitions]
    assert again.covered == answer.covered and again.served == set(served)


def test_a_question_with_a_wrong_field_is_refused_naming_it() -> None:
    assert msgspec.json.decode(b'{"partitions": [1], "start_ms": 0, "end_ms": 5, "points": true}',
                               type=HeadQuery).points
    with pytest.raises(msgspec.ValidationError, match=r"\$\.start_ms"):
        msgspec.json.decode(b'{"partitions": [1], "start_ms": "soon", "end_ms": 5}', type=HeadQuery)
    with pytest.raises(msgspec.ValidationError, match="sereis"):
        msgspec.json.decode(b'{"partitions": [1], "start_ms": 0, "end_ms": 5, "sereis": [1]}', type=HeadQuery)
