"""What collectors produce: one measurement of one series at one instant.

A ``gauge`` is a level (cpu %, bytes used); a ``counter`` is a running total (bytes sent since
boot) that the aggregator turns into a per-second rate at the edge, so only rates travel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

Kind = Literal["gauge", "counter"]


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    value: float
    dimensions: Mapping[str, str] = field(default_factory=dict)
    kind: Kind = "gauge"

    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """The series: name and sorted dimensions."""
        return self.name, tuple(sorted(self.dimensions.items()))


class Collector(Protocol):
    """A source of samples; ``collect`` is called once per interval and must not block for long."""

    name: str

    def collect(self) -> list[Sample]: ...
