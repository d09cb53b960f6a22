"""The ``serve --demo`` simulated OpenStack cloud, so a newcomer sees live data at once.

This package owns the simulated cloud (``cloud``: hypervisors, instances, projects and
the monasca-agent-shaped metrics they produce), its plan (``config.DemoPlan``: size,
rhythm, batching) and the loop that pushes those metrics through the server's own
``POST /v2.0/metrics`` (``pusher``). It never writes to a store directly: demo data takes
the same HTTP path, authentication and validation as a real agent's, so it imports
nothing of the server (only httpx and its own modules).

Started by the server, once it listens, as an asyncio task::

    stop = asyncio.Event()
    task = asyncio.create_task(run_demo("http://127.0.0.1:8070", token, DemoPlan(), stop))
    ...
    stop.set(); await task
"""

from nephoscope.demo.cloud import DemoCloud, Flavor, Hypervisor, Instance, Series
from nephoscope.demo.config import MAX_BATCH, DemoPlan
from nephoscope.demo.pusher import DemoPusher, DemoStats, run_demo

__all__ = [
    "MAX_BATCH",
    "DemoCloud",
    "DemoPlan",
    "DemoPusher",
    "DemoStats",
    "Flavor",
    "Hypervisor",
    "Instance",
    "Series",
    "run_demo",
]
