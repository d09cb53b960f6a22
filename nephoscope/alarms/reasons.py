"""The reason an alarm changed state, in Monasca's words, with the values that decided it.

Monasca's ``stateChangeReason`` names each sub-expression and its values ("Thresholds were
exceeded for the sub-alarms: avg(cpu.percent) > 90 times 3 with the values: [93.5, 94, 95.2]").
The values are written as a person writes them (``readable``): no float noise (``7.7``, not
``7.699999999999999``), no exponent for ordinary magnitudes; a sub-alarm without data says so
instead of printing an empty list.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from nephoscope.alarms.windows import ALARM, OK

SIGNIFICANT = 6
"""Digits a value keeps (whole digits are never dropped): finer than any threshold a person sets."""
_SMALLEST, _LARGEST = 1e-6, 1e16  # outside: scientific notation, as a person would write it too

ALARM_TEXT = "Thresholds were exceeded for the sub-alarms"
OK_TEXT = "The alarm threshold(s) have not been exceeded for the sub-alarms"
UNDETERMINED_TEXT = "No data was present for the sub-alarms"


def readable(value: float) -> str:
    """``value`` rounded to ``SIGNIFICANT`` significant digits (but no whole digit lost), without
    trailing zeros or a useless ``.0``: 7.7, 90, 0.25, 1234568, -3.5e-09."""
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("-Infinity" if value < 0 else "Infinity")
    if value == 0:
        return "0"
    size = abs(value)
    if size < _SMALLEST or size >= _LARGEST:
        mantissa, _, exponent = f"{value:.{SIGNIFICANT - 1}e}".partition("e")
        return f"{_trim(mantissa)}e{int(exponent)}"
    decimals = max(0, SIGNIFICANT - 1 - math.floor(math.log10(size)))
    text = _trim(f"{value:.{decimals}f}")
    return "0" if text == "-0" else text


def _trim(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def values_text(values: Sequence[float]) -> str:
    return "[" + ", ".join(readable(float(value)) for value in values) + "]"


def reason(state: str, sub_alarms: list[dict], texts: Sequence[str]) -> str:
    """The transition's text: each sub-expression with the values that decided it."""
    if state == ALARM:
        head = ALARM_TEXT
    elif state == OK:
        head = OK_TEXT
    else:  # UNDETERMINED: there were no values to name
        return f"{UNDETERMINED_TEXT}: {', '.join(texts)}"
    parts = [f"{text} with the values: {values_text(sub['current_values'])}" if sub["current_values"]
             else f"{text} with no data" for text, sub in zip(texts, sub_alarms)]
    return f"{head}: {', '.join(parts)}"
