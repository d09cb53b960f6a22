"""The clustered alarm roles of one node, built and stopped together (``services`` calls these).

On a node of a cluster (``[cluster]`` enabled, ``[server] roles`` not ``all``) alarms are not the
embedded ``AlarmEngine``'s job but three roles' (docs/alarm-evaluation.md, "Clustered"):

* ``ingester``: ``PartialSources`` folds every batch the node's ingester applies into partial
  window summaries and reports watermarks for the partitions it owns and has replayed. The series
  it routes come from the ingester's own index (``OwnedSeries``: an ingester-only node has no
  querier to ``find`` with); when the ingester gains partitions, their series are routed at once,
  so series created before a restart or on the previous owner keep feeding their alarms.
* ``evaluator``: ``AlarmEvaluators`` holds evaluator partitions through leases (group
  ``evaluators``), writes alarms and history through the alarm repository (the cluster's metadata
  database with ``[cluster] sql_url``) and hands transitions to the notifiers' work queue.
* ``notifier``: ``TransitionNotifier`` takes transitions from that queue, one delivery per
  transition and idempotency key, instead of the outbox's delivery worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nephoscope.alarms.cluster.evaluators import AlarmEvaluators
from nephoscope.alarms.cluster.sources import PartialSources
from nephoscope.alarms.definitions import DefinitionStore
from nephoscope.alarms.repository import AlarmDatabase, AlarmRepository
from nephoscope.audit import AuditTrail
from nephoscope.config import Config
from nephoscope.metrics.series import SeriesDefinition
from nephoscope.metrics.store import MetricStore, SeriesFilter
from nephoscope.notify import NotifySettings
from nephoscope.notify.repository import MethodRepository
from nephoscope.notify.workqueue import TransitionNotifier

if TYPE_CHECKING:  # a clustered node's store (ClusterNode) has one when it runs the ingester role
    from nephoscope.metrics.store.cluster.ingester import Ingester

log = logging.getLogger(__name__)

# How long a source may stay silent before an evaluator closes periods without it, and how often
# evaluator state is snapshotted (a successor replays the partials after the snapshot).
LATENESS_SECONDS = 10.0
SNAPSHOT_SECONDS = 1.0


def member_url(config: Config) -> str:
    """How the other nodes reach this one (lease member names, the queriers' head requests)."""
    return config.cluster.advertise_url or f"http://{config.server.host}:{config.server.port}"


class OwnedSeries:
    """The ``find`` ``PartialSources`` routes existing series with, answered from the ingester's
    index for the partitions it owns (each ingester routes its own partitions' series)."""

    def __init__(self, ingester: Ingester) -> None:
        self.ingester = ingester

    def find(self, series_filter: SeriesFilter) -> list[SeriesDefinition]:
        return self.ingester.series(self.ingester.owned().keys(), series_filter.tenant, series_filter.name)


def replayed(ingester: Ingester) -> list[int]:
    """The partitions the ingester owns and has caught up with (a watermark says all was sent)."""
    return [partition for partition, part in ingester.owned().items() if part.replayed.is_set()]


@dataclass
class ClusterRoles:
    sources: PartialSources | None = None
    evaluators: AlarmEvaluators | None = None
    notifier: TransitionNotifier | None = None

    def status(self) -> dict:
        """For the admin status and self-metrics: what this node's alarm roles hold."""
        status: dict = {}
        if self.evaluators is not None:
            partitions = self.evaluators.status()
            status["evaluator_partitions"] = len(partitions)
            status["instances"] = sum(p["alarms"] for p in partitions.values())
        if self.notifier is not None:
            status["delivered"] = self.notifier.delivered
            status["dead_letters"] = self.notifier.dead_letters
        return status

    def stop(self) -> None:
        """The reverse of ``start_cluster_roles``: the queue's consumer first, the sources last."""
        for role in (self.notifier, self.evaluators, self.sources):
            if role is not None:
                try:
                    role.stop()
                except Exception:  # noqa: BLE001 - the others still stop
                    log.exception("stopping %s failed", type(role).__name__)


def start_cluster_roles(config: Config, roles: frozenset[str], store: MetricStore, definitions: DefinitionStore,
                        notify: NotifySettings, methods: MethodRepository, audit: AuditTrail,
                        sources: PartialSources | None = None) -> ClusterRoles:
    """Build and start the alarm roles this node runs (blocking: call in a thread). ``sources``: an
    ingester's partials, started before its store opened (``start_sources``)."""
    built = ClusterRoles()
    try:
        ingester = getattr(store, "ingester", None)
        if "ingester" in roles and ingester is not None:
            built.sources = sources if sources is not None else start_sources(config, definitions, ingester)
            follow_leases(built.sources, ingester)
        if "evaluator" in roles:
            built.evaluators = AlarmEvaluators(config.cluster, definitions, member_url(config), config.alarms,
                                               repository=AlarmRepository(AlarmDatabase(config.data_path)),
                                               lateness_seconds=LATENESS_SECONDS, snapshot_seconds=SNAPSHOT_SECONDS)
            built.evaluators.start()
        if "notifier" in roles:
            built.notifier = TransitionNotifier(config.cluster, notify, methods, audit=audit)
            built.notifier.start()
    except BaseException:
        built.stop()
        raise
    return built


def start_sources(config: Config, definitions: DefinitionStore, ingester: Ingester,
                  clock: Callable[[], float] = time.time) -> PartialSources:
    """The alarm partials of an ingester's partitions: started, and hooked to the ingester *before*
    its store opens, so even the replay of the partitions it takes at its own start is folded
    (``clock``: the time its reports carry, for tests). ``follow_leases`` once it is open."""
    sources = PartialSources(config.cluster, definitions, store=OwnedSeries(ingester),  # type: ignore[arg-type]
                             interval_seconds=1.0, clock=clock, sources=lambda: replayed(ingester),
                             asynchronous=True)
    sources.start()
    # A partition taken: its blocks' series routed, then its replay folded (what a previous owner
    # applied and never sent reaches the evaluators; what it sent is merged once there).
    ingester.on_taking.append(lambda partition: sources.begin_source(
        partition, lambda names: ingester.series([partition], names=names)))
    ingester.on_applied.append(sources.on_applied)
    return sources


def follow_leases(sources: PartialSources, ingester: Ingester) -> None:
    """Once the ingester is open: partitions count as sources (watermarks) once replayed, and stop
    being folded once let go."""
    def gained(partitions: frozenset[int], lost: frozenset[int]) -> None:
        # Called after the ingester's own listener, which returns once the gained partitions are
        # replayed: their series are routed again (any a definition matched meanwhile), then the
        # partitions count as sources at once rather than at the next beat.
        if lost:
            sources.drop_sources(lost)
        if partitions:
            sources.route_series(lambda names: ingester.series(partitions, names=names))
        sources.set_sources(frozenset(replayed(ingester)))

    ingester.leases.add_listener(gained)
    # Partitions taken while the store opened: sources once their replay is done (a partition
    # gained meanwhile comes again above).
    owned = ingester.owned()
    for partition in owned.values():
        partition.replayed.wait(120)
    if owned:
        gained(frozenset(owned), frozenset())
