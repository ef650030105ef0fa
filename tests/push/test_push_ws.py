"""The live event WebSocket end to end on a real loopback port (single node, in memory):
live delivery, catch-up from a cursor, agent filtering, bad tokens, a slow client cut off
while a fast one keeps up."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_twisted
from twisted.internet import task

from cti_server.api.push_wiring import PushSettings, build_event_push
from cti_server.bus import EventBus
from cti_server.config import Config
from cti_server.events import AgentReady, CallDelivered, CallOffered, CallQueued
from tests.push.ws_client import Endpoint, authenticate, wait_for

pytestmark = pytest.mark.timeout(30)


def queued(i: int) -> CallQueued:
    return CallQueued(at=float(i), call_id=f"c{i}", queue="sales", priority=0, position=1)


@pytest_twisted.async_yield_fixture
async def endpoint() -> AsyncIterator[tuple[Endpoint, EventBus]]:
    from twisted.internet import reactor

    bus = EventBus()
    settings = PushSettings(
        max_buffered_bytes=256 * 1024, max_stall=1.0, heartbeat_interval=0.5, auto_ping=0
    )
    push = build_event_push(Config(), reactor, bus, authenticate, settings=settings)
    ep = Endpoint(reactor, push)
    ep.listen()
    yield ep, bus
    await ep.close()


@pytest_twisted.ensureDeferred
async def test_live_events_heartbeats_and_catch_up_after_a_reconnect(
    endpoint: tuple[Endpoint, EventBus],
) -> None:
    ep, bus = endpoint
    for i in range(1, 4):
        bus.publish(queued(i))
    first = await ep.connect("token=t-super")
    assert first.messages[0] == {"type": "heartbeat", "seq": 3}  # live only: no history
    for i in range(4, 7):
        bus.publish(queued(i))
    await wait_for(ep.reactor, lambda: first.seqs == [4, 5, 6], what="live events")
    assert first.messages[1]["event"] == "call_queued"
    assert first.messages[1]["data"]["call_id"] == "c4"
    await wait_for(ep.reactor, lambda: len(first.heartbeats) >= 2, what="a periodic heartbeat")
    cursor = first.cursor()
    first.protocol_instance.dropConnection(abort=True)  # type: ignore[union-attr]
    await first.closed
    for i in range(7, 10):  # missed while away
        bus.publish(queued(i))
    again = await ep.connect(f"token=t-super&cursor={cursor}")
    assert again.seqs == [7, 8, 9]
    bus.publish(queued(10))
    await wait_for(ep.reactor, lambda: again.seqs == [7, 8, 9, 10], what="live after catch-up")
    old = await ep.connect("token=t-super&cursor=0")
    assert old.seqs[:3] == [1, 2, 3]


@pytest_twisted.ensureDeferred
async def test_an_agent_only_sees_its_own_and_queue_events(
    endpoint: tuple[Endpoint, EventBus],
) -> None:
    ep, bus = endpoint
    agent = await ep.connect("token=t-1001")
    boss = await ep.connect("token=t-super")
    bus.publish(queued(1))
    bus.publish(CallOffered(at=2, call_id="c1", queue="sales", agent_id="1001", waited=1.0))
    bus.publish(AgentReady(at=3, agent_id="1002", state="ready", previous="not_ready"))
    bus.publish(CallDelivered(at=4, call_id="c9", caller="0101234", called="1500"))
    await wait_for(ep.reactor, lambda: len(boss.seqs) == 4, what="supervisor events")
    await wait_for(ep.reactor, lambda: len(agent.heartbeats) >= 2, what="agent heartbeat")
    assert [m["event"] for m in agent.messages if "event" in m] == ["call_queued", "call_offered"]
    assert agent.heartbeats[-1] == 4  # its cursor moved past what it may not see


@pytest_twisted.ensureDeferred
async def test_bad_tokens_and_cursors_are_closed_with_a_code(
    endpoint: tuple[Endpoint, EventBus],
) -> None:
    ep, _ = endpoint
    for query, code in [
        ("token=nope", 4401),
        ("cursor=3", 4401),
        ("token=t-super&cursor=abc", 4400),
        ("token=t-super&cursor=-1", 4400),
        ("token=d-nope", 4401),  # a token store that answers later
        ("token=down", 4503),  # ... or not at all
    ]:
        client = await ep.connect(query, wait_live=False)
        got = await client.closed
        assert got[0] == code, query
        assert client.messages == []
    assert ep.push.hub.stats.rejected == 6 and ep.push.hub.connected == 0
    later = await ep.connect("token=d-t-1001")
    header = await ep.connect("", headers={"Authorization": "Bearer t-super"})
    assert ep.push.hub.connected == 2 and later.heartbeats and header.heartbeats


@pytest_twisted.ensureDeferred
async def test_a_client_that_stops_reading_is_cut_off_and_a_fast_one_keeps_receiving(
    endpoint: tuple[Endpoint, EventBus],
) -> None:
    ep, bus = endpoint
    slow = await ep.connect("token=t-super")
    fast = await ep.connect("token=t-super")
    slow.protocol_instance.transport.pauseProducing()  # type: ignore[union-attr]  # stops reading
    big = "x" * 20_000  # 20 KB events fill the kernel buffers quickly
    sent = 0
    stats = ep.push.hub.stats
    while stats.cut_off["stalled"] == 0 and sent < 5_000:
        for _ in range(5):
            sent += 1
            bus.publish(CallDelivered(at=float(sent), call_id=f"c{sent}", caller=big, called="1"))
        await task.deferLater(ep.reactor, 0.002, lambda: None)
    assert stats.cut_off["stalled"] == 1, f"not cut off after {sent} events"
    assert stats.fell_behind >= 1
    bus.publish(queued(sent + 1))
    await wait_for(ep.reactor, lambda: len(fast.seqs) == sent + 1, timeout=15, what="fast client")
    assert fast.seqs == list(range(1, sent + 2))  # nothing lost, in order
    slow.protocol_instance.transport.resumeProducing()  # type: ignore[union-attr]
    await wait_for(ep.reactor, lambda: slow.close is not None, what="slow client dropped")
    assert len(slow.seqs) < sent
    assert ep.push.hub.connected == 1
