"""The ``serve --demo`` simulated OpenStack cloud, so a newcomer sees every part of the product at once.

This package owns the simulated cloud: its inventory and the monasca-agent-shaped metrics it
produces (``cloud``), what its services — nova, neutron, cinder, glance, keystone — log and notify
as its users boot, resize and delete instances, attach volumes and fail (``story``, written as
oslo.log writes lines: ``oslo``; and as oslo.messaging sends notifications: ``notifications``, with
nova's published samples in ``data/``), its plan (``config.DemoPlan``) and the loop that sends it
all through the server's own API as agents and services would (``pusher``: ``POST /v2.0/metrics``,
``POST /v3.0/logs``, ``POST /v1/events``). It never writes to a store directly: demo data takes the
same HTTP path, authentication and validation as real data, so it imports nothing of the server
(only httpx and its own modules).

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
