"""The API's own description: ``/openapi.json`` and the browsable ``/docs`` (Swagger UI).

Served here rather than by FastAPI's built-ins so that they too stand behind a policy rule
(``api:docs``, anyone by default: the document describes the API, not the data).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import Response

from nephoscope.api import responses
from nephoscope.api.security import open_to

router = APIRouter(include_in_schema=False, dependencies=[Depends(open_to("api:docs"))])


@router.get("/openapi.json")
async def openapi(request: Request) -> Response:
    return responses.json_response(request.app.openapi())


@router.get("/docs")
async def swagger_ui(request: Request) -> Response:
    return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{request.app.title} API")
