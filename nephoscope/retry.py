"""Waiting before a retry: one exponential backoff with jitter for every client in the project
(notification deliveries, the agent's pushes and log shipping, the RabbitMQ consumer)."""

from __future__ import annotations

import random


def backoff(attempt: int, base: float, maximum: float, jitter: float = 0.2, rng: random.Random | None = None) -> float:
    """Seconds before retry ``attempt`` (1 = the first retry): ``base · 2^(attempt-1)``, capped at
    ``maximum``, shortened at random by up to ``jitter`` of itself, so many clients coming back after
    one outage do not retry in lockstep."""
    capped = min(maximum, base * 2.0 ** min(max(0, attempt - 1), 60))
    if jitter <= 0:
        return capped
    return capped * (1.0 - (rng or random).uniform(0.0, jitter))
