"""Monasca's timestamp text: measurements ``…SS.mmmZ``, statistics ``…SSZ`` (vectorised)."""

from __future__ import annotations

import numpy as np


def millis_text(timestamps: np.ndarray) -> list[str]:
    text = np.datetime_as_string(np.asarray(timestamps, np.int64).astype("datetime64[ms]"), unit="ms")
    return [t + "Z" for t in text.tolist()]


def seconds_text(timestamps: np.ndarray) -> list[str]:
    text = np.datetime_as_string((np.asarray(timestamps, np.int64) // 1000).astype("datetime64[s]"), unit="s")
    return [t + "Z" for t in text.tolist()]
