"""Metrics from lifecycle events: what a cloud holds, per project, as alarmable series.

The events store keeps the latest state of every instance and volume (``resources``, updated in the
same transaction as the events). Every interval this module turns it into gauges, owned by the
resource's project (so a project can chart and alarm on its own), with ``region`` and ``source``
dimensions:

| metric | dimensions | value |
|---|---|---|
| ``openstack.instances`` | state, flavor | live instances |
| ``openstack.instances.vcpus`` / ``.memory_mb`` | state | their flavors' vCPUs and memory |
| ``openstack.volumes`` | status | live volumes |
| ``openstack.volumes.gb`` | status | their size |
| ``openstack.failures`` | resource_type | failure summaries recorded in the interval |

A group that disappears (the last instance of a flavor deleted) is reported once more as 0, so a
chart drops to zero and an alarm sees the change rather than a silent gap.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from nephoscope.events.store import ResourceCount
from nephoscope.metrics.summary_rows import SummaryRow

UNOWNED = "admin"  # resources whose notifications name no project are the operator's

_Key = tuple[str, str, tuple[tuple[str, str], ...]]


class LifecycleMetrics:
    def __init__(self, region: str) -> None:
        self.base = {"region": region, "source": "events"} if region else {"source": "events"}
        self._previous: set[_Key] = set()

    def rows(self, counts: Iterable[ResourceCount], failures: Counter[tuple[str, str]]) -> list[SummaryRow]:
        """The gauges of one interval: resource ``counts`` from the store, ``failures`` counted per
        (project, resource type) since the last call."""
        values: dict[_Key, float] = {}

        def add(project: str, name: str, dimensions: dict[str, str], value: float) -> None:
            key = (project or UNOWNED, name, tuple(sorted(dimensions.items())))
            values[key] = values.get(key, 0.0) + value

        for count in counts:
            if count.resource_type == "instance":
                add(count.project_id, "openstack.instances", {"state": count.state, "flavor": count.flavor or "unknown"},
                    count.count)
                add(count.project_id, "openstack.instances.vcpus", {"state": count.state}, count.vcpus)
                add(count.project_id, "openstack.instances.memory_mb", {"state": count.state}, count.memory_mb)
            elif count.resource_type == "volume":
                add(count.project_id, "openstack.volumes", {"status": count.state}, count.count)
                add(count.project_id, "openstack.volumes.gb", {"status": count.state}, count.size_gb)
        for (project, resource_type), number in failures.items():
            add(project, "openstack.failures", {"resource_type": resource_type or "unknown"}, number)
        for gone in self._previous - values.keys():
            values[gone] = 0.0
        # A failures count of zero is a real figure every interval; other groups go once at zero.
        self._previous = {key for key, value in values.items() if value or key[1] == "openstack.failures"}
        return [SummaryRow.gauge(project, name, {**self.base, **dict(dimensions)}, value)
                for (project, name, dimensions), value in sorted(values.items())]
