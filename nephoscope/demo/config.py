"""Settings of the ``--demo`` simulated cloud: its size, its rhythm and how it pushes.

One dataclass shared by the cloud model (size, seed, event rates) and the push loop
(interval, backfill, batching), so ``serve --demo`` hands a single object over.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

MAX_BATCH = 1000
"""Most metrics in one ``POST /v2.0/metrics``: Monasca clients batch at this size too."""

DEFAULT_PROJECTS = ("demo-project-a", "demo-project-b", "demo-project-c", "demo-project-d")


@dataclass
class DemoPlan:
    """Shape of the simulated cloud and of its push loop.

    The defaults give 20 hypervisors x 10 instances (about 2,500 series) sampled
    every 10 seconds, with one hour of history posted at start.
    """

    hypervisors: int = 20
    instances_per_hypervisor: int = 10
    interval: float = 10.0
    backfill_minutes: int = 60
    seed: int = 42
    region: str = "RegionOne"
    # History is posted at a coarser step than live data: an hour of 2,500 series at
    # 10 s would be ~900k points before the first live sample reaches the charts.
    backfill_interval: float = 60.0
    projects: tuple[str, ...] = DEFAULT_PROJECTS
    zone: str = "nova"
    # Per instance: ~0.75/day gives a 200-instance cloud an episode every ~10 minutes,
    # often enough that a newcomer's first alarm definition fires while they watch.
    episodes_per_instance_day: float = 0.75
    spikes_per_instance_hour: float = 0.1
    batch_size: int = MAX_BATCH
    request_timeout: float = 30.0
    # Attempts per batch on 429/503/5xx/connection errors before the batch is dropped:
    # live data that cannot be delivered soon is worth less than the next sample.
    max_attempts: int = 5
    # Besides metrics, the services' log lines (POST /v3.0/logs) and notifications (POST /v1/events).
    logs_and_events: bool = True

    def __post_init__(self) -> None:
        if self.hypervisors < 1 or self.instances_per_hypervisor < 0:
            raise ValueError("demo: need at least one hypervisor and a non-negative instance count")
        if self.interval <= 0 or self.backfill_interval <= 0:
            raise ValueError("demo: interval and backfill_interval must be positive")
        if self.backfill_minutes < 0:
            raise ValueError("demo: backfill_minutes must not be negative")
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise ValueError(f"demo: batch_size must be between 1 and {MAX_BATCH}")
        if not self.projects:
            raise ValueError("demo: at least one project is needed")
        if self.max_attempts < 1:
            raise ValueError("demo: max_attempts must be at least 1")
        self.projects = tuple(self.projects)

    @classmethod
    def from_settings(cls, settings: object, **overrides: object) -> "DemoPlan":
        """Build from any object carrying some of these fields (e.g. the server's ``[demo]`` section)."""
        values = {f.name: getattr(settings, f.name) for f in fields(cls) if hasattr(settings, f.name)}
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
