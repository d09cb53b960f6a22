"""Alarm reasons: the values that decided, written as a person writes numbers.

Property tests for the number format, the reason texts, and one alarm through the real path (a
server, a definition, a metric, the history). The evaluator's reasons: ``test_evaluator.py``.
"""

from __future__ import annotations

import math
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from nephoscope.alarms.reasons import SIGNIFICANT, readable, reason
from nephoscope.alarms.windows import ALARM, OK, UNDETERMINED
from tests.conftest import now_ms, wait_for

ORDINARY = st.floats(min_value=-1e15, max_value=1e15, allow_nan=False).filter(lambda v: v == 0 or abs(v) >= 1e-6)


@given(ORDINARY)
def test_readable_keeps_six_significant_digits_and_every_whole_digit(value: float) -> None:
    text = readable(value)
    assert "e" not in text and "E" not in text
    assert not ("." in text and text.endswith(("0", "."))), text  # no trailing zeros, no bare point
    back = float(text)
    if value == 0:
        assert text == "0"
        return
    # off by at most half a unit in the sixth significant digit, or (large numbers) in the units
    unit = 10.0 ** (math.floor(math.log10(abs(value))) - (SIGNIFICANT - 1))
    assert abs(back - value) <= max(unit, 1.0 if abs(value) >= 10 ** SIGNIFICANT else 0) / 2 * (1 + 1e-9)
    digits = text.lstrip("-").replace(".", "").lstrip("0")
    whole = text.lstrip("-").split(".")[0].lstrip("0")
    assert len(digits) <= max(SIGNIFICANT, len(whole))


@given(st.integers(-999_999, 999_999), st.integers(0, 5))
def test_a_number_written_with_few_digits_comes_back_as_written(digits: int, places: int) -> None:
    """What the float noise hides (7.699999999999999 for 7.7) is found again: a value with at most six
    significant digits prints as its shortest decimal."""
    written = Decimal(digits).scaleb(-places)
    value = float(written)
    expected = format(written.normalize(), "f")
    assert readable(value) == ("0" if expected in ("0", "-0") else expected)


@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda v: v != 0 and not 1e-6 <= abs(v) < 1e16))
def test_huge_and_tiny_values_use_an_exponent(value: float) -> None:
    text = readable(value)
    assert "e" in text
    assert math.isclose(float(text), value, rel_tol=10.0 ** -(SIGNIFICANT - 1))


def test_examples() -> None:
    assert readable(7.699999999999999) == "7.7"
    assert readable(0.1 + 0.2) == "0.3"
    assert readable(90.0) == "90"
    assert readable(-0.0) == "0"
    assert readable(1234567.891) == "1234568"
    assert readable(0.000123456789) == "0.000123457"
    assert readable(1e300) == "1e300"
    assert readable(float("nan")) == "NaN"


def test_reason_names_values_and_never_an_empty_list() -> None:
    subs = [{"current_values": [93.5, 94.0, 95.19999999999999]}, {"current_values": []}]
    texts = ("avg(cpu.percent) > 90 times 3", "max(disk.space_used_perc) > 85")
    assert reason(ALARM, subs, texts) == (
        "Thresholds were exceeded for the sub-alarms: avg(cpu.percent) > 90 times 3 with the values: "
        "[93.5, 94, 95.2], max(disk.space_used_perc) > 85 with no data")
    assert reason(UNDETERMINED, subs, texts) == ("No data was present for the sub-alarms: avg(cpu.percent) > 90 "
                                                 "times 3, max(disk.space_used_perc) > 85")
    assert "[]" not in reason(OK, subs, texts)


def test_reason_through_the_server(server) -> None:  # noqa: ANN001 - the conftest fixture
    """A definition, a metric that fires it at once, the alarm's history: the reason as a person reads it."""
    with server.client() as client:
        created = client.post("/v2.0/alarm-definitions", json={
            "name": "reason test", "expression": "max(reason.latency_ms) > 7", "match_by": ["hostname"]})
        assert created.status_code == 201, created.text
        at = now_ms()
        assert client.post("/v2.0/metrics", json=[
            {"name": "reason.latency_ms", "dimensions": {"hostname": "web-1"}, "timestamp": at - 2000, "value": 3.0},
            {"name": "reason.latency_ms", "dimensions": {"hostname": "web-1"}, "timestamp": at - 1000,
             "value": 7.699999999999999}]).status_code == 204

        def fired() -> list[dict]:
            history = client.get("/v2.0/alarms/state-history").json()["elements"]
            return [h for h in history if h["new_state"] == ALARM]

        changes = wait_for(fired, timeout=30, what="the alarm to fire")
        text = changes[0]["reason"]
        assert text == ("Thresholds were exceeded for the sub-alarms: MAX(reason.latency_ms) > 7.0 "
                        "with the values: [7.7]")
        assert "[]" not in text and "7.69999" not in text
        alarm = client.get(f"/v2.0/alarms/{changes[0]['alarm_id']}")
        assert alarm.status_code == 200 and alarm.json()["state"] == ALARM
