"""The StateBackend contract, run against the in-memory backend and against Redis.

Both must agree on the lease (exclusive, expiring, renewable only by its holder with its
token), on fencing (a snapshot write with anything but the newest token is refused) and on
the event stream (ordered ids, exclusive cursors, bounded length).
"""

from __future__ import annotations

import asyncio
import json

import pytest

from cti_server.state import RedisBackend, StateUnavailable, parse_stream_id
from tests.state.conftest import Harness, OwnRedis, asyncio_test, redis_url

TTL = 0.4  # Redis runs on real time: short leases keep the suite fast


# --- the lease ------------------------------------------------------------------------------


@asyncio_test
async def test_the_lease_is_exclusive_and_names_its_holder(harness: Harness) -> None:
    backend = harness.make()
    assert await backend.holder() is None
    token = await backend.acquire("a", TTL)
    assert token is not None and token >= 1
    assert await backend.acquire("b", TTL) is None
    assert await backend.acquire("a", TTL) is None  # no re-grant to the holder either
    assert await backend.holder() == ("a", token)


@asyncio_test
async def test_renew_needs_the_holder_and_its_token(harness: Harness) -> None:
    backend = harness.make()
    token = await backend.acquire("a", TTL)
    assert token is not None
    assert await backend.renew("a", token, TTL) is True
    assert await backend.renew("a", token + 1, TTL) is False
    assert await backend.renew("b", token, TTL) is False
    assert await backend.holder() == ("a", token)


@asyncio_test
async def test_an_unrenewed_lease_expires_and_the_next_grant_has_a_higher_token(
    harness: Harness,
) -> None:
    backend = harness.make()
    first = await backend.acquire("a", TTL)
    assert first is not None
    await harness.wait(TTL + 0.1)
    assert await backend.holder() is None
    assert await backend.renew("a", first, TTL) is False  # too late: it is gone
    second = await backend.acquire("b", TTL)
    assert second is not None and second > first
    assert await backend.holder() == ("b", second)


@asyncio_test
async def test_renewing_keeps_the_lease_past_its_first_ttl(harness: Harness) -> None:
    backend = harness.make()
    ttl = 1.0  # room for a busy machine: each renewal comes 0.6 s before the lease runs out
    token = await backend.acquire("a", ttl)
    assert token is not None
    for _ in range(3):
        await harness.wait(ttl * 0.4)
        assert await backend.renew("a", token, ttl) is True
    assert await backend.acquire("b", ttl) is None
    assert await backend.holder() == ("a", token)


@asyncio_test
async def test_release_frees_the_lease_only_for_the_holder_with_its_token(
    harness: Harness,
) -> None:
    backend = harness.make()
    token = await backend.acquire("a", 30)
    assert token is not None
    await backend.release("a", token + 1)
    await backend.release("b", token)
    assert await backend.holder() == ("a", token)
    await backend.release("a", token)
    assert await backend.holder() is None
    again = await backend.acquire("b", 30)
    assert again == token + 1


@asyncio_test
async def test_two_nodes_sharing_the_store_see_one_lease(harness: Harness) -> None:
    node_a, node_b = harness.make(), harness.make()
    if harness.kind == "memory":
        node_b = node_a  # one process: the same store is the same object
    token = await node_a.acquire("a", TTL)
    assert token is not None
    assert await node_b.acquire("b", TTL) is None
    assert await node_b.holder() == ("a", token)


# --- the snapshot and its fencing -----------------------------------------------------------


@asyncio_test
async def test_snapshot_round_trip_with_its_token(harness: Harness) -> None:
    backend = harness.make()
    assert await backend.load_snapshot() is None
    token = await backend.acquire("a", 30)
    assert token is not None
    data = json.dumps({"agents": [{"id": "1001", "state": "ready", "name": "김상담"}]})
    assert await backend.save_snapshot(token, data) is True
    assert await backend.load_snapshot() == (token, data)


@asyncio_test
async def test_a_deposed_leaders_late_write_is_refused(harness: Harness) -> None:
    backend = harness.make()
    old = await backend.acquire("a", TTL)
    assert old is not None
    assert await backend.save_snapshot(old, '{"from": "a"}')
    await harness.wait(TTL + 0.1)
    new = await backend.acquire("b", TTL)
    assert new is not None and new > old
    assert await backend.save_snapshot(old, '{"from": "a, late"}') is False
    assert await backend.load_snapshot() == (old, '{"from": "a"}')
    assert await backend.save_snapshot(new, '{"from": "b"}') is True
    assert await backend.load_snapshot() == (new, '{"from": "b"}')


