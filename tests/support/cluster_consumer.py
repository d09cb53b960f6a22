"""A RabbitMQ consumer node of a cluster, to run two side by side and kill one -9.

``python -m tests.support.cluster_consumer SETTINGS_JSON BROKER_JSON DATA_DIR`` runs an
``EventService`` whose consumer (in process: ``workers=0``) reads the broker's queues and stores into
the clustered events store (owning no partition: it writes no Parquet file, the stream keeps
everything), prints ``ready`` once its queues are declared and consumed, then runs until killed.
Two of them on the same broker settings share the same queues: competing consumers.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import orjson

from nephoscope.config import ClusterSettings
from nephoscope.events.consumer import BrokerSettings
from nephoscope.events.service import EventService


async def main() -> None:
    settings = ClusterSettings(**orjson.loads(sys.argv[1]))
    broker = BrokerSettings(**orjson.loads(sys.argv[2]))
    service = EventService(Path(sys.argv[3]), [broker], workers=0, cluster=settings, owned_partitions=tuple)
    await service.start()
    if not await asyncio.to_thread(service.wait_connected, 30):
        raise SystemExit("the consumer did not connect within 30 s")
    print("ready", flush=True)
    await asyncio.to_thread(threading.Event().wait)


if __name__ == "__main__":
    asyncio.run(main())
