"""Feed-store fixtures: each contract test runs on the in-memory ring and on Redis.

Redis is the server at ``REDIS_URL`` (see tests/state/conftest.py); each test has its own
random key prefix and deletes exactly its keys (never FLUSHDB); when Redis does not answer,
the Redis runs skip with the reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import pytest_twisted

from cti_server.adapters.event_feed_redis import RedisFeedStore
from cti_server.push import EventFeed, FeedStore, MemoryFeedStore
from cti_server.storage.bridge import run_in_loop
from tests.state.conftest import own_redis, random_prefix, redis_problem, redis_url

__all__ = ["own_redis"]  # the fixture, shared with tests/state


@dataclass
class Stores:
    """One kind of store; ``make`` builds stores over one shared feed (two "nodes")."""

    kind: str
    prefix: str = ""
    made: list[FeedStore] = field(default_factory=list)
    _memory: dict[int, EventFeed] = field(default_factory=dict)

    def make(self, max_len: int = 10_000) -> FeedStore:
        store: FeedStore
        if self.kind == "memory":
            feed = self._memory.setdefault(max_len, EventFeed(max_len))
            store = MemoryFeedStore(feed)
        else:
            store = RedisFeedStore.from_url(
                redis_url(), prefix=self.prefix, max_len=max_len, block=0.2
            )
        self.made.append(store)
        return store


async def _stores(kind: str) -> AsyncIterator[Stores]:
    if kind == "redis" and redis_problem():
        pytest.skip(redis_problem())
    stores = Stores(kind, prefix=random_prefix())
    yield stores
    for store in stores.made:
        if isinstance(store, RedisFeedStore):
            await run_in_loop(store.delete_all())
        await run_in_loop(store.close())


@pytest_twisted.async_yield_fixture(params=["memory", "redis"])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[Stores]:
    async for s in _stores(request.param):
        yield s


@pytest_twisted.async_yield_fixture
async def redis_stores() -> AsyncIterator[Stores]:
    async for s in _stores("redis"):
        yield s
