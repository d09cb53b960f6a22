"""The evaluator of one evaluator partition: partials of every source merged exactly, periods closed
once every source has reported past them.

``PartitionEvaluator`` wraps the single-node ``Evaluator``: routes from the folders
(``partials.FeedRoute``) become routes from feed ids to sub-alarms, and partials are added to the
windows as summary points (a partial's time is the time of its newest point, inside its slot, so
``last`` is decided as for points). Merging summaries is exact, so the windows hold what the
single-node evaluator's would hold for the same points.

Time comes only from the messages, never from this machine's clock: ``at_ms`` of a source's batch is
the ``now`` of its immediate evaluations, and the *clock* — the lowest watermark over the sources
(a source's watermark: it has sent everything it applied up to then) — closes periods. A period is
therefore closed once every source partition has reported past its end plus grace (the role forces
a silent source's watermark after a bounded lateness, through the same stream). Applying the same
messages from the same ``snapshot`` thus yields the same transitions, with the same timestamps:
what lets a successor resume a dead evaluator's partition without missing or doubling one.

A source's partials carry the metric stream sequence of the batch they were folded from
(``Report.origin``). An ingester that takes a partition over replays it from its blocks' covered
sequence and folds the replay again, so what its predecessor applied but never sent arrives; what
the predecessor had sent arrives twice and is merged once: per source, partials of a batch at or
below the highest sequence merged are passed over (``folded``). One owner sends in stream order, and
two owners of the same sequence fold the same batch.

An API change to an alarm (state, lifecycle state, link, deletion) travels in the same stream as a
report whose ``change`` names it (``changes.RoutedChanges``), so it is applied in order with the
partials and a replay decides it the same; ``answers`` says, per change, whether the alarm was
found, and ``deleted`` which alarms went, for the member to persist and answer.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field

import numpy as np

from nephoscope.alarms.definitions import AlarmDefinition
from nephoscope.alarms.cluster.partials import FeedRoute, Partials
from nephoscope.alarms.evaluator import Evaluator, Transition
from nephoscope.alarms.matching import Matcher
from nephoscope.metrics.summary import Points
from nephoscope.tenancy import ALL_TENANTS

_SNAPSHOT_VERSION = 2  # 2: ``folded`` (version 1 snapshots restore with none)


@dataclass(slots=True)
class Report:
    """One message from a source partition to an evaluator partition: routes, then partials (folded
    at ``at_ms``), then optionally a watermark. ``forced``: published by the evaluator for a silent
    source after the lateness bound."""

    source: int
    at_ms: int
    routes: list[FeedRoute] = field(default_factory=list)
    partials: Partials | None = None
    watermark_ms: int | None = None
    forced: bool = False
    origin: int = 0  # the metric stream sequence of the batch the partials come from; 0: not known
    change: dict | None = None  # an API change (``changes.AlarmChange`` as a dict), for ``source`` -1


class PartitionEvaluator:
    def __init__(self, partition: int, sources: int, grace_ms: int, start_ms: int) -> None:
        self.partition = partition
        self.sources = sources
        self.evaluator = Evaluator(grace_ms=grace_ms)
        self.watermarks = np.full(sources, start_ms, np.int64)
        self.latest_ms = start_ms  # the newest source time seen: ``now`` of immediate evaluations
        self.clock_ms = start_ms  # the lowest watermark: periods ending (plus grace) before it are closed
        self.sequence = 0  # the last stream sequence applied (messages up to it are in the state)
        self.folded = np.zeros(sources, np.int64)  # per source, the highest batch sequence merged
        self.history_ms: dict[str, int] = {}  # per alarm, the last history timestamp (history keys are unique)
        self.answers: list[tuple[str, bool]] = []  # (reply subject, alarm found) of changes applied, to answer
        self.deleted: list[str] = []  # alarms deleted through the API, to delete from the repository

    # -- definitions ------------------------------------------------------------------------------
    def load(self, definitions: list[AlarmDefinition]) -> None:
        self.evaluator.load(definitions)

    def on_change(self, change: str, definition: AlarmDefinition) -> list[str]:
        """A definition changed; returns the ids of alarms it removed."""
        return self.evaluator.on_change(change, definition, self.latest_ms)

    def sync(self, definitions: list[AlarmDefinition]) -> list[str]:
        """Catch up with the definitions as they are now (a snapshot may predate changes); returns
        the ids of alarms removed."""
        current = {definition.id: definition for definition in definitions}
        removed = []
        for identifier, old in list(self.evaluator.definitions.items()):
            if identifier not in current:
                removed += self.on_change("deleted", old)
        for identifier, definition in current.items():
            old = self.evaluator.definitions.get(identifier)
            if old != definition:
                self.on_change("created" if old is None else "updated", definition)
        return removed

    def history_timestamp(self, transition: Transition) -> int:
        """The transition's history time, made unique per alarm (the history key)."""
        timestamp = max(transition.timestamp_ms, self.history_ms.get(transition.alarm.id, 0) + 1)
        self.history_ms[transition.alarm.id] = timestamp
        return timestamp

    # -- messages ---------------------------------------------------------------------------------
    def apply(self, sequence: int, report: Report) -> list[Transition]:
        """Apply one message (once: a sequence at or below ``sequence`` is already in the state)."""
        if sequence <= self.sequence:
            return []
        self.sequence = sequence
        transitions: list[Transition] = []
        self.latest_ms = max(self.latest_ms, report.at_ms)
        if report.routes:
            self.evaluator.route_targets(((r.feed, r.target, r.metric) for r in report.routes), self.latest_ms)
        if report.partials is not None and len(report.partials) and self._first_fold(report):
            transitions += self.ingest(report.partials)
        if report.watermark_ms is not None:
            transitions += self.watermark(report.source, report.watermark_ms)
        if report.change is not None:
            transitions += self._change(report.change, report.at_ms)
        return transitions

    def _change(self, change: dict, at_ms: int) -> list[Transition]:
        """An API change, as the embedded engine applies it (Monasca: "Alarm state updated via API")."""
        alarm = self.evaluator.alarms.get(change["alarm"])
        scope = change["scope"]
        if alarm is None or not alarm.created or (scope != ALL_TENANTS and alarm.definition.tenant != scope):
            self.answers.append((change["reply"], False))
            return []
        self.answers.append((change["reply"], True))
        if change.get("delete"):
            self.evaluator.delete_alarm(alarm.id)
            self.deleted.append(alarm.id)
            return []
        alarm.lifecycle_state = change.get("lifecycle_state") or alarm.lifecycle_state
        alarm.link = change.get("link") or alarm.link
        alarm.updated_at = at_ms / 1000
        transition = self.evaluator.set_state(alarm, change["state"], at_ms) if change.get("state") else None
        self.evaluator.dirty[alarm.id] = alarm
        return [transition] if transition else []

    def _first_fold(self, report: Report) -> bool:
        """Whether the report's batch is not merged yet (a successor's replay sends it again)."""
        if not report.origin:
            return True
        if report.origin <= self.folded[report.source]:
            return False
        self.folded[report.source] = report.origin
        return True

    def ingest(self, partials: Partials) -> list[Transition]:
        points = Points(partials.feed, partials.last_time, partials.count, partials.sum, partials.min,
                        partials.max, partials.last)
        return self.evaluator.ingest(points, self.latest_ms)

    def watermark(self, source: int, watermark_ms: int) -> list[Transition]:
        """Source ``source`` has sent everything up to ``watermark_ms``; close what every source passed."""
        self.watermarks[source] = max(int(self.watermarks[source]), watermark_ms)
        clock = int(self.watermarks.min())
        if clock <= self.clock_ms:
            return []
        self.clock_ms = clock
        self.latest_ms = max(self.latest_ms, clock)
        due = self.evaluator.next_close_ms()
        return self.evaluator.tick(clock) if due is not None and due <= clock else []

    def late_sources(self, now_ms: int, lateness_ms: int) -> list[int]:
        """Sources whose watermark is more than ``lateness_ms`` behind ``now_ms`` (to be forced)."""
        return np.flatnonzero(self.watermarks < now_ms - lateness_ms).tolist()

    # -- snapshots --------------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """Everything needed to resume: alarms, windows, routes, watermarks, the sequence applied."""
        state = {name: value for name, value in vars(self.evaluator).items() if name != "matcher"}
        return pickle.dumps((_SNAPSHOT_VERSION, self.partition, self.sources, self.watermarks, self.latest_ms,
                             self.clock_ms, self.sequence, self.history_ms, state, self.folded),
                            protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def restore(cls, data: bytes) -> PartitionEvaluator:
        """The evaluator a snapshot was taken of (our own bucket's bytes: trusted like the database)."""
        loaded = pickle.loads(data)  # noqa: S301 - our own bucket's bytes
        version, partition, sources, watermarks, latest, clock, sequence, history, state = loaded[:9]
        if version not in (1, _SNAPSHOT_VERSION):
            raise ValueError(f"alarm evaluator snapshot version {version} is not {_SNAPSHOT_VERSION}")
        restored = cls(partition, sources, state["grace_ms"], clock)
        evaluator = restored.evaluator
        vars(evaluator).update(state)
        evaluator.matcher = Matcher()
        evaluator.matcher.load(list(evaluator.definitions.values()))
        restored.watermarks, restored.latest_ms, restored.clock_ms = watermarks, latest, clock
        restored.sequence = sequence
        restored.history_ms = history
        if version >= 2:
            restored.folded = loaded[9]
        return restored
