"""Keystone tokens: validated with Keystone's API (keystoneauth1), cached, mapped to a principal.

``KeystoneAuthenticator`` validates as keystonemiddleware does, but without its WSGI middleware
(the server is ASGI): a service session with the ``[keystone_authtoken]`` password credentials
asks ``GET /v3/auth/tokens`` (``X-Subject-Token``, no catalog) and the answer's project, roles,
user and expiry become the ``Principal``. Only project-scoped tokens carry roles here: a domain
or system token authenticates but is allowed nothing (Monasca's data belongs to projects).

Answers are cached (``auth.token_cache``), concurrent requests with the same new token make one
round trip, and while Keystone cannot be reached a token validated before keeps working until
it expires; an unknown token then gets ``IdentityUnavailable`` (503 + Retry-After), never a 401
that would make clients drop a good token. ``login`` gets a project-scoped token for a user name
and password (the dashboard's login form).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from datetime import datetime

from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from nephoscope.auth.token_cache import Refused, SharedCache, TokenCache, Validated, token_key
from nephoscope.auth.tokens import EXPIRED, INVALID, REVOKED, IdentityUnavailable, Unauthenticated
from nephoscope.config import KeystoneAuthtokenSettings
from nephoscope.tenancy import Principal

log = logging.getLogger(__name__)

NEGATIVE_CACHE_SECONDS = 30.0  # a token Keystone refused is refused without asking for this long
_REFUSALS = {
    INVALID: "the token is not valid (Keystone does not know it: mistyped, expired or revoked)",
    EXPIRED: "the token has expired; get a new one from Keystone",
    REVOKED: "the token was revoked in Keystone",
}


def identity_v3_url(auth_url: str) -> str:
    """``http://keystone:5000`` or ``.../v3`` or ``.../v3/`` -> ``http://keystone:5000/v3``."""
    base = auth_url.rstrip("/")
    if base.endswith("/v3"):
        return base
    if base.endswith("/v2.0"):
        base = base[: -len("/v2.0")]
    return base + "/v3"


def _verify(settings: KeystoneAuthtokenSettings) -> bool | str:
    return settings.cafile or not settings.insecure


def parse_time(text: str) -> float:
    """Keystone's ``2026-12-07T07:22:15.000000Z`` -> Unix seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def principal_from_token(token: dict) -> tuple[Principal, float]:
    """The ``token`` object of Keystone's validation answer -> (principal, expires_at)."""
    user = token.get("user") or {}
    domain = user.get("domain") or {}
    project = token.get("project") or {}
    roles = frozenset(role["name"] for role in token.get("roles") or () if role.get("name")) if project else frozenset()
    expires_at = parse_time(token["expires_at"])
    principal = Principal(project=project.get("id", ""), roles=roles, issuer="keystone", user_id=user.get("id", ""),
                          user_name=user.get("name", ""), domain=domain.get("name") or domain.get("id", ""),
                          project_name=project.get("name", ""), expires_at=expires_at)
    return principal, expires_at


