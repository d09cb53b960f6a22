"""A process that stores events and log lines in the cluster and says what was acknowledged, to be killed -9.

``python -m tests.support.record_writer SETTINGS_JSON DATA_DIR`` opens a clustered ``EventStore`` and
``LogStore`` with those settings and, for ever, stores batch ``i`` (``EVENTS`` events ``w-<i>-<k>``
and one log line per event, project ``p<i % 3>``), flushing both to S3 after every 10th batch (so
some acknowledged records are in Parquet files and some only in the stream when it dies), and prints
``<i>`` once both were acknowledged. ``event_batch`` and ``log_lines`` are what the test expects back.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from nephoscope.config import ClusterSettings
from nephoscope.events.batch import EventBatch, from_events
from nephoscope.events.records import Event, Notification
from nephoscope.events.store import EventStore
from nephoscope.logs.processing.pipeline import LogPipeline
from nephoscope.logs.processing.sources import Source
from nephoscope.logs.server.store import LogStore

EVENTS = 5
T0 = 1_800_000_000_000


def event(message_id: str, at: int, project: str = "p1", resource: str = "vm-1", request: str = "req-1",
          event_type: str = "instance.create.end") -> Event:
    raw = Notification(message_id=message_id, event_type=event_type, publisher_id="nova-compute:host1",
                       priority="INFO", timestamp_ms=at, payload={"id": message_id}, top={"id": message_id},
                       exchange="nova")
    return Event(message_id=message_id, event_type=event_type, timestamp_ms=at, service="nova", host="host1",
                 priority="INFO", project_id=project, user_id="u1", request_id=request, global_request_id="",
                 resource_id=resource, resource_type="instance", traits={}, known=True, raw=raw)


def event_batch(index: int) -> EventBatch:
    return from_events([event(f"w-{index}-{k}", T0 + index * 1000 + k, project=f"p{index % 3}",
                              resource=f"vm-{(index + k) % 7}") for k in range(EVENTS)])


def log_lines(index: int) -> list[str]:
    return [f"2027-01-15 08:00:{index % 60:02d}.{k:03d} 7 INFO nova.compute.manager "
            f"[req-{index:08d}-2222-4333-8444-555555555555 u1 p{index % 3} - - -] writer line {index} {k}"
            for k in range(EVENTS)]


def main() -> None:
    settings = ClusterSettings(**orjson.loads(sys.argv[1]))
    data = Path(sys.argv[2])
    events = EventStore(data / "events", cluster=settings)
    logs = LogStore(data / "logs", cluster=settings)
    pipeline = LogPipeline()
    index = 0
    while True:
        events.add_batch(event_batch(index))
        logs.append(pipeline.process(log_lines(index), Source(service="nova", host="h1")), f"p{index % 3}")
        print(index, flush=True)
        index += 1
        if index % 10 == 0:
            events.table.flush()
            logs.table.flush()


if __name__ == "__main__":
    main()
