"""Callbacks survive the cluster leader (issue 10 part 5): two nodes sharing the real Redis
and a PostgreSQL database; a callback stored before the leader is killed is dialled by the
survivor once due, to an agent who registered at the dead leader (its binding is shared)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from cti_server.config import load_config
from cti_server.storage import Database
from cti_server.storage.callbacks import CallbackRepo
from cti_server.storage.tables import CallbackStatus
from loadtests.cluster_rig import cluster_section, free_udp_port
from tests.e2e.conftest import Server, start_server, stop_server
from tests.e2e.contact_center import load_demo_customers, poll
from tests.e2e.helpers import wait_event
from tests.e2e.outbound import customer_phone, outbound_config, ready_agent
from tests.e2e.test_cluster import TTL, ha, kill
from tests.state.conftest import delete_prefix_sync, random_prefix, redis_problem, redis_url
from tests.storage.conftest import pg_server  # noqa: F401 (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


def test_a_callback_due_after_the_leader_died_is_dialled_by_the_new_leader(
    tmp_path: Path,
    pg_server: Any,  # noqa: F811 (fixture)
) -> None:
    """The nodes share PostgreSQL: a callback requested before the leader is killed is
    dialled by the survivor once due, to an agent who registered at the dead leader."""
    if redis_problem():
        pytest.skip(redis_problem())
    prefix = random_prefix()
    url = pg_server.create_database("cluster")
    customer_port = free_udp_port()
    servers: list[Server] = []
    try:
        configs = {}
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            text = outbound_config(tmp_path / name, customer_port, url)
            configs[name] = text + cluster_section(redis_url(), prefix, name, TTL)
        path = tmp_path / "a" / "dialer.yaml"
        path.write_text(configs["a"])
        load_demo_customers(path)  # migrates the shared database
        repo = CallbackRepo(Database.from_config(load_config(path)))
        a = start_server(tmp_path / "a", configs["a"])
        servers.append(a)
        assert poll(lambda: ha(a)["role"] == "leader", timeout=5), ha(a)
        b = start_server(tmp_path / "b", configs["b"])
        servers.append(b)
        customer = customer_phone(tmp_path, "agent_hangup.xml", customer_port)
        agent = ready_agent(tmp_path, a)  # registered at A, known to B through Redis
        time.sleep(0.6)  # A's snapshot and B's copy of the registration
        now = time.time()
        callback_id, _ = repo.request(
            "010-1234-5678", "general", call_id=None, customer_id=None, due_at=now + 6, now=now
        )
        kill(a)
        assert poll(lambda: ha(b)["role"] == "leader", timeout=TTL + 4), ha(b)
        assert wait_event(b, "callback_completed", timeout=20, callback_id=callback_id), b.log()[
            -4000:
        ]
        assert customer.finish(20) == 0, customer.explain()
        assert agent.finish(20) == 0, agent.explain()
        stored = poll(
            lambda: (cb := repo.get(callback_id)) and cb.status is CallbackStatus.DONE and cb,
            timeout=10,
        )
        assert stored and stored.attempts == 1, repo.get(callback_id)
        repo.database.sync_engine.dispose()
    finally:
        for server in servers:
            stop_server(server)
        delete_prefix_sync(redis_url(), prefix)
