"""Validated Keystone tokens, kept so that a token costs one Keystone round trip per cache time.

``TokenCache`` is the server's own memory: bounded (least recently used dropped first), keyed by
a SHA-256 of the token, holding answers (``Validated``: the principal, when the token expires,
when Keystone last said so) and refusals (``Refused``: why, until when). An entry is trusted for
``token_cache_time`` and never past the token's expiry; an older one is kept until the token
expires so that it still serves while Keystone cannot be asked.

``SharedCache`` adds memcached (``memcached_servers``), so several servers validate a token once.
What memcached returns is not trusted blindly: the key is a hash of the token, and the value
carries an HMAC whose key derives from the token itself (and ``memcache_secret_key``), so an
entry can only have been written by someone who held the token; a bad MAC is ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass

import orjson

from nephoscope.tenancy import Principal

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Validated:
    principal: Principal
    expires_at: float  # Unix seconds: the token's own expiry
    checked_at: float  # Unix seconds: when Keystone last said the token is valid


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str  # invalid, expired, revoked
    until: float  # Unix seconds: remembered until then


def token_key(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class TokenCache:
    """A bounded LRU of ``Validated`` and ``Refused`` entries; thread-safe."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[bytes, Validated | Refused] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: bytes) -> Validated | Refused | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: bytes, entry: Validated | Refused) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def drop(self, key: bytes) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


class SharedCache:
    """Validated tokens in memcached, each value authenticated with an HMAC keyed by the token."""

    PREFIX = "nephoscope/token/"

    def __init__(self, servers: list[str], secret: str = "", timeout: float = 0.5) -> None:
        from pymemcache.client.hash import HashClient

        hosts = [(host, int(port)) for host, _, port in (server.rpartition(":") for server in servers)]
        self._client = HashClient(hosts, connect_timeout=timeout, timeout=timeout, ignore_exc=True,
                                  use_pooling=True, retry_attempts=1, dead_timeout=5)
        self._secret = secret.encode()

    def _mac(self, token: str, value: bytes) -> bytes:
        key = hashlib.sha256(b"nephoscope-token-mac\0" + self._secret + b"\0" + token.encode()).digest()
        return hmac.new(key, value, hashlib.sha256).digest()

    def get(self, token: str, key: bytes) -> Validated | None:
        raw = self._client.get(self.PREFIX + key.hex())
        if not raw or len(raw) < 32:
            return None
        mac, value = raw[:32], raw[32:]
        if not hmac.compare_digest(mac, self._mac(token, value)):
            log.warning("a memcached token entry failed its MAC check and is ignored")
            return None
        try:
            document = orjson.loads(value)
            fields = document["principal"]
            principal = Principal(**{**fields, "roles": frozenset(fields["roles"])})
            return Validated(principal, float(document["expires_at"]), float(document["checked_at"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None

    def put(self, token: str, key: bytes, entry: Validated, ttl: int) -> None:
        if ttl <= 0:
            return
        principal = asdict(entry.principal)
        principal["roles"] = sorted(entry.principal.roles)
        value = orjson.dumps({"principal": principal, "expires_at": entry.expires_at, "checked_at": entry.checked_at})
        self._client.set(self.PREFIX + key.hex(), self._mac(token, value) + value, expire=ttl, noreply=True)

    def close(self) -> None:
        self._client.close()
