"""Admin endpoints: API keys, store maintenance, the status of the alarm engine and the events
pipeline (each behind its ``api:keys:*`` or ``api:admin:*`` rule)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from nephoscope.api import responses
from nephoscope.api.deps import get_services
from nephoscope.api.errors import ApiError, unprocessable
from nephoscope.api.security import requires
from nephoscope.auth.keys import ROLES, KeyError_, KeyRecord
from nephoscope.server.services import Services
from nephoscope.tenancy import Principal

router = APIRouter(prefix="/v1", tags=["Administration"])


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project: str = Field(min_length=1, max_length=255, description="the project (tenant) id the key acts for")
    roles: list[str] = Field(min_length=1, description=f"any of {', '.join(sorted(ROLES))}")
    description: str = Field("", max_length=255)


def _key(record: KeyRecord) -> dict:
    return {"id": record.id, "project": record.project, "roles": list(record.roles),
            "description": record.description, "created_at": record.created_at, "revoked_at": record.revoked_at}


@router.get("/keys", summary="List API keys")
async def list_keys(request: Request, include_revoked: bool = False,
                    _: Principal = Depends(requires("api:keys:list")),
                    services: Services = Depends(get_services)) -> Response:
    keys = services.keys.list(include_revoked)
    return responses.json_response({"elements": [_key(k) for k in keys]})


@router.post("/keys", status_code=201, summary="Create an API key (the token is shown once)")
async def create_key(request: Request, body: KeyRequest, _: Principal = Depends(requires("api:keys:create")),
                     services: Services = Depends(get_services)) -> Response:
    try:
        record, token = services.keys.create(body.project, body.roles, body.description)
    except KeyError_ as error:
        raise unprocessable(str(error), "roles") from None
    return responses.json_response({**_key(record), "token": token}, status=201)


@router.delete("/keys/{key_id}", status_code=204, summary="Revoke an API key")
async def revoke_key(request: Request, key_id: str, _: Principal = Depends(requires("api:keys:revoke")),
                     services: Services = Depends(get_services)) -> Response:
    if not services.keys.revoke(key_id):
        raise ApiError(404, f"no active key with id {key_id}")
    return Response(status_code=204)


@router.post("/admin/compact", summary="Flush and compact everything now (benchmarks, maintenance)")
async def compact(request: Request, _: Principal = Depends(requires("api:admin:compact")),
                  services: Services = Depends(get_services)) -> Response:
    return responses.json_response(await run_in_threadpool(services.metrics.compact, True))


@router.get("/admin/storage", summary="Where the disk goes: bytes and points per resolution, file sizes")
async def storage(request: Request, _: Principal = Depends(requires("api:admin:storage")),
                  services: Services = Depends(get_services)) -> Response:
    return responses.json_response(await run_in_threadpool(services.metrics.storage_report))


@router.get("/admin/alarm-engine", summary="The alarm engine: instances, routes, backlog, dropped points, CPU time")
async def alarm_engine(request: Request, _: Principal = Depends(requires("api:admin:alarm_engine")),
                       services: Services = Depends(get_services)) -> Response:
    return responses.json_response(services.alarm_status())


@router.get("/admin/events", summary="The events pipeline: consumers per broker, stored, duplicates, parts")
async def events_status(request: Request, _: Principal = Depends(requires("api:admin:events")),
                        services: Services = Depends(get_services)) -> Response:
    return responses.json_response(await run_in_threadpool(services.events.stats))
