"""Authentication for every endpoint: a token to a principal, or 401.

The token is the ``X-Auth-Token`` header (Monasca's clients, Keystone tokens), or, for the
Prometheus world's clients, which speak standard HTTP authentication, ``Authorization: Bearer
<token>`` (Prometheus's ``authorization``/``bearer_token``, OpenTelemetry exporters) or
``Authorization: Basic`` with the token as the password (Prometheus's ``basic_auth``, Grafana,
Ceilometer's ``http://user:token@host`` publisher URLs).
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

_token_header = APIKeyHeader(name="X-Auth-Token", auto_error=False,
                             description="An API key (or Keystone token); Authorization: Bearer or Basic "
                                         "(the token as password) work too")


def _unauthorized(reason: str) -> ApiError:
    return ApiError(401, reason, "Unauthorized", headers={"WWW-Authenticate": "Token"})


def _authorization_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip() or None
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _unauthorized("the Authorization header's Basic credentials are not base64 of user:password") \
                from None
        return password or user or None
    return None


def authenticated(request: Request, token: str | None = Depends(_token_header),
                  services: Services = Depends(get_services)) -> Principal:
    token = token or _authorization_token(request.headers.get("authorization"))
    if not token:
        raise _unauthorized("the X-Auth-Token header is missing (or use Authorization: Bearer <token>)")
    principal = services.authenticator.authenticate(token)
    if principal is None:
        raise _unauthorized("the token is not valid (unknown or revoked)")
    request.state.principal = principal
    return principal


def allowed(action: Action):  # noqa: ANN201 - a FastAPI dependency
    async def dependency(principal: Principal = Depends(authenticated)) -> Principal:
        authorize(principal, action)
        return principal

    return dependency
