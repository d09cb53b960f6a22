"""The write-ahead log of the cluster metric store: batches on a JetStream stream (``engines.jetstream``).

``MetricLog`` is the shared ``StreamLog`` (connection on a thread of its own, acknowledged publishes
with ``Nats-Msg-Id``, ordered following that survives a node's death, purges) speaking metric
batches: a part is published to ``<prefix>.<partition>`` in the embedded write-ahead log's record
encoding (``wal.encode_record``: one batch format on disk and on the wire), and followed decoded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future

from nephoscope.config import ClusterSettings
from nephoscope.engines.jetstream import StreamLog
from nephoscope.metrics.series import IngestBatch
from nephoscope.metrics.store.cluster.partitions import message_id, split
from nephoscope.metrics.store.interface import Overloaded
from nephoscope.metrics.store.wal import decode_record, encode_record


class MetricLog(StreamLog):
    def __init__(self, settings: ClusterSettings) -> None:
        super().__init__(settings, settings.stream, settings.subject_prefix, name="cluster-log")

    async def publish(self, parts: list[tuple[int, IngestBatch]]) -> list[int]:
        """Publish every part at once; their stream sequences once JetStream acknowledged all.

        A retried part (same bytes) is acknowledged as a duplicate with the sequence first stored.
        """
        messages = []
        for partition, part in parts:
            payload = encode_record(0, part)
            messages.append((self.subject(partition), payload, message_id(partition, payload)))
        return await self.publish_encoded(messages)

    async def write(self, batch: IngestBatch, partitions: int) -> list[int]:
        """``batch`` split by partition and published; its parts' stream sequences. JetStream not
        acknowledging (no quorum, the stream full while blocks cannot be written) refuses the write as
        ``Overloaded``, to be retried: parts already stored are recognised on the retry."""
        parts = split(batch, partitions)
        if not parts:
            return []
        try:
            return await self.publish(parts)
        except Exception as error:
            raise Overloaded(f"the metric log did not acknowledge the write ({type(error).__name__}: {error}); "
                             "retry shortly", backlog=True) from error

    def follow(self, after: int, apply: Callable[[int, int, IngestBatch], None],  # type: ignore[override]
               partition: int | None = None, caught_up: threading.Event | None = None) -> Future[None]:
        """Call ``apply(sequence, partition, batch)`` for every message after ``after`` (of one
        ``partition``, or of all), in stream order; ``caught_up`` as ``StreamLog.follow``'s."""
        return super().follow(after, lambda sequence, partition_, payload, _headers:
                              apply(sequence, partition_, decode_record(payload)[1]),
                              None if partition is None else [partition], caught_up)
