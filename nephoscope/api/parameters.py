"""The query parameters each route takes: any other answers 422 naming it and what the route takes.

A misspelt parameter must not pass for a missing one (``sevrity=HIGH`` listing every severity,
``since=...`` searching all time). One application-wide dependency (``known_query_parameters``)
compares a request's parameters with what its route reads: the parameters its handler and
dependencies declare (FastAPI's ``route.dependant``), plus those a handler reads from
``request.query_params`` itself, declared on the route with ``taking(...)`` — which also documents
them in ``/openapi.json``, so the allow-list and the documentation are one list.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from nephoscope.api.errors import unprocessable
from nephoscope.errors import unknown_names

TenantId = Annotated[str | None, Query(description=(
    "one project: another project for delegates, any project for admins, who read every project without it"))]
"""``tenant_id`` of the native ``/v1`` reads (``auth.policy.native_read_scope``)."""

_KNOWN: dict[int, frozenset[str]] = {}  # id(route) -> names (routes live as long as the app)


def taking(*names: str, **described: str) -> dict:
    """``openapi_extra`` declaring query parameters a handler reads itself (``request.query_params``):
    each a string, ``described`` ones with a description. Merge it with other ``openapi_extra`` keys."""
    parameters = [{"name": name, "in": "query", "required": False, "schema": {"type": "string"},
                   **({"description": described[name]} if name in described else {})}
                  for name in (*names, *(n for n in described if n not in names))]
    return {"parameters": parameters}


def _declared(dependant: Dependant) -> Iterable[str]:
    for field in dependant.query_params:
        yield field.alias
    for sub in dependant.dependencies:
        yield from _declared(sub)


def _known(route: APIRoute) -> frozenset[str]:
    names = _KNOWN.get(id(route))
    if names is None:
        extra = (route.openapi_extra or {}).get("parameters", [])
        names = frozenset(_declared(route.dependant)) | {p["name"] for p in extra if p.get("in") == "query"}
        _KNOWN[id(route)] = names
    return names


async def known_query_parameters(request: Request) -> None:
    """422 for a query parameter the route does not read (installed on the whole application)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    problem = unknown_names("query parameter", request.query_params.keys(), _known(route))
    if problem:
        first = next(name for name in request.query_params.keys() if name not in _known(route))
        raise unprocessable(f"{problem} ({request.method} {route.path})", first)
