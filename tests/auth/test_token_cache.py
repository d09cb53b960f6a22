"""The token caches: the server's memory stays within its bound (least recently used dropped first),
and memcached entries are believed only by a server holding the token they were written for."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from nephoscope.auth.token_cache import Refused, SharedCache, TokenCache, Validated, token_key
from nephoscope.tenancy import Principal

ALICE = Principal("proj-a", frozenset({"monasca-user"}), issuer="keystone", user_id="u1", user_name="alice",
                  domain="Default", project_name="a", expires_at=time.time() + 3600)


def validated(principal: Principal = ALICE) -> Validated:
    return Validated(principal, principal.expires_at or 0, time.time())


@settings(max_examples=200, deadline=None)
@given(size=st.integers(1, 20), operations=st.lists(st.tuples(st.booleans(), st.integers(0, 40)), max_size=200))
def test_the_memory_cache_is_a_bounded_lru(size, operations):
    cache, model = TokenCache(size), []  # model: keys, least recently used first
    for is_put, number in operations:
        key = token_key(f"token-{number}")
        if is_put:
            cache.put(key, Refused("invalid", number))
            model = [k for k in model if k != key] + [key]
            model = model[-size:]
        else:
            found = cache.get(key)
            assert (found is not None) == (key in model)
            if found is not None:
                assert found.until == int(found.until) and key == token_key(f"token-{int(found.until)}")
                model = [k for k in model if k != key] + [key]
        assert len(cache) == len(model) <= size


def test_memcached_entries_round_trip_and_forgeries_are_ignored(memcached):
    from pymemcache.client.base import Client

    shared, other_secret = SharedCache([memcached]), SharedCache([memcached], secret="another")
    host, port = memcached.split(":")
    raw = Client((host, int(port)))
    try:
        token, other = "gAAAA-alice-token", "gAAAA-mallory-token"
        shared.put(token, token_key(token), validated(), ttl=60)
        back = shared.get(token, token_key(token))
        assert back is not None and back.principal == ALICE
        assert other_secret.get(token, token_key(token)) is None  # another memcache_secret_key: not believed
        stored = raw.get(SharedCache.PREFIX + token_key(token).hex())
        raw.set(SharedCache.PREFIX + token_key(other).hex(), stored, noreply=False)  # alice's entry under mallory's key
        assert shared.get(other, token_key(other)) is None
        tampered = bytearray(stored)
        tampered[-5] ^= 1
        raw.set(SharedCache.PREFIX + token_key(token).hex(), bytes(tampered), noreply=False)
        assert shared.get(token, token_key(token)) is None
        shared.put(token, token_key(token), validated(), ttl=0)  # nothing to keep: not written
        assert shared.get(token, token_key(token)) is None
    finally:
        raw.close()
        shared.close()
        other_secret.close()
