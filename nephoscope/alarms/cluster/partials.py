"""The partition side of clustered alarms: points folded into sub-alarm slot summaries.

An ingester owns the series of its partitions and sees every batch it applies. ``PartialFolder``
matches each new series once (``alarms.matching``, as the single-node evaluator does), keeps the
answer as routes from series to *feeds* — one feed per (alarm, sub-expression), its id a digest of
both so every node agrees — and folds a batch's points into one summary per (feed, slot) with a
few NumPy passes: the slot is the sub-expression's period aligned to the epoch, exactly the
evaluator's window slot, so the evaluator adds these partials to its windows as it would add the
points (count and sum add, min and max take extremes, last is the value of the newest point, whose
time travels with it). Each feed goes to the evaluator partition of its alarm (``evaluator_of``).
Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from nephoscope.alarms.definitions import AlarmDefinition
from nephoscope.alarms.evaluator import alarm_id
from nephoscope.alarms.fanout import Routes
from nephoscope.alarms.matching import Matcher, Target
from nephoscope.metrics.series import IngestBatch
from nephoscope.metrics.summary import group_starts


def evaluator_of(alarm: str, partitions: int) -> int:
    """The evaluator partition owning an alarm: a digest of its id, the same on every node."""
    return int.from_bytes(hashlib.blake2b(alarm.encode(), digest_size=8).digest(), "big") % partitions


def feed_id(alarm: str, sub_index: int) -> int:
    """The id of one (alarm, sub-expression) feed: a signed 64-bit digest, the same on every node."""
    digest = hashlib.blake2b(f"{alarm}\x1f{sub_index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass(frozen=True, slots=True)
class FeedRoute:
    """A series found to feed (alarm, sub-expression): what the evaluator routes the feed id to."""

    feed: int
    target: Target
    metric: dict  # {"name", "dimensions"} of the series, for the alarm's metric list


@dataclass(slots=True)
class Partials:
    """Slot summaries of feeds, as columns; ``last_time`` is the time of the point ``last`` is from."""

    feed: np.ndarray  # int64
    slot: np.ndarray  # int64 ms, the slot's start
    count: np.ndarray  # int64
    sum: np.ndarray  # float64
    min: np.ndarray
    max: np.ndarray
    last: np.ndarray
    last_time: np.ndarray  # int64 ms

    def __len__(self) -> int:
        return int(self.feed.shape[0])

    def take(self, index: np.ndarray) -> Partials:
        return Partials(*(getattr(self, name)[index] for name in PARTIAL_FIELDS))

    @staticmethod
    def empty() -> Partials:
        i, f = np.empty(0, np.int64), np.empty(0, np.float64)
        return Partials(i, i, i, f, f, f, f, i)


PARTIAL_FIELDS = ("feed", "slot", "count", "sum", "min", "max", "last", "last_time")


@dataclass(slots=True)
class Fold:
    """What one batch gives each evaluator partition: new routes, then partials."""

    routes: dict[int, list[FeedRoute]] = field(default_factory=dict)
    partials: dict[int, Partials] = field(default_factory=dict)


class PartialFolder:
    """Folds the batches of the partitions one ingester owns for ``evaluators`` evaluator partitions."""

    def __init__(self, evaluators: int) -> None:
        self.evaluators = evaluators
        self.matcher = Matcher()
        self._definitions: dict[str, AlarmDefinition] = {}
        self.routes = Routes()  # series id -> feed index
        self._index: dict[int, int] = {}  # feed id -> feed index
        self._targets: list[Target] = []
        self._feed = np.zeros(0, np.int64)  # per feed index: feed id, slot width (ms), evaluator partition
        self._width = np.zeros(0, np.int64)
        self._evaluator = np.zeros(0, np.int64)

    # -- definitions ------------------------------------------------------------------------------
    def load(self, definitions: list[AlarmDefinition]) -> None:
        self._definitions = {definition.id: definition for definition in definitions}
        self.matcher.load(definitions)

    def on_change(self, change: str, definition: AlarmDefinition) -> None:
        """A definition changed: re-match it; a new period changes its feeds' slot width, a deletion
        drops its routes (existing series are routed to a created one by ``route(..., id)``)."""
        self.matcher.on_change(change, definition)
        if change == "deleted":
            self._definitions.pop(definition.id, None)
        else:
            self._definitions[definition.id] = definition
        mine = [i for i, target in enumerate(self._targets) if target.definition_id == definition.id]
        if change == "deleted":
            self.routes.remove_targets(mine)
            return
        expressions = definition.sub_expressions
        for index in mine:
            self._width[index] = expressions[self._targets[index].sub_index].period * 1000

    def metric_names(self) -> set[str]:
        """The metric names the definitions read (the only series worth routing)."""
        return {sub.metric_name for definition in self._definitions.values() for sub in definition.sub_expressions}

    def sync(self, definitions: list[AlarmDefinition]) -> list[AlarmDefinition]:
        """Catch up with the definitions as they are now (another node's API changed them); returns
        the definitions created, whose existing series the caller routes."""
        current = {definition.id: definition for definition in definitions}
        for identifier, old in list(self._definitions.items()):
            if identifier not in current:
                self.on_change("deleted", old)
        created = []
        for identifier, definition in current.items():
            old = self._definitions.get(identifier)
            if old != definition:
                self.on_change("created" if old is None else "updated", definition)
                if old is None:
                    created.append(definition)
        return created

    # -- routing ----------------------------------------------------------------------------------
    def route(self, series: Iterable, definition_id: str | None = None) -> dict[int, list[FeedRoute]]:
        """Match series (``SeriesDefinition``/``SeriesInfo``: id, tenant, name, dimensions); returns
        the new routes per evaluator partition, which must reach it before the partials."""
        keys, feeds = [], []
        found: dict[int, list[FeedRoute]] = {}
        for info in series:
            for target in self.matcher.targets(info.tenant, info.name, info.dimensions, definition_id):
                index = self._feed_index(target)
                keys.append(info.id)
                feeds.append(index)
                metric = {"name": info.name, "dimensions": dict(info.dimensions)}
                route = FeedRoute(int(self._feed[index]), target, metric)
                found.setdefault(int(self._evaluator[index]), []).append(route)
        self.routes.add(keys, feeds)
        return found

    def _feed_index(self, target: Target) -> int:
        alarm = alarm_id(target.definition_id, target.instance)
        identifier = feed_id(alarm, target.sub_index)
        index = self._index.get(identifier)
        if index is not None:
            return index
        definition = self._definitions[target.definition_id]
        index = len(self._targets)
        self._index[identifier] = index
        self._targets.append(target)
        self._feed = np.append(self._feed, identifier)
        self._width = np.append(self._width, definition.sub_expressions[target.sub_index].period * 1000)
        self._evaluator = np.append(self._evaluator, evaluator_of(alarm, self.evaluators))
        return index

    # -- points -----------------------------------------------------------------------------------
    def fold(self, batch: IngestBatch) -> Fold:
        """Route the batch's new series, then fold its points into partials per evaluator partition."""
        result = Fold(routes=self.route(batch.tenant_series) if batch.tenant_series else {})
        points = batch.points
        if not len(points):
            return result
        point_index, feeds = self.routes.expand(points.series)
        if not len(feeds):
            return result
        count, total, low, high, last = (np.asarray(column)[point_index] for column in points.summary_columns())
        timestamp = points.timestamp[point_index]
        width = self._width[feeds]
        slot = (timestamp // width) * width
        # Stable: among equal times the later point of the batch wins ``last``, as in the windows.
        order = np.lexsort((timestamp, slot, feeds))
        feeds, slot, timestamp = feeds[order], slot[order], timestamp[order]
        count, total, low, high, last = count[order], total[order], low[order], high[order], last[order]
        starts = group_starts(feeds, slot)
        ends = np.append(starts[1:], len(feeds)) - 1
        folded = Partials(self._feed[feeds[starts]], slot[starts], np.add.reduceat(count.astype(np.int64), starts),
                          np.add.reduceat(total.astype(np.float64), starts), np.minimum.reduceat(low, starts),
                          np.maximum.reduceat(high, starts), last[ends], timestamp[ends])
        destination = self._evaluator[feeds[starts]]
        for partition in np.unique(destination).tolist():
            result.partials[int(partition)] = folded.take(np.flatnonzero(destination == partition))
        return result
