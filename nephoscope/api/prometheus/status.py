"""``/api/v1/status/buildinfo``, ``/api/v1/status/runtimeinfo``, ``/api/v1/targets`` and
``/api/v1/format_query``.

``buildinfo`` reports the Prometheus version whose PromQL Nephoscope follows (2.42), so clients that
switch features on versions (Grafana) see what is there; ``application`` says who answers. Targets
are derived from what arrives (``metrics.promql.targets``).
"""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timezone

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from nephoscope import __version__
from nephoscope.api.deps import get_services
from nephoscope.api.prometheus import params, responses
from nephoscope.api.security import requires
from nephoscope.metrics.promql import format_query, targets
from nephoscope.metrics.promql.selectors import Budget, SeriesSource
from nephoscope.server.services import Services
from nephoscope.tenancy import Principal

router = APIRouter(prefix="/api/v1", tags=["Prometheus query API"])
PROMQL_VERSION = "2.42.0"
_STARTED = datetime.now(timezone.utc)


@router.get("/status/buildinfo", summary="Build information")
async def buildinfo(_: Principal = Depends(requires("telemetry:query"))) -> Response:
    return responses.success({"version": PROMQL_VERSION, "revision": "", "branch": "", "buildUser": "",
                              "buildDate": "", "goVersion": "", "application": "nephoscope",
                              "nephoscopeVersion": __version__})


@router.get("/status/runtimeinfo", summary="Runtime information")
async def runtimeinfo(_: Principal = Depends(requires("telemetry:query")),
                      services: Services = Depends(get_services)) -> Response:
    raw = min(policy.raw for policy in services.config.store.policies)
    return responses.success({
        "startTime": _STARTED.isoformat().replace("+00:00", "Z"), "CWD": os.getcwd(), "reloadConfigSuccess": True,
        "lastConfigTime": _STARTED.isoformat().replace("+00:00", "Z"), "corruptionCount": 0,
        "goroutineCount": threading.active_count(), "GOMAXPROCS": os.cpu_count() or 1, "GOMEMLIMIT": 0, "GOGC": "",
        "GODEBUG": "", "storageRetention": f"{raw // 3600}h"})


@router.get("/targets", summary="Active targets: remote-writing Prometheus targets and agents")
async def active_targets(request: Request, principal: Principal = Depends(requires("telemetry:query")),
                         services: Services = Depends(get_services)) -> Response:
    state = request.query_params.get("state", "any")
    if state not in ("active", "dropped", "any"):
        raise params.invalid("state", 'must be "active", "dropped" or "any"')
    settings = services.config.prometheus
    source = SeriesSource(services.store, services.policy.query_scope(principal),
                          Budget(settings.max_samples, time.monotonic() + settings.query_timeout))
    active = [] if state == "dropped" else await run_in_threadpool(
        targets.active_targets, source, int(settings.targets_window * 1000))
    return responses.success({"activeTargets": active, "droppedTargets": []})


@router.api_route("/format_query", methods=["GET", "POST"], summary="Format a PromQL expression")
async def format_expression(request: Request, _: Principal = Depends(requires("telemetry:query")),
                            services: Services = Depends(get_services)) -> Response:
    found = await params.parameters(request, services.config.limits.max_body_bytes)
    return responses.success(format_query(found.get("query") or ""))
