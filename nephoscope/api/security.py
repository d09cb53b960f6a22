"""Authentication and authorization of every endpoint, in one dependency per endpoint.

``requires("api:metrics:get")``: the ``X-Auth-Token`` (an API key or a Keystone token) becomes a
principal through the services' authenticator, then the policy rule is enforced; the handler
receives the principal. ``open_to("api:healthcheck")``: for endpoints that need no token while
the rule allows anyone (``"@"``); an operator who tightens the rule makes them ask for one.
Refusals raise ``auth.tokens.Unauthenticated`` (401, with why: missing, invalid, expired,
revoked), ``auth.tokens.IdentityUnavailable`` (503) or ``auth.policy.Denied`` (403, naming the
rule); ``api.errors`` turns them into answers. Headers a client may send about itself
(``X-Roles``, ``X-Tenant-Id``, ``X-Project-Id``, ``X-User-Id``...) are never read: who the
caller is comes from the token alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool

from nephoscope.api.deps import get_services, services_if_started
from nephoscope.auth.tokens import MISSING, Unauthenticated
from nephoscope.server.services import Services
from nephoscope.tenancy import Principal

_token_header = APIKeyHeader(name="X-Auth-Token", auto_error=False,
                             description="An API key (nps_...) or a Keystone token")


def authenticated(request: Request, token: str | None = Depends(_token_header),
                  services: Services = Depends(get_services)) -> Principal:
    """The caller's principal (a sync dependency: FastAPI runs it in a worker thread, so a Keystone
    round trip never blocks the event loop)."""
    if not token:
        raise Unauthenticated(MISSING, "the X-Auth-Token header is missing")
    principal = services.authenticator.authenticate(token)
    request.state.principal = principal
    return principal


def requires(rule: str) -> Callable[..., Awaitable[Principal]]:
    """The dependency of an endpoint guarded by ``rule``: its principal, or a refusal. The decision
    is memoized (``auth.policy``): it runs on the event loop, only authentication takes a thread."""
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
        principal = await run_in_threadpool(authenticated, request, token, services)
        services.policy.enforce(rule, principal)
        return principal

    dependency.policy_rule = rule
    return dependency
