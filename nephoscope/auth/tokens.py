"""The one function that maps a token to a project and roles.

Embedded deployments use API keys (and optionally a static admin token from the
environment); a Keystone-backed authenticator will implement the same method.
"""

from __future__ import annotations

import hmac
from typing import Protocol

from nephoscope.auth.keys import KeyStore
from nephoscope.tenancy import Principal


class Authenticator(Protocol):
    def authenticate(self, token: str) -> Principal | None: ...


class KeyAuthenticator:
    """API keys from the key store, plus the static admin token when configured."""

    def __init__(self, keys: KeyStore, admin_token: str = "") -> None:
        self.keys = keys
        self._admin_token = admin_token
        self._admin = Principal("admin", frozenset({"admin"}), "static-admin-token")

    def authenticate(self, token: str) -> Principal | None:
        if not token:
            return None
        if self._admin_token and hmac.compare_digest(token.encode(), self._admin_token.encode()):
            return self._admin
        return self.keys.lookup(token)
