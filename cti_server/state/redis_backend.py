"""The shared-state contract on Redis (redis.asyncio), for two or more nodes.

Keys, all under one prefix (tests use a random one and delete exactly those keys):
``<prefix>lease`` holds ``"<token> <node>"`` with a PX expiry; ``<prefix>epoch`` is the
fencing counter; ``<prefix>snapshot`` is a hash ``{token, data}``; ``<prefix>events`` is the
stream (one field, ``event``, trimmed with ``MAXLEN ~``).

Every check-then-write runs as one Lua script, so two nodes can never both pass the check.
Calls fail fast: the client does not retry (the lease logic retries on its own schedule and
must hear about an outage within its ttl), and socket timeouts are ``timeout`` seconds.
Connection errors and timeouts come out as ``StateUnavailable``.

The client binds its connections to the asyncio loop it first runs on: call the methods
from asyncio Tasks on the reactor's loop (``cti_server.storage.bridge.run_in_loop``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from cti_server.state.backend import DEFAULT_MAX_EVENTS, DEFAULT_PREFIX, StateUnavailable, ttl_ms

T = TypeVar("T")

_ACQUIRE: Final = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token .. ' ' .. ARGV[1], 'PX', ARGV[2])
return token
"""
_RENEW: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_SAVE: Final = """
local epoch = redis.call('GET', KEYS[1])
if not epoch or tonumber(epoch) ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], 'token', ARGV[1], 'data', ARGV[2])
return 1
"""


@dataclass(frozen=True, slots=True)
class RedisKeys:
    prefix: str = DEFAULT_PREFIX

    @property
    def lease(self) -> str:
        return f"{self.prefix}lease"

    @property
    def epoch(self) -> str:
        return f"{self.prefix}epoch"

    @property
    def snapshot(self) -> str:
        return f"{self.prefix}snapshot"

    @property
    def events(self) -> str:
        return f"{self.prefix}events"


class RedisBackend:
    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        max_events: int = DEFAULT_MAX_EVENTS,
    ) -> None:
        self._client = client
        self.keys = RedisKeys(prefix)
        self._max_events = max_events
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._save = client.register_script(_SAVE)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        max_events: int = DEFAULT_MAX_EVENTS,
        timeout: float = 1.0,
    ) -> RedisBackend:
        client = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        return cls(client, prefix=prefix, max_events=max_events)

    async def _call(self, pending: Awaitable[T]) -> T:
        try:
            return await pending
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise StateUnavailable(f"redis: {exc}") from exc

    async def acquire(self, node_id: str, ttl: float) -> int | None:
        keys = [self.keys.lease, self.keys.epoch]
        token = await self._call(self._acquire(keys=keys, args=[node_id, ttl_ms(ttl)]))
        return None if token is None else int(token)

    async def renew(self, node_id: str, token: int, ttl: float) -> bool:
        args: list[str | int] = [f"{token} {node_id}", ttl_ms(ttl)]
        return bool(await self._call(self._renew(keys=[self.keys.lease], args=args)))

    async def release(self, node_id: str, token: int) -> None:
        await self._call(self._release(keys=[self.keys.lease], args=[f"{token} {node_id}"]))

    async def holder(self) -> tuple[str, int] | None:
        value = await self._call(self._client.get(self.keys.lease))
        if value is None:
            return None
        token, _, node = str(value).partition(" ")
        return node, int(token)

    async def save_snapshot(self, token: int, data: str) -> bool:
        keys = [self.keys.epoch, self.keys.snapshot]
        return bool(await self._call(self._save(keys=keys, args=[token, data])))

    async def load_snapshot(self) -> tuple[int, str] | None:
        found: list[Any] = await self._call(
            self._client.hmget(self.keys.snapshot, ["token", "data"])
        )
        token, data = found
        if token is None or data is None:
            return None
        return int(token), str(data)

    async def append_event(self, json_text: str) -> str:
        entry_id = await self._call(
            self._client.xadd(
                self.keys.events,
                {"event": json_text},
                maxlen=self._max_events,
                approximate=True,
            )
        )
        return str(entry_id)

    async def append_events(self, texts: Sequence[str]) -> list[str]:
        if not texts:
            return []
        pipe = self._client.pipeline(transaction=False)
        for text in texts:
            pipe.xadd(self.keys.events, {"event": text}, maxlen=self._max_events, approximate=True)
        return [str(entry_id) for entry_id in await self._call(pipe.execute())]

    async def read_events(self, after: str, count: int) -> list[tuple[str, str]]:
        start = "-" if after in ("0", "0-0") else f"({after}"
        rows = await self._call(
            self._client.xrange(self.keys.events, min=start, max="+", count=count)
        )
        return [(str(entry_id), str(fields["event"])) for entry_id, fields in rows or [] if fields]

    async def delete_all(self) -> int:
        """Delete every key under this prefix (SCAN + DEL, never FLUSHDB): test teardown and
        decommissioning. The number of keys deleted."""
        deleted = 0
        async for key in self._client.scan_iter(match=f"{_glob_escape(self.keys.prefix)}*"):
            deleted += int(await self._call(self._client.delete(key)))
        return deleted

    async def close(self) -> None:
        await self._client.aclose()


def _glob_escape(text: str) -> str:
    """A prefix as a literal SCAN MATCH pattern (``*?[]\\`` escaped)."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)
