"""Where clustered alarms live in JetStream: the partials stream and the evaluators' state bucket.

* ``<stream>_ALARM_PARTIALS``, subjects ``<stream>.alarms.partials.<evaluator>.<source>``:
  reports from source partitions (the ingesters) to evaluator partitions, replicated ``replicas``
  times, with the duplicate window of the metric stream. An evaluator partition reads its subjects
  from the sequence after its snapshot and purges what its snapshot covers.
* ``<stream>_alarm_evaluators``, key ``partition.<n>``: each evaluator partition's snapshot
  (``merging.PartitionEvaluator.snapshot``, zlib) with the stream sequence it covers. Written
  only with compare-and-set on the revision the writer read or wrote last, so an evaluator that lost
  its lease without knowing it cannot overwrite its successor's state. A snapshot larger than
  ``inline`` bytes (a message is at most NATS's ``max_payload``, 1 MiB by default) goes to the object
  store ``<stream>_alarm_snapshots`` (chunked) under a name of its own, and the key holds its name:
  the compare-and-set of the key still decides which snapshot is the partition's.
"""

from __future__ import annotations

from typing import Any

from nats.js.api import KeyValueConfig, ObjectStoreConfig, StorageType, StreamConfig
from nats.js.errors import BucketNotFoundError

from nephoscope.config import ClusterSettings
from nephoscope.engines.jetstream import ensure_bucket, ensure_stream

_PARTIALS_MAX_AGE = 86400.0
"""A day: a safety net only; snapshots purge what they cover within seconds."""


def partials_stream(settings: ClusterSettings) -> str:
    return f"{settings.stream}_ALARM_PARTIALS"


def partials_subject(settings: ClusterSettings, evaluator: int, source: int | str) -> str:
    return f"{settings.stream}.alarms.partials.{evaluator}.{source}"


def state_bucket(settings: ClusterSettings) -> str:
    return f"{settings.stream}_alarm_evaluators"


def state_key(partition: int) -> str:
    return f"partition.{partition}"


async def ensure_partials(js: Any, settings: ClusterSettings) -> None:
    await ensure_stream(js, StreamConfig(
        name=partials_stream(settings), subjects=[f"{settings.stream}.alarms.partials.>"],
        num_replicas=settings.replicas, storage=StorageType.FILE, max_age=_PARTIALS_MAX_AGE,
        duplicate_window=settings.duplicate_window_seconds))


def snapshots_bucket(settings: ClusterSettings) -> str:
    return f"{settings.stream}_alarm_snapshots"


_INLINE, _OBJECT = b"i", b"o"


async def ensure_snapshots(js: Any, settings: ClusterSettings) -> Any:
    try:
        return await js.object_store(snapshots_bucket(settings))
    except BucketNotFoundError:
        # (nats-py sets the config's bucket from its own argument)
        return await js.create_object_store(snapshots_bucket(settings), ObjectStoreConfig(
            replicas=settings.replicas, storage=StorageType.FILE))


async def state_value(data: bytes, name: str, inline: int, objects: Any) -> bytes:
    """The key's value for a snapshot: the bytes themselves, or the name of an object holding them."""
    if len(data) <= inline:
        return _INLINE + data
    await objects.put(name, data)
    return _OBJECT + name.encode()


async def state_data(value: bytes, objects: Any) -> bytes:
    """The snapshot a key's value stands for."""
    if value[:1] == _OBJECT:
        return (await objects.get(value[1:].decode())).data
    return value[1:]


def state_object(value: bytes) -> str | None:
    """The object a key's value names (to delete once replaced), if any."""
    return value[1:].decode() if value[:1] == _OBJECT else None


async def ensure_state(js: Any, settings: ClusterSettings) -> Any:
    return await ensure_bucket(js, KeyValueConfig(bucket=state_bucket(settings), history=1,
                                                  replicas=settings.replicas, storage=StorageType.FILE))
