"""Two nodes sharing the feed through Redis, over real WebSockets: one numbering, live events
from either node on both, and a desktop that reconnects to the other node (or to a node
started after the events) catches up from its cursor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_twisted

from cti_server.api.push_wiring import EventPush, PushSettings, build_event_push
from cti_server.bus import EventBus
from cti_server.config import Config, RedisConfig
from cti_server.events import CallQueued
from tests.push.ws_client import Endpoint, authenticate, wait_for
from tests.state.conftest import (
    OwnRedis,
    delete_prefix_sync,
    random_prefix,
    redis_problem,
    redis_url,
)

pytestmark = pytest.mark.timeout(30)

Node = tuple[Endpoint, EventBus]


def queued(i: int) -> CallQueued:
    return CallQueued(at=float(i), call_id=f"c{i}", queue="sales", priority=0, position=1)


@pytest_twisted.async_yield_fixture
async def cluster() -> AsyncIterator[Callable[[], Any]]:
    """``await start()`` builds one more node on the shared prefix, listening and tailing."""
    if redis_problem():
        pytest.skip(redis_problem())
    from twisted.internet import reactor

    prefix = random_prefix()
    config = Config(redis=RedisConfig(url=redis_url(), key_prefix=prefix))
    nodes: list[Endpoint] = []

    async def start() -> Node:
        bus = EventBus()
        settings = PushSettings(ring_size=50, heartbeat_interval=0.5, auto_ping=0, block=0.2)
        push: EventPush = build_event_push(config, reactor, bus, authenticate, settings=settings)
        ep = Endpoint(reactor, push)
        ep.listen()
        push.start()
        service = push.service
        assert service is not None
        await wait_for(reactor, lambda: service.tailing, what="the tail")
        nodes.append(ep)
        return ep, bus

    yield start
    for ep in nodes:
        await ep.close()
    delete_prefix_sync(redis_url(), prefix)


@pytest_twisted.ensureDeferred
async def test_both_nodes_push_the_same_numbers_and_a_cursor_moves_between_them(
    cluster: Callable[[], Any],
) -> None:
    (node_a, bus_a), (node_b, bus_b) = await cluster(), await cluster()
    on_a = await node_a.connect("token=t-super")
    on_b = await node_b.connect("token=t-1001")
    bus_a.publish(queued(1))
    bus_b.publish(queued(2))
    bus_a.publish(queued(3))
    await wait_for(node_a.reactor, lambda: len(on_a.seqs) == 3, what="events on A")
    await wait_for(node_a.reactor, lambda: len(on_b.seqs) == 3, what="events on B")
    assert on_a.seqs == on_b.seqs == [1, 2, 3]
    ids = [m["data"]["call_id"] for m in on_a.messages if "event" in m]
    assert ids == [m["data"]["call_id"] for m in on_b.messages if "event" in m]
    cursor = on_a.cursor()
    on_a.protocol_instance.dropConnection(abort=True)  # type: ignore[union-attr]
    await on_a.closed
    for i in range(4, 8):
        (bus_a if i % 2 else bus_b).publish(queued(i))
    moved = await node_b.connect(f"token=t-super&cursor={cursor}")
    await wait_for(node_a.reactor, lambda: moved.seqs == [4, 5, 6, 7], what="catch-up on B")


@pytest_twisted.ensureDeferred
async def test_a_node_started_later_replays_old_cursors_from_redis(
    cluster: Callable[[], Any],
) -> None:
    node_a, bus_a = await cluster()
    watcher = await node_a.connect("token=t-super")
    for i in range(1, 31):
        bus_a.publish(queued(i))
    await wait_for(node_a.reactor, lambda: len(watcher.seqs) == 30, what="events on A")
    node_c, _ = await cluster()  # its ring starts empty, after seq 30
    late = await node_c.connect("token=t-super&cursor=10")
    assert late.seqs == list(range(11, 31))
    bus_a.publish(queued(31))
    await wait_for(node_a.reactor, lambda: late.seqs[-1:] == [31], what="live on C")


@pytest_twisted.ensureDeferred
async def test_an_emptied_stream_is_noticed_and_clients_get_a_gap(
    cluster: Callable[[], Any],
) -> None:
    node, bus = await cluster()
    client = await node.connect("token=t-super")
    for i in range(1, 4):
        bus.publish(queued(i))
    await wait_for(node.reactor, lambda: client.seqs == [1, 2, 3], what="events")
    prefix = node.push.service.store.prefix  # type: ignore[union-attr]
    delete_prefix_sync(redis_url(), prefix)  # an operator emptied Redis
    bus.publish(queued(4))
    bus.publish(queued(5))  # numbered 1 and 2 again
    await wait_for(node.reactor, lambda: {"type": "gap", "oldest": 3} in client.messages)
    bus.publish(queued(6))
    events = lambda: [(m["seq"], m["data"]["call_id"]) for m in client.messages if "event" in m]  # noqa: E731
    await wait_for(node.reactor, lambda: events()[-1] == (3, "c6"), what="the new numbering")


@pytest_twisted.ensureDeferred
async def test_redis_going_away_queues_events_and_breaks_nothing(own_redis: OwnRedis) -> None:
    from twisted.internet import reactor

    bus = EventBus()
    config = Config(redis=RedisConfig(url=own_redis.url, key_prefix="cti-test:"))
    settings = PushSettings(auto_ping=0, block=0.2)
    push = build_event_push(config, reactor, bus, authenticate, settings=settings)
    service = push.service
    assert service is not None
    push.start()
    await wait_for(reactor, lambda: service.tailing, what="the tail")
    bus.publish(queued(1))
    await wait_for(reactor, lambda: push.feed.latest == 1, what="seq 1 back from the tail")
    own_redis.stop()
    for i in range(2, 5):
        bus.publish(queued(i))  # never raises into the bus
    await wait_for(reactor, lambda: service.tail_errors >= 1, what="the tail noticing")
    assert service.appended == 1 and push.feed.latest == 1
    assert service.dropped == 0
    await push.stop()
