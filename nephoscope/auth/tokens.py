"""The one seam that maps a token to a principal (project, roles, user), for every kind of token.

``Authenticator.authenticate(token)`` returns the ``Principal`` or raises ``Unauthenticated``
(with a ``reason``: missing, invalid, expired, revoked) or ``IdentityUnavailable`` (Keystone
cannot be asked: the caller should answer 503 and be tried again). It may block (a Keystone
round trip): call it off the event loop. ``KeyAuthenticator`` knows API keys and the static
admin token; ``KeystoneAuthenticator`` (``auth.keystone``) Keystone tokens; ``Composite`` puts
them side by side: ``nps_`` tokens are keys, anything else goes to Keystone.
"""

from __future__ import annotations

import hmac
from typing import Protocol

from nephoscope.auth.keys import TOKEN_PREFIX, KeyStore
from nephoscope.tenancy import Principal

MISSING, INVALID, EXPIRED, REVOKED = "missing", "invalid", "expired", "revoked"


class Unauthenticated(Exception):
    """No principal for this request: ``reason`` is one of missing, invalid, expired, revoked;
    ``description`` says it to the caller."""

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(description)
        self.reason = reason
        self.description = description


class IdentityUnavailable(Exception):
    """The token cannot be checked now (Keystone unreachable or failing); try again later."""

    def __init__(self, description: str, retry_after: int = 5) -> None:
        super().__init__(description)
        self.description = description
        self.retry_after = retry_after


class Authenticator(Protocol):
    # How a 401 tells the client to authenticate (the WWW-Authenticate header's value).
    challenge: str

    def authenticate(self, token: str) -> Principal: ...

    def cached(self, token: str) -> Principal | None:
        """The principal when it is known without I/O to another service (or a refusal known so);
        None when ``authenticate`` must ask (it may then block: call it off the event loop)."""

    def remember(self, token: str, principal: Principal) -> None:
        """A token just issued for ``principal`` (a login): trust it without asking."""

    def close(self) -> None: ...


class KeyAuthenticator:
    """API keys from the key store, plus the static admin token when configured."""

    challenge = "Token"

    def __init__(self, keys: KeyStore, admin_token: str = "") -> None:
        self.keys = keys
        self._admin_token = admin_token
        self._admin = Principal("admin", frozenset({"admin"}), "static-admin-token", issuer="admin_token")

    def is_admin_token(self, token: str) -> bool:
        return bool(self._admin_token) and hmac.compare_digest(token.encode(), self._admin_token.encode())

    def authenticate(self, token: str) -> Principal:
        if not token:
            raise Unauthenticated(MISSING, "the X-Auth-Token header is missing")
        if self.is_admin_token(token):
            return self._admin
        principal = self.keys.lookup(token)
        if principal is None:
            raise Unauthenticated(INVALID, "the token is not valid (unknown or revoked)")
        return principal

    def cached(self, token: str) -> Principal | None:
        return self.authenticate(token)  # the key store is local (and keeps its own cache)

    def remember(self, token: str, principal: Principal) -> None:
        pass  # keys are issued by the key store, never through a login

    def close(self) -> None:
        pass


class Composite:
    """API keys beside Keystone tokens: the static admin token and ``nps_`` keys are looked up in the
    key store (never sent to Keystone), every other token is validated by Keystone."""

    def __init__(self, keys: KeyAuthenticator, keystone: Authenticator) -> None:
        self.keys = keys
        self.keystone = keystone
        self.challenge = keystone.challenge

    def authenticate(self, token: str) -> Principal:
        if not token or token.startswith(TOKEN_PREFIX) or self.keys.is_admin_token(token):
            return self.keys.authenticate(token)
        return self.keystone.authenticate(token)

    def cached(self, token: str) -> Principal | None:
        if not token or token.startswith(TOKEN_PREFIX) or self.keys.is_admin_token(token):
            return self.keys.authenticate(token)
        return self.keystone.cached(token)

    def remember(self, token: str, principal: Principal) -> None:
        self.keystone.remember(token, principal)

    def close(self) -> None:
        self.keystone.close()
