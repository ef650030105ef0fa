"""Distributor decisions: ring-no-answer, failures, designated agents, fairness, fail-over."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from acd import RETRY_SECONDS, Distributor
from acd.protocol import (
    AgentCallEnded,
    AgentLogin,
    AgentLogout,
    CallerLeft,
    ChangeAgentState,
    Offer,
    OfferAnswered,
    OfferFailed,
    Overflow,
    QueueCall,
    WrapUpDone,
)
from cti_server import events as ev
from tests.unit.acd.harness import Acd, settings


def group(n: int = 3, **queue: Any) -> Acd:
    q = {"name": "q", "wrap_up": 0, "announce_every": None, **queue}
    return Acd(settings([q], [{"id": f"a{i}", "queues": ["q"]} for i in range(n)]))


def login_all(a: Acd, n: int = 3) -> None:
    for i in range(n):
        a.feed(AgentLogin(agent_id=f"a{i}"), after=1)


# --- ring-no-answer and failures ---------------------------------------------------------------


def test_ring_no_answer_parks_the_agent_and_offers_the_next() -> None:
    a = group()
    login_all(a)
    a.feed(QueueCall(call_id="c1", queue="q"))
    assert a.offers() == [("c1", "a0")] and a.d.next_deadline() == a.now + 15
    a.advance(15)
    assert a.withdrawals() == [("c1", "a0", "no_answer")]
    assert a.offers() == [("c1", "a1")]
    assert a.names() == [
        "offer_timed_out",
        "agent_not_ready",
        "call_offered",
        "agent_reserved",
    ]
    assert a.of(ev.AgentNotReady)[0].reason == "no_answer" and a.state("a0") == "not_ready"
    assert a.row("a0")["offers"] == 1 and a.row("a0")["answer_rate"] == 0.0
    a.feed(OfferAnswered(call_id="c1", agent_id="a0"))  # the late answer of a0: ignored
    assert a.events == [] and a.state("a1") == "reserved"


def test_ring_no_answer_without_parking_puts_the_agent_at_the_back() -> None:
    a = group(n=2, no_answer_not_ready=False)
    login_all(a, 2)
    a.feed(QueueCall(call_id="c1", queue="q"))
    a.advance(15)
    assert a.offers() == [("c1", "a1")] and a.state("a0") == "ready"
    a.feed(QueueCall(call_id="c2", queue="q"))
    assert a.offers() == [("c2", "a0")]


def test_a_missed_call_is_not_offered_to_the_same_agent_again_at_once() -> None:
    a = group(n=1, no_answer_not_ready=False)
    login_all(a, 1)
    a.feed(QueueCall(call_id="c1", queue="q"))
    a.advance(15)
    assert a.offers() == [] and a.state("a0") == "ready"
    a.advance(RETRY_SECONDS)
    assert a.offers() == [("c1", "a0")]


def test_offer_failed_is_declined_and_goes_to_the_next_agent() -> None:
    a = group()
    login_all(a)
    a.feed(QueueCall(call_id="c1", queue="q"))
    a.feed(OfferFailed(call_id="c1", agent_id="a0", reason="busy"), after=1)
    [d] = a.of(ev.OfferDeclined)
    assert (d.agent_id, d.reason) == ("a0", "busy")
    assert a.of(ev.AgentNotReady)[0].reason == "declined"
    assert a.offers() == [("c1", "a1")] and a.withdrawals() == []
    a.feed(OfferFailed(call_id="c1", agent_id="a0"))  # stale
    assert a.events == []


def test_an_instantly_failing_phone_cannot_loop() -> None:
    a = group(n=1, no_answer_not_ready=False)
    login_all(a, 1)
    a.feed(QueueCall(call_id="c1", queue="q"))
    for _ in range(3):
        a.feed(OfferFailed(call_id="c1", agent_id="a0", reason="unreachable"))
        assert a.offers() == []
        a.advance(RETRY_SECONDS)
        assert a.offers() == [("c1", "a0")]


def test_answer_dequeues_and_counts() -> None:
    a = group()
    login_all(a)
    a.feed(QueueCall(call_id="c1", queue="q", customer_id="k1"), after=1)
    a.feed(OfferAnswered(call_id="c1", agent_id="a0"), after=4)
    [dq] = a.of(ev.CallDequeued)
    assert (dq.agent_id, dq.waited) == ("a0", 4)
    assert a.d.position("c1") is None and a.d.queue_stats("q")["waiting"] == 0
    assert a.row("a0")["call_id"] == "c1" and a.row("a0")["answer_rate"] == 1.0
    a.feed(CallerLeft(call_id="c1"))  # after the answer the host reports call ends instead
    assert a.events == []


def test_stale_call_end_and_wrong_agent_answer_are_ignored() -> None:
    a = group()
    login_all(a)
    a.feed(QueueCall(call_id="c1", queue="q"))
    a.feed(OfferAnswered(call_id="c1", agent_id="a2"))
    a.feed(AgentCallEnded(call_id="c1", agent_id="a0"))
    a.feed(OfferAnswered(call_id="zz", agent_id="a0"))
    assert a.all_events[-1].name == "agent_reserved" and a.state("a0") == "reserved"


def test_a_call_can_return_to_the_queue_while_its_agent_is_still_on_it() -> None:
    a = group(wrap_up=5)
    login_all(a)
    a.feed(QueueCall(call_id="c1", queue="q"))
    a.feed(OfferAnswered(call_id="c1", agent_id="a0"))
    a.feed(QueueCall(call_id="c1", queue="q"))  # transferred back to the queue
    assert a.offers() == [("c1", "a1")]
    a.feed(AgentCallEnded(call_id="c1", agent_id="a0"))
    assert a.state("a0") == "wrap_up"


# --- designated agent -----------------------------------------------------------------------


def designated_team(**queue: Any) -> Acd:
    return group(designated_wait=20, **queue)


def test_designated_agent_first_then_the_group() -> None:
    a = designated_team()
    login_all(a)
    a.feed(ChangeAgentState(agent_id="a2", state="not_ready"))
    a.feed(QueueCall(call_id="c1", queue="q", designated_agent="a2"))
    assert a.offers() == []  # a0 and a1 are ready, but the caller asked for a2
    assert a.d.position("c1") == 1
    a.advance(19)
    assert a.offers() == []
    a.advance(1)
    assert a.offers() == [("c1", "a0")]


def test_designated_agent_gets_the_call_when_ready_in_time() -> None:
    a = designated_team()
    login_all(a)
    a.feed(ChangeAgentState(agent_id="a2", state="not_ready"))
    a.feed(QueueCall(call_id="c1", queue="q", designated_agent="a2"))
    a.feed(QueueCall(call_id="c2", queue="q"))
    assert a.offers() == [("c2", "a0")]
    a.feed(ChangeAgentState(agent_id="a2", state="ready"), after=5)
    assert a.offers() == [("c1", "a2")]


def test_designated_agent_ready_is_offered_at_once_and_a_miss_releases_to_the_group() -> None:
    a = designated_team()
    login_all(a)
    a.feed(QueueCall(call_id="c1", queue="q", designated_agent="a2"))
    assert a.offers() == [("c1", "a2")]
    a.advance(15)
    assert a.offers() == [("c1", "a0")]


def test_designated_agent_away_sends_the_caller_to_their_voicemail() -> None:
    a = designated_team()
    login_all(a)
    a.feed(ChangeAgentState(agent_id="a1", state="away", by="sup"))
    a.feed(QueueCall(call_id="c1", queue="q", designated_agent="a1"))
    assert a.actions == [
        Overflow(call_id="c1", queue="q", target="voicemail", reason="agent_away", agent_id="a1")
    ]
    [o] = a.events
    assert isinstance(o, ev.CallOverflowed) and o.reason == "agent_away"


def test_designated_agent_going_away_while_the_call_waits() -> None:
    a = designated_team()
    login_all(a)
    a.feed(ChangeAgentState(agent_id="a1", state="not_ready"))
    a.feed(QueueCall(call_id="c1", queue="q", designated_agent="a1"))
    a.feed(ChangeAgentState(agent_id="a1", state="away"), after=3)
    assert next(x for x in a.actions if isinstance(x, Overflow)).agent_id == "a1"


def test_designated_agent_logged_out_or_unknown_means_the_group() -> None:
    a = designated_team()
    a.feed(AgentLogin(agent_id="a0"))
    a.feed(QueueCall(call_id="c1", queue="q", designated_agent="a2"))
    assert a.offers() == [("c1", "a0")]
    a.feed(QueueCall(call_id="c2", queue="q", designated_agent="nobody"))
    a.feed(AgentLogin(agent_id="a1"))
    assert a.offers() == [("c2", "a1")]


def test_designated_agent_logging_out_releases_their_calls() -> None:
    a = designated_team()
    login_all(a)
    a.feed(ChangeAgentState(agent_id="a2", state="not_ready"))
    a.feed(QueueCall(call_id="c1", queue="q", designated_agent="a2"))
    a.feed(AgentLogout(agent_id="a2"), after=2)
    assert a.offers() == [("c1", "a0")]


# --- fairness across queues -------------------------------------------------------------------


def shared(weights: tuple[float, float] = (1.0, 1.0)) -> Acd:
    queues = [
        {"name": "q1", "weight": weights[0], "wrap_up": 0, "announce_every": None},
        {"name": "q2", "weight": weights[1], "wrap_up": 0, "announce_every": None},
    ]
    return Acd(settings(queues, [{"id": "a", "queues": ["q1", "q2"]}]))


def test_a_freed_agent_takes_the_longest_waiting_call_across_queues() -> None:
    a = shared()
    a.feed(AgentLogin(agent_id="a", ready=False))
    a.feed(QueueCall(call_id="q2-old", queue="q2"))
    a.feed(QueueCall(call_id="q1-new", queue="q1"), after=5)
    a.feed(ChangeAgentState(agent_id="a", state="ready"), after=1)
    assert a.offers() == [("q2-old", "a")]


def test_weight_does_not_beat_a_much_older_call() -> None:
    a = shared(weights=(3.0, 1.0))
    a.feed(AgentLogin(agent_id="a", ready=False))
    a.feed(QueueCall(call_id="q2-old", queue="q2"))
    a.feed(QueueCall(call_id="q1-new", queue="q1"), after=20)
    a.feed(ChangeAgentState(agent_id="a", state="ready"), after=5)
    assert a.offers() == [("q2-old", "a")]  # q1-new: 5 s x 3 = 15 < q2-old: 25 s x 1


def test_higher_weight_ages_faster() -> None:
    a = shared(weights=(3.0, 1.0))
    a.feed(AgentLogin(agent_id="a", ready=False))
    a.feed(QueueCall(call_id="q2-old", queue="q2"))
    a.feed(QueueCall(call_id="q1-new", queue="q1"), after=20)
    a.feed(ChangeAgentState(agent_id="a", state="ready"), after=15)
    assert a.offers() == [("q1-new", "a")]  # 15 x 3 = 45 > 35 x 1


def test_priority_counts_a_minute_per_step_across_queues() -> None:
    a = shared()
    a.feed(AgentLogin(agent_id="a", ready=False))
    a.feed(QueueCall(call_id="q2-old", queue="q2"))
    a.feed(QueueCall(call_id="q1-vip", queue="q1", priority=1), after=50)
    a.feed(ChangeAgentState(agent_id="a", state="ready"), after=1)
    assert a.offers() == [("q1-vip", "a")]  # 1 + 60 > 51


def test_no_queue_starves_under_a_heavier_one() -> None:
    """q1 (weight 5) always has fresh calls waiting; q2's one call is still served soon."""
    a = shared(weights=(5.0, 1.0))
    a.feed(AgentLogin(agent_id="a", ready=False))
    a.feed(QueueCall(call_id="slow", queue="q2"))
    for i in range(3):
        a.feed(QueueCall(call_id=f"fast{i}", queue="q1"), after=1)
    a.feed(ChangeAgentState(agent_id="a", state="ready"))
    served: list[str] = []
    for i in range(3, 40):
        [(call, _)] = a.offers()
        a.feed(QueueCall(call_id=f"fast{i}", queue="q1"))
        a.feed(OfferAnswered(call_id=call, agent_id="a"))
        a.feed(AgentCallEnded(call_id=call, agent_id="a"), after=10)
        served.append(call)
        if call == "slow":
            break
    assert served[-1] == "slow", served
    assert len(served) <= 20  # fast heads wait ~30 s (x5 = 150): slow wins after ~150 s


