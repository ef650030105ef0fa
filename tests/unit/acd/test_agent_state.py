"""The agent state table, on its own and through the distributor (events, pending states)."""

from __future__ import annotations

from typing import Literal

import pytest

from acd import IllegalAgentTransition, UnknownAgentError, UnknownReasonError
from acd.agent_state import (
    DEFERRED,
    TRANSITIONS,
    AgentInput,
    AgentState,
    next_state,
)
from acd.protocol import (
    AgentCallEnded,
    AgentLogin,
    AgentLogout,
    ChangeAgentState,
    OfferAnswered,
    QueueCall,
    WrapUpDone,
)
from cti_server import events as ev
from tests.unit.acd.harness import Acd, settings

LEGAL = [(s, i, t) for s, row in TRANSITIONS.items() for i, t in row.items()]
ILLEGAL = [
    (s, i)
    for s in AgentState
    for i in AgentInput
    if i not in TRANSITIONS[s] and (s, i) not in DEFERRED
]


@pytest.mark.parametrize(("state", "event", "target"), LEGAL, ids=lambda x: x.value)
def test_every_legal_transition(state: AgentState, event: AgentInput, target: AgentState) -> None:
    assert next_state("a1", state, event) is target


@pytest.mark.parametrize(("state", "event"), sorted(DEFERRED, key=str), ids=lambda x: x.value)
def test_requests_during_work_are_deferred(state: AgentState, event: AgentInput) -> None:
    assert next_state("a1", state, event) is None


@pytest.mark.parametrize(("state", "event"), ILLEGAL, ids=lambda x: x.value)
def test_every_illegal_transition_names_state_and_event(
    state: AgentState, event: AgentInput
) -> None:
    with pytest.raises(IllegalAgentTransition) as info:
        next_state("a1", state, event)
    assert info.value.state is state and info.value.event is event
    assert repr(state.value) in str(info.value) and repr(event.value) in str(info.value)
    assert "a1" in str(info.value)


def test_logout_is_legal_from_every_logged_in_state() -> None:
    for state in AgentState:
        if state is not AgentState.LOGGED_OUT:
            assert next_state("a", state, AgentInput.LOGOUT) is AgentState.LOGGED_OUT


# --- through the distributor ----------------------------------------------------------------


def acd(wrap_up: float = 10.0) -> Acd:
    return Acd(
        settings(
            [{"name": "q", "wrap_up": wrap_up, "announce_every": None}],
            [{"id": "a1", "queues": ["q"]}, {"id": "a2", "queues": ["q"]}],
        )
    )


def busy(a: Acd, agent: str = "a1", call: str = "c1") -> None:
    a.feed(AgentLogin(agent_id=agent))
    a.feed(QueueCall(call_id=call, queue="q"))
    assert a.offers() == [(call, agent)]
    a.feed(OfferAnswered(call_id=call, agent_id=agent), after=2)
    assert a.state(agent) == "busy"


def test_login_ready_and_not_ready_emit_logged_in() -> None:
    a = acd()
    a.feed(AgentLogin(agent_id="a1"))
    [e] = a.events
    assert isinstance(e, ev.AgentLoggedIn)
    assert (e.state, e.previous, e.agent_id, e.at) == ("ready", "logged_out", "a1", a.now)
    a.feed(AgentLogin(agent_id="a2", ready=False))
    assert a.state("a2") == "not_ready" and a.of(ev.AgentLoggedIn)[0].state == "not_ready"


def test_login_and_logout_twice_are_no_ops() -> None:
    a = acd()
    a.feed(AgentLogin(agent_id="a1"))
    assert a.feed(AgentLogin(agent_id="a1", ready=False)) == [] and a.events == []
    assert a.state("a1") == "ready"
    a.feed(AgentLogout(agent_id="a1"))
    a.feed(AgentLogout(agent_id="a1"))
    assert a.events == []