@asyncio_test
async def test_no_write_before_any_lease_was_granted(harness: Harness) -> None:
    backend = harness.make()
    assert await backend.save_snapshot(0, "{}") is False
    assert await backend.save_snapshot(1, "{}") is False
    assert await backend.load_snapshot() is None


# --- the event stream -----------------------------------------------------------------------


@asyncio_test
async def test_events_come_back_in_order_after_an_exclusive_cursor(harness: Harness) -> None:
    backend = harness.make()
    assert await backend.read_events("0", 10) == []
    texts = [json.dumps({"name": "agent_ready", "n": i, "who": "상담원"}) for i in range(7)]
    ids = [await backend.append_event(t) for t in texts]
    assert [parse_stream_id(i) for i in ids] == sorted(parse_stream_id(i) for i in ids)
    assert len(set(ids)) == 7
    assert await backend.read_events("0", 100) == list(zip(ids, texts, strict=True))
    assert await backend.read_events(ids[2], 2) == list(zip(ids[3:5], texts[3:5], strict=True))
    assert await backend.read_events(ids[-1], 10) == []


@asyncio_test
async def test_a_batch_is_appended_in_order_after_single_events(harness: Harness) -> None:
    backend = harness.make()
    first = await backend.append_event('{"n": 0}')
    assert await backend.append_events([]) == []
    texts = [f'{{"n": {i}}}' for i in range(1, 40)]
    ids = await backend.append_events(texts)
    assert len(ids) == 39 and parse_stream_id(ids[0]) > parse_stream_id(first)
    assert await backend.read_events(first, 100) == list(zip(ids, texts, strict=True))


@asyncio_test
async def test_a_reader_pages_through_the_whole_stream(harness: Harness) -> None:
    backend = harness.make()
    for i in range(25):
        await backend.append_event(f'{{"n": {i}}}')
    seen: list[str] = []
    cursor = "0"
    while page := await backend.read_events(cursor, 10):
        seen += [text for _, text in page]
        cursor = page[-1][0]
    assert seen == [f'{{"n": {i}}}' for i in range(25)]


@asyncio_test
async def test_the_stream_is_trimmed_to_about_max_events_keeping_the_newest(
    harness: Harness,
) -> None:
    backend = harness.make(max_events=5)
    ids = [await backend.append_event(f'{{"n": {i}}}') for i in range(300)]
    kept = await backend.read_events("0", 1000)
    # Redis trims whole stream nodes (MAXLEN ~): at least max_events stay, far fewer than 300.
    assert 5 <= len(kept) < 300
    assert kept[-5:] == [(ids[i], f'{{"n": {i}}}') for i in range(295, 300)]


# --- Redis only -----------------------------------------------------------------------------


@asyncio_test
async def test_keys_stay_under_the_prefix_and_delete_all_removes_them(
    redis_harness: Harness,
) -> None:
    backend = redis_harness.make()
    assert isinstance(backend, RedisBackend)
    token = await backend.acquire("a", 30)
    assert token is not None
    await backend.save_snapshot(token, "{}")
    await backend.append_event("{}")
    other = RedisBackend.from_url(redis_url(), prefix=redis_harness.prefix + "x:")
    try:
        assert await other.holder() is None  # another prefix is another world
        assert await other.acquire("b", 30) is not None
        assert await backend.delete_all() >= 4  # lease, epoch, snapshot, events (and x:*)
        assert await backend.holder() is None and await backend.load_snapshot() is None
    finally:
        await other.close()


@asyncio_test
async def test_an_unreachable_redis_is_reported_fast_as_state_unavailable(
    own_redis: OwnRedis,
) -> None:
    backend = RedisBackend.from_url(own_redis.url, prefix="cti-test:", timeout=0.5)
    try:
        token = await backend.acquire("a", 5)
        assert token == 1
        own_redis.stop()
        loop = asyncio.get_running_loop()
        started = loop.time()
        for call in (backend.renew("a", token, 5), backend.append_event("{}")):
            with pytest.raises(StateUnavailable):
                await call
        assert loop.time() - started < 2.0  # no retry loop: the lease must hear it in time
    finally:
        await backend.close()
