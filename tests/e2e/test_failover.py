"""Hot standby end to end: two ``cti-server serve`` processes share the real Redis; the
leader is killed with SIGKILL and the standby takes over with the agents' states.

Both nodes have the same config (the contact center of ``contact_center.CONFIG``) but their
own ports and data directories, one random Redis key prefix for this test (its keys are
deleted at the end, never FLUSHDB), and a 3 s lease. Agents register at A; 1002 goes not
ready and a caller waits in A's queue for 1002 (designated), so 1001 stays ready. After
``kill -9`` of A, B must report ``leader`` with a higher token within ttl + 2 s, and its
``/api/v1/agents`` must show what A had: that is the snapshot restore.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from cti_server.state import RedisKeys
from tests.e2e.conftest import Server, free_port, start_server, stop_server
from tests.e2e.contact_center import CONFIG, api, ivr_caller, poll, write_flows
from tests.e2e.helpers import SippRun, register_agent, run_sipp, wait_event
from tests.state.conftest import delete_prefix_sync, random_prefix, redis_problem, redis_url

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(40)]

TTL = 3.0
PASSWORDS = {"1001": "pw1001", "1002": "pw1002"}


def node_config(tmp: Path, flows: Path, node: str, prefix: str) -> str:
    text = CONFIG.format(
        data_dir=tmp / "data",
        flows_dir=flows,
        storage="",
        strategy="longest_idle",
        offer_timeout=15,
        designated_wait=60,  # the waiting call stays reserved for 1002 the whole test
        max_failures=5,
    )
    section = {"url": redis_url(), "key_prefix": prefix, "lease_ttl": TTL, "node_id": node}
    return text + f"redis: {json.dumps(section)}\n"


def ha(server: Server) -> dict[str, Any]:
    status, body = api(server, "/api/v1/ha")
    assert status == 200, body
    return body  # type: ignore[no-any-return]


def agent(tmp: Path, server: Server, user: str) -> SippRun:
    """A SIPp phone for ``user`` that registers at ``server`` and so logs in ready."""
    port = free_port()
    run = run_sipp(
        tmp,
        f"agent{user}",
        "agent_ring_cancel.xml",
        server.port,
        "-s",
        user,
        port=port,
        timeout=40,
    )
    register_agent(tmp, server, user, PASSWORDS[user], port)
    assert wait_event(server, "agent_logged_in", agent_id=user, state="ready"), server.log()
    return run


def stored(prefix: str) -> tuple[dict[str, str], int]:
    """The agents' states and the number of waiting calls in the snapshot A saved to Redis."""
    client = redis.Redis.from_url(redis_url(), decode_responses=True, socket_timeout=2)
    try:
        data = client.hget(RedisKeys(prefix).snapshot, "data")
    finally:
        client.close()
    if not data:
        return {}, 0
    snapshot = json.loads(str(data))
    return {row["id"]: row["state"] for row in snapshot["agents"]}, len(snapshot["calls"])


def stream_names(prefix: str) -> list[str]:
    """The event names in the shared stream, oldest first."""
    client = redis.Redis.from_url(redis_url(), decode_responses=True, socket_timeout=2)
    try:
        rows = client.xrange(RedisKeys(prefix).events)
    finally:
        client.close()
    return [json.loads(str(fields["event"]))["name"] for _, fields in rows or [] if fields]


def agent_states(server: Server) -> dict[str, tuple[str, str]]:
    status, body = api(server, "/api/v1/agents")
    assert status == 200, body
    return {row["id"]: (row["state"], row.get("reason", "")) for row in body["agents"]}


def test_the_standby_takes_over_with_the_agents_when_the_leader_is_killed(
    tmp_path: Path,
) -> None:
    if redis_problem():
        pytest.skip(redis_problem())
    prefix = random_prefix()
    flows = write_flows(tmp_path / "flows")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = start_server(tmp_path / "a", node_config(tmp_path / "a", flows, "a", prefix))
    b: Server | None = None
    peers: list[SippRun] = []
    try:
        first = poll(lambda: (s := ha(a))["role"] == "leader" and s, timeout=5)
        assert first and first["node"] == "a" and first["token"] >= 1, ha(a)
        b = start_server(tmp_path / "b", node_config(tmp_path / "b", flows, "b", prefix))
        time.sleep(TTL / 3 + 0.5)  # B has asked for the lease at least once
        assert ha(b) == {"node": "b", "role": "standby", "token": None}

        peers += [agent(tmp_path, a, "1001"), agent(tmp_path, a, "1002")]
        status, body = api(
            a, "/api/v1/agents/1002/state", {"state": "not_ready", "reason": "lunch"}
        )
        assert status == 200 and body["state"] == "not_ready", body
        peers.append(ivr_caller(tmp_path, a, [], called="71002", hold=30))  # for 1002 only
        assert wait_event(a, "call_queued", timeout=10), a.log()
        status, body = api(a, "/api/v1/queues")
        assert status == 200 and body["queues"][0]["waiting"] == 1, body
        assert agent_states(a)["1001"][0] == "ready"
        wanted = {"1001": "ready", "1002": "not_ready"}
        assert poll(lambda: stored(prefix) == (wanted, 1), timeout=3), stored(prefix)

        a.proc.kill()  # kill -9: no release, no goodbye
        a.proc.wait(timeout=5)
        killed = time.monotonic()
        taken = poll(lambda: (s := ha(b))["role"] == "leader" and s, timeout=TTL + 2)
        assert taken, f"B did not take over within {TTL + 2} s: {ha(b)}\n{b.log()}"
        assert time.monotonic() - killed <= TTL + 2
        assert taken["node"] == "b" and taken["token"] > first["token"], taken
        states = agent_states(b)
        assert states["1001"][0] == "ready", states
        assert states["1002"] == ("not_ready", "lunch"), states
        # B knew A's waiting call, and let it go: its caller's leg died with A.
        assert b.wait_for("restored 2 agents, 1 waiting calls", timeout=2), b.log()
        assert b.wait_for("calls lost with the old leader's node: 1 waiting", timeout=2)
        status, body = api(b, "/api/v1/queues")
        assert status == 200 and body["queues"][0]["waiting"] == 0, body
        names = stream_names(prefix)  # A's events outlive A, in the order A published them
        assert names.index("agent_not_ready") < names.index("call_queued"), names
    finally:
        for peer in peers:  # their server is gone: end them (by PID) and close their pipes
            peer.proc.kill()
            peer.proc.communicate(timeout=5)
        stop_server(a)
        if b is not None:
            stop_server(b)
        delete_prefix_sync(redis_url(), prefix)
    assert "Traceback" not in a.log(), a.log()
    assert "Traceback" not in b.log(), b.log()
