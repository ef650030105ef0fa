"""The desktop feed shared by every node through Redis: one counter, one stream.

Keys under the configured prefix: ``<prefix>feed:seq`` (the last seq given out) and
``<prefix>feed`` (a stream whose entry ids are ``"<seq>-0"``, one field ``event`` holding
the event's ``to_json`` text, trimmed with ``MAXLEN ~``). Numbering and appending run as
one Lua script per batch, so two nodes can never hand out the same seq or append out of
order; the script also starts above the stream's last id, so a lost counter key cannot make
it go backwards. A desktop that reconnects to any node reads ``since(cursor)`` with XRANGE.

``RedisFeedService`` ties it to a node: its bus events go to the stream in publish order,
one batch in flight (bounded queue while Redis is away, the oldest dropped and counted,
at least once); one tail task reads the stream with XREAD BLOCK, every node's events in
seq order, into the local ring and out to the live clients. So live clients on every node
see the same numbers and the same order, and a cursor from one node is good on another.
Cursors older than the ring are answered from the stream (``fetch``, the hub's History).

Redis calls run as asyncio Tasks on the reactor's loop (``run_in_loop``); their callbacks
come back on the reactor thread. The tail has its own connection (XREAD blocks it).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Final, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from twisted.internet.defer import Deferred

from cti_server.events import Event, to_json
from cti_server.push.feed import EventFeed
from cti_server.push.hub import PushHub
from cti_server.push.store import Entry, HistoryPage, parse_event_text
from cti_server.state.backend import StateUnavailable
from cti_server.storage.bridge import run_in_loop

T = TypeVar("T")
log = logging.getLogger(__name__)

BATCH: Final = 500
RETRY_DELAY: Final = 1.0
_APPEND: Final = """
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if top[1] then
  local kept = tonumber(string.match(top[1][1], '^(%d+)'))
  if kept > last then last = kept end
