"""A trunk call to a registered agent, over real UDP with SIPp on both sides."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Server, finish, free_port, register, sipp

pytestmark = pytest.mark.e2e


def test_trunk_call_to_registered_agent_connects_and_clears(server: Server) -> None:
    agent_port = free_port()
    agent = sipp("agent_answer.xml", server.port, "-s", "1001", port=agent_port)
    register(server, "1001", "pw1001", agent_port)
    assert server.wait_for("agent_registered")
    caller = sipp("caller.xml", server.port, "-s", "1001", "-d", "500")
    assert finish(caller) == 0
    assert finish(agent) == 0
    assert server.wait_for("call_cleared")
    assert len(server.events("call_established")) == 1
    (cleared,) = server.events("call_cleared")
    assert "cause=caller_hangup" in cleared