class KeystoneAuthenticator:
    """Keystone tokens to principals, with the caches and the single flight described above."""

    def __init__(self, settings: KeystoneAuthtokenSettings, retry_after: int = 2) -> None:
        self.settings = settings
        self.retry_after = retry_after
        self.identity_url = identity_v3_url(settings.auth_url)
        self.challenge = f'Keystone uri="{settings.www_authenticate_uri or settings.auth_url}"'
        self._validate_url = self.identity_url + "/auth/tokens?nocatalog"
        plugin = v3.Password(auth_url=self.identity_url, username=settings.username, password=settings.password,
                             project_name=settings.project_name, user_domain_name=settings.user_domain_name,
                             project_domain_name=settings.project_domain_name)
        self._session = ks_session.Session(auth=plugin, verify=_verify(settings), timeout=settings.http_connect_timeout,
                                           app_name="nephoscope")
        self.cache = TokenCache(settings.token_cache_size)
        self.shared = SharedCache(settings.memcached_servers, settings.memcache_secret_key) \
            if settings.memcached_servers else None
        self._lock = threading.Lock()
        self._inflight: dict[bytes, Future] = {}
        self._down_until = 0.0  # after a failed round trip, unknown tokens answer 503 at once until then

    # ------------------------------------------------------------------ the seam

    def authenticate(self, token: str) -> Principal:
        key = token_key(token)
        now = time.time()
        entry = self.cache.get(key)
        if isinstance(entry, Refused):
            if entry.until > now:
                raise Unauthenticated(entry.reason, _REFUSALS[entry.reason])
            self.cache.drop(key)
            entry = None
        if entry is None and self.shared is not None:
            entry = self.shared.get(token, key)
            if entry is not None:
                self.cache.put(key, entry)
        if entry is not None:
            if entry.expires_at <= now:
                self.cache.put(key, Refused(EXPIRED, entry.expires_at + NEGATIVE_CACHE_SECONDS))
                raise Unauthenticated(EXPIRED, _REFUSALS[EXPIRED])
            if now - entry.checked_at < self.settings.token_cache_time:
                return entry.principal
        return self._revalidate(token, key, entry)

    def cached(self, token: str) -> Principal | None:
        """From this process's cache only (no Keystone, no memcached): the principal of a token
        validated within ``token_cache_time``, a refusal still remembered, else None."""
        entry = self.cache.get(token_key(token))
        now = time.time()
        if isinstance(entry, Refused):
            if entry.until > now:
                raise Unauthenticated(entry.reason, _REFUSALS[entry.reason])
            return None
        if entry is not None and now < entry.expires_at and now - entry.checked_at < self.settings.token_cache_time:
            return entry.principal
        return None

    def remember(self, token: str, principal: Principal) -> None:
        """A token Keystone has just issued (the login endpoint): no need to ask about it again."""
        if principal.expires_at:
            self._store(token, token_key(token), Validated(principal, principal.expires_at, time.time()))

    def close(self) -> None:
        if self.shared is not None:
            self.shared.close()

    # ------------------------------------------------------------------ asking Keystone

    def _revalidate(self, token: str, key: bytes, stale: Validated | None) -> Principal:
        try:
            result = self._single_flight(token, key)
        except IdentityUnavailable:
            if stale is not None and stale.expires_at > time.time():
                return stale.principal  # Keystone is away: a token it vouched for stays good until it expires
            raise
        if isinstance(result, Validated):
            return result.principal
        reason = result
        if stale is not None:
            reason = EXPIRED if stale.expires_at <= time.time() else REVOKED
        self.cache.put(key, Refused(reason, time.time() + min(NEGATIVE_CACHE_SECONDS, max(
            self.settings.token_cache_time, 1))))
        raise Unauthenticated(reason, _REFUSALS[reason])

    def _single_flight(self, token: str, key: bytes) -> Validated | str:
        with self._lock:
            future = self._inflight.get(key)
            leader = future is None
            if leader:
                future = self._inflight[key] = Future()
        if not leader:
            return future.result()
        try:
            result = self._ask(token, key)
            future.set_result(result)
            return result
        except BaseException as error:
            future.set_exception(error)
            raise
        finally:
            with self._lock:
                self._inflight.pop(key, None)

    def _ask(self, token: str, key: bytes) -> Validated | str:
        """One validation round trip: ``Validated``, or the refusal's reason (``invalid``)."""
        if time.monotonic() < self._down_until:
            raise IdentityUnavailable("Keystone cannot be reached to validate the token; try again shortly",
                                      self.retry_after)
        try:
            response = self._session.get(self._validate_url, headers={"X-Subject-Token": token}, raise_exc=False,
                                         authenticated=True, connect_retries=self.settings.http_request_max_retries)
        except (ks_exceptions.Unauthorized, ks_exceptions.Forbidden) as error:
            log.error("the service user %r cannot authenticate to Keystone at %s: %s", self.settings.username,
                      self.identity_url, error)
            raise self._unavailable("Keystone refused this server's service user; the operator must fix "
                                    "[keystone_authtoken]") from None
        except ks_exceptions.ClientException as error:
            log.warning("Keystone at %s cannot be reached: %s", self.identity_url, error)
            raise self._unavailable("Keystone cannot be reached to validate the token; try again shortly") from None
        if response.status_code == 200:
            principal, expires_at = principal_from_token(response.json()["token"])
            entry = Validated(principal, expires_at, time.time())
            self._store(token, key, entry)
            return entry
        if response.status_code in (401, 404):  # 404: Keystone does not know the token (any more)
            self.cache.drop(key)
            return INVALID
        if response.status_code == 403:
            log.error("the service user %r may not validate tokens (Keystone answered 403): give it the "
                      "service role", self.settings.username)
        else:
            log.warning("Keystone answered %s to a token validation: %s", response.status_code, response.text[:200])
        raise self._unavailable(f"Keystone could not validate the token (it answered {response.status_code}); "
                                "try again shortly")

    def _unavailable(self, description: str) -> IdentityUnavailable:
        self._down_until = time.monotonic() + self.retry_after
        return IdentityUnavailable(description, self.retry_after)

    def _store(self, token: str, key: bytes, entry: Validated) -> None:
        self.cache.put(key, entry)
        if self.shared is not None:
            ttl = int(min(self.settings.token_cache_time, entry.expires_at - time.time()))
            self.shared.put(token, key, entry, ttl)


class LoginRefused(Exception):
    """Keystone refused the user name, password or project (a 401 from Keystone)."""


def login(settings: KeystoneAuthtokenSettings, username: str, password: str, project: str, domain: str,
          project_domain: str | None = None) -> tuple[str, Principal]:
    """A project-scoped token for a user (the dashboard's login), and its principal."""
    plugin = v3.Password(auth_url=identity_v3_url(settings.auth_url), username=username, password=password,
                         user_domain_name=domain, project_name=project, project_domain_name=project_domain or domain)
    session = ks_session.Session(auth=plugin, verify=_verify(settings), timeout=settings.http_connect_timeout,
                                 app_name="nephoscope")
    try:
        access = plugin.get_access(session)
    except (ks_exceptions.Unauthorized, ks_exceptions.NotFound, ks_exceptions.BadRequest):
        raise LoginRefused("Keystone refused the user name, password or project") from None
    except ks_exceptions.ClientException as error:
        log.warning("Keystone at %s cannot be reached for a login: %s", settings.auth_url, error)
        raise IdentityUnavailable("Keystone cannot be reached; try again shortly") from None
    principal = Principal(project=access.project_id or "", roles=frozenset(access.role_names or ()),
                          issuer="keystone", user_id=access.user_id or "", user_name=access.username or "",
                          domain=access.user_domain_name or access.user_domain_id or "",
                          project_name=access.project_name or "", expires_at=access.expires.timestamp())
    return access.auth_token, principal