# --- snapshot and restore ---------------------------------------------------------------------


def busy_world() -> Acd:
    a = Acd(
        settings(
            [
                {"name": "q1", "wrap_up": 30, "max_wait": 600, "announce_every": 45},
                {"name": "q2", "strategy": "round_robin", "designated_wait": 60},
            ],
            [
                {"id": "a0", "queues": ["q1", "q2"], "skills": {"ko": 3}},
                {"id": "a1", "queues": ["q1"]},
                {"id": "a2", "queues": ["q2"]},
                {"id": "a3", "queues": ["q2"]},
            ],
        )
    )
    for agent in ("a0", "a1", "a2"):
        a.feed(AgentLogin(agent_id=agent), after=1)
    a.feed(QueueCall(call_id="c1", queue="q1"))  # a0 answers
    a.feed(OfferAnswered(call_id="c1", agent_id="a0"), after=2)
    a.feed(QueueCall(call_id="c2", queue="q1"))  # a1 rings
    a.feed(ChangeAgentState(agent_id="a2", state="not_ready", reason="break"))
    a.feed(QueueCall(call_id="c3", queue="q2", designated_agent="a2", priority=2), after=1)
    a.feed(QueueCall(call_id="c4", queue="q1"), after=1)
    a.feed(AgentCallEnded(call_id="c1", agent_id="a0"), after=5)  # wrap-up
    a.feed(ChangeAgentState(agent_id="a0", state="away", by="sup"))  # pending
    return a


