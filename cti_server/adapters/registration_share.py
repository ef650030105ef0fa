"""Registrations kept in shared state, so any node of a cluster can ring any agent.

A phone registers through Kamailio at whichever node the dispatcher picked; the call it must
ring may live on the other node. Each node writes its own bindings of an AOR into the Redis
hash ``<prefix>reg:<aor>`` (one field per node, a JSON list) and announces the AOR on the
stream ``<prefix>reg:changes``; every other node reads the hash again and hands the bindings
to its registrar (``Registrar.set_remote``), whose lookups then include them. A full reload
at start and every ``RESYNC`` seconds heals anything missed while Redis was away. A binding
carries its absolute expiry (the nodes share a clock), so one left by a dead node lapses on
its own; the phone re-registers through the surviving node meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from cti_server.sip.peer import Peer
from cti_server.sip.registrar import Binding, Registrar

log = logging.getLogger(__name__)

RESYNC: Final = 30.0
BLOCK_MS: Final = 1000


def binding_row(b: Binding) -> dict[str, Any]:
    return {
        "contact": b.contact,
        "expires_at": b.expires_at,
        "q": b.q,
        "updated_at": b.updated_at,
        "call_id": b.call_id,
        "cseq": b.cseq,
        "source": [b.source.transport, b.source.addr[0], b.source.addr[1]],
    }


def binding_from(aor: str, row: dict[str, Any]) -> Binding:
    transport, host, port = row["source"]
    return Binding(
        aor=aor,
        contact=str(row["contact"]),
        expires_at=float(row["expires_at"]),
        call_id=str(row["call_id"]),
        cseq=int(row["cseq"]),
        q=float(row["q"]),
        source=Peer(str(transport), (str(host), int(port))),
        updated_at=float(row["updated_at"]),
    )


class RegistrationShare:
    def __init__(
        self,
        client: aioredis.Redis,
        registrar: Registrar,
        clock: Any,
        *,
        node_id: str,
        prefix: str,
        interval: float,
    ) -> None:
        self._client = client
        self._registrar = registrar
        self._clock = clock
        self._node = node_id
        self._prefix = prefix
        self._interval = interval
        self._stream = f"{prefix}reg:changes"
        self._tasks: list[asyncio.Task[None]] = []
        self._unsent: set[str] = set()
        self.failures = 0

    def key(self, aor: str) -> str:
        return f"{self._prefix}reg:{aor}"

    def start(self) -> None:
        loop = asyncio.get_event_loop()
        self._tasks = [loop.create_task(self._publish_loop()), loop.create_task(self._read_loop())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):  # our bindings stay until they expire
            await self._client.aclose()

    # --- our bindings out ---------------------------------------------------------------------

    async def _publish_loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self._unsent |= self._registrar.drain_changed()
            if not self._unsent:
                continue
            aors = sorted(self._unsent)
            now = self._clock.seconds()
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    for aor in aors:
                        rows = [binding_row(b) for b in self._registrar.local(aor, now)]
                        if rows:
                            pipe.hset(self.key(aor), self._node, json.dumps(rows))
                            last = max(r["expires_at"] for r in rows)
                            pipe.expire(self.key(aor), max(1, int(last - now) + 5), gt=True)
                        else:
                            pipe.hdel(self.key(aor), self._node)
                        pipe.xadd(self._stream, {"aor": aor, "node": self._node}, maxlen=10_000)
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                self._failed("publish", exc)
                continue
            self._unsent.clear()

    # --- the others' bindings in --------------------------------------------------------------

    async def _read_loop(self) -> None:
        cursor: str | None = None
        resync_at = 0.0
        while True:
            try:
                if cursor is None:
                    rows = await self._client.xrevrange(self._stream, count=1)
                    cursor = str(rows[0][0]) if rows else "0-0"
                if self._clock.seconds() >= resync_at:
                    await self._reload_all()
                    resync_at = self._clock.seconds() + RESYNC
                    # and ours again: Redis may have come back empty
                    self._unsent |= set(self._registrar.aors())
                batch = await self._client.xread({self._stream: cursor}, count=500, block=BLOCK_MS)
                aors: set[str] = set()
                for _, entries in batch or []:
                    for entry_id, fields in entries:
                        cursor = str(entry_id)
                        if fields.get("node") != self._node:
                            aors.add(str(fields.get("aor", "")))
                for aor in aors:
                    await self._reload(aor)
            except (RedisError, OSError) as exc:
                self._failed("read", exc)
                resync_at = 0.0  # something may have been missed
                await asyncio.sleep(1.0)

    async def _reload(self, aor: str) -> None:
        fields = await self._client.hgetall(self.key(aor))
        self._apply(aor, fields)

    async def _reload_all(self) -> None:
        async for key in self._client.scan_iter(match=f"{self._prefix}reg:*", count=500):
            aor = str(key)[len(self._prefix) + 4 :]
            if aor != "changes":
                await self._reload(aor)

    def _apply(self, aor: str, fields: dict[str, str]) -> None:
        bindings: list[Binding] = []
        for node, text in fields.items():
            if node == self._node:
                continue
            try:
                bindings += [binding_from(aor, row) for row in json.loads(text)]
            except (ValueError, KeyError, TypeError) as exc:
                log.error("registrations: unreadable binding of %s from %s: %s", aor, node, exc)
        self._registrar.set_remote(aor, bindings)

    def _failed(self, what: str, exc: Exception) -> None:
        self.failures += 1
        if self.failures == 1 or self.failures % 50 == 0:
            log.warning("registrations: %s failed (%d so far): %s", what, self.failures, exc)


def build_registration_share(
    config: Any, registrar: Registrar, reactor: Any, node_id: str
) -> RegistrationShare:
    client = aioredis.Redis.from_url(
        config.redis.url, decode_responses=True, socket_timeout=3.0, socket_connect_timeout=1.0
    )
    return RegistrationShare(
        client,
        registrar,
        reactor,
        node_id=node_id,
        prefix=config.redis.key_prefix,
        interval=config.redis.registration_sync,
    )
