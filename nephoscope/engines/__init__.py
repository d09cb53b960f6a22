"""Clients of the distributed engines a clustered Nephoscope runs on, shared by every domain's
cluster store: ``jetstream.StreamLog`` (a replicated JetStream stream as a write-ahead log:
acknowledged publishes with ``Nats-Msg-Id``, ordered following, purges) and ``objects.ObjectStore``
(whole objects in an S3 bucket through pyarrow, with a bounded cache of immutable ones), and
``loop.LoopThread`` (an asyncio event loop on a thread of its own, so blocking code and request
handlers can both use one NATS connection); ``pointers.Pointers`` (which immutable object is
current — a partition's manifest — in a key-value bucket switched by compare-and-set, the fence
S3 lacks); ``outages.is_outage`` tells an engine not answering for a moment from a defect
(background work logs the first in one line and retries).

Imports only ``nephoscope.config`` (``ClusterSettings``), nats-py and pyarrow; knows nothing of
metrics, events or logs.
"""