def strip(snapshot: dict[str, Any]) -> dict[str, Any]:
    """Without the deadlines a restore sets to now (in-flight offers, the dispatch kick)."""
    kept = [t for t in snapshot["timers"] if t[1] not in ("offer", "dispatch")]
    return {**snapshot, "timers": kept}


def test_snapshot_is_json_and_restores_to_the_same_state() -> None:
    a = busy_world()
    snap = a.d.snapshot()
    text = json.dumps(snap)
    b = Distributor.restore(a.config, random.Random(1), json.loads(text), a.now)
    assert b.audit() == []
    again = b.snapshot()
    offer_timers = [t for t in again["timers"] if t[1] in ("offer", "dispatch")]
    assert offer_timers == [[a.now, "dispatch", ""], [a.now, "offer", "c2"]]
    assert strip(again) == strip(json.loads(text))
    assert b.agents() == a.d.agents()
    assert [b.queue_stats(q) for q in ("q1", "q2")] == [a.d.queue_stats(q) for q in ("q1", "q2")]
    assert b.position("c4") == a.d.position("c4") == 2


def test_restore_treats_ringing_offers_as_timed_out_without_blame() -> None:
    a = busy_world()
    b = Distributor.restore(a.config, random.Random(1), a.d.snapshot(), a.now + 1)
    assert b.next_deadline() == a.now + 1
    actions = b.on_timer(a.now + 1)
    events = b.drain_events()
    assert next(x for x in actions if not isinstance(x, Offer)).reason == "no_answer"  # type: ignore[union-attr]
    assert [e.name for e in events][:2] == ["offer_timed_out", "agent_ready"]
    assert [(x.call_id, x.agent_id) for x in actions if isinstance(x, Offer)] == [("c2", "a1")]
    assert b.agent_state("a1") == "reserved"
    assert b.audit() == []


def test_restored_distributor_carries_on() -> None:
    a = busy_world()
    b = Acd(a.config)
    b.d = Distributor.restore(a.config, random.Random(1), a.d.snapshot(), a.now)
    b.now = a.now
    b.advance(0)
    b.feed(OfferAnswered(call_id="c2", agent_id="a1"), after=1)
    assert b.state("a1") == "busy"
    b.feed(WrapUpDone(agent_id="a0"))
    assert b.state("a0") == "away"  # the pending state survived the fail-over
    b.feed(ChangeAgentState(agent_id="a2", state="ready"))
    assert b.offers() == [("c3", "a2")]  # still designated to a2
    b.advance(700)
    assert any(isinstance(x, Overflow) and x.call_id == "c4" for x in b.all_actions)


def test_snapshot_version_is_checked() -> None:
    a = busy_world()
    with pytest.raises(ValueError, match="version"):
        Distributor.restore(a.config, random.Random(1), {"version": 99}, a.now)


def test_handle_rejects_what_is_not_an_input() -> None:
    a = group()
    with pytest.raises(TypeError):
        a.d.handle("hello", a.now)  # type: ignore[arg-type]
