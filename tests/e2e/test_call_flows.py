"""Call flows through the B2BUA with SIPp on both sides over real UDP on 127.0.0.1.

Each test checks three things: what the caller heard (SIPp's scenario passes, and for
failures the logged ``final=<status>``), what the agent side saw (its scenario passes), and
the domain events the server logged (``call_cleared cause=...``).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.conftest import Server, free_port
from tests.e2e.helpers import (
    SippRun,
    matching,
    register_agent,
    run_sipp,
    server_with,
    wait_event,
)

pytestmark = pytest.mark.e2e


def _agent(
    tmp: Path,
    server: Server,
    scenario: str,
    *args: str,
    user: str = "1001",
    password: str = "pw1001",
    name: str = "agent",
) -> SippRun:
    """Start a SIPp agent UAS with ``scenario`` and register ``user`` with its port."""
    port = free_port()
    agent = run_sipp(tmp, name, scenario, server.port, "-s", user, *args, port=port)
    register_agent(tmp, server, user, password, port)
    return agent


def test_caller_cancel_while_ringing(server: Server, tmp_path: Path) -> None:
    agent = _agent(tmp_path, server, "agent_ring_cancel.xml")
    caller = run_sipp(tmp_path, "caller", "caller_cancel.xml", server.port, "-s", "1001")
    assert caller.finish() == 0, caller.explain()
    assert agent.finish() == 0, agent.explain()
    assert wait_event(server, "call_cleared", cause="cancelled"), server.log()
    assert len(server.events("call_alerting")) == 1
    assert not server.events("call_established")
    # The CANCEL was passed on to the agent leg (its scenario then required our ACK of its 487).
    assert "CANCEL sip:" in agent.messages()


def test_ring_timeout_cancels_agent_and_gives_caller_480(tmp_path: Path) -> None:
    with server_with(tmp_path, ring_timeout=2) as server:
        agent = _agent(tmp_path, server, "agent_ring_cancel.xml")
        started = time.monotonic()
        caller = run_sipp(tmp_path, "caller", "caller_rejected.xml", server.port, "-s", "1001")
        assert caller.finish() == 0, caller.explain()
        elapsed = time.monotonic() - started
        assert agent.finish() == 0, agent.explain()
        assert "final=480" in caller.logs(), caller.explain()
        assert 1.8 < elapsed < 5, elapsed
        assert wait_event(server, "call_cleared", cause="timeout", status=480), server.log()
        assert len(server.events("call_alerting")) == 1
        assert "CANCEL sip:" in agent.messages()


def test_agent_busy_gives_caller_486(server: Server, tmp_path: Path) -> None:
    agent = _agent(tmp_path, server, "agent_busy.xml")
    caller = run_sipp(tmp_path, "caller", "caller_rejected.xml", server.port, "-s", "1001")
    assert caller.finish() == 0, caller.explain()
    assert agent.finish() == 0, agent.explain()
    assert "final=486" in caller.logs(), caller.explain()
    assert wait_event(server, "call_failed", status=486, agent_id="1001"), server.log()
    assert wait_event(server, "call_cleared", cause="rejected", status=486), server.log()


def test_unregistered_extension_gives_480(server: Server, tmp_path: Path) -> None:
    caller = run_sipp(tmp_path, "caller", "caller_rejected.xml", server.port, "-s", "1002")
    assert caller.finish() == 0, caller.explain()
    assert "final=480" in caller.logs(), caller.explain()
    assert wait_event(server, "call_cleared", status=480), server.log()
    assert not server.events("call_originated")


def test_unknown_number_gives_404(server: Server, tmp_path: Path) -> None:
    caller = run_sipp(tmp_path, "caller", "caller_rejected.xml", server.port, "-s", "5555")
    assert caller.finish() == 0, caller.explain()
    assert "final=404" in caller.logs(), caller.explain()
    assert wait_event(server, "call_cleared", cause="no_route", status=404), server.log()
    (delivered,) = server.events("call_delivered")
    assert "called=5555" in delivered


def test_agent_hangs_up_first(server: Server, tmp_path: Path) -> None:
    agent = _agent(tmp_path, server, "agent_hangup.xml")
    caller = run_sipp(tmp_path, "caller", "caller_wait_bye.xml", server.port, "-s", "1001")
    assert caller.finish() == 0, caller.explain()
    assert agent.finish() == 0, agent.explain()
    assert wait_event(server, "call_cleared", cause="callee_hangup"), server.log()
    assert len(server.events("call_established")) == 1


def test_caller_holds_and_retrieves_anchored_locally(server: Server, tmp_path: Path) -> None:
    """Anchored media: hold is between the caller and us; the agent sees no re-INVITE."""
    agent = _agent(tmp_path, server, "agent_answer.xml")
    caller = run_sipp(tmp_path, "caller", "caller_hold.xml", server.port, "-s", "1001")
    assert caller.finish() == 0, caller.explain()
    assert agent.finish() == 0, agent.explain()
    assert wait_event(server, "call_cleared", cause="caller_hangup"), server.log()
    assert len(server.events("call_held")) == 1, server.log()
    assert len(server.events("call_retrieved")) == 1, server.log()
    answers = caller.messages().split("SIP/2.0 200 OK")[2:4]  # the two re-INVITE answers
    assert "a=recvonly" in answers[0] and "a=sendrecv" in answers[1], caller.explain()
    assert "INVITE" not in agent.messages().split("ACK sip:", 1)[-1], agent.explain()


def test_caller_holds_and_retrieves_passthrough(tmp_path: Path) -> None:
    with server_with(tmp_path, media_mode="passthrough") as server:
        _hold_relayed(server, tmp_path)


def _hold_relayed(server: Server, tmp_path: Path) -> None:
    agent = _agent(tmp_path, server, "agent_answer_reinvite.xml")
    caller = run_sipp(tmp_path, "caller", "caller_hold.xml", server.port, "-s", "1001")
    assert caller.finish() == 0, caller.explain()
    assert agent.finish() == 0, agent.explain()
    assert wait_event(server, "call_cleared", cause="caller_hangup"), server.log()
    assert len(server.events("call_held")) == 1, server.log()
    assert len(server.events("call_retrieved")) == 1, server.log()
    # The agent saw both re-INVITEs, the hold one first, with the caller's direction.
    assert agent.logs().split() == [
        "reinvite",
        "offer=a=sendonly",
        "reinvite",
        "offer=a=sendrecv",
    ], agent.logs()
    assert matching(server, "call_established", agent_id="1001")


def test_agent_blind_transfers_to_another_agent_anchored(server: Server, tmp_path: Path) -> None:
    """Anchored media: the new party gets our offer; the caller is re-bridged, not re-INVITEd."""
    agent = _agent(tmp_path, server, "agent_refer.xml", "-key", "transfer_to", "1002")
    target = _agent(
        tmp_path, server, "agent_answer.xml", user="1002", password="pw1002", name="target"
    )
    caller = run_sipp(tmp_path, "caller", "caller.xml", server.port, "-s", "1001", "-d", "2500")
    assert caller.finish() == 0, caller.explain()
    assert agent.finish() == 0, agent.explain()
    assert target.finish() == 0, target.explain()
    assert wait_event(server, "call_cleared", cause="caller_hangup"), server.log()
    established = server.events("call_established")
    assert [line.split("agent_id=")[-1] for line in established] == ["1001", "1002"]
    assert agent.logs().split() == ["notify", "SIP/2.0", "100", "notify", "SIP/2.0", "200"]
    invite = target.messages().split("INVITE sip:", 1)[1]
    assert "m=audio " in invite and "c=IN IP4 127.0.0.1" in invite, target.explain()


def test_agent_blind_transfers_to_another_agent_passthrough(tmp_path: Path) -> None:
    with server_with(tmp_path, media_mode="passthrough") as server:
        _transfer_relayed(server, tmp_path)


def _transfer_relayed(server: Server, tmp_path: Path) -> None:
    agent = _agent(tmp_path, server, "agent_refer.xml", "-key", "transfer_to", "1002")
    target = _agent(
        tmp_path, server, "agent_delayed_offer.xml", user="1002", password="pw1002", name="target"
    )
    caller = run_sipp(
        tmp_path, "caller", "caller_transferred.xml", server.port, "-s", "1001", "-d", "500"
    )
    assert caller.finish() == 0, caller.explain()
    assert agent.finish() == 0, agent.explain()
    assert target.finish() == 0, target.explain()
    assert wait_event(server, "call_cleared", cause="caller_hangup"), server.log()
    (transferred,) = server.events("call_transferred")
    assert "target=1002" in transferred
    established = server.events("call_established")
    assert [line.split("agent_id=")[-1] for line in established] == ["1001", "1002"]
    # The transferor heard the progress (sipfrag 100) and the outcome (200), then a BYE.
    assert agent.logs().split() == ["notify", "SIP/2.0", "100", "notify", "SIP/2.0", "200"]
    # The target got a delayed offer and the caller's answer in the ACK; the caller got the
    # target's offer in a re-INVITE.
    lines = target.logs().splitlines()
    assert lines[0] == "invite content-length=0", target.logs()
    assert lines[1].startswith("ack m=audio "), target.logs()
    ack = target.messages().split("ACK sip:", 1)[1]
    assert "o=caller 53655765 2 " in ack, target.explain()  # the caller's re-INVITE answer
    assert caller.logs().split() == ["reinvite", "o=target"]
