"""Authentication for every endpoint: ``X-Auth-Token`` to a principal, or 401.

Clients that cannot set that header (Grafana's Prometheus datasource, Prometheus's own remote
write) may send the same token as ``Authorization: Bearer <token>``, or as the password of HTTP
basic authentication (any user name).
"""

from __future__ import annotations

import base64
import binascii

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from nephoscope.api.deps import get_services
from nephoscope.api.errors import ApiError
from nephoscope.auth.policy import Action, authorize
from nephoscope.server.services import Services
from nephoscope.tenancy import Principal

_token_header = APIKeyHeader(name="X-Auth-Token", auto_error=False, description="An API key (or Keystone token)")


def _authorization_token(header: str | None) -> str | None:
    """The token of an ``Authorization`` header: a bearer token, or a basic-auth password."""
    scheme, _, credentials = (header or "").strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return credentials or None
    if scheme.lower() == "basic":
        try:
            _user, _, password = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return password or None
    return None


def authenticated(request: Request, token: str | None = Depends(_token_header),
                  services: Services = Depends(get_services)) -> Principal:
    token = token or _authorization_token(request.headers.get("authorization"))
    if not token:
        raise ApiError(401, "the X-Auth-Token header is missing", "Unauthorized",
                       headers={"WWW-Authenticate": "Token"})
    principal = services.authenticator.authenticate(token)
    if principal is None:
        raise ApiError(401, "the token is not valid (unknown or revoked)", "Unauthorized",
                       headers={"WWW-Authenticate": "Token"})
    request.state.principal = principal
    return principal


def allowed(action: Action):  # noqa: ANN201 - a FastAPI dependency
    def dependency(principal: Principal = Depends(authenticated)) -> Principal:
        authorize(principal, action)
        return principal

    return dependency
