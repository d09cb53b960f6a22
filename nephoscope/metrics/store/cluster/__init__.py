"""The cluster metric store: a NATS JetStream log in front, immutable blocks in S3 behind.

``ClusterStore`` implements ``interface.MetricStore`` over engines a large cloud already runs.
Appends are split by series hash into partitions and published to a JetStream stream replicated
three times (``log``, ``partitions``); a write is acknowledged once JetStream acknowledged every
part, and ``Nats-Msg-Id`` makes a retried batch stored once. A consumer applies the stream, in
order, to the head (the embedded store's ``head``); flushing turns the head into one block per
partition and raw window in S3 (``blocks``: the embedded store's chunk ``codec`` plus a series index)
and only then records, in the partition's manifest (``manifest``), the stream sequence the blocks
cover. Queries read blocks through a bounded local cache (``nephoscope.engines.objects``) plus the head; which series
exist is answered from a local index rebuilt from the blocks (``index``, the embedded store's series
catalog over an in-memory table set). One process plays every role here; ingester leases, queriers
and the rest of issue 21 build on these modules.

Imports what the embedded store's modules export (codec, head, registry, chunk cache, the DuckDB
catalog), ``nephoscope.config``, ``nephoscope.metrics.series`` and ``nephoscope.metrics.summary``;
``nephoscope.engines`` (the JetStream log and object store they share with the events and logs), nats-py and
pyarrow (the ``cluster`` extra). Speaks no HTTP.
"""

from nephoscope.config import ClusterSettings
from nephoscope.metrics.store.cluster.store import ClusterStore

__all__ = ["ClusterSettings", "ClusterStore"]
