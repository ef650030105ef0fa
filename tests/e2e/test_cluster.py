"""Two nodes behind Kamailio's dispatcher, sharing the real Redis (issue 10 part 5).

Both ``cti-server serve`` processes run with ``redis.cluster: true``; Kamailio runs the
repository's ``deploy/kamailio/kamailio.cfg``. Agents register through Kamailio (each at the
node its Call-ID hashes to); callers dial the queue through Kamailio, so calls land on both
nodes, and every call is answered by an agent whichever node the agent registered at: the
leader distributes, the owning node rings. Then the leader is killed: the lease moves to the
survivor within the lease time, a caller waiting on the survivor is kept and connected, new
calls all go to the survivor and reach the agents; with both nodes dead, a call goes to the
emergency route.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from loadtests.cluster_rig import Kamailio, cluster_section, free_udp_port, start_kamailio
from tests.e2e.conftest import Server, start_server, stop_server
from tests.e2e.contact_center import CONFIG, api, poll, write_flows
from tests.e2e.helpers import SippRun, run_sipp, wait_event
from tests.state.conftest import delete_prefix_sync, random_prefix, redis_problem, redis_url

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

TTL = 2.0
PASSWORDS = {"1001": "pw1001", "1002": "pw1002"}


def node_config(tmp: Path, flows: Path, node: str, prefix: str) -> str:
    text = CONFIG.format(
        data_dir=tmp / "data",
        flows_dir=flows,
        storage="",
        strategy="longest_idle",
        offer_timeout=10,
        designated_wait=20,
        max_failures=5,
    )
    return text + cluster_section(redis_url(), prefix, node, TTL)


def ha(server: Server) -> dict[str, Any]:
    status, body = api(server, "/api/v1/ha")
    assert status == 200, body
    return body  # type: ignore[no-any-return]


def established(server: Server) -> list[str]:
    """Calls this node connected to an agent."""
    return [line for line in server.events("call_established") if "agent_id=" in line]


def agent_phone(tmp: Path, kam: Kamailio, user: str, leader: Server) -> SippRun:
    """A SIPp phone for ``user`` that registers through Kamailio and answers every call."""
    port = free_udp_port()
    phone = run_sipp(
        tmp,
        f"agent{user}",
        "agent_answer.xml",
        kam.port,
        "-s",
        user,
        port=port,
        calls=50,
        timeout=80,
    )
    reg = run_sipp(
        tmp,
        f"register_{user}",
        "register.xml",
        kam.port,
        "-s",
        user,
        "-au",
        user,
        "-ap",
        PASSWORDS[user],
        "-key",
        "contact_port",
        str(port),
        timeout=5,
    )
    assert reg.finish(10) == 0, reg.explain()
    assert wait_event(leader, "agent_logged_in", agent_id=user, timeout=5), leader.log()[-3000:]
    return phone


def callers(tmp: Path, kam: Kamailio, name: str, calls: int) -> SippRun:
    """``calls`` callers dialling the queue through Kamailio, 2 a second, 3 s each."""
    return run_sipp(
        tmp,
        name,
        "caller_routed.xml",
        kam.port,
        "-s",
        "1599",
        "-d",
        "3000",
        "-r",
        "2",
        calls=calls,
        timeout=40,
    )


def set_state(server: Server, agent: str, state: str) -> int:
    return api(server, f"/api/v1/agents/{agent}/state", {"state": state}, user="super")[0]


def kill(server: Server) -> None:
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(5)


def test_two_nodes_share_the_queue_and_survive_the_leader(tmp_path: Path) -> None:
    if redis_problem():
        pytest.skip(redis_problem())
    prefix = random_prefix()
    flows = write_flows(tmp_path / "flows")
    servers: list[Server] = []
    kam: Kamailio | None = None
    try:
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        a = start_server(tmp_path / "a", node_config(tmp_path / "a", flows, "a", prefix))
        servers.append(a)
        assert poll(lambda: ha(a)["role"] == "leader", timeout=5), ha(a)
        b = start_server(tmp_path / "b", node_config(tmp_path / "b", flows, "b", prefix))
        servers.append(b)
        emergency_port = free_udp_port()
        emergency = run_sipp(
            tmp_path,
            "emergency",
            "agent_answer.xml",
            a.port,
            "-s",
            "119",
            port=emergency_port,
            timeout=80,
        )
        kam = start_kamailio(
            tmp_path / "kam", [a.port, b.port], f"sip:119@127.0.0.1:{emergency_port}"
        )
        for user in PASSWORDS:
            agent_phone(tmp_path, kam, user, a)

        first = callers(tmp_path, kam, "callers1", 6)
        assert first.finish(40) == 0, first.explain() + kam.log()[-2000:]
        on_a, on_b = established(a), established(b)
        assert on_a and on_b, (len(on_a), len(on_b), a.log()[-3000:], b.log()[-3000:])
        assert len(on_a) + len(on_b) == 6

        # A caller waits on B (no agent ready) while the leader A dies: B keeps the call,
        # the new leader (B) still knows it is waiting and connects it once an agent is free.
        for user in PASSWORDS:
            assert set_state(a, user, "not_ready") == 200
        queued = len(a.events("call_queued"))
        waiting = run_sipp(
            tmp_path, "waiting", "caller.xml", b.port, "-s", "1599", "-d", "9000", timeout=40
        )
        assert wait_event(a, "call_queued", count=queued + 1, timeout=5), a.log()[-3000:]
        time.sleep(0.5)  # A's snapshot (saved every 0.2 s) has it; what is newer may be lost
        kill(a)  # the leader
        started = time.monotonic()
        took_over = poll(lambda: ha(b)["role"] == "leader", timeout=TTL + 4)
        assert took_over, ha(b)
        assert time.monotonic() - started < TTL + 4
        before = len(established(b))
        assert set_state(b, "1001", "ready") == 200
        assert poll(lambda: len(established(b)) > before, timeout=5), b.log()[-4000:]
        assert waiting.finish(20) == 0, waiting.explain()
        assert set_state(b, "1002", "ready") == 200

        before = len(established(b))
        second = callers(tmp_path, kam, "callers2", 4)
        assert second.finish(40) == 0, second.explain() + kam.log()[-2000:]
        assert len(established(b)) - before == 4, b.log()[-4000:]

        kill(b)
        time.sleep(2.5)  # Kamailio's OPTIONS probe marks the last node down
        last = callers(tmp_path, kam, "callers3", 1)
        last.finish(20)
        invite = emergency.messages()
        assert "INVITE sip:119@" in invite and "X-Cti-Route: emergency" in invite, (
            invite[-2000:] + kam.log()[-2000:]
        )
        assert "SIP/2.0 200 OK" in last.messages()
    finally:
        for server in servers:
            stop_server(server)  # also closes the log of a killed one
        if kam is not None:
            kam.stop()
        delete_prefix_sync(redis_url(), prefix)


def test_kamailio_config_names_every_define_it_uses() -> None:
    """The shipped config starts with its defaults (no -A): a syntax check by Kamailio."""
    import subprocess

    from loadtests.cluster_rig import KAMAILIO, KAMAILIO_CFG

    done = subprocess.run(
        [KAMAILIO, "-c", "-f", str(KAMAILIO_CFG)], capture_output=True, text=True, timeout=20
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "config file ok" in (done.stdout + done.stderr).lower()
