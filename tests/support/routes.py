"""The application's routes and the policy rule each declares (read from the app, not from a server)."""

from __future__ import annotations

from fastapi.routing import APIRoute

from nephoscope.api.app import create_app
from nephoscope.config import Config


def app_routes() -> list[APIRoute]:
    """Every route the application serves, through included routers at any depth."""
    found = []

    def walk(routes: list) -> None:
        for route in routes:
            original = getattr(route, "original_router", None)
            if original is not None:
                walk(original.routes)
            elif isinstance(route, APIRoute):
                found.append(route)
            else:
                raise AssertionError(f"a route that is not an APIRoute cannot declare a rule: {route!r}")

    walk(create_app(Config()).routes)
    return found


def declared_rules(dependant) -> list[str]:  # noqa: ANN001 - fastapi's Dependant
    """The policy rules of a route's dependencies (``api.security.requires`` / ``open_to``)."""
    names = []
    for dependency in dependant.dependencies:
        rule = getattr(dependency.call, "policy_rule", None)
        if rule:
            names.append(rule)
        names += declared_rules(dependency)
    return names


def route_rules() -> dict[tuple[str, str], str]:
    """(method, path) -> the rule it declares (the first, when a route wrongly declares several)."""
    return {(method, route.path): (declared_rules(route.dependant) or [""])[0]
            for route in app_routes() for method in route.methods}
