"""The FastAPI application: routers, error shapes, and the server's lifecycle.

On start it opens the key store and the store (replaying the WAL), then starts the
self-metrics task and, with ``--demo``, the simulated cloud; on stop it flushes and
closes everything so a clean shutdown leaves nothing to replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from nephoscope import __version__
from nephoscope.alarms.definitions import DefinitionStore
from nephoscope.alarms.engine import AlarmEngine
from nephoscope.api import errors
from nephoscope.api.monasca import alarm_definitions, alarms, metrics, notification_methods, versions
from nephoscope.api.monasca import logs as monasca_logs
from nephoscope.api.native import admin, health, points, traces
from nephoscope.api.native import events as events_api
from nephoscope.api.native import logs as logs_api
from nephoscope.auth.keys import KeyStore
from nephoscope.auth.tokens import KeyAuthenticator
from nephoscope.config import Config
from nephoscope.events.service import EventService, brokers
from nephoscope.logs.server.service import LogService
from nephoscope.logs.server.syslog import serve_syslog
from nephoscope.notify import NotificationService, NotifyConfig
from nephoscope.periodic import every
from nephoscope.store.engine import Store
from nephoscope.telemetry.collector import SelfMetrics
from nephoscope.telemetry.requests import RequestStats, RequestTimingMiddleware
from nephoscope.web import routes as web

log = logging.getLogger(__name__)

DESCRIPTION = """
Monitoring for large OpenStack clouds, API-compatible with **Monasca v2.0** (under `/v2.0`)
plus a native columnar API (under `/v1`). Authenticate with the `X-Auth-Token` header
(an API key from `nephoscope keys create`).
"""


def _delivery_gauges(notifications: NotificationService) -> dict[str, float]:
    counters = notifications.stats()
    return {"nephoscope.notify.delivered": counters.delivered,
            "nephoscope.notify.failed_attempts": counters.failed_attempts,
            "nephoscope.notify.dead_letters": counters.dead_letters,
            "nephoscope.notify.queue_depth": counters.queue_depth}


def _alarm_gauges(engine: AlarmEngine) -> dict[str, float]:
    return {f"nephoscope.alarms.{name}": value for name, value in engine.status().items()}


def _event_gauges(events: EventService) -> dict[str, float]:
    return {f"nephoscope.events.{name}": value for name, value in events.stats().items()
            if isinstance(value, (int, float))}


def create_app(config: Config, demo_token: str | None = None, notify_config: NotifyConfig | None = None) -> FastAPI:
    stats = RequestStats()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        keys = KeyStore(config.data_path)
        app.state.keys = keys
        app.state.authenticator = KeyAuthenticator(keys, config.auth.admin_token)
        store = Store(config)
        await asyncio.to_thread(store.open)
        app.state.store = store
        notifications = NotificationService(config.data_path, notify_config or config.notify)
        await notifications.start()
        app.state.notifications = notifications
        app.state.definitions = DefinitionStore(config.data_path)
        engine = AlarmEngine(store, app.state.definitions, notifications.outbox, config.alarms)
        await asyncio.to_thread(engine.start)
        app.state.alarm_engine = engine
        events = EventService(config.data_path, brokers(config.rabbitmq), config.events, config.rabbitmq.workers,
                              config.server.region)
        await events.start()
        app.state.events = events
        logs = LogService(config.data_path, config.logs, store, config.server.region, events.store.add_log_failures,
                          events.store.owned_resources)
        app.state.logs = logs
        app.state.notification_method_exists = (
            lambda tenant, method_id: notifications.methods.get(tenant, method_id) is not None)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(events.run_periodic(store, stop)), asyncio.create_task(logs.run_periodic(stop))]
        settings = config.logs
        if settings.syslog_tcp_port or settings.syslog_udp_port:
            tasks.append(asyncio.create_task(serve_syslog(logs.ingest, settings.syslog_project, settings.syslog_host,
                                                          settings.syslog_tcp_port, settings.syslog_udp_port, stop)))
        if config.telemetry.enabled:
            collector = SelfMetrics(store, stats, config.server.region,
                                    [lambda: _delivery_gauges(notifications), lambda: _alarm_gauges(engine),
                                     lambda: _event_gauges(events)])
            tasks.append(asyncio.create_task(every(config.telemetry.interval, stop, collector.record, "self-metrics")))
        if config.demo.enabled and demo_token:
            from nephoscope.demo import DemoConfig, run_demo

            demo = DemoConfig.from_settings(config.demo, region=config.server.region)
            host = "127.0.0.1" if config.server.host in ("0.0.0.0", "::") else config.server.host
            tasks.append(asyncio.create_task(run_demo(f"http://{host}:{config.server.port}", demo_token, demo, stop)))
        app.state.ready = True
        try:
            yield
        finally:
            app.state.ready = False
            stop.set()
            for task in tasks:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(task, timeout=10)
            await events.stop()
            await asyncio.to_thread(logs.close)
            await asyncio.to_thread(engine.stop)
            await notifications.stop()
            await asyncio.to_thread(store.close)

    app = FastAPI(title="Nephoscope", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url="/docs", openapi_url="/openapi.json", redoc_url=None)
    app.state.config = config
    app.state.ready = False
    errors.install(app, config.limits.retry_after_seconds)
    for router in (versions.router, health.router, metrics.router, alarm_definitions.router, alarms.router,
                   notification_methods.router, notification_methods.deliveries_router, points.router, events_api.router,
                   monasca_logs.router, logs_api.router, traces.router, admin.router,
                   web.router):
        app.include_router(router)
    app.add_middleware(RequestTimingMiddleware, stats=stats)
    return app
