"""Where clustered alarms live in JetStream: the partials stream and the evaluators' state bucket.

* ``<stream>_ALARM_PARTIALS``, subjects ``<stream>.alarms.partials.<evaluator>.<source>``:
  reports from source partitions (the ingesters) to evaluator partitions, replicated ``replicas``
  times, with the duplicate window of the metric stream. An evaluator partition reads its subjects
  from the sequence after its snapshot and purges what its snapshot covers.
* ``<stream>_alarm_evaluators``, key ``partition.<n>``: each evaluator partition's snapshot
  (``merging.PartitionEvaluator.snapshot``, zlib) with the stream sequence it covers. Written
  only with compare-and-set on the revision the writer read or wrote last, so an evaluator that lost
  its lease without knowing it cannot overwrite its successor's state.
"""

from __future__ import annotations

from typing import Any

from nats.js.api import KeyValueConfig, StorageType, StreamConfig

from nephoscope.config import ClusterSettings
from nephoscope.notify.workqueue import ensure_bucket, ensure_stream

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


async def ensure_state(js: Any, settings: ClusterSettings) -> Any:
    return await ensure_bucket(js, KeyValueConfig(bucket=state_bucket(settings), history=1,
                                                  replicas=settings.replicas, storage=StorageType.FILE))
