"""Who sees what: agents get their own events, their calls' events and queue-level events."""

from __future__ import annotations

from dataclasses import dataclass

from cti_server.events import (
    AgentBusy,
    AgentReady,
    CallAbandoned,
    CallCleared,
    CallDelivered,
    CallDequeued,
    CallHeld,
    CallOffered,
    CallQueued,
    OfferTimedOut,
)
from cti_server.push import EVERYONE, STAFF_ONLY, CallAudience, EventFeed, Scope, can_see
from cti_server.push.feed import event_payload


@dataclass(frozen=True)
class V:
    role: str
    agent_id: str | None = None


A1, A2 = V("agent", "1001"), V("agent", "1002")
SUPER, ADMIN = V("supervisor"), V("admin")


def visible(feed: EventFeed, viewer: V) -> list[str]:
    return [e.name for e in feed.since(0).entries if can_see(viewer, e.scope)]


def test_staff_see_everything_and_odd_viewers_nothing() -> None:
    for scope in (STAFF_ONLY, EVERYONE, Scope(agents=frozenset({"1001"}))):
        assert can_see(SUPER, scope) and can_see(ADMIN, scope)
        assert not can_see(V("agent", None), scope)
        assert not can_see(V("guest", "1001"), scope)


def test_an_agent_follows_its_own_call_and_not_anothers() -> None:
    feed = EventFeed()
    for event in [
        CallDelivered(at=1, call_id="c1", caller="010", called="1500"),
        CallQueued(at=2, call_id="c1", queue="sales", priority=0, position=1),
        AgentReady(at=2, agent_id="1002", state="ready", previous="not_ready"),
        CallOffered(at=3, call_id="c1", queue="sales", agent_id="1001", waited=1.0),
        CallHeld(at=4, call_id="c1", leg_id="L1"),
        CallDequeued(at=4, call_id="c1", queue="sales", agent_id="1001", waited=2.0),
        AgentBusy(at=4, agent_id="1001", state="busy", previous="reserved", call_id="c1"),
        CallCleared(at=9, call_id="c1", cause="caller_hangup"),
        CallHeld(at=10, call_id="c1", leg_id="L1"),  # after the end: not the agent's any more
        CallAbandoned(at=11, call_id="c2", queue="sales", position=1, waited=3.0),
    ]:
        feed.append(event)
    assert visible(feed, A1) == [
        "call_queued",
        "call_offered",
        "call_held",
        "call_dequeued",
        "agent_busy",
        "call_cleared",
        "call_abandoned",
    ]
    assert visible(feed, A2) == ["call_queued", "agent_ready", "call_dequeued", "call_abandoned"]
    assert len(visible(feed, SUPER)) == 10


def test_a_ring_no_answer_takes_the_agent_off_the_call_after_telling_it() -> None:
    audience = CallAudience()
    name, data = event_payload(
        CallOffered(at=1, call_id="c1", queue="q", agent_id="1001", waited=0.0)
    )
    audience.scope(name, data)
    assert audience.agents_on("c1") == {"1001"}
    name, data = event_payload(OfferTimedOut(at=2, call_id="c1", queue="q", agent_id="1001"))
    assert "1001" in audience.scope(name, data).agents
    assert audience.agents_on("c1") == frozenset()
    name, data = event_payload(CallHeld(at=3, call_id="c1", leg_id="x"))
    assert audience.scope(name, data) == STAFF_ONLY


def test_queue_statistics_events_are_queue_level_and_unknown_events_staff_only() -> None:
    audience = CallAudience()
    assert audience.scope("queue_stats", {"queue": "sales", "waiting": 3}) == EVERYONE
    assert audience.scope("something_new", {"x": 1}) == STAFF_ONLY
    assert audience.scope("call_dialed", {"call_id": "d1", "agent_id": "1002"}).agents == {"1002"}
    assert audience.agents_on("d1") == {"1002"}


def test_the_call_table_is_bounded() -> None:
    audience = CallAudience(max_calls=3)
    for i in range(10):
        audience.scope("call_offered", {"call_id": f"c{i}", "agent_id": "1001", "queue": "q"})
    assert [c for c in (f"c{i}" for i in range(10)) if audience.agents_on(c)] == ["c7", "c8", "c9"]
