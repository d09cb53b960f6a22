"""Who the caller is and how to log in: ``GET /v1/whoami``, ``GET /v1/auth/info``, ``POST /v1/auth/tokens``.

The dashboard cannot talk to Keystone itself (another origin, and its page allows requests to
this server only): ``/v1/auth/info`` tells it which login form to show, and ``/v1/auth/tokens``
takes a Keystone user name, password and project (as Horizon asks for them), gets a
project-scoped token from Keystone with keystoneauth's password plugin and answers the token
and its expiry; the page then sends it as ``X-Auth-Token`` like any client. The password only
passes through: it is sent to Keystone and forgotten.
"""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from nephoscope.api import responses
from nephoscope.api.deps import get_services
from nephoscope.api.errors import ApiError
from nephoscope.api.security import open_to, requires
from nephoscope.auth.keystone import LoginRefused, login
from nephoscope.auth.tokens import INVALID, Unauthenticated
from nephoscope.server.services import Services
from nephoscope.tenancy import Principal

router = APIRouter(prefix="/v1", tags=["Authentication"])


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def describe(principal: Principal, services: Services) -> dict:
    """A principal as the API shows it: who, which project, which roles, what it may do."""
    policy = services.policy
    return {"project": principal.project, "project_name": principal.project_name or None,
            "roles": sorted(principal.roles), "user_id": principal.user_id or None,
            "user": principal.user_name or None, "domain": principal.domain or None,
            "key_id": principal.key_id or None, "issuer": principal.issuer, "expires_at": _iso(principal.expires_at),
            "admin": policy.may_read_all(principal), "delegate": policy.may_delegate(principal)}


@router.get("/whoami", summary="Who the calling token is: project, roles, user, and what it may do")
async def whoami(principal: Principal = Depends(requires("api:whoami")),
                 services: Services = Depends(get_services)) -> Response:
    """``admin``: it may read every project (``tenant_id=*``); ``delegate``: it may act for another
    project with ``tenant_id`` — so a client need not probe with a request that would be refused."""
    return responses.json_response(describe(principal, services))


@router.get("/auth/info", summary="How to log in: API keys only, or Keystone users too (no token needed)")
async def auth_info(_: Principal | None = Depends(open_to("api:auth:info")),
                    services: Services = Depends(get_services)) -> Response:
    config = services.config
    answer: dict = {"strategy": config.auth.strategy, "keystone": None}
    if config.auth.strategy == "keystone":
        keystone = config.keystone_authtoken
        answer["keystone"] = {"auth_url": keystone.www_authenticate_uri or keystone.auth_url,
                              "default_domain": "Default"}
    return responses.json_response(answer)


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=255, description="the Keystone user name")
    password: str = Field(min_length=1, max_length=4096)
    project: str = Field(min_length=1, max_length=255, description="the project (name) to work in")
    domain: str = Field("Default", min_length=1, max_length=255, description="the user's domain")
    project_domain: str | None = Field(None, min_length=1, max_length=255,
                                       description="the project's domain (default: the user's)")


@router.post("/auth/tokens", status_code=201, summary="Log in with a Keystone user: a project-scoped token")
async def create_token(body: LoginRequest, _: Principal | None = Depends(open_to("api:auth:login")),
                       services: Services = Depends(get_services)) -> Response:
    """Answers ``{"token", "expires_at", ...}`` (also in ``X-Subject-Token``, as Keystone does); send the
    token as ``X-Auth-Token``. 401 when Keystone refuses the user, password or project."""
    config = services.config
    if config.auth.strategy != "keystone":
        raise ApiError(404, "this server is not connected to Keystone ([auth] strategy = \"keys\"): use an API key")
    try:
        token, principal = await run_in_threadpool(login, config.keystone_authtoken, body.username, body.password,
                                                   body.project, body.domain, body.project_domain)
    except LoginRefused as error:
        raise Unauthenticated(INVALID, f"{error} (domain {body.domain!r})") from None
    services.authenticator.remember(token, principal)
    answer = {"token": token, **describe(principal, services)}
    return responses.json_response(answer, status=201, headers={"X-Subject-Token": token, "Cache-Control": "no-store"})
