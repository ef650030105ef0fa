"""Registration over real UDP with SIPp: digest, the binding in use, un-registering, lock-out."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import Server, free_port
from tests.e2e.helpers import event_field, register_agent, run_sipp, wait_event

pytestmark = pytest.mark.e2e


def test_register_binding_is_used_then_removed(server: Server, tmp_path: Path) -> None:
    agent_port = free_port()
    agent = run_sipp(
        tmp_path, "agent", "agent_answer.xml", server.port, "-s", "1001", port=agent_port
    )
    register_agent(tmp_path, server, "1001", "pw1001", agent_port)
    (registered,) = server.events("agent_registered")
    assert event_field(registered, "contact") == f"sip:1001@127.0.0.1:{agent_port};transport=UDP"
    # The 200 lists the binding with the granted expiry (RFC 3261 §10.3 step 8).
    trace = (tmp_path / "register_1001_messages.log").read_text()
    assert f"<sip:1001@127.0.0.1:{agent_port};transport=UDP>;expires=120" in trace, trace

    # The binding is what a call to 1001 reaches: the SIPp UAS on that port answers.
    caller = run_sipp(tmp_path, "caller", "caller.xml", server.port, "-s", "1001", "-d", "200")
    assert caller.finish() == 0, caller.explain()
    assert agent.finish() == 0, agent.explain()
    assert wait_event(server, "call_cleared", cause="caller_hangup", agent_id="1001")

    # Expires: 0 removes it: the agent goes offline and the next call is not delivered.
    off = run_sipp(
        tmp_path,
        "unregister",
        "unregister.xml",
        server.port,
        "-s",
        "1001",
        "-au",
        "1001",
        "-ap",
        "pw1001",
        "-key",
        "contact_port",
        str(agent_port),
        timeout=5,
    )
    assert off.finish() == 0, off.explain()
    assert wait_event(server, "agent_unregistered", agent_id="1001", reason="unregistered")
    again = run_sipp(tmp_path, "caller2", "caller_rejected.xml", server.port, "-s", "1001")
    assert again.finish() == 0, again.explain()
    assert "final=480" in again.logs(), again.explain()
    assert len(server.events("call_originated")) == 1


def test_wrong_password_is_challenged_then_locked_out(server: Server, tmp_path: Path) -> None:
    guesser = run_sipp(
        tmp_path,
        "guesser",
        "register_wrong_password.xml",
        server.port,
        "-s",
        "1001",
        "-au",
        "1001",
        "-ap",
        "not-the-password",
        timeout=10,
    )
    assert guesser.finish() == 0, guesser.explain()
    failures = wait_event(server, "authentication_failed", count=5, user="1001", source="127.0.0.1")
    assert len(failures) == 5, server.log()
    assert [event_field(line, "locked") for line in failures] == ["False"] * 4 + ["True"]
    assert not server.events("agent_registered")
    # The lock holds for the right password too: the user (and the source) are refused.
    right = run_sipp(
        tmp_path,
        "right",
        "register.xml",
        server.port,
        "-s",
        "1001",
        "-au",
        "1001",
        "-ap",
        "pw1001",
        "-key",
        "contact_port",
        str(free_port()),
        timeout=5,
    )
    assert right.finish() != 0
    assert "SIP/2.0 403" in right.messages(), right.explain()
    assert not server.events("agent_registered")
