"""The FastAPI application: routers, error shapes, and the server's lifecycle.

On start it opens the services (``server.services``: the store replays its WAL) and
starts the background tasks (``server.background``); on stop it ends the tasks and
closes the services so a clean shutdown leaves nothing to replay. Routing modules hold
no wiring: handlers get the services through ``api.deps.get_services``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI

from nephoscope import __version__
from nephoscope.api import docs, errors
from nephoscope.api.auditing import AuditChanges
from nephoscope.api.monasca import alarm_definitions, alarms, metrics, notification_methods, versions
from nephoscope.api.monasca import logs as monasca_logs
from nephoscope.api.native import admin, audit, auth, health, points, traces
from nephoscope.api.native import cluster as cluster_api
from nephoscope.api.native import events as events_api
from nephoscope.api.native import logs as logs_api
from nephoscope.api.prometheus import metadata as prometheus_metadata
from nephoscope.api.prometheus import otlp as otlp_api
from nephoscope.api.prometheus import query as prometheus_query
from nephoscope.api.prometheus import series as prometheus_series
from nephoscope.api.prometheus import status as prometheus_status
from nephoscope.api.prometheus import write as remote_write
from nephoscope.api.parameters import known_query_parameters
from nephoscope.config import Config
from nephoscope.notify import NotifySettings
from nephoscope.server.background import start_background
from nephoscope.server.services import close_services, open_services
from nephoscope.telemetry.requests import RequestStats, RequestTimingMiddleware
from nephoscope.api.security import open_to
from nephoscope.web import routes as web

log = logging.getLogger(__name__)

DESCRIPTION = """
Monitoring for large OpenStack clouds, API-compatible with **Monasca v2.0** (under `/v2.0`)
plus a native columnar API (under `/v1`) and Prometheus's query API with PromQL (under `/api/v1`).
Authenticate with the `X-Auth-Token` header: an API key from `nephoscope keys create`, or a
Keystone token when the server is connected to Keystone (`[auth] strategy = "keystone"`);
Prometheus-world clients may send `Authorization: Bearer <token>`. Every endpoint names its
oslo.policy rule; a refusal is 403 naming it.
"""


def create_app(config: Config, demo_token: str | None = None, notify_config: NotifySettings | None = None) -> FastAPI:
    stats = RequestStats()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await open_services(config, notify_config, stats)
        app.state.services = services
        stop = asyncio.Event()
        tasks = start_background(services, stop, demo_token)
        app.state.ready = True
        try:
            yield
        finally:
            app.state.ready = False
            stop.set()
            for task in tasks:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(task, timeout=10)
            await close_services(services)

    app = FastAPI(title="Nephoscope", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, openapi_url=None, redoc_url=None)  # served by api.docs, behind a rule
    app.state.ready = False
    errors.install(app, config.limits.retry_after_seconds)
    # Routes are tried in order: the ingest endpoints, called thousands of times a second, come first.
    # Every native and Monasca route refuses query parameters it does not read (api.parameters);
    # Prometheus's API ignores unknown ones, as Prometheus does (Grafana sends its own); the
    # dashboard's files are not an API.
    strict = [Depends(known_query_parameters)]
    for router in (metrics.router, points.router):
        app.include_router(router, dependencies=strict)
    for router in (remote_write.router, otlp_api.router):
        app.include_router(router)
    for router in (versions.router, health.router, alarm_definitions.router, alarms.router,
                   notification_methods.router, notification_methods.deliveries_router, events_api.router,
                   monasca_logs.router, logs_api.router, traces.router, admin.router, audit.router, auth.router,
                   cluster_api.router):
        app.include_router(router, dependencies=strict)
    for router in (prometheus_query.router, prometheus_series.router, prometheus_status.router,
                   prometheus_metadata.router, docs.router, web.build_router(open_to("api:dashboard"))):
        app.include_router(router)
    app.add_middleware(AuditChanges)  # inside the timing: a change's time includes its audit record
    app.add_middleware(RequestTimingMiddleware, stats=stats)
    return app
