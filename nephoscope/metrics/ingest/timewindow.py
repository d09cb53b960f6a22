"""Which timestamps the store accepts: within raw retention, not too far in the future.

Refusing samples older than the raw retention keeps roll-ups exact: every roll-up is
computed from complete raw windows, never patched from partial late data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from nephoscope.errors import invalid


@dataclass(frozen=True, slots=True)
class TimeWindow:
    oldest_ms: int
    newest_ms: int

    @classmethod
    def around_now(cls, max_age_seconds: int, max_future_seconds: int) -> "TimeWindow":
        now = int(time.time() * 1000)
        return cls(now - max_age_seconds * 1000, now + max_future_seconds * 1000)

    def check(self, timestamps: np.ndarray, prefix: str, suffix: str) -> None:
        bad = ~np.isfinite(timestamps) | (timestamps < self.oldest_ms) | (timestamps > self.newest_ms)
        if bad.any():
            index = int(np.flatnonzero(bad)[0])
            value = timestamps[index]
            if not np.isfinite(value):
                reason = "not a finite number"
            elif value < self.oldest_ms:
                reason = (
                    f"{int(value)} ms is older than the raw-data retention allows "
                    f"(oldest accepted: {self.oldest_ms}); timestamps are milliseconds since the epoch"
                )
            else:
                reason = f"{int(value)} ms is too far in the future (newest accepted: {self.newest_ms})"
            raise invalid(f"{prefix}[{index}]{suffix}", reason)
