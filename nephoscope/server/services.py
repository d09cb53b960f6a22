"""The services the server runs, built in one place and handed to the API as one object.

``open_services`` builds and starts them in dependency order (keys, the authenticator and the
policy, the events store, the audit trail (which reads OpenStack's CADF notifications from it), the
metric store and its WAL replay, notifications, alarm definitions and the alarm engine, the events
consumers, logs);
``close_services`` stops them in the reverse order so a clean shutdown leaves nothing to
replay. Handlers reach them through ``api.deps.get_services``.

A node runs the roles of ``[server] roles`` (``nephoscope serve --role``): ``all``, the default, is
the single process as it always was (with ``[cluster]`` servers set, the cluster store playing
every role in it). A node of a cluster builds the metric store of its roles (``cluster_store``: an
``api`` node publishes, an ``ingester`` leases partitions and serves its heads, a ``querier`` reads
blocks and heads); its events and log records go through the cluster's streams to Parquet (the
ingesters flushing the partitions they lease), its RabbitMQ consumers (``consumer``) compete for the
queues, and alarms are the clustered roles' (``cluster_roles``: partials on ingesters, evaluators,
notifiers on the transition work queue) instead of the embedded alarm engine and delivery worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

from nephoscope.alarms.cluster.changes import RoutedChanges
from nephoscope.alarms.definitions import DefinitionStore
from nephoscope.alarms.engine import AlarmEngine
from nephoscope.alarms.repository import AlarmDatabase, AlarmRepository
from nephoscope.audit import FAILURE, SUCCESS, AuditTrail
from nephoscope.audit.openstack import OpenStackRecords
from nephoscope.auth.keys import KeyStore
from nephoscope.auth.policy import Policy
from nephoscope.auth.tokens import Authenticator, Composite, KeyAuthenticator
from nephoscope.config import ROLES, Config, is_all, parse_roles
from nephoscope.events.service import EventService, brokers
from nephoscope.logs.server.service import LogService
from nephoscope.metrics.metadata import MetadataStore
from nephoscope.metrics.promql import Engine, QueryLimits
from nephoscope.metrics.service import MetricService
from nephoscope.metrics.store import EmbeddedStore, MetricStore
from nephoscope.notify import NotificationService, NotifySettings
from nephoscope.server.cluster_roles import ClusterRoles, member_url, start_cluster_roles, start_sources
from nephoscope.sql import bind
from nephoscope.telemetry.requests import RequestStats


@dataclass
class Services:
    config: Config
    keys: KeyStore
    audit: AuditTrail
    authenticator: Authenticator
    policy: Policy
    store: MetricStore
    metrics: MetricService
    promql: Engine
    notifications: NotificationService
    definitions: DefinitionStore
    alarms: AlarmEngine
    events: EventService
    logs: LogService
    request_stats: RequestStats = field(default_factory=RequestStats)
    roles: frozenset[str] = frozenset(ROLES)
    cluster_roles: ClusterRoles | None = None  # the clustered alarm roles of a node of a cluster
    # Where API changes to alarms go: the embedded engine, or on a node of a cluster the evaluators.
    routed_changes: RoutedChanges | None = None

    @property
    def alarm_changes(self) -> AlarmEngine | RoutedChanges:
        return self.routed_changes if self.routed_changes is not None else self.alarms

    @property
    def data_path(self) -> Path:
        return self.config.data_path

    def alarm_status(self) -> dict:
        """The embedded engine's counters, or on a node of a cluster what its alarm roles hold."""
        return self.alarms.status() if self.cluster_roles is None else self.cluster_roles.status()

    def notification_method_exists(self, tenant: str, method_id: str) -> bool:
        return self.notifications.methods.get(tenant, method_id) is not None


def build_authenticator(config: Config, keys: KeyStore) -> Authenticator:
    """API keys alone (``[auth] strategy = "keys"``), or API keys beside Keystone tokens."""
    by_key = KeyAuthenticator(keys, config.auth.admin_token)
    if config.auth.strategy != "keystone":
        return by_key
    from nephoscope.auth.keystone import KeystoneAuthenticator

    return Composite(by_key, KeystoneAuthenticator(config.keystone_authtoken, config.limits.retry_after_seconds))


def build_metric_store(config: Config, roles: frozenset[str]) -> MetricStore:
    """The embedded store, or with ``[cluster]`` servers the cluster store of this node's roles."""
    if not config.cluster.enabled:
        return EmbeddedStore(config)
    from nephoscope.metrics.store import cluster_store

    return cluster_store(config, roles, member_url(config), config.auth.admin_token)


