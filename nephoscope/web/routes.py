"""Routes of the dashboard: ``/ui/`` (the page) and ``/ui/static/<file>`` (its assets).

No token needed while the policy rule ``api:dashboard`` allows anyone (its default): the files
hold no data. Every figure the page shows comes from the API, with the user's token.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, Depends
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, RedirectResponse, Response

STATIC_DIR = Path(__file__).resolve().parent / "static"

# Revalidate on every load (the ETag makes that cheap), so an upgraded server is never
# paired with a stale script in the browser's cache.
_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
_MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                ".html": "text/html; charset=utf-8", ".txt": "text/plain; charset=utf-8",
                ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon"}

# The page shows attacker-controlled text (event payloads, log lines): it is only ever set as text,
# and this policy makes sure nothing else could run even if it were not: scripts and styles from
# this server only, no inline script or style attributes, requests to this server only.
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
_PAGE_HEADERS = {**_HEADERS, "Content-Security-Policy": _CSP, "Referrer-Policy": "no-referrer",
                 "X-Frame-Options": "DENY"}

def build_router(guard: Callable[..., object]) -> APIRouter:
    """The dashboard's routes, each behind ``guard`` (the API's policy check for its files, given by
    the app so that this package needs nothing of the API)."""
    router = APIRouter(tags=["Dashboard"], include_in_schema=False, dependencies=[Depends(guard)])
    router.add_api_route("/ui", ui_redirect, methods=["GET"])
    router.add_api_route("/ui/", ui_index, methods=["GET"])
    router.add_api_route("/ui/static/{name:path}", ui_static, methods=["GET"])
    return router


async def ui_redirect() -> Response:
    return RedirectResponse("/ui/", status_code=307)


async def ui_index() -> Response:
    return FileResponse(STATIC_DIR / "index.html", media_type=_MEDIA_TYPES[".html"], headers=_PAGE_HEADERS)


async def ui_static(name: str) -> Response:
    """One file of ``static/``; anything outside it (``..``, absolute paths) is simply not found."""
    path = (STATIC_DIR / name).resolve()
    if not path.is_relative_to(STATIC_DIR) or not path.is_file():
        raise HTTPException(404, f"no dashboard file {name!r}")  # the API's error shape, as every 404
    media_type = _MEDIA_TYPES.get(path.suffix, "application/octet-stream")
    return FileResponse(path, media_type=media_type, headers=_HEADERS)
