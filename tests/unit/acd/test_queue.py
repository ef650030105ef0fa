"""Queue behaviour: order, position, overflow rules, announcements, abandons, estimates."""

from __future__ import annotations

from typing import Any

import pytest

from acd import DEFAULT_AHT, DuplicateCallError, UnknownQueueError
from acd.protocol import (
    AgentCallEnded,
    AgentLogin,
    AgentLogout,
    Announce,
    CallerLeft,
    ChangeAgentState,
    OfferAnswered,
    Overflow,
    QueueCall,
)
from cti_server import events as ev
from tests.unit.acd.harness import Acd, settings


def one_queue(agents: int = 1, **queue: Any) -> Acd:
    q = {"name": "q", "wrap_up": 0, "announce_every": None, **queue}
    return Acd(settings([q], [{"id": f"a{i}", "queues": ["q"]} for i in range(agents)]))


def overflows(a: Acd) -> list[tuple[str, str, str, str]]:
    return [(o.call_id, o.queue, o.target, o.reason) for o in a.actions if isinstance(o, Overflow)]


def staffed_but_busy(a: Acd) -> None:
    """a0 logged in, not ready: calls wait."""
    a.feed(AgentLogin(agent_id="a0", ready=False))


def test_priority_first_then_fifo_and_positions() -> None:
    a = one_queue()
    staffed_but_busy(a)
    a.feed(QueueCall(call_id="c1", queue="q"), after=1)
    a.feed(QueueCall(call_id="c2", queue="q"), after=1)
    a.feed(QueueCall(call_id="vip", queue="q", priority=5), after=1)
    assert a.of(ev.CallQueued)[0].position == 1  # jumped the line
    a.feed(QueueCall(call_id="c3", queue="q"), after=1)
    assert [a.d.position(c) for c in ("vip", "c1", "c2", "c3")] == [1, 2, 3, 4]
    assert a.d.position("nope") is None
    a.feed(ChangeAgentState(agent_id="a0", state="ready"), after=1)
    order = []
    while a.offers():
        [(call, _)] = a.offers()
        order.append(call)
        a.feed(OfferAnswered(call_id=call, agent_id="a0"))
        a.feed(AgentCallEnded(call_id=call, agent_id="a0"), after=5)
    assert order == ["vip", "c1", "c2", "c3"]


def test_unknown_queue_and_duplicate_call() -> None:
    a = one_queue()
    with pytest.raises(UnknownQueueError):
        a.feed(QueueCall(call_id="c1", queue="nope"))
    staffed_but_busy(a)
    a.feed(QueueCall(call_id="c1", queue="q"))
    with pytest.raises(DuplicateCallError):
        a.feed(QueueCall(call_id="c1", queue="q"))
    with pytest.raises(UnknownQueueError):
        a.d.queue_stats("nope")


def test_max_length_refuses_to_the_overflow_target() -> None:
    a = one_queue(max_length=2, overflow="callback")
    staffed_but_busy(a)
    a.feed(QueueCall(call_id="c1", queue="q"))
    a.feed(QueueCall(call_id="c2", queue="q"))
    a.feed(QueueCall(call_id="c3", queue="q"))
    assert overflows(a) == [("c3", "q", "callback", "max_length")]
    [e] = a.events
    assert isinstance(e, ev.CallOverflowed) and (e.target, e.waited) == ("callback", 0)
    assert a.d.position("c3") is None and a.d.queue_stats("q")["waiting"] == 2


def test_overflow_without_a_target_goes_to_voicemail() -> None:
    a = one_queue(max_length=1)
    staffed_but_busy(a)
    a.feed(QueueCall(call_id="c1", queue="q"))
    a.feed(QueueCall(call_id="c2", queue="q"))
    assert overflows(a) == [("c2", "q", "voicemail", "max_length")]


def test_max_wait_overflows_at_the_deadline() -> None:
    a = one_queue(max_wait=60, overflow="voicemail")
    staffed_but_busy(a)
    a.feed(QueueCall(call_id="c1", queue="q"))
    a.advance(59.9)
    assert a.actions == []
    a.advance(0.1)
    assert overflows(a) == [("c1", "q", "voicemail", "max_wait")]
    assert a.of(ev.CallOverflowed)[0].waited == pytest.approx(60)
    assert a.d.queue_stats("q")["waiting"] == 0 and a.d.next_deadline() is None


