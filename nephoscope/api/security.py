"""Authentication and authorization of every endpoint, in one dependency per endpoint.

``requires("api:metrics:get")``: the token becomes a principal through the services'
authenticator, then the policy rule is enforced; the handler receives the principal.
``open_to("api:healthcheck")``: for endpoints that need no token while the rule allows anyone
(``"@"``); an operator who tightens the rule makes them ask for one.

The token is the ``X-Auth-Token`` header (an API key or a Keystone token: Monasca's clients), or,
for the Prometheus world's clients, which speak standard HTTP authentication, ``Authorization:
Bearer <token>`` (Prometheus's ``authorization``/``bearer_token``, OpenTelemetry exporters) or
``Authorization: Basic`` with the token as the password (Prometheus's ``basic_auth``, Grafana,
Ceilometer's ``http://user:token@host`` publisher URLs).

Refusals raise ``auth.tokens.Unauthenticated`` (401, with why: missing, invalid, expired,
revoked), ``auth.tokens.IdentityUnavailable`` (503) or ``auth.policy.Denied`` (403, naming the
rule); ``api.errors`` turns them into answers. Headers a client may send about itself
(``X-Roles``, ``X-Tenant-Id``, ``X-Project-Id``, ``X-User-Id``...) are never read: who the
caller is comes from the token alone.

Everything runs on the event loop but a token the authenticator cannot answer from memory (a
Keystone round trip), which takes a worker thread: a thread hop per request cost ingest about a
tenth of its CPU.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool

from nephoscope.api.deps import get_services, services_if_started
from nephoscope.auth.tokens import INVALID, MISSING, Unauthenticated
from nephoscope.server.services import Services
from nephoscope.tenancy import Principal

_token_header = APIKeyHeader(name="X-Auth-Token", auto_error=False,
                             description="An API key (nps_...) or a Keystone token; Authorization: Bearer or "
                                         "Basic (the token as password) work too")


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
            raise Unauthenticated(INVALID, "the Authorization header's Basic credentials are not base64 of "
                                           "user:password") from None
        return password or user or None
    return None


async def authenticated(request: Request, token: str | None = Depends(_token_header),
                        services: Services = Depends(get_services)) -> Principal:
    """The caller's principal: from memory when the authenticator can answer so (API keys, a
    Keystone token validated recently), else in a worker thread (a Keystone round trip)."""
    token = token or _authorization_token(request.headers.get("authorization"))
    if not token:
        raise Unauthenticated(MISSING, "the X-Auth-Token header is missing (or use Authorization: Bearer <token>)")
    principal = services.authenticator.cached(token)
    if principal is None:
        principal = await run_in_threadpool(services.authenticator.authenticate, token)
    request.state.principal = principal
    return principal


def requires(rule: str) -> Callable[..., Awaitable[Principal]]:
    """The dependency of an endpoint guarded by ``rule``: its principal, or a refusal. The decision
    is memoized (``auth.policy``)."""
    async def dependency(principal: Principal = Depends(authenticated),
                         services: Services = Depends(get_services)) -> Principal:
        services.policy.enforce(rule, principal)
        return principal

    dependency.policy_rule = rule  # read by the test that every route declares a rule
    return dependency


def open_to(rule: str) -> Callable[..., Awaitable[Principal | None]]:
    """The dependency of an endpoint that needs no token while ``rule`` allows anyone."""
    async def dependency(request: Request, token: str | None = Depends(_token_header),
                         services: Services | None = Depends(services_if_started)) -> Principal | None:
        if services is None or services.policy.allows(rule, None):
            return None  # (no services yet: the server is starting and serves no data)
        principal = await authenticated(request, token, services)
        services.policy.enforce(rule, principal)
        return principal

    dependency.policy_rule = rule
    return dependency