end
local seqs = {}
for i = 2, #ARGV do
  last = last + 1
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], last .. '-0', 'event', ARGV[i])
  seqs[#seqs + 1] = last
end
redis.call('SET', KEYS[1], last)
return seqs
"""


def _seq(entry_id: Any) -> int:
    return int(str(entry_id).partition("-")[0])


def _entries(rows: Any) -> list[Entry]:
    """Stream rows as entries; one that is not an event (written by hand?) is skipped."""
    found: list[Entry] = []
    for entry_id, fields in rows or []:
        try:
            name, data = parse_event_text(str((fields or {})["event"]))
        except (KeyError, ValueError):
            log.warning("event feed: stream entry %s is not an event: skipped", entry_id)
            continue
        found.append((_seq(entry_id), name, data))
    return found


class RedisFeedStore:
    """``FeedStore`` on Redis (redis.asyncio), shared by the nodes under one prefix."""

    def __init__(
        self, client: aioredis.Redis, tail_client: aioredis.Redis, *, prefix: str, max_len: int
    ) -> None:
        self._client = client
        self._tail_client = tail_client
        self.prefix = prefix
        self.seq_key = f"{prefix}feed:seq"
        self.stream_key = f"{prefix}feed"
        self.max_len = max_len
        self._append = client.register_script(_APPEND)

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str, max_len: int, timeout: float = 1.0, block: float = 1.0
    ) -> RedisFeedStore:
        def make(socket_timeout: float) -> aioredis.Redis:
            return aioredis.Redis.from_url(
                url,
                decode_responses=True,
                socket_timeout=socket_timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0),
            )

        return cls(make(timeout), make(block + timeout), prefix=prefix, max_len=max_len)

    async def _call(self, pending: Awaitable[T]) -> T:
        try:
            return await pending
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise StateUnavailable(f"redis: {exc}") from exc

    async def append(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        for text in texts:
            parse_event_text(text)  # refuse garbage before anything is numbered
        keys = [self.seq_key, self.stream_key]
        seqs = await self._call(self._append(keys=keys, args=[self.max_len, *texts]))
        return [int(s) for s in seqs]

    async def read(self, after: int, count: int) -> HistoryPage:
        pipe = self._client.pipeline(transaction=True)
        pipe.xrange(self.stream_key, min=f"({max(after, 0)}-0", max="+", count=count)
        pipe.xrange(self.stream_key, min="-", max="+", count=1)
        pipe.get(self.seq_key)
        pipe.xrevrange(self.stream_key, max="+", min="-", count=1)
        rows, first, counter, top = await self._call(pipe.execute())
        oldest = _seq(first[0][0]) if first else None
        latest = max(int(counter or 0), _seq(top[0][0]) if top else 0)
        return HistoryPage(_entries(rows), oldest, latest)

    async def latest(self) -> int:
        pipe = self._client.pipeline(transaction=True)
        pipe.get(self.seq_key)
        pipe.xrevrange(self.stream_key, max="+", min="-", count=1)
        counter, top = await self._call(pipe.execute())
        return max(int(counter or 0), _seq(top[0][0]) if top else 0)

    async def tail(self, after: int, block: float, count: int = BATCH) -> tuple[int, list[Entry]]:
        """Entries after ``after``, waiting up to ``block`` seconds for the first, and the
        last seq read (the next ``after``, past any entry that was skipped)."""
        reply = await self._call(
            self._tail_client.xread(
                {self.stream_key: f"{after}-0"}, count=count, block=max(1, int(block * 1000))
            )
        )
        streams = (reply.items() if isinstance(reply, dict) else reply) if reply else []
        found: list[Entry] = []
        for _, rows in streams:
            rows = rows[0] if rows and isinstance(rows[0], list) else rows
            if rows:
                after = max(after, _seq(rows[-1][0]))
            found.extend(_entries(rows))
        return after, found

    async def delete_all(self) -> int:
        """Delete this feed's two keys (test teardown, decommissioning); never FLUSHDB."""
        return int(await self._call(self._client.delete(self.seq_key, self.stream_key)))

    async def close(self) -> None:
        await self._client.aclose()
        await self._tail_client.aclose()


Runner = Callable[[Coroutine[Any, Any, Any]], Deferred[Any]]


class RedisFeedService:
    def __init__(
        self,
        store: RedisFeedStore,
        feed: EventFeed,
        hub: PushHub,
        clock: Any,
        *,
        run: Runner = run_in_loop,
        max_pending: int = 10_000,
        block: float = 1.0,
    ) -> None:
        self.store = store
        self.feed = feed
        self.hub = hub
        self._clock = clock
        self._run = run
        self._max_pending = max_pending
        self._block = block
        self._pending: deque[str] = deque()
        self._appending = False
        self._retry: Any = None
        self._tail: Deferred[Any] | None = None
        self._stopped = False
        self.tailing = False  # the ring follows the stream from here on
        self.appended = 0
        self.dropped = 0
        self.tail_errors = 0

    # --- the node's own events into the stream -------------------------------------------

    def on_event(self, event: Event) -> None:
        """Bus subscriber: queue for the stream; the tail brings it back numbered."""
        if self._stopped:
            return
        if len(self._pending) >= self._max_pending:
            self._pending.popleft()
            self.dropped += 1
        self._pending.append(to_json(event))
        self._pump()

    def _pump(self) -> None:
        if self._appending or self._retry is not None or not self._pending or self._stopped:
            return
        batch = [self._pending.popleft() for _ in range(min(BATCH, len(self._pending)))]
        self._appending = True
        d = self._run(self.store.append(batch))
        d.addCallbacks(self._appended, self._append_failed, errbackArgs=(batch,))

    def _appended(self, seqs: list[int]) -> None:
        self._appending = False
        self.appended += len(seqs)
        self._pump()

    def _append_failed(self, failure: Any, batch: list[str]) -> None:
        self._appending = False
        if failure.check(StateUnavailable):  # an outage: again later, the batch first
            self._pending.extendleft(reversed(batch))
            while len(self._pending) > self._max_pending:
                self._pending.popleft()
                self.dropped += 1
            log.warning("event feed: redis unreachable, %d events wait", len(self._pending))
            self._retry = self._clock.callLater(RETRY_DELAY, self._retry_now)
            return
        self.dropped += len(batch)  # a bug, not an outage: do not loop on it
        log.error("event feed: append failed: %s", failure.getTraceback())

    def _retry_now(self) -> None:
        self._retry = None
        self._pump()

    # --- every node's events out of the stream ------------------------------------------

    def start(self) -> None:
        """Begin on the next reactor turn (the asyncio loop runs by then)."""
        self._clock.callLater(0, self._begin)

    def _begin(self) -> None:
        if self._stopped:
            return
        self._tail = self._run(self._tail_loop())
        self._tail.addErrback(self._tail_ended)

    async def _tail_loop(self) -> None:
        after: int | None = None
        while not self._stopped:
            try:
                if after is None:
                    after = await self.store.latest()
                    self.feed.restart(after)
                    self.tailing = True
                after, entries = await self.store.tail(after, self._block)
                if not entries and await self._reset_seen(after):
                    after = self.feed.latest
                    continue
            except StateUnavailable as exc:
                self.tail_errors += 1
                log.warning("event feed: tail: %s", exc)
                await asyncio.sleep(RETRY_DELAY)
                continue
            except Exception:  # a bug must not stop the live feed for good
                self.tail_errors += 1
                log.exception("event feed: tail failed")
                await asyncio.sleep(RETRY_DELAY)
                continue
            now = float(self._clock.seconds())
            for seq, name, data in entries:
                stamped = self.feed.add(seq, name, data)
                if stamped is not None:
                    self.hub.publish(stamped, now)

    async def _reset_seen(self, after: int) -> bool:
        """Whether the stream now ends below ``after`` (emptied by hand): then the ring and
        the clients start again from its end. Checked only when the tail was idle."""
        latest = await self.store.latest()
        if latest >= after:
            return False
        log.warning("event feed: the stream was reset (%d < %d): clients get a gap", latest, after)
        self.feed.restart(latest)
        self.hub.restarted(latest)
        return True

    def _tail_ended(self, failure: Any) -> None:
        if not self._stopped:
            log.error("event feed: the tail stopped: %s", failure.getTraceback())

    # --- History for the hub -------------------------------------------------------------

    def fetch(
        self, after: int, count: int, done: Callable[[HistoryPage | None, float], None]
    ) -> None:
        d = self._run(self.store.read(after, count))

        def failed(failure: Any) -> None:
            log.warning("event feed: history read failed: %s", failure.getErrorMessage())
            done(None, float(self._clock.seconds()))

        d.addCallbacks(lambda page: done(page, float(self._clock.seconds())), failed)

    def stop(self) -> Deferred[Any]:
        """Stop the tail and close the connections; fires when closed."""
        self._stopped = True
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        if self._tail is not None:
            self._tail.cancel()
        done = self._run(self.store.close())
        done.addErrback(lambda f: log.warning("event feed: close: %s", f.getErrorMessage()))
        return done
