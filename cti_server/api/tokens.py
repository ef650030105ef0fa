"""Where login tokens live: this node's memory, or Redis so every node accepts them.

Both answer with Deferreds, so the router treats them alike. The Redis store keeps
``<prefix>auth:token:<sha256 of the token>`` -> the session JSON with a TTL equal to the
session's remaining life, so a token issued on one node is accepted by the other until it
expires or its user logs out (a ``DEL`` both nodes see). Redis being down answers 503, never
a login that cannot be checked.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from twisted.internet.defer import Deferred, succeed

from cti_server.api.router import ApiError
from cti_server.auth import (
    IssuedToken,
    MemoryTokenStore,
    Principal,
    TokenIssuer,
    TokenSession,
    token_key,
)
from cti_server.storage.bridge import run_in_loop

Clock = Callable[[], float]


class TokenService(Protocol):
    def issue(self, principal: Principal) -> Deferred[IssuedToken]: ...

    def lookup(self, token: str) -> Deferred[Principal | None]: ...

    def revoke(self, token: str) -> Deferred[None]: ...


class MemoryTokens:
    """One node's sessions (the embedded default, without ``redis.url``)."""

    def __init__(self, issuer: TokenIssuer, clock: Clock) -> None:
        self.issuer = issuer
        self.store = MemoryTokenStore()
        self._clock = clock
        self._issued = 0

    def issue(self, principal: Principal) -> Deferred[IssuedToken]:
        now = self._clock()
        issued = self.issuer.issue(principal, now)
        self.store.put(token_key(issued.token), issued.session)
        self._issued += 1
        if self._issued % 1000 == 0:  # expired sessions nobody asks about again
            self.store.prune(now)
        return succeed(issued)

    def lookup(self, token: str) -> Deferred[Principal | None]:
        session = self.store.get(token_key(token), self._clock())
        return succeed(None if session is None else session.principal)

    def revoke(self, token: str) -> Deferred[None]:
        self.store.delete(token_key(token))
        return succeed(None)


class RedisTokens:
    """Sessions shared by every node through Redis (``redis.url`` set)."""

    def __init__(
        self, client: aioredis.Redis, issuer: TokenIssuer, clock: Clock, prefix: str = "cti:"
    ) -> None:
        self._client = client
        self.issuer = issuer
        self._clock = clock
        self._prefix = f"{prefix}auth:token:"

    @classmethod
    def from_url(
        cls, url: str, issuer: TokenIssuer, clock: Clock, prefix: str = "cti:"
    ) -> RedisTokens:
        client = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=2.0,
            socket_connect_timeout=2.0,
            retry=Retry(NoBackoff(), 1),
        )
        return cls(client, issuer, clock, prefix)

    def _key(self, token: str) -> str:
        return self._prefix + token_key(token)

    def _run(self, coro: Any) -> Deferred[Any]:
        async def guarded() -> Any:
            try:
                return await coro
            except (RedisError, OSError) as exc:
                raise ApiError(
                    503, "unavailable", f"the session store is unreachable: {exc}"
                ) from exc

        return run_in_loop(guarded())

    def issue(self, principal: Principal) -> Deferred[IssuedToken]:
        now = self._clock()
        issued = self.issuer.issue(principal, now)
        ttl = max(1, math.ceil(issued.session.expires_at - now))
        value = json.dumps(issued.session.to_json())
        d = self._run(self._client.set(self._key(issued.token), value, ex=ttl))
        return d.addCallback(lambda _: issued)

    def lookup(self, token: str) -> Deferred[Principal | None]:
        def check(value: str | None) -> Principal | None:
            if value is None:
                return None
            try:
                session = TokenSession.from_json(json.loads(value))
            except (ValueError, KeyError, TypeError):
                return None
            return session.principal if session.valid_at(self._clock()) else None

        return self._run(self._client.get(self._key(token))).addCallback(check)

    def revoke(self, token: str) -> Deferred[None]:
        return self._run(self._client.delete(self._key(token))).addCallback(lambda _: None)

    def close(self) -> Deferred[None]:
        return run_in_loop(self._client.aclose())
