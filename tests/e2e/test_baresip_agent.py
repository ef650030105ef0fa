"""A standards-minded softphone (baresip 1.0.0) as the agent: registers, auto-answers a call.

Account 1001 (MD5-only challenges) is used on purpose: baresip 1.0.0's libre gives up with
"Register: Function not implemented" (ENOSYS) on the first challenge when it is SHA-256,
instead of moving on to the MD5 one that follows (RFC 8760 §2.4 wants the client to pick the
first algorithm it supports), so it cannot register to an account challenged SHA-256 first.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import Server
from tests.e2e.helpers import run_sipp, wait_event
from tests.e2e.peers.baresip_agent import BaresipAgent

pytestmark = pytest.mark.e2e


def test_baresip_agent_auto_answers_a_trunk_call(server: Server, tmp_path: Path) -> None:
    agent = BaresipAgent(tmp_path, server.port, "1001", "pw1001")
    try:
        registered = wait_event(server, "agent_registered", agent_id="1001", timeout=10)
        assert registered, agent.log() + server.log()
        caller = run_sipp(tmp_path, "caller", "caller.xml", server.port, "-s", "1001", "-d", "1000")
        assert caller.finish() == 0, caller.explain() + agent.log()
        assert wait_event(server, "call_established", agent_id="1001"), server.log()
        assert wait_event(server, "call_cleared", cause="caller_hangup", agent_id="1001")
    finally:
        agent.stop()
    log = agent.log()
    assert "Call established: sip:01012345678@127.0.0.1" in log, log
    assert "Call with sip:01012345678@127.0.0.1 terminated" in log, log
    # SIGTERM makes baresip un-register: the server sees the agent go offline.
    assert wait_event(server, "agent_unregistered", agent_id="1001", reason="unregistered"), (
        log + server.log()
    )
    assert not server.events("authentication_failed"), server.log()
    assert "decode err" not in log, log  # everything we sent it parsed