def table_partitions(config: Config, roles: frozenset[str], store: MetricStore) -> Callable[[], Collection[int]]:
    """The events' and log records' partitions this clustered node flushes to Parquet: an ingester's
    leased metric partitions (held right now: a lease lost stops the flushing at once), none on
    the other nodes (they publish and follow the streams; reads go to the files and tails)."""
    ingester = getattr(store, "ingester", None)
    if "ingester" in roles and ingester is not None:
        return ingester.leases.owned
    return tuple


async def open_services(config: Config, notify_config: NotifySettings | None = None,
                        request_stats: RequestStats | None = None) -> Services:
    """Build and start every service of this node's roles (blocking work runs in threads)."""
    roles = parse_roles(config.server.roles)
    single = is_all(roles)
    clustered = config.cluster.enabled and not single  # one node of a cluster, not the single process
    bind(config.data_path, config.cluster.sql_url)  # metadata: the cluster's database, else SQLite files
    keys = KeyStore(config.data_path, config.security.all_roles())
    authenticator = build_authenticator(config, keys)
    policy = Policy(config.security, config.auth.policy_file)
    # A node of a cluster builds its store first: an ingester's leases say which event and log partitions it flushes.
    store = build_metric_store(config, roles) if clustered else None
    # Clustered, events and log records go through JetStream streams to Parquet in S3: every node
    # publishes and reads them, the ingesters flush their partitions, consumers compete for the queues.
    tables = {} if store is None else {"cluster": config.cluster,
                                       "owned_partitions": table_partitions(config, roles, store)}
    events = EventService(config.data_path, brokers(config.rabbitmq), config.events, config.rabbitmq.workers,
                          config.server.region, **tables)
    audit = AuditTrail.open(config.data_path, config.audit, f"nephoscope:{config.server.region}",
                            OpenStackRecords(events, config.audit.openstack_event_types))
    if policy.file is not None:
        policy.reload_observers.append(lambda applied, reason: audit.reloaded(
            "policy", str(policy.file), SUCCESS if applied else FAILURE, reason))
    if store is None:
        store = build_metric_store(config, roles)
    metrics = MetricService(store, config.store, config.prometheus, MetadataStore(config.data_path))
    definitions = DefinitionStore(config.data_path)
    ingester = getattr(store, "ingester", None) if clustered and "ingester" in roles else None
    # An ingester's alarm partials are hooked to it before it opens: the replay of the partitions it
    # takes at its own start is folded too (what it applied and never sent before a crash).
    sources = None if ingester is None else await asyncio.to_thread(start_sources, config, definitions, ingester)
    await asyncio.to_thread(store.open)
    notifications = NotificationService(config.data_path, notify_config or config.notify, audit)
    # Clustered, alarm transitions reach a notifier through the work queue (cluster_roles), not the outbox.
    if single:
        await notifications.start()
    alarms = AlarmEngine(store, config.data_path, definitions, notifications.outbox, config.alarms)
    cluster_roles = None
    routed_changes = None
    if single:
        await asyncio.to_thread(alarms.start)
    elif clustered:
        cluster_roles = await asyncio.to_thread(start_cluster_roles, config, roles, store, definitions,
                                                notifications.config, notifications.methods, audit, sources)
        if "api" in roles:
            routed_changes = RoutedChanges(config.cluster, AlarmRepository(AlarmDatabase(config.data_path)))
            await asyncio.to_thread(routed_changes.start)
    else:  # roles without a cluster: the embedded engine and worker where their role runs, as before
        if "notifier" in roles:
            await notifications.start()
        if "evaluator" in roles:
            await asyncio.to_thread(alarms.start)
    if single or "consumer" in roles:
        await events.start()
    logs = LogService(config.data_path, config.logs, metrics, config.server.region, events.store.add_log_failures,
                      events.store.owned_resources, **tables)
    return Services(config=config, keys=keys, audit=audit, authenticator=authenticator, policy=policy,
                    store=store, metrics=metrics, promql=Engine(store, QueryLimits.of(config.prometheus)),
                    notifications=notifications, definitions=definitions,
                    alarms=alarms, events=events, logs=logs, request_stats=request_stats or RequestStats(), roles=roles,
                    cluster_roles=cluster_roles, routed_changes=routed_changes)


async def close_services(services: Services) -> None:
    """Stop everything in the reverse order of ``open_services``."""
    await services.events.stop()
    await asyncio.to_thread(services.logs.close)
    if services.routed_changes is not None:
        await asyncio.to_thread(services.routed_changes.stop)
    if services.cluster_roles is not None:
        await asyncio.to_thread(services.cluster_roles.stop)
    await asyncio.to_thread(services.alarms.stop)
    await services.notifications.stop()  # its last deliveries go to the audit trail
    await asyncio.to_thread(services.audit.close)  # with the refusals not yet written
    await asyncio.to_thread(services.store.close)
    services.metrics.close()
    services.authenticator.close()
