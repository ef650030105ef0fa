"""The cluster router: followers forward, the leader decides and routes to the owning node."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from acd.cluster import (
    AgentPresence,
    ClusterAcd,
    NodeReport,
    WireError,
    from_wire,
    presence_input,
    to_wire,
)
from acd.distributor import Distributor
from acd.protocol import (
    AgentCallEnded,
    AgentLogin,
    AgentLogout,
    CallerLeft,
    Offer,
    OfferAnswered,
    QueueCall,
    WithdrawOffer,
    WrapUpDone,
)
from tests.unit.acd.harness import settings

SETTINGS = settings(
    [{"name": "q", "wrap_up": 0, "announce_every": None}],
    [{"id": "a1", "queues": ["q"]}, {"id": "a2", "queues": ["q"]}],
)


def node(name: str, *, leader: bool) -> ClusterAcd:
    return ClusterAcd(Distributor(SETTINGS, random.Random(1)), name, leader=leader)


def wire(item: Any) -> Any:
    """Through JSON and back, as the Redis stream carries it."""
    return from_wire(json.loads(json.dumps(to_wire(item))))


def test_every_input_and_action_survives_the_wire() -> None:
    items = [
        QueueCall(call_id="c", queue="q", caller="010", skills={"ko": 2}, customer_id="7"),
        AgentPresence(agent_id="a1", registered=True, ready=False),
        Offer(call_id="c", agent_id="a1", queue="q", timeout=15.0),
        WithdrawOffer(call_id="c", agent_id="a1", reason="no_answer"),
        CallerLeft(call_id="c"),
    ]
    assert [wire(i) for i in items] == items


@pytest.mark.parametrize(
    "row",
    [{"type": "Nope"}, {"type": "CallerLeft"}, {"type": "CallerLeft", "call_id": "c", "x": 1}, {}],
)
def test_a_bad_message_is_a_wire_error(row: dict[str, Any]) -> None:
    with pytest.raises(WireError):
        from_wire(row)


def test_a_follower_forwards_and_decides_nothing() -> None:
    follower = node("b", leader=False)
    item = QueueCall(call_id="c1", queue="q")
    assert follower.handle(item, 0.0) == []
    assert follower.to_leader == [item]
    assert follower.next_deadline() is None and follower.on_timer(99.0) == []
    assert follower.drain_events() == [] and not follower.is_leader and follower.active


def test_the_leader_sends_decisions_for_another_nodes_call_to_that_node() -> None:
    leader, follower = node("a", leader=True), node("b", leader=False)
    for agent in ("a1", "a2"):
        leader.handle(AgentPresence(agent_id=agent, registered=True), 0.0)
    follower.handle(QueueCall(call_id="cb", queue="q"), 1.0)
    # the stream delivers B's input to A
    assert leader.remote_input("b", wire(follower.to_leader.pop()), 1.0) == []
    assert [(n, type(a).__name__, a.call_id) for n, a in leader.to_nodes] == [("b", "Offer", "cb")]
    # A's own caller: its offer stays local
    local = leader.handle(QueueCall(call_id="ca", queue="q"), 2.0)
    assert [(type(a).__name__, a.call_id) for a in local] == [("Offer", "ca")]
    assert len(leader.to_nodes) == 1


def test_the_owner_is_forgotten_when_the_call_ends() -> None:
    leader = node("a", leader=True)
    leader.handle(AgentPresence(agent_id="a1", registered=True), 0.0)
    leader.remote_input("b", QueueCall(call_id="cb", queue="q"), 1.0)
    leader.remote_input("b", OfferAnswered(call_id="cb", agent_id="a1"), 2.0)
    assert leader.owners == {"cb": "b"}
    leader.remote_input("b", AgentCallEnded(call_id="cb", agent_id="a1"), 3.0)
    assert leader.owners == {}


def test_a_stale_remote_input_is_dropped_and_counted_not_raised() -> None:
    leader = node("a", leader=True)
    assert leader.remote_input("b", WrapUpDone(agent_id="a1"), 1.0) == []  # not logged in
    assert leader.remote_input("b", QueueCall(call_id="c", queue="gone"), 1.0) == []
    assert leader.dropped == 2 and leader.owners == {}


def test_presence_means_login_or_logout_only_when_it_changes_something() -> None:
    up = AgentPresence(agent_id="a1", registered=True)
    down = AgentPresence(agent_id="a1", registered=False)
    assert presence_input(None, up) is None  # not an ACD agent
    assert presence_input("logged_out", up) == AgentLogin(agent_id="a1", ready=True)
    assert presence_input("ready", up) is None
    assert presence_input("busy", down) == AgentLogout(agent_id="a1", reason="registration_ended")
    assert presence_input("logged_out", down) is None


def restore(data: dict[str, Any]) -> Distributor:
    return Distributor.restore(SETTINGS, random.Random(2), data, 5.0)


def two_nodes() -> tuple[ClusterAcd, ClusterAcd]:
    """Leader A with both agents logged in, A's caller ``ca`` offered to a1 and B's caller
    ``cb`` offered to a2."""
    old, survivor = node("a", leader=True), node("b", leader=False)
    for agent in ("a1", "a2"):
        old.handle(AgentPresence(agent_id=agent, registered=True), 0.0)
    old.handle(QueueCall(call_id="ca", queue="q"), 1.0)
    old.remote_input("b", QueueCall(call_id="cb", queue="q"), 1.0)
    return old, survivor


def test_a_new_leader_restores_owners_asks_for_reports_and_names_the_dead_leaders_calls() -> None:
    old, survivor = two_nodes()
    snapshot = json.loads(json.dumps(old.snapshot()))
    leader_was, dead = survivor.take_over(restore, snapshot, 5.0)
    assert leader_was == "a" and dead == {"ca"}
    assert survivor.is_leader and survivor.cursor == "5000-0"  # no replay of old inputs
    assert survivor.owners == {"ca": "a", "cb": "b"}
    assert [type(r).__name__ for r in survivor.to_all] == ["ReportRequest"]
    assert survivor.awaiting == set()  # B is itself: it reconciles with its own report


def test_reconcile_connects_what_the_node_connected_and_ends_what_it_lost() -> None:
    old, survivor = two_nodes()
    old.remote_input("b", QueueCall(call_id="cb2", queue="q"), 1.5)  # waits: agents taken
    snapshot = json.loads(json.dumps(old.snapshot()))
    survivor.take_over(restore, snapshot, 5.0)
    survivor.on_timer(5.0)  # restored offers time out: cb, cb2 wait again
    survivor.handle(CallerLeft(call_id="ca"), 5.0)  # A's caller died with A (hot_standby)
    survivor.to_nodes.clear()
    # B's truth: cb was answered by a2 meanwhile, cb2's caller hung up, cb3 queued unseen
    cb3 = to_wire(QueueCall(call_id="cb3", queue="q"))
    del cb3["type"]
    report = NodeReport(queued=[cb3], connected=[["cb", "a2", "q"]], registered=["a1"])
    actions = survivor.handle(report, 6.0, "b")  # B is the leader now: its own calls
    rows = {r["id"]: (r["state"], r["call_id"]) for r in survivor.snapshot()["agents"]}
    assert rows == {"a2": ("busy", "cb"), "a1": ("reserved", "cb3")}
    assert ("Offer", "cb3", "a1") in [(type(a).__name__, a.call_id, a.agent_id) for a in actions]
    assert survivor.to_nodes == [] and "cb2" not in str(survivor.snapshot()["calls"])


def test_a_node_that_does_not_report_loses_its_calls_after_the_wait() -> None:
    old, survivor = two_nodes()
    c = node("c", leader=False)
    old.remote_input("c", QueueCall(call_id="cc", queue="q"), 1.0)
    snapshot = json.loads(json.dumps(old.snapshot()))
    survivor.take_over(restore, snapshot, 5.0)
    assert survivor.awaiting == {"c"} and survivor.next_deadline() <= 5.0 + 3.0
    survivor.on_timer(8.0)
    assert "cc" not in {r["call_id"] for r in survivor.snapshot()["calls"]}
    assert survivor.awaiting == set() and c.to_leader == []


def test_the_snapshot_keeps_only_owners_of_live_calls() -> None:
    leader = node("a", leader=True)
    leader.owners["gone"] = "b"
    assert leader.snapshot()["cluster"]["owners"] == {}
