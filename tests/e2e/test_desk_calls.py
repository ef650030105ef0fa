"""The desktop's call control over the REST API, end to end with SIPp: an agent logged in
with a token holds, retrieves and hangs up a queued caller's call and saves a disposition
with script answers; click-to-call rings the agent, then the customer; another agent is
refused."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cti_server.storage.dispositions import DispositionRepo
from tests.e2e.conftest import free_port, stop_server
from tests.e2e.contact_center import api, ivr_caller, poll
from tests.e2e.helpers import wait_event
from tests.e2e.outbound import customer_phone, outbound_center, ready_agent

pytestmark = pytest.mark.e2e


def _call_of(server: object, agent: str) -> str | None:
    status, body = api(server, "/api/v1/calls", user=agent)  # type: ignore[arg-type]
    assert status == 200, body
    calls = [c for c in body["calls"] if c.get("agent_id") == agent and c["state"] == "connected"]
    return calls[0]["id"] if calls else None


def test_hold_retrieve_disposition_and_hang_up_from_the_desktop(tmp_path: Path) -> None:
    server, repo = outbound_center(tmp_path, free_port())
    try:
        agent = ready_agent(tmp_path, server)
        caller = ivr_caller(tmp_path, server, [], called="1599", hold=30, ends="server")
        call_id = poll(lambda: _call_of(server, "1001"), timeout=15)
        assert call_id, server.log()
        # another agent may not touch it
        status, body = api(server, f"/api/v1/calls/{call_id}/hold", {}, user="1002")
        assert status == 403, body
        status, body = api(server, f"/api/v1/calls/{call_id}/hold", {}, user="1001")
        assert status == 200, body
        assert wait_event(server, "call_held", call_id=call_id), server.log()
        status, body = api(server, f"/api/v1/calls/{call_id}/hold", {}, user="1001")
        assert status == 200  # holding a held call changes nothing
        status, body = api(server, f"/api/v1/calls/{call_id}/unhold", {}, user="1001")
        assert status == 200, body
        assert wait_event(server, "call_retrieved", call_id=call_id), server.log()
        answers = {"bad": "x"}
        status, body = api(
            server,
            f"/api/v1/calls/{call_id}/disposition",
            {"disposition": "resolved", "notes": "배송 문의 해결", "script_answers": answers},
            user="1001",
        )
        assert status in (200, 400), body  # 400 only if a script is configured for the queue
        status, body = api(
            server,
            f"/api/v1/calls/{call_id}/disposition",
            {"disposition": "resolved", "notes": "배송 문의 해결"},
            user="1001",
        )
        assert status == 200, body
        saved = DispositionRepo(repo.database).for_call(call_id)
        assert [d.disposition for d in saved] == ["resolved"], saved
        status, body = api(server, f"/api/v1/calls/{call_id}/hangup", {}, user="1001")
        assert status == 200, body
        assert wait_event(server, "call_cleared", call_id=call_id, cause="agent_hangup")
        assert caller.finish(20) == 0, caller.explain()  # the server's BYE ended it
        assert agent.finish(20) == 0, agent.explain()
        status, body = api(server, f"/api/v1/calls/{call_id}/hangup", {}, user="1001")
        assert status == 404, body  # gone
    finally:
        stop_server(server)
        repo.database.sync_engine.dispose()
    assert "Traceback" not in server.log(), server.log()


def test_click_to_call_rings_the_agent_then_the_customer(tmp_path: Path) -> None:
    customer_port = free_port()
    server, repo = outbound_center(tmp_path, customer_port)
    try:
        customer = customer_phone(tmp_path, "agent_hangup.xml", customer_port)
        agent = ready_agent(tmp_path, server)
        status, body = api(server, "/api/v1/calls/dial", {"number": "010-9876-5432"}, user="1001")
        assert status == 201, body
        call_id = body["call_id"]
        assert wait_event(server, "call_dialed", call_id=call_id, kind="click")
        assert wait_event(server, "call_established", timeout=10, call_id=call_id), server.log()
        assert customer.finish(20) == 0, customer.explain()  # answered, talked, hung up
        assert agent.finish(20) == 0, agent.explain()
        status, body = api(server, "/api/v1/calls/dial", {"number": "12"}, user="1001")
        assert status == 400, body
        time.sleep(0.2)
    finally:
        stop_server(server)
        repo.database.sync_engine.dispose()
    assert "Traceback" not in server.log(), server.log()


@pytest.mark.parametrize("kind", ["agent", "queue"])
def test_a_blind_transfer_from_the_desktop_hands_the_caller_to_another_agent(
    tmp_path: Path, kind: str
) -> None:
    server, repo = outbound_center(tmp_path, free_port())
    try:
        first = ready_agent(tmp_path, server, "1001")
        caller = ivr_caller(tmp_path, server, [], called="1599", hold=12)
        call_id = poll(lambda: _call_of(server, "1001"), timeout=15)
        assert call_id, server.log()
        second = ready_agent(tmp_path, server, "1002")
        target = "1002" if kind == "agent" else "general"
        status, body = api(
            server,
            f"/api/v1/calls/{call_id}/transfer",
            {"kind": kind, "target": target},
            user="1001",
        )
        assert status == 200, body
        assert wait_event(server, "call_transferred", call_id=call_id), server.log()
        established = wait_event(server, "call_established", timeout=15, agent_id="1002")
        assert established, server.log()
        assert first.finish(20) == 0, first.explain()  # 1001's leg was hung up by us
        assert wait_event(server, "agent_working_after_call", agent_id="1001") or wait_event(
            server, "agent_ready", agent_id="1001"
        )
        status, body = api(server, f"/api/v1/calls/{call_id}/hangup", {}, user="1001")
        assert status == 403, body  # no longer 1001's call
        assert caller.finish(30) == 0, caller.explain()  # talked to 1002, then hung up
        assert second.finish(20) == 0, second.explain()
    finally:
        stop_server(server)
        repo.database.sync_engine.dispose()
    assert "Traceback" not in server.log(), server.log()