def test_max_wait_while_ringing_withdraws_the_offer() -> None:
    a = one_queue(max_wait=20, offer_timeout=30)
    a.feed(AgentLogin(agent_id="a0"))
    a.feed(QueueCall(call_id="c1", queue="q"), after=10)
    a.advance(20)
    assert a.withdrawals() == [("c1", "a0", "overflow")]
    assert overflows(a) == [("c1", "q", "voicemail", "max_wait")]
    assert a.state("a0") == "ready"


def test_no_agents_logged_in_refuses_when_join_when_empty_is_off() -> None:
    a = one_queue(join_when_empty=False, overflow="callback")
    a.feed(QueueCall(call_id="c1", queue="q"))
    assert overflows(a) == [("c1", "q", "callback", "no_agents")]
    a.feed(AgentLogin(agent_id="a0", ready=False))  # logged in, even if not ready, is enough
    a.feed(QueueCall(call_id="c2", queue="q"))
    assert overflows(a) == [] and a.d.position("c2") == 1


def test_join_when_empty_lets_calls_wait_for_the_first_agent() -> None:
    a = one_queue()
    a.feed(QueueCall(call_id="c1", queue="q"))
    assert a.actions == [] and a.d.estimated_wait("q") is None
    a.feed(AgentLogin(agent_id="a0"), after=30)
    assert a.offers() == [("c1", "a0")]
    assert a.of(ev.CallOffered)[0].waited == 30


def test_leave_when_empty_overflows_waiting_calls_when_the_last_agent_leaves() -> None:
    a = one_queue(agents=2, leave_when_empty=True, overflow="voicemail")
    a.feed(AgentLogin(agent_id="a0", ready=False))
    a.feed(AgentLogin(agent_id="a1", ready=False))
    a.feed(QueueCall(call_id="c1", queue="q"))
    a.feed(QueueCall(call_id="c2", queue="q"))
    a.feed(AgentLogout(agent_id="a0"))
    assert overflows(a) == []
    a.feed(AgentLogout(agent_id="a1"))
    assert overflows(a) == [
        ("c1", "q", "voicemail", "no_agents"),
        ("c2", "q", "voicemail", "no_agents"),
    ]
    a.feed(QueueCall(call_id="c3", queue="q"))  # and refuses to join while empty
    assert overflows(a) == [("c3", "q", "voicemail", "no_agents")]


def two_queues(**first: Any) -> Acd:
    return Acd(
        settings(
            [
                {"name": "q1", "overflow": "queue:q2", "announce_every": None, **first},
                {"name": "q2", "announce_every": None, "wrap_up": 0},
            ],
            [{"id": "a1", "queues": ["q1"]}, {"id": "a2", "queues": ["q2"]}],
        )
    )


def test_overflow_to_another_queue_keeps_the_original_arrival() -> None:
    a = two_queues(max_wait=30)
    a.feed(AgentLogin(agent_id="a1", ready=False))
    a.feed(AgentLogin(agent_id="a2", ready=False))
    a.feed(QueueCall(call_id="old", queue="q1"))
    a.feed(QueueCall(call_id="new", queue="q2"), after=10)
    a.advance(20)  # old overflows to q2 after 30 s, behind nobody: it arrived first
    assert overflows(a) == [("old", "q1", "queue:q2", "max_wait")]
    queued = a.of(ev.CallQueued)
    assert (queued[0].queue, queued[0].position) == ("q2", 1)
    assert a.d.position("old") == 1 and a.d.position("new") == 2
    a.feed(ChangeAgentState(agent_id="a2", state="ready"), after=5)
    assert a.offers() == [("old", "a2")]
    assert a.of(ev.CallOffered)[0].waited == pytest.approx(35)


def test_overflow_to_a_full_queue_follows_that_queue_and_loops_end_in_voicemail() -> None:
    a = Acd(
        settings(
            [
                {"name": "q1", "max_length": 1, "overflow": "queue:q2"},
                {"name": "q2", "max_length": 1, "overflow": "queue:q1"},
            ],
            [{"id": "a1", "queues": ["q1", "q2"]}],
        )
    )
    a.feed(AgentLogin(agent_id="a1", ready=False))
    a.feed(QueueCall(call_id="c1", queue="q1"))
    a.feed(QueueCall(call_id="c2", queue="q2"))
    a.feed(QueueCall(call_id="c3", queue="q1"))
    assert overflows(a) == [
        ("c3", "q1", "queue:q2", "max_length"),
        ("c3", "q2", "voicemail", "max_length"),
    ]


