"""How call events become dialer inputs, per attempt phase (``acd.dialer_calls``)."""

from __future__ import annotations

import pytest

from acd.dialer_calls import Attempt, Attempts, outcome_of
from acd.dialer_protocol import AgentReserved, CallEnded, DialResult
from cti_server import events as ev


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(486, "busy"), (600, "busy"), (603, "busy"), (487, "no_answer"), (480, "no_answer"),
     (408, "no_answer"), (404, "rejected"), (484, "rejected"), (604, "rejected"),
     (500, "failed"), (503, "failed"), (403, "failed")],
)  # fmt: skip
def test_sip_statuses_map_to_outcomes(status: int, outcome: str) -> None:
    assert outcome_of(status) == outcome


def _tracked(phase: str = "ringing_agent") -> Attempts:
    attempts = Attempts()
    attempts.add(Attempt("A1", "C1", "1001", phase=phase))
    return attempts


def test_agent_first_answered_then_ended() -> None:
    a = _tracked()
    got = a.on_event(ev.DialAgentConnected(at=1, call_id="C1", attempt_id="A1", agent_id="1001"))
    assert got == AgentReserved(attempt_id="A1", ok=True, agent_id="1001")
    a.get("A1").phase = "dialing"  # type: ignore[union-attr]  # the host dialled
    got = a.on_event(ev.CallEstablished(at=2, call_id="C1", leg_id="L2", agent_id="1001"))
    assert got == DialResult(attempt_id="A1", outcome="answered")
    assert a.on_event(ev.CallCleared(at=9, call_id="C1", cause="callee_hangup")) == CallEnded(
        attempt_id="A1"
    )
    assert a.get("A1") is None and not a.by_call  # forgotten


def test_the_customer_leg_failing_is_reported_once() -> None:
    a = _tracked("dialing")
    busy = ev.CallFailed(at=1, call_id="C1", leg_id="L2", status=486, cause="busy")
    assert a.on_event(busy) == DialResult(attempt_id="A1", outcome="busy")
    assert a.on_event(ev.CallCleared(at=2, call_id="C1", cause="rejected")) is None


def test_the_agent_not_answering_releases_the_reservation() -> None:
    a = _tracked()
    agent_leg = ev.CallFailed(
        at=1, call_id="C1", leg_id="L1", status=487, cause="cancelled", agent_id="1001"
    )
    assert a.on_event(agent_leg) is None  # the agent's leg: wait for the call to clear
    cleared = ev.CallCleared(at=2, call_id="C1", cause="agent_unavailable")
    assert a.on_event(cleared) == AgentReserved(attempt_id="A1", ok=False)


def test_the_agent_hanging_up_before_the_customer_answers_is_a_failed_attempt() -> None:
    a = _tracked("dialing")
    cleared = ev.CallCleared(at=2, call_id="C1", cause="caller_hangup")
    assert a.on_event(cleared) == DialResult(attempt_id="A1", outcome="failed")


def test_customer_first_answer_then_no_agent() -> None:
    a = Attempts()
    a.add(Attempt("A2", "C2", "", phase="dialing"))
    answered = ev.DialCustomerAnswered(at=1, call_id="C2", attempt_id="A2")
    assert a.on_event(answered) == DialResult(attempt_id="A2", outcome="answered")
    a.get("A2").phase = "connecting"  # type: ignore[union-attr]  # the host rang an agent
    missed = ev.CallFailed(
        at=2, call_id="C2", leg_id="L3", status=480, cause="timeout", agent_id="1002"
    )
    assert a.on_event(missed) == AgentReserved(attempt_id="A2", ok=False)


def test_customer_first_bridged_to_the_agent() -> None:
    a = Attempts()
    a.add(Attempt("A3", "C3", "", phase="connecting"))
    bridged = ev.CallEstablished(at=1, call_id="C3", leg_id="L4", agent_id="1002")
    assert a.on_event(bridged) == AgentReserved(attempt_id="A3", ok=True, agent_id="1002")


def test_other_calls_are_not_ours() -> None:
    a = _tracked()
    assert a.on_event(ev.CallCleared(at=1, call_id="C9", cause="caller_hangup")) is None
    assert a.on_event(ev.AgentReady(at=1, agent_id="1001", state="ready", previous="busy")) is None
