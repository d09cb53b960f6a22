"""Monasca's version documents: ``GET /`` lists versions, ``GET /v2.0`` describes v2.0."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from nephoscope.api import responses
from nephoscope.api.security import requires

router = APIRouter(tags=["Versions"])
_UPDATED = "2014-07-18T03:25:02.423Z"


def _version(base: str) -> dict:
    return {"id": "v2.0", "links": [{"rel": "self", "href": base + "v2.0"}], "status": "CURRENT", "updated": _UPDATED}


@router.get("/", summary="API versions")
async def versions(request: Request, _=Depends(requires("api:versions"))) -> Response:  # noqa: ANN001
    base = str(request.base_url)
    return responses.json_response({"links": [{"rel": "self", "href": base}], "elements": [_version(base)]})


@router.get("/v2.0", summary="The v2.0 version document")
@router.get("/v2.0/", include_in_schema=False)
async def version(request: Request, _=Depends(requires("api:versions"))) -> Response:  # noqa: ANN001
    return responses.json_response(_version(str(request.base_url)))
