"""Between the nodes of a cluster: a querier asks an ingester for what its heads hold.

``POST /v1/cluster/heads`` takes a ``HeadQuery`` (JSON) and answers in the cluster store's heads
wire format (length-prefixed Arrow IPC sections); behind ``api:cluster:heads`` (the admin token, or
a key with the admin or service role). Thin: the store decodes, answers and encodes.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from nephoscope.api.deps import get_services
from nephoscope.api.errors import ApiError
from nephoscope.api.security import requires
from nephoscope.metrics.store import HeadServer
from nephoscope.server.services import Services
from nephoscope.tenancy import Principal

router = APIRouter(prefix="/v1/cluster", tags=["Cluster"], include_in_schema=False)

MEDIA_TYPE = "application/vnd.nephoscope.heads"


@router.post("/heads", summary="An ingester's unflushed points, for a querier")
async def heads(request: Request, _: Principal = Depends(requires("api:cluster:heads")),
                services: Services = Depends(get_services)) -> Response:
    store = services.store
    if not isinstance(store, HeadServer) or "ingester" not in services.roles:
        raise ApiError(404, "this node is not a cluster ingester")
    body = await request.body()
    return Response(await run_in_threadpool(store.heads_answer, body), media_type=MEDIA_TYPE)
