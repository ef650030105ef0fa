"""The FeedStore contract on the in-memory ring and on Redis: increasing seqs shared by
every node, exclusive cursors, bounded length with a visible oldest, events round-trip."""

from __future__ import annotations

import asyncio

import pytest
import redis

from cti_server.adapters.event_feed_redis import RedisFeedStore
from cti_server.events import AgentNotReady, CallQueued, to_json
from cti_server.state import StateUnavailable
from tests.push.conftest import Stores
from tests.state.conftest import OwnRedis, asyncio_test, redis_url


def text(i: int) -> str:
    return to_json(CallQueued(at=float(i), call_id=f"c{i}", queue="sales", priority=0, position=i))


@asyncio_test
async def test_append_numbers_in_order_and_read_round_trips(stores: Stores) -> None:
    store = stores.make()
    assert await store.append([]) == []
    korean = to_json(
        AgentNotReady(at=9.5, agent_id="1001", state="not_ready", previous="ready", reason="점심")
    )
    assert await store.append([text(1), text(2)]) == [1, 2]
    assert await store.append([korean]) == [3]
    page = await store.read(0, 100)
    assert [seq for seq, _, _ in page.entries] == [1, 2, 3]
    assert (page.oldest, page.latest) == (1, 3)
    _, name, data = page.entries[2]
    assert name == "agent_not_ready" and data["reason"] == "점심" and data["at"] == 9.5
    assert page.entries[0][2] == {
        "at": 1.0,
        "call_id": "c1",
        "queue": "sales",
        "priority": 0,
        "position": 1,
        "customer_id": None,
    }


@asyncio_test
async def test_read_is_exclusive_of_the_cursor_and_pages(stores: Stores) -> None:
    store = stores.make()
    await store.append([text(i) for i in range(1, 11)])
    page = await store.read(4, 3)
    assert [s for s, _, _ in page.entries] == [5, 6, 7] and page.latest == 10
    assert (await store.read(10, 5)).entries == []
    assert (await store.read(99, 5)).entries == []


@asyncio_test
async def test_an_empty_store(stores: Stores) -> None:
    page = await stores.make().read(0, 10)
    assert page.entries == [] and page.oldest is None and page.latest == 0


@asyncio_test
async def test_two_nodes_draw_from_one_sequence(stores: Stores) -> None:
    node_a, node_b = stores.make(), stores.make()
    got = await asyncio.gather(
        *(node.append([text(i), text(i + 100)]) for i, node in enumerate([node_a, node_b] * 10))
    )
    seqs = sorted(s for pair in got for s in pair)
    assert seqs == list(range(1, 41))
    assert all(b == a + 1 for a, b in got)  # a batch is numbered without interleaving
    page = await node_b.read(0, 100)
    assert [s for s, _, _ in page.entries] == list(range(1, 41))


@asyncio_test
async def test_the_store_is_bounded_and_shows_its_oldest(stores: Stores) -> None:
    store = stores.make(max_len=100)
    for start in range(1, 1001, 50):
        await store.append([text(i) for i in range(start, start + 50)])
    page = await store.read(0, 1000)
    kept = [s for s, _, _ in page.entries]
    assert page.latest == 1000 and kept[-1] == 1000
    assert page.oldest == kept[0] and page.oldest > 1  # a reader at 0 can see its gap
    assert 100 <= len(kept) <= 300  # Redis trims whole nodes (MAXLEN ~)
    assert kept == list(range(kept[0], 1001))


@asyncio_test
async def test_garbage_is_refused_and_numbers_nothing(stores: Stores) -> None:
    store = stores.make()
    with pytest.raises(ValueError):
        await store.append([text(1), "not json"])
    with pytest.raises(ValueError):
        await store.append(['{"no": "name"}'])
    assert (await store.read(0, 10)).latest == 0


# --- Redis only -----------------------------------------------------------------------------


@asyncio_test
async def test_redis_layout_stream_ids_are_the_seqs(redis_stores: Stores) -> None:
    store = redis_stores.make()
    assert isinstance(store, RedisFeedStore)
    await store.append([text(1), text(2)])
    client = redis.Redis.from_url(redis_url(), decode_responses=True)
    try:
        assert [entry_id for entry_id, _ in client.xrange(store.stream_key)] == ["1-0", "2-0"]
        assert client.get(store.seq_key) == "2"
        assert sorted(client.scan_iter(match=redis_stores.prefix + "*")) == sorted(
            [store.stream_key, store.seq_key]
        )
        client.delete(store.seq_key)  # lost (evicted, restored from an old dump...)
    finally:
        client.close()
    assert await store.append([text(3)]) == [3]  # never below what the stream holds


@asyncio_test
async def test_redis_tail_waits_for_new_entries(redis_stores: Stores) -> None:
    store, writer = redis_stores.make(), redis_stores.make()
    assert isinstance(store, RedisFeedStore)
    await writer.append([text(1)])
    assert await store.latest() == 1
    after, entries = await store.tail(0, 0.2)
    assert after == 1 and [s for s, _, _ in entries] == [1]
    assert await store.tail(1, 0.2) == (1, [])  # nothing new: back after the block time
    waiting = asyncio.ensure_future(store.tail(1, 5.0))
    await asyncio.sleep(0.05)
    await writer.append([text(2), text(3)])
    after, entries = await asyncio.wait_for(waiting, 5.0)
    assert after == 3 and [s for s, _, _ in entries] == [2, 3]
    client = redis.Redis.from_url(redis_url(), decode_responses=True)
    try:  # an entry that is not an event is skipped, and the tail moves past it
        client.xadd(store.stream_key, {"junk": "1"}, id="4-0")
    finally:
        client.close()
    await writer.append([text(5)])
    after, entries = await store.tail(3, 0.2)
    assert after == 5 and [s for s, _, _ in entries] == [5]


@asyncio_test
async def test_redis_unreachable_is_state_unavailable(own_redis: OwnRedis) -> None:
    store = RedisFeedStore.from_url(
        own_redis.url, prefix="cti-test:feed:", max_len=100, timeout=0.5
    )
    try:
        assert await store.append([text(1)]) == [1]
        own_redis.stop()
        with pytest.raises(StateUnavailable):
            await store.append([text(2)])
        with pytest.raises(StateUnavailable):
            await store.read(0, 10)
    finally:
        await store.close()