def test_choices_move_between_ready_not_ready_and_away_with_reason_and_by() -> None:
    a = acd()
    a.feed(AgentLogin(agent_id="a1"))
    a.feed(ChangeAgentState(agent_id="a1", state="not_ready", reason="lunch"))
    [e] = a.events
    assert isinstance(e, ev.AgentNotReady) and (e.previous, e.reason) == ("ready", "lunch")
    a.feed(ChangeAgentState(agent_id="a1", state="not_ready", reason="break"))
    assert a.of(ev.AgentNotReady)[0].reason == "break"  # a new reason is a change
    a.feed(ChangeAgentState(agent_id="a1", state="away", by="sup9"))
    [away] = a.events
    assert isinstance(away, ev.AgentAway) and (away.by, away.previous) == ("sup9", "not_ready")
    assert a.row("a1")["by"] == "sup9"
    a.feed(ChangeAgentState(agent_id="a1", state="ready"))
    assert isinstance(a.events[0], ev.AgentReady) and a.state("a1") == "ready"
    a.feed(ChangeAgentState(agent_id="a1", state="away"))
    assert a.state("a1") == "away"
    a.feed(ChangeAgentState(agent_id="a1", state="not_ready"))
    assert a.state("a1") == "not_ready"


def test_same_choice_again_emits_nothing() -> None:
    a = acd()
    a.feed(AgentLogin(agent_id="a1"))
    a.feed(ChangeAgentState(agent_id="a1", state="ready"))
    assert a.events == []


def test_requests_while_logged_out_raise() -> None:
    a = acd()
    with pytest.raises(IllegalAgentTransition, match="logged_out"):
        a.feed(ChangeAgentState(agent_id="a1", state="ready"))
    with pytest.raises(IllegalAgentTransition, match="wrap_up_done"):
        a.feed(WrapUpDone(agent_id="a1"))


def test_wrap_up_done_outside_wrap_up_raises() -> None:
    a = acd()
    a.feed(AgentLogin(agent_id="a1"))
    with pytest.raises(IllegalAgentTransition, match="'ready'"):
        a.feed(WrapUpDone(agent_id="a1"))


def test_unknown_agent_and_reason() -> None:
    a = acd()
    with pytest.raises(UnknownAgentError):
        a.feed(AgentLogin(agent_id="zz"))
    assert a.d.agent_state("zz") is None
    a.feed(AgentLogin(agent_id="a1"))
    with pytest.raises(UnknownReasonError, match="knitting"):
        a.feed(ChangeAgentState(agent_id="a1", state="not_ready", reason="knitting"))
    assert a.state("a1") == "ready"


def test_offer_answer_call_end_wrap_up_timer_ready() -> None:
    a = acd(wrap_up=10)
    a.feed(AgentLogin(agent_id="a1"))
    a.feed(QueueCall(call_id="c1", queue="q"))
    [reserved] = a.of(ev.AgentReserved)
    assert (reserved.previous, reserved.call_id) == ("ready", "c1")
    a.feed(OfferAnswered(call_id="c1", agent_id="a1"), after=3)
    [b] = a.of(ev.AgentBusy)
    assert (b.previous, b.call_id) == ("reserved", "c1")
    a.feed(AgentCallEnded(call_id="c1", agent_id="a1"), after=60)
    [w] = a.of(ev.AgentWorkingAfterCall)
    assert (w.previous, w.call_id) == ("busy", "c1")
    assert a.d.next_deadline() == a.now + 10
    a.advance(9.9)
    assert a.state("a1") == "wrap_up"
    a.advance(0.1)
    [r] = a.of(ev.AgentReady)
    assert r.previous == "wrap_up" and a.state("a1") == "ready"
    row = a.row("a1")
    assert (row["calls_handled"], row["talk_time"], row["average_handle_time"]) == (1, 60, 70)


def test_no_wrap_up_goes_straight_to_ready() -> None:
    a = acd(wrap_up=0)
    busy(a)
    a.feed(AgentCallEnded(call_id="c1", agent_id="a1"), after=5)
    assert [e.name for e in a.events] == ["agent_ready"] and a.of(ev.AgentStateChanged)[
        0
    ].previous == "busy"


def test_wrap_up_done_and_ready_end_wrap_up_early() -> None:
    a = acd(wrap_up=30)
    busy(a)
    a.feed(AgentCallEnded(call_id="c1", agent_id="a1"), after=5)
    a.feed(WrapUpDone(agent_id="a1"), after=4)
    assert a.state("a1") == "ready" and a.d.next_deadline() is None
    a.feed(AgentLogout(agent_id="a1"))
    busy(a, "a2", "c2")
    a.feed(AgentCallEnded(call_id="c2", agent_id="a2"), after=5)
    a.feed(ChangeAgentState(agent_id="a2", state="ready"), after=1)
    assert a.state("a2") == "ready" and a.row("a2")["average_handle_time"] == 6


