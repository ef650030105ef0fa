"""Callbacks dialled out, agent first, end to end: a SIPp agent and SIPp customers on a trunk.

The callback request is stored the way the IVR stores it (``CallbackRepo.request``); the
running server's dialer finds it due, rings the ready agent 1001 (the customer's number as the
caller), and once the agent answers calls the customer through trunk ``gw``, whose outbound
URI is a SIPp UAS acting as the customer: one answers, one is busy.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from cti_server.storage.tables import CallbackStatus
from tests.e2e.conftest import Server, free_port, start_server, stop_server
from tests.e2e.contact_center import poll
from tests.e2e.helpers import register_agent, run_sipp, wait_event
from tests.e2e.outbound import customer_phone, outbound_center, ready_agent
from tests.storage.conftest import fresh_db_url, pg_server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e


def test_a_callback_is_dialled_agent_first_and_completed(tmp_path: Path) -> None:
    customer_port = free_port()
    server, repo = outbound_center(tmp_path, customer_port)
    try:
        customer = customer_phone(tmp_path, "agent_hangup.xml", customer_port)
        agent = ready_agent(tmp_path, server)
        now = time.time()
        callback_id, merged = repo.request(
            "010-1234-5678", "general", call_id=None, customer_id=None, due_at=now, now=now
        )
        assert not merged
        dialed = wait_event(server, "call_dialed", timeout=10, item_id=callback_id)
        assert dialed, server.log()
        assert wait_event(server, "dial_agent_connected", timeout=10, agent_id="1001")
        assert wait_event(server, "callback_completed", timeout=10, callback_id=callback_id), (
            server.log()
        )
        assert customer.finish(20) == 0, customer.explain()  # it answered, then hung up
        assert agent.finish(20) == 0, agent.explain()  # BYE relayed to the agent
        stored = poll(
            lambda: (cb := repo.get(callback_id)) and cb.status is CallbackStatus.DONE and cb,
            timeout=10,
        )
        assert stored and stored.attempts == 1, repo.get(callback_id)
        # the ACD counted it as the agent's call: busy, then back to ready (no wrap-up here)
        assert wait_event(server, "agent_busy", agent_id="1001")
        assert wait_event(server, "agent_ready", agent_id="1001", timeout=10)
    finally:
        stop_server(server)
        repo.database.sync_engine.dispose()
    assert "Traceback" not in server.log(), server.log()


def test_a_busy_customer_is_retried_later_not_at_once(tmp_path: Path) -> None:
    customer_port = free_port()
    server, repo = outbound_center(tmp_path, customer_port)
    try:
        customer = customer_phone(tmp_path, "agent_busy.xml", customer_port)
        agent = ready_agent(tmp_path, server)
        now = time.time()
        callback_id, _ = repo.request(
            "0212345678", "general", call_id=None, customer_id=None, due_at=now, now=now
        )
        rescheduled = wait_event(server, "dial_rescheduled", timeout=15, reason="busy")
        assert rescheduled, server.log()
        assert customer.finish(20) == 0, customer.explain()
        assert agent.finish(20) == 0, agent.explain()  # hung up: nobody to talk to
        stored = poll(
            lambda: (cb := repo.get(callback_id)) and cb.status is CallbackStatus.PENDING and cb,
            timeout=10,
        )
        assert stored and stored.attempts == 1
        assert stored.due_at.timestamp() > now + 30  # the busy back-off, not a redial
        time.sleep(2.5)  # two more polls: nothing dialled again
        assert len(server.events("call_dialed")) == 1, server.events("call_dialed")
    finally:
        stop_server(server)
        repo.database.sync_engine.dispose()
    assert "Traceback" not in server.log(), server.log()


def _cli(path: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cti_server", "campaigns", *args, "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize("customer_first", [False, True], ids=["agent_first", "customer_first"])
def test_a_campaign_from_csv_dials_its_leads(tmp_path: Path, customer_first: bool) -> None:
    customer_port = free_port()
    server, repo = outbound_center(tmp_path, customer_port)
    config_path = tmp_path / "dialer.yaml"
    try:
        customers = run_sipp(
            tmp_path, "customers", "agent_hangup.xml", 9, "-s", "c", port=customer_port,
            calls=2, timeout=50,
        )  # fmt: skip
        port = free_port()
        agent = run_sipp(
            tmp_path, "agent1001", "agent_answer.xml", server.port, "-s", "1001",
            port=port, calls=2, timeout=50,
        )  # fmt: skip
        register_agent(tmp_path, server, "1001", "pw1001", port)
        assert wait_event(server, "agent_logged_in", agent_id="1001", state="ready")
        leads = tmp_path / "leads.csv"
        leads.write_text("number,name\n010-5555-0001,박고객\n010-5555-0002,최고객\n")
        order = ["--customer-first", "--pacing", "1.0"] if customer_first else []
        _cli(config_path, "create", "spring", "--queue", "general", "--csv", str(leads), *order)
        _cli(config_path, "start", "spring")
        assert wait_event(server, "campaign_state_changed", timeout=10, state="running")
        done = wait_event(server, "lead_completed", count=2, timeout=40)
        assert done, server.log()
        assert customers.finish(30) == 0, customers.explain()
        assert agent.finish(30) == 0, agent.explain()
        exported = _cli(config_path, "export", "spring", "--format", "csv")
        assert exported.count(",done,") == 2 or exported.count("done") >= 2, exported
        if customer_first:
            assert len(server.events("dial_customer_answered")) == 2
    finally:
        stop_server(server)
        repo.database.sync_engine.dispose()
    assert "Traceback" not in server.log(), server.log()


def test_kill_9_mid_attempt_loses_nothing_and_redials_nothing_at_once(
    tmp_path: Path,
    fresh_db_url: str,  # noqa: F811
) -> None:
    """The server dies while the customer's phone rings: the attempt was committed as
    'dialing' before the INVITE; the restarted server counts it as failed and reschedules
    it after the back-off (60 s here) instead of dialling again at once."""
    customer_port = free_port()
    server, repo = outbound_center(tmp_path, customer_port, fresh_db_url)
    text = (tmp_path / "dialer.yaml").read_text()
    second: Server | None = None
    try:
        customer = customer_phone(tmp_path, "agent_ring_cancel.xml", customer_port)
        agent = ready_agent(tmp_path, server)
        now = time.time()
        callback_id, _ = repo.request(
            "010-7777-0001", "general", call_id=None, customer_id=None, due_at=now, now=now
        )
        assert wait_event(server, "callback_dialed", timeout=15, callback_id=callback_id)
        target = f"127.0.0.1:{customer_port}"
        assert poll(lambda: any(target in line for line in server.events("call_originated")))
        server.proc.kill()  # kill -9: no clean-up of any kind
        server.proc.wait(timeout=5)
        server.log_file.close()  # type: ignore[attr-defined]
        stored = repo.get(callback_id)
        assert stored is not None and stored.status is CallbackStatus.DIALING, stored
        assert stored.attempts == 1
        for peer in (customer, agent):  # their calls died with the server
            peer.proc.kill()
            peer.finish(5)
        restarted_at = time.time()
        (tmp_path / "restart").mkdir()
        second = start_server(tmp_path / "restart", text)
        assert wait_event(second, "dial_rescheduled", timeout=15, reason="recovered"), second.log()
        after = poll(
            lambda: (cb := repo.get(callback_id)) and cb.status is CallbackStatus.PENDING and cb,
            timeout=10,
        )
        assert after and after.attempts == 1, repo.get(callback_id)
        assert after.due_at.timestamp() >= restarted_at + 50  # the back-off, not a redial
        time.sleep(2.5)  # two more polls
        assert not second.events("call_dialed"), second.events("call_dialed")
    finally:
        if second is not None:
            stop_server(second)
        elif server.proc.poll() is None:
            stop_server(server)
        repo.database.sync_engine.dispose()
    assert second is not None and "Traceback" not in second.log(), second.log()