def test_announcements_of_position_and_wait() -> None:
    a = one_queue(announce_every=30)
    a.feed(AgentLogin(agent_id="a0"))
    a.feed(QueueCall(call_id="x", queue="q"))
    a.feed(OfferAnswered(call_id="x", agent_id="a0"))  # staffed, busy: calls wait
    a.feed(QueueCall(call_id="c1", queue="q"))
    a.feed(QueueCall(call_id="c2", queue="q"), after=10)
    a.advance(10)
    assert a.actions == []  # the busy call's announcement timer went with it
    a.advance(10)
    assert a.actions == [Announce(call_id="c1", position=1, minutes=3)]  # 1 x 180 s / 1
    a.advance(10)
    assert a.actions == [Announce(call_id="c2", position=2, minutes=6)]
    a.feed(CallerLeft(call_id="c1"), after=5)
    a.advance(25)
    assert a.actions == [Announce(call_id="c2", position=1, minutes=3)]


def test_announcement_options() -> None:
    a = one_queue(announce_every=10, announce_wait=False)
    staffed_but_busy(a)
    a.feed(QueueCall(call_id="c1", queue="q"))
    a.advance(10)
    assert a.actions == [Announce(call_id="c1", position=1, minutes=None)]
    b = one_queue(announce_every=10, announce_position=False)
    b.feed(QueueCall(call_id="c1", queue="q"))  # nobody staffed: no estimate, nothing to say
    b.advance(10)
    assert b.actions == []
    c = one_queue(announce_every=10, announce_position=False, announce_wait=False)
    c.feed(QueueCall(call_id="c1", queue="q"))
    assert c.d.next_deadline() is None


def test_no_announcement_while_an_agent_rings() -> None:
    a = one_queue(announce_every=10, offer_timeout=30)
    a.feed(AgentLogin(agent_id="a0"))
    a.feed(QueueCall(call_id="c1", queue="q"))
    a.advance(20)
    assert [x for x in a.actions if isinstance(x, Announce)] == []


def test_caller_left_is_an_abandon_with_position_and_wait() -> None:
    a = one_queue()
    staffed_but_busy(a)
    a.feed(QueueCall(call_id="c1", queue="q"))
    a.feed(QueueCall(call_id="c2", queue="q"), after=1)
    a.feed(CallerLeft(call_id="c2"), after=42)
    [e] = a.events
    assert isinstance(e, ev.CallAbandoned) and (e.queue, e.position, e.waited) == ("q", 2, 42)
    a.feed(CallerLeft(call_id="c2"))  # twice, or unknown: nothing
    assert a.events == []


def test_caller_left_while_ringing_withdraws_without_blaming_the_agent() -> None:
    a = one_queue()
    a.feed(AgentLogin(agent_id="a0"))
    a.feed(QueueCall(call_id="c1", queue="q"), after=5)
    idle = a.row("a0")["idle_since"]
    a.feed(CallerLeft(call_id="c1"), after=3)
    assert a.withdrawals() == [("c1", "a0", "caller_left")]
    assert a.state("a0") == "ready" and a.row("a0")["idle_since"] == idle
    assert [e.name for e in a.events] == ["agent_ready", "call_abandoned"]


def test_estimated_wait_and_stats() -> None:
    a = one_queue(agents=3)
    assert a.d.estimated_wait("q") is None  # nobody staffed
    a.feed(AgentLogin(agent_id="a0"))
    assert a.d.estimated_wait("q") == 0.0
    a.feed(QueueCall(call_id="c1", queue="q"))
    a.feed(OfferAnswered(call_id="c1", agent_id="a0"))
    a.feed(AgentLogin(agent_id="a1", ready=False))
    a.feed(AgentLogin(agent_id="a2"))
    a.feed(ChangeAgentState(agent_id="a2", state="away"))
    a.feed(QueueCall(call_id="c2", queue="q"), after=10)
    stats = a.d.queue_stats("q", now=a.now + 5)
    assert stats == {
        "queue": "q",
        "waiting": 1,
        "offered": 0,
        "longest_wait": 5.0,
        "logged_in": 3,
        "ready": 0,
        "reserved": 0,
        "busy": 1,
        "wrap_up": 0,
        "not_ready": 1,
        "away": 1,
        "average_handle_time": DEFAULT_AHT,
        "estimated_wait": 2 * DEFAULT_AHT / 1,
    }
    a.feed(AgentCallEnded(call_id="c1", agent_id="a0"), after=60)  # a0 handles c2 next
    assert a.d.queue_stats("q")["average_handle_time"] == 70.0
    assert a.d.queue_stats("q")["offered"] == 1
