"""The cluster's wire: queue work to the leader, its decisions back to the owning node.

Two kinds of Redis stream, under the configured key prefix:

- ``<prefix>acd:in``: every follower appends the ACD inputs of its calls and phones
  (``acd.cluster.ClusterAcd.to_leader``); the leader reads them in order. A new leader
  starts at the end of the stream: instead of replaying inputs (and redoing decisions the
  old leader already carried out) it squares its restored state with the nodes' reports;
- ``<prefix>acd:node:<node>``: the leader appends the decisions for calls owned by
  ``<node>`` (``ClusterAcd.to_nodes``); that node reads its own stream from the entry that
  was last when it started;
- ``<prefix>acd:all``: broadcasts. A new leader asks every node for a report of the calls it
  holds (``ReportRequest``); each answers with a ``NodeReport`` on ``acd:in``.

Sending happens after every flush of the SIP service (``pump``), in order, one pipeline per
batch; while Redis is away the messages wait in memory (bounded, oldest dropped and counted)
and go out when it answers again. Readers block on XREAD with a timeout and back off when
Redis fails. Everything runs as asyncio Tasks on the reactor's loop (asyncioreactor), so the
callbacks into the switch run on the reactor thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from acd.cluster import ClusterAcd, ReportRequest, WireError, from_wire, to_wire

log = logging.getLogger(__name__)

MAX_OUTBOX: Final = 100_000
STREAM_LEN: Final = 100_000
BLOCK_MS: Final = 500
RETRY: Final = 0.5


class ClusterLink:
    def __init__(
        self,
        client: aioredis.Redis,
        acd: ClusterAcd,
        *,
        prefix: str,
        on_input: Callable[[str, Any], None],
        on_decisions: Callable[[list[Any]], None],
        on_report_request: Callable[[], None],
    ) -> None:
        self._client = client
        self._acd = acd
        self._in_key = f"{prefix}acd:in"
        self._prefix = prefix
        self._on_input = on_input
        self._on_decisions = on_decisions
        self._on_report_request = on_report_request
        self._all_key = f"{prefix}acd:all"
        self._outbox: deque[tuple[str, dict[str, str]]] = deque()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.sent = 0
        self.received = 0
        self.dropped = 0
        self.failures = 0

    def node_key(self, node: str) -> str:
        return f"{self._prefix}acd:node:{node}"

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Call once the reactor (and so the asyncio loop) runs."""
        loop = asyncio.get_event_loop()
        for coro in (self._send_loop(), self._read_decisions(), self._read_inputs()):
            self._tasks.append(loop.create_task(coro))

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()

    # --- sending ------------------------------------------------------------------------------

    def pump(self) -> None:
        """Queue what the ACD produced for other nodes (after each SIP flush)."""
        acd = self._acd
        if not acd.to_leader and not acd.to_nodes and not acd.to_all:
            return
        for request in acd.to_all:
            self._queue(self._all_key, {"msg": json.dumps(to_wire(request))})
        for item in acd.to_leader:
            self._queue(self._in_key, {"node": acd.node_id, "msg": json.dumps(to_wire(item))})
        for node, action in acd.to_nodes:
            self._queue(self.node_key(node), {"msg": json.dumps(to_wire(action))})
        acd.to_leader.clear()
        acd.to_nodes.clear()
        acd.to_all.clear()
        self._wake.set()

    def _queue(self, key: str, fields: dict[str, str]) -> None:
        if len(self._outbox) >= MAX_OUTBOX:
            self._outbox.popleft()
            self.dropped += 1
        self._outbox.append((key, fields))

    async def _send_loop(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox and not self._stopping:
                batch = list(self._outbox)[:500]
                try:
                    async with self._client.pipeline(transaction=False) as pipe:
                        for key, fields in batch:
                            pipe.xadd(key, fields, maxlen=STREAM_LEN, approximate=True)  # type: ignore[arg-type]
                        await pipe.execute()
                except (RedisError, OSError) as exc:
                    self._failed("send", exc)
                    await asyncio.sleep(RETRY)
                    continue
                for _ in batch:
                    self._outbox.popleft()
                self.sent += len(batch)

    # --- receiving ----------------------------------------------------------------------------

    async def _last_id(self, key: str) -> str:
        rows = await self._client.xrevrange(key, count=1)
        return str(rows[0][0]) if rows else "0-0"

    async def _read_decisions(self) -> None:
        """This node's decisions, and the broadcasts (a new leader's report request)."""
        own = self.node_key(self._acd.node_id)
        cursors: dict[str, str] = {}
        while not self._stopping:
            try:
                if not cursors:
                    cursors = {own: await self._last_id(own)}
                    cursors[self._all_key] = await self._last_id(self._all_key)
                rows = await self._client.xread(cursors, count=500, block=BLOCK_MS)  # type: ignore[arg-type]
            except (RedisError, OSError) as exc:
                self._failed("read decisions", exc)
                await asyncio.sleep(RETRY)
                continue
            for key, entries in rows or []:
                items = []
                for entry_id, fields in entries:
                    cursors[str(key)] = str(entry_id)
                    item = self._decode(fields)
                    if item is not None:
                        items.append(item)
                self.received += len(items)
                if str(key) == own and items:
                    self._deliver(self._on_decisions, items)
                elif any(
                    isinstance(i, ReportRequest) and i.leader != self._acd.node_id for i in items
                ):
                    self._deliver(self._on_report_request)

    async def _read_inputs(self) -> None:
        acd = self._acd
        while not self._stopping:
            if not acd.is_leader:
                await asyncio.sleep(0.05)
                continue
            try:
                if acd.cursor == "$":
                    acd.cursor = await self._last_id(self._in_key)
                cursor = acd.cursor
                rows = await self._client.xread({self._in_key: cursor}, count=500, block=BLOCK_MS)
            except (RedisError, OSError) as exc:
                self._failed("read inputs", exc)
                await asyncio.sleep(RETRY)
                continue
            for _, entries in rows or []:
                for entry_id, fields in entries:
                    if not acd.is_leader or acd.cursor != cursor:
                        break  # stepped down, or a new leadership restored another cursor
                    acd.cursor = cursor = str(entry_id)
                    item = self._decode(fields)
                    if item is not None:
                        self.received += 1
                        self._deliver(self._on_input, str(fields.get("node", "")), item)

    def _decode(self, fields: dict[str, Any]) -> Any:
        try:
            return from_wire(json.loads(fields["msg"]))
        except (KeyError, ValueError, WireError) as exc:
            log.error("cluster: unreadable message %r: %s", fields, exc)
            return None

    def _deliver(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # a bad message must not stop the reader
            log.exception("cluster: handling a message failed")

    def _failed(self, what: str, exc: Exception) -> None:
        self.failures += 1
        if self.failures == 1 or self.failures % 100 == 0:
            log.warning("cluster: %s failed (%d so far): %s", what, self.failures, exc)


def build_cluster_link(config: Any, acd: ClusterAcd, sip: Any) -> ClusterLink:
    client = aioredis.Redis.from_url(
        config.redis.url, decode_responses=True, socket_timeout=2.0, socket_connect_timeout=1.0
    )

    def on_input(origin: str, item: Any) -> None:
        sip.control(sip.switch.cluster_input, origin, item)

    def on_decisions(actions: list[Any]) -> None:
        sip.control(sip.switch.acd_decisions, actions)

    def on_report_request() -> None:
        sip.control(sip.switch.report_to_leader)

    return ClusterLink(
        client,
        acd,
        prefix=config.redis.key_prefix,
        on_input=on_input,
        on_decisions=on_decisions,
        on_report_request=on_report_request,
    )
