"""The cluster metric store: a NATS JetStream log in front, immutable blocks in S3 behind.

``ClusterStore`` implements ``interface.MetricStore`` over engines a large cloud already runs.
Appends are split by series hash into partitions and published to a JetStream stream replicated
three times (``log``, ``partitions``); a write is acknowledged once JetStream acknowledged every
part, and ``Nats-Msg-Id`` makes a retried batch stored once. A consumer applies the stream, in
order, to the head (the embedded store's ``head``); flushing turns the head into one block per
partition and raw window in S3 (``blocks``: the embedded store's chunk ``codec`` plus a series index)
and only then records, in the partition's manifest (``manifest``), the stream sequence the blocks
cover. Queries read blocks through a bounded local cache (``nephoscope.engines.objects``) plus the
head; which series
exist is answered from a local index rebuilt from the blocks (``index``, the embedded store's series
catalog over an in-memory table set). ``ClusterStore`` (``store``) is one process playing every
role; ``ClusterNode`` (``node``) is one node of many, built from its roles: writes published
(``api``), partitions leased, followed, flushed and their heads served (``ingester``: the leases of
``nephoscope.cluster``), reads from the blocks plus the owners' heads (``querier``, ``heads``: the
question and answer between the two). ``cluster_store`` picks one by the node's roles.

Imports what the embedded store's modules export (codec, head, registry, chunk cache, the DuckDB
catalog), ``nephoscope.config``, ``nephoscope.cluster``, ``nephoscope.errors``, ``nephoscope.metrics.series``,
``nephoscope.metrics.summary`` and ``nephoscope.engines`` (the JetStream log and object store they
share with the events and logs); nats-py and pyarrow (the ``cluster`` extra); httpx, as a querier's client of the
ingesters. Serves no HTTP (the API's ``/v1/cluster/heads`` hands its body to ``heads_answer``).
"""

from nephoscope.config import ClusterSettings, Config, is_all
from nephoscope.metrics.store.cluster.node import STORE_ROLES, ClusterNode
from nephoscope.metrics.store.cluster.store import ClusterStore
from nephoscope.metrics.store.interface import MetricStore


def cluster_store(config: Config, roles: frozenset[str], member: str, token: str) -> MetricStore:
    """The metric store of a clustered node: every role in one process (``ClusterStore``), or the
    node's share of a cluster (``ClusterNode``: ``member`` is the URL queriers reach its heads at,
    ``token`` what a querier shows the ingesters)."""
    if is_all(roles):
        return ClusterStore(config, config.cluster)
    return ClusterNode(config, config.cluster, roles & STORE_ROLES, member, token)


__all__ = ["ClusterNode", "ClusterSettings", "ClusterStore", "cluster_store"]
