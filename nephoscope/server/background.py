"""The work the server runs beside the API, as asyncio tasks that end when ``stop`` is set.

Lifecycle metrics from events, log retention and maintenance, writing the refused requests
counted in the last second to the audit trail, the syslog listener, the
self-metrics sampler (with every service's own gauges) and, with ``--demo``, the simulated
cloud that pushes through the server's own HTTP API.
"""

from __future__ import annotations

import asyncio

from nephoscope.logs.server.syslog import serve_syslog
from nephoscope.periodic import every
from nephoscope.server.services import Services
from nephoscope.telemetry.collector import SelfMetrics


def _gauges(services: Services) -> list:
    def deliveries() -> dict[str, float]:
        counters = services.notifications.stats()
        return {"nephoscope.notify.delivered": counters.delivered,
                "nephoscope.notify.failed_attempts": counters.failed_attempts,
                "nephoscope.notify.dead_letters": counters.dead_letters,
                "nephoscope.notify.queue_depth": counters.queue_depth}

    def alarms() -> dict[str, float]:
        return {f"nephoscope.alarms.{name}": value for name, value in services.alarm_status().items()}

    def events() -> dict[str, float]:
        return {f"nephoscope.events.{name}": value for name, value in services.events.stats().items()
                if isinstance(value, (int, float))}

    return [deliveries, alarms, events]


def start_background(services: Services, stop: asyncio.Event, demo_token: str | None = None) -> list[asyncio.Task]:
    config = services.config
    tasks = [asyncio.create_task(services.events.run_periodic(services.metrics, stop)),
             asyncio.create_task(services.logs.run_periodic(stop)),
             asyncio.create_task(every(1.0, stop, services.audit.flush, "audit: refused requests"))]
    settings = config.logs
    if settings.syslog_tcp_port or settings.syslog_udp_port:
        tasks.append(asyncio.create_task(serve_syslog(services.logs.ingest, settings.syslog_project,
                                                      settings.syslog_host, settings.syslog_tcp_port,
                                                      settings.syslog_udp_port, stop)))
    if config.telemetry.enabled:
        collector = SelfMetrics(services.metrics, services.request_stats, config.server.region, _gauges(services))
        tasks.append(asyncio.create_task(every(config.telemetry.interval, stop, collector.record, "self-metrics")))
    if config.demo.enabled and demo_token:
        from nephoscope.demo import DemoPlan, run_demo

        demo = DemoPlan.from_settings(config.demo, region=config.server.region)
        host = "127.0.0.1" if config.server.host in ("0.0.0.0", "::") else config.server.host
        tasks.append(asyncio.create_task(run_demo(f"http://{host}:{config.server.port}", demo_token, demo, stop)))
    return tasks
