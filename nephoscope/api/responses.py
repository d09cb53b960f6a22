"""JSON answers (orjson, UTF-8 without escaping, as Monasca's ensure_ascii=False) and Monasca links."""

from __future__ import annotations

from urllib.parse import urlencode

import orjson
from fastapi import Request
from starlette.responses import Response


def json_response(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status,
                    media_type="application/json", headers=headers)


def base_url(request: Request, public_url: str) -> str:
    """Where links start: the configured public URL (``server.public_url``), else the request's own."""
    return (public_url or str(request.base_url)).rstrip("/")


def self_url(request: Request) -> str:
    return str(request.url)


def next_url(request: Request, offset: str) -> str:
    parameters = [(k, v) for k, v in request.query_params.multi_items() if k != "offset"]
    parameters.append(("offset", offset))
    return str(request.url.replace(query=urlencode(parameters)))


def page(request: Request, elements: list, next_offset: str | None) -> Response:
    """Monasca's list envelope: ``links`` (self, and next when more exist) and ``elements``."""
    links = [{"rel": "self", "href": self_url(request)}]
    if next_offset is not None:
        links.append({"rel": "next", "href": next_url(request, next_offset)})
    return json_response({"links": links, "elements": elements})
