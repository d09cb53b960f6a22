"""The ``serve --demo`` simulated OpenStack cloud, so a newcomer sees live data at once.

This package owns the simulated cloud (``cloud``: hypervisors, instances, projects and
the monasca-agent-shaped metrics they produce), its settings (``config``) and the
loop that pushes those metrics through the server's own ``POST /v2.0/metrics``
(``pusher``). It never writes to the store directly: demo data takes the same HTTP
path, authentication and validation as a real agent's.

Started by the server, once it listens, as an asyncio task::

    stop = asyncio.Event()
    task = asyncio.create_task(run_demo("http://127.0.0.1:8070", token, DemoConfig(), stop))
    ...
    stop.set(); await task
"""

from nephoscope.demo.cloud import DemoCloud, Flavor, Hypervisor, Instance, Series
from nephoscope.demo.config import MAX_BATCH, DemoConfig
from nephoscope.demo.pusher import DemoPusher, DemoStats, run_demo

__all__ = [
    "MAX_BATCH",
    "DemoCloud",
    "DemoConfig",
    "DemoPusher",
    "DemoStats",
    "Flavor",
    "Hypervisor",
    "Instance",
    "Series",
    "run_demo",
]
