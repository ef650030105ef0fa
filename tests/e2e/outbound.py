"""A contact center whose trunk ``gw`` leads to a SIPp phone playing the customer, and the
dialer on (every hour open): for the dialer and desktop call-control end-to-end tests."""

from __future__ import annotations

from pathlib import Path

from cti_server.config import load_config
from cti_server.storage import Database
from cti_server.storage.callbacks import CallbackRepo
from tests.e2e.conftest import Server, free_port, start_server
from tests.e2e.contact_center import CONFIG, load_demo_customers, write_flows
from tests.e2e.helpers import SippRun, register_agent, run_sipp, wait_event

ALL_DAY = '{weekdays: {start: "00:00", end: "23:59"}, weekends: {start: "00:00", end: "23:59"}}'
DIALER = f"""
dialer:
  poll_interval: 1
  protection: {{max_inbound_wait: 10, service_level_target: null}}
  callbacks:
    reserve_timeout: 10
    ring_timeout: 8
    retry: {{busy: 60, no_answer: 60, failed: 60}}
    calling_hours: {ALL_DAY}
  campaigns:
    - {{name: spring, queue: general, calling_hours: {ALL_DAY}, retry: {{busy: 60}}}}
"""


def outbound_config(tmp: Path, customer_port: int, database_url: str | None = None) -> str:
    text = CONFIG.format(
        data_dir=tmp / "data",
        flows_dir=write_flows(tmp / "flows"),
        storage=f"storage: {{database_url: '{database_url}'}}" if database_url else "",
        strategy="longest_idle",
        offer_timeout=15,
        designated_wait=20,
        max_failures=5,
    )
    text = text.replace(
        "  - {name: gw, allow_from: [127.0.0.1/32]}",
        "  - {name: gw, allow_from: [127.0.0.1/32], "
        f"outbound_uri: 'sip:127.0.0.1:{customer_port}'}}",
    )
    text = text.replace("routes:\n", "routes:\n  - {match: '0\\d{9,10}', target: 'trunk:gw'}\n")
    return text + DIALER


def outbound_center(
    tmp: Path, customer_port: int, database_url: str | None = None
) -> tuple[Server, CallbackRepo]:
    text = outbound_config(tmp, customer_port, database_url)
    path = tmp / "dialer.yaml"
    path.write_text(text)
    load_demo_customers(path)  # migrates the database too
    repo = CallbackRepo(Database.from_config(load_config(path)))
    return start_server(tmp, text), repo


def ready_agent(
    tmp: Path, server: Server, user: str = "1001", scenario: str = "agent_answer.xml"
) -> SippRun:
    """A SIPp phone for ``user`` (1001 or 1002) that answers; registered, agent ready."""
    port = free_port()
    run = run_sipp(tmp, f"agent{user}", scenario, server.port, "-s", user, port=port, timeout=40)
    register_agent(tmp, server, user, f"pw{user}", port)
    assert wait_event(server, "agent_logged_in", agent_id=user, state="ready"), server.log()
    return run


def customer_phone(tmp: Path, scenario: str, port: int) -> SippRun:
    return run_sipp(tmp, "customer", scenario, 9, "-s", "customer", port=port, timeout=40)
