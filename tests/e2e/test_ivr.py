"""The IVR end to end: SIPp callers type RFC 2833 keys into the shipped flow; SIPp agents
answer what the ACD offers them; the server's events and API say what happened.

Key timing (seconds after the call is answered): the greeting lasts ~3.3 s, then the language
menu plays; keys pressed during a menu or collect prompt cut it (barge-in) and count.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import free_port
from tests.e2e.contact_center import api, contact_center, ivr_caller, poll
from tests.e2e.helpers import event_field, register_agent, run_sipp, wait_event

pytestmark = pytest.mark.e2e

LOGIN = [(4.5, "1"), (1.5, "10001#"), (1.5, "1234#")]  # Korean, customer 10001, PIN 1234


def test_caller_authenticates_and_reaches_an_agent_with_screen_pop(tmp_path: Path) -> None:
    with contact_center(tmp_path) as server:
        port = free_port()
        agent = run_sipp(
            tmp_path,
            "agent",
            "agent_answer.xml",
            server.port,
            "-s",
            "1001",
            port=port,
            timeout=60,
        )
        register_agent(tmp_path, server, "1001", "pw1001", port)
        assert wait_event(server, "agent_logged_in", agent_id="1001", state="ready"), server.log()
        caller = ivr_caller(tmp_path, server, LOGIN, hold=10)

        attempt = wait_event(server, "authentication_attempted", timeout=25, outcome="ok")
        assert attempt, server.log()
        customer_id = event_field(attempt[0], "customer_id")
        assert customer_id
        queued = wait_event(server, "call_queued", timeout=10, queue="general")
        assert queued and event_field(queued[0], "customer_id") == customer_id, server.log()
        assert event_field(queued[0], "priority") == "10"  # 10001 is a VIP
        established = wait_event(server, "call_established", timeout=15, agent_id="1001")
        assert established, server.log()
        call_id = event_field(established[0], "call_id")

        def screen_pop() -> object:
            status, body = api(server, f"/api/v1/calls/{call_id}")
            return body if status == 200 and body.get("screen_pop") else None

        call = poll(screen_pop, timeout=5)
        assert call is not None, api(server, f"/api/v1/calls/{call_id}")
        pop = call["screen_pop"]
        assert call["customer_id"] == customer_id
        assert call["auth_method"] and "pin" in call["auth_method"]
        assert pop["customer"]["name"] == "김민준" and pop["customer"]["vip"] is True
        assert len(pop["history"]) == 3 and pop["payment_method"]["kind"] == "card"
        assert len(pop["frequent_products"]) == 3
        assert pop["auth_outcome"] == "ok" and "pin" in pop["auth_method"]
        assert caller.finish(40) == 0, caller.explain()
        assert agent.finish(20) == 0, agent.explain()
        log = server.log()
        # The PIN never reached an event: its keys were logged masked.
        secure = [ln for ln in server.events("dtmf_received") if "secure=True" in ln]
        assert len(secure) == 5, log  # 1 2 3 4 #
        path = [event_field(ln, "node") for ln in server.events("ivr_node_entered")]
        assert path[:3] == ["greeting", "check_hours", "choose_language"], path
        assert "verify" in path and path[-1] == "to_agent", path
        assert wait_event(server, "ivr_ended", outcome="queued"), log


@pytest.mark.timeout(120)
def test_three_wrong_pins_lock_the_customer_and_hang_up(tmp_path: Path) -> None:
    edits = [("    on_locked: connect          # account_locked", "    on_locked: goodbye  #")]
    with contact_center(tmp_path, edits=edits, max_failures=3) as server:
        # After each wrong PIN a key cuts "the details do not match" short (barge-in), and
        # the next PIN is typed over "please enter your PIN".
        steps = [
            *LOGIN[:2],
            (1.5, "1111#"),
            (1.5, "#"),
            (1.0, "2222#"),
            (1.5, "#"),
            (1.0, "3333#"),
        ]
        caller = ivr_caller(tmp_path, server, steps, ends="server", timeout=70)
        assert caller.finish(75) == 0, caller.explain()
        outcomes = [event_field(ln, "outcome") for ln in server.events("authentication_attempted")]
        assert outcomes == ["bad_pin", "bad_pin", "locked"], server.log()
        assert wait_event(server, "prompt_started", prompt="account_locked"), server.log()
        assert wait_event(server, "ivr_ended", outcome="hangup"), server.log()
        assert not server.events("call_queued")
        # The customer stays locked: the CLI an agent would use to unlock says so.
        shown = subprocess.run(
            [
                sys.executable,
                "-m",
                "cti_server",
                "customers",
                "show",
                "10001",
                "--config",
                str(tmp_path / "customers.yaml"),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert shown.returncode == 0, shown.stderr
        assert "locked" in shown.stdout.lower(), shown.stdout


def test_silent_caller_times_out_through_the_retries(tmp_path: Path) -> None:
    # Short timeouts on the language menu and the customer number, then a goodbye instead of
    # the queue: a caller who never presses anything is let go after every retry.
    edits = [
        ("    timeout: 5                  # seconds", "    timeout: 1  #"),
        ("    retries: 1                  # one more try", "    retries: 0  #"),
        ("    first_timeout: 7            # seconds for", "    first_timeout: 1  #"),
        ("    retries: 2\n    on_key:", "    retries: 1\n    on_key:"),
        ("    on_failure: connect         # could not identify", "    on_failure: goodbye  #"),
    ]
    with contact_center(tmp_path, edits=edits, demo_customers=False) as server:
        caller = ivr_caller(tmp_path, server, [], ends="server", timeout=60)
        assert caller.finish(65) == 0, caller.explain()
        nodes = [event_field(ln, "node") for ln in server.events("ivr_node_entered")]
        assert nodes == [
            "greeting",
            "check_hours",
            "choose_language",
            "ask_customer_number",
            "goodbye",
        ], nodes
        assert len(server.events("prompt_started")) >= 6, server.log()  # retries replayed
        assert wait_event(server, "ivr_ended", outcome="hangup"), server.log()
        assert wait_event(server, "call_cleared", cause="ivr_hangup"), server.log()


def test_database_unreachable_takes_the_flow_fallback(tmp_path: Path) -> None:
    # Nothing listens on this port: every lookup and PIN check fails at once.
    url = f"postgresql+psycopg://cti@127.0.0.1:{free_port()}/cti?connect_timeout=2"
    with contact_center(tmp_path, database_url=url, demo_customers=False) as server:
        caller = ivr_caller(tmp_path, server, LOGIN, hold=7)
        attempt = wait_event(server, "authentication_attempted", timeout=30, outcome="error")
        assert attempt, server.log()
        # verify's on_error: the caller is queued unauthenticated, not dropped.
        queued = wait_event(server, "call_queued", timeout=15, queue="general")
        assert queued, server.log()
        assert event_field(queued[0], "customer_id") in (None, "None"), queued
        assert caller.finish(40) == 0, caller.explain()
