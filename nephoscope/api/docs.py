"""The API's own description: ``/openapi.json`` and the browsable ``/docs`` (Swagger UI).

Served here rather than by FastAPI's built-ins so that they too stand behind a policy rule
(``api:docs``, anyone by default: the document describes the API, not the data), and so that
Swagger UI comes from the package (``swagger_ui/``): FastAPI's default page loads it from a CDN,
and on an air-gapped control plane that page stays blank. Its files (swagger-ui-dist 5.35.0,
Apache-2.0, ``swagger_ui/LICENSE.txt``) ship with Nephoscope, as the dashboard's uPlot does; the
page asks nothing of any other host.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, Response

from nephoscope.api import responses
from nephoscope.api.security import open_to

ASSETS = Path(__file__).resolve().parent / "swagger_ui"
SWAGGER_UI_VERSION = "5.35.0"
_MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                ".png": "image/png", ".txt": "text/plain; charset=utf-8"}
# The files change only with the package: a day in the cache, revalidated by ETag after.
_CACHE = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}

router = APIRouter(include_in_schema=False, dependencies=[Depends(open_to("api:docs"))])


@router.get("/openapi.json")
async def openapi(request: Request) -> Response:
    return responses.json_response(request.app.openapi())


@router.get("/docs")
async def swagger_ui() -> Response:
    return get_swagger_ui_html(
        openapi_url="/openapi.json", title="Nephoscope — API",
        swagger_js_url=f"/docs/static/swagger-ui-bundle.js?v={SWAGGER_UI_VERSION}",
        swagger_css_url=f"/docs/static/swagger-ui.css?v={SWAGGER_UI_VERSION}",
        swagger_favicon_url="/docs/static/favicon-32x32.png",
        # no validator badge: it would send the document to validator.swagger.io
        swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True})


@router.get("/docs/static/{name}")
async def asset(name: str) -> FileResponse:
    """One of Swagger UI's files; nothing outside the folder."""
    path = (ASSETS / name).resolve()
    if path.parent != ASSETS or not path.is_file():
        raise HTTPException(404, f"no documentation file {name!r}")
    return FileResponse(path, media_type=_MEDIA_TYPES.get(path.suffix, "application/octet-stream"), headers=_CACHE)