@pytest.mark.parametrize("wrap_up", [0.0, 10.0])
def test_not_ready_during_a_call_is_pending_until_the_work_ends(wrap_up: float) -> None:
    a = acd(wrap_up=wrap_up)
    busy(a)
    a.feed(ChangeAgentState(agent_id="a1", state="not_ready", reason="lunch"))
    assert a.events == [] and a.state("a1") == "busy"
    assert (a.row("a1")["pending"], a.row("a1")["pending_reason"]) == ("not_ready", "lunch")
    a.feed(AgentCallEnded(call_id="c1", agent_id="a1"), after=30)
    if wrap_up:
        assert a.state("a1") == "wrap_up"
        a.advance(wrap_up)
    [e] = a.of(ev.AgentNotReady)
    assert e.reason == "lunch" and a.row("a1")["pending"] is None
    a.feed(QueueCall(call_id="c2", queue="q"))
    assert a.offers() == []  # not offered to the now not-ready agent


def test_away_during_wrap_up_is_pending_and_ready_cancels_a_pending_state() -> None:
    a = acd(wrap_up=10)
    busy(a)
    a.feed(ChangeAgentState(agent_id="a1", state="away", by="sup"))
    a.feed(ChangeAgentState(agent_id="a1", state="ready"))  # changed their mind
    assert a.row("a1")["pending"] is None
    a.feed(AgentCallEnded(call_id="c1", agent_id="a1"))
    a.feed(ChangeAgentState(agent_id="a1", state="away", by="sup"))
    assert a.state("a1") == "wrap_up" and a.row("a1")["pending"] == "away"
    a.advance(10)
    [e] = a.of(ev.AgentAway)
    assert (e.by, e.previous) == ("sup", "wrap_up")


def test_pending_during_ringing_applies_if_the_offer_fails() -> None:
    a = acd()
    a.feed(AgentLogin(agent_id="a1"))
    a.feed(QueueCall(call_id="c1", queue="q"))
    a.feed(ChangeAgentState(agent_id="a1", state="not_ready", reason="break"))
    assert a.state("a1") == "reserved"
    a.advance(15)  # rings out: the pending choice wins over "no_answer"
    [e] = a.of(ev.AgentNotReady)
    assert e.reason == "break" and e.previous == "reserved"


def test_logout_from_every_state() -> None:
    a = acd(wrap_up=10)
    a.feed(AgentLogin(agent_id="a1"))
    a.feed(AgentLogout(agent_id="a1", reason="supervisor", by="sup"))
    [e] = a.events
    assert isinstance(e, ev.AgentLoggedOut) and (e.previous, e.reason, e.by) == (
        "ready",
        "supervisor",
        "sup",
    )
    busy(a)
    a.feed(AgentLogout(agent_id="a1"))
    assert a.of(ev.AgentStateChanged)[0].previous == "busy" and a.state("a1") == "logged_out"
    a.feed(AgentCallEnded(call_id="c1", agent_id="a1"))  # the call ends later: ignored
    assert a.events == [] and a.row("a1")["calls_handled"] == 1
    busy(a, "a1", "c3")
    a.feed(AgentCallEnded(call_id="c3", agent_id="a1"))
    a.feed(AgentLogout(agent_id="a1"))
    assert a.of(ev.AgentStateChanged)[0].previous == "wrap_up" and a.d.next_deadline() is None
    states: tuple[Literal["not_ready", "away"], ...] = ("not_ready", "away")
    for state in states:
        a.feed(AgentLogin(agent_id="a1"))
        a.feed(ChangeAgentState(agent_id="a1", state=state))
        a.feed(AgentLogout(agent_id="a1"))
        assert a.of(ev.AgentStateChanged)[0].previous == state


def test_logout_while_ringing_withdraws_and_redistributes() -> None:
    a = acd()
    a.feed(AgentLogin(agent_id="a1"))
    a.feed(QueueCall(call_id="c1", queue="q"))
    a.feed(AgentLogin(agent_id="a2"), after=1)
    a.feed(AgentLogout(agent_id="a1", reason="registration_ended"))
    assert a.withdrawals() == [("c1", "a1", "agent_logged_out")]
    assert a.offers() == [("c1", "a2")]
    assert a.state("a1") == "logged_out" and a.state("a2") == "reserved"
