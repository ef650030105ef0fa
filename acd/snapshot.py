"""Snapshot and restore: how a hot standby takes over the distributor.

The snapshot is plain JSON-able data: every agent's state, pending state and counters, every
queued call with its original arrival time, each queue's round-robin position and
handle-time history, and the deadlines (absolute times, same clock on both nodes). Offers
ringing at snapshot time cannot be trusted after a fail-over (the ringing leg lived on the old
node), so ``load`` sets their deadline to ``now``: the next ``on_timer(now)`` withdraws them as
timed out, without counting it against the agents, and redistributes the calls.
Agents or queues no longer in the settings are dropped, with their calls.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any, Final

from acd.agent_state import AgentState, Pending
from acd.engine import Engine
from acd.model import CallStatus, WaitingCall, required_skills
from acd.protocol import QueueCall

VERSION: Final = 1
_STATS: Final = (
    "idle_since",
    "calls_handled",
    "talk_time",
    "handle_time",
    "offers",
    "offers_answered",
    "last_offer_seq",
)
_CALL_FIELDS: Final = tuple(f.name for f in fields(QueueCall))


def dump(engine: Engine) -> dict[str, Any]:
    agents = []
    for a in engine.roster.agents.values():
        p = a.pending
        agents.append(
            {
                "id": a.agent_id,
                "state": a.state.value,
                "reason": a.reason,
                "by": a.by,
                "since": a.since,
                "call_id": a.call_id,
                "call_queue": a.call_queue,
                "pending": None if p is None else [p.state.value, p.reason, p.by],
                "answered_at": a.answered_at,
                "wrap_started": a.wrap_started,
                "last_talk": a.last_talk,
                "idle_before_offer": a.idle_before_offer,
                "stats": {name: getattr(a.view, name) for name in _STATS},
            }
        )
    calls = []
    for c in sorted(engine.calls.values(), key=lambda c: c.seq):
        row: dict[str, Any] = {name: getattr(c.info, name) for name in _CALL_FIELDS}
        row["skills"] = dict(c.info.skills)
        row.update(
            seq=c.seq,
            current_queue=c.queue,
            arrived_at=c.arrived_at,
            joined_at=c.joined_at,
            status=c.status.value,
            designated=c.designated,
            offered_to=list(c.offered_to),
            offered_at=c.offered_at,
            excluded=dict(c.excluded),
            visited=list(c.visited),
        )
        calls.append(row)
    return {
        "version": VERSION,
        "now": engine.now,
        "call_seq": engine.call_seq,
        "offer_seq": engine.offer_seq,
        "agents": agents,
        "calls": calls,
        "queues": {
            name: {"rotation": q.rotation, "handle_times": q.handle_times()}
            for name, q in engine.queues.items()
        },
        "timers": [[at, kind, key] for at, kind, key in engine.deadlines.items()],
    }


def load(engine: Engine, data: dict[str, Any], now: float) -> None:
    """Fill a freshly built engine from ``data``; no events are emitted (nothing changed)."""
    if data.get("version") != VERSION:
        raise ValueError(f"unsupported ACD snapshot version {data.get('version')!r}")
    engine.now = now
    engine.call_seq = int(data["call_seq"])
    engine.offer_seq = int(data["offer_seq"])
    for name, row in data["queues"].items():
        queue = engine.queues.get(name)
        if queue is not None:
            queue.rotation = int(row["rotation"])
            for seconds in row["handle_times"]:
                queue.record_handle_time(float(seconds))
    _load_agents(engine, data["agents"])
    _load_calls(engine, data["calls"])
    _reconcile(engine, now)
    for at, kind, key in data["timers"]:
        if kind == "wrap_up":
            agent = engine.roster.agents.get(key)
            if agent is not None and agent.state is AgentState.WRAP_UP:
                engine.deadlines.set(kind, key, float(at))
        elif kind != "offer" and key in engine.calls:
            engine.deadlines.set(kind, key, float(at))
    for call in engine.calls.values():
        if call.status is CallStatus.OFFERED:
            engine.restored_offers.add(call.call_id)
            engine.deadlines.set("offer", call.call_id, now)
        if (
            call.designated is not None
            and engine.deadlines.when("designated", call.call_id) is None
        ):
            engine.deadlines.set("designated", call.call_id, now)
    for agent in engine.roster.agents.values():
        if (
            agent.state is AgentState.WRAP_UP
            and engine.deadlines.when("wrap_up", agent.agent_id) is None
        ):
            engine.deadlines.set("wrap_up", agent.agent_id, now)
    engine.deadlines.set("dispatch", "", now)  # settle anything the fix-ups freed


def _load_agents(engine: Engine, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        agent = engine.roster.agents.get(row["id"])
        if agent is None:
            continue
        stats = row["stats"]
        agent.view = replace(
            agent.view,
            idle_since=float(stats["idle_since"]),
            calls_handled=int(stats["calls_handled"]),
            talk_time=float(stats["talk_time"]),
            handle_time=float(stats["handle_time"]),
            offers=int(stats["offers"]),
            offers_answered=int(stats["offers_answered"]),
            last_offer_seq=int(stats["last_offer_seq"]),
        )
        agent.reason, agent.by = row["reason"], row["by"]
        agent.call_id, agent.call_queue = row["call_id"], row["call_queue"]
        pending = row["pending"]
        agent.pending = None if pending is None else Pending(AgentState(pending[0]), *pending[1:])
        agent.answered_at, agent.wrap_started = row["answered_at"], row["wrap_started"]
        agent.last_talk = float(row["last_talk"])
        agent.idle_before_offer = float(stats["idle_since"])  # place() reads it for READY
        engine.roster.place(agent, AgentState(row["state"]), float(row["since"]), fresh_idle=False)
        agent.idle_before_offer = float(row["idle_before_offer"])


def _load_calls(engine: Engine, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        queue = engine.queues.get(row["current_queue"])
        if queue is None:
            continue
        info = QueueCall(**{name: row[name] for name in _CALL_FIELDS})
        call = WaitingCall(
            info=info,
            seq=int(row["seq"]),
            arrived_at=float(row["arrived_at"]),
            queue=queue.name,
            joined_at=float(row["joined_at"]),
            required=required_skills(queue.settings.skills, info.skills),
            status=CallStatus(row["status"]),
            designated=row["designated"],
            offered_to=list(row["offered_to"]),
            offered_at=float(row["offered_at"]),
            excluded={a: float(t) for a, t in row["excluded"].items()},
            visited=list(row["visited"]),
        )
        engine.calls[call.call_id] = call
        queue.add_call(call)


def _reconcile(engine: Engine, now: float) -> None:
    """Make agents and calls agree where the snapshot (or changed settings) lets them differ."""
    agents = engine.roster.agents
    for call in engine.calls.values():
        call.offered_to = [
            a
            for a in call.offered_to
            if a in agents
            and agents[a].state is AgentState.RESERVED
            and agents[a].call_id == call.call_id
        ]
        if call.designated is not None and call.designated not in agents:
            call.designated = None
        if call.status is CallStatus.OFFERED and not call.offered_to:
            call.status = CallStatus.WAITING if call.designated is None else CallStatus.DESIGNATED
        if call.status is CallStatus.DESIGNATED and call.designated is None:
            call.status = CallStatus.WAITING
        if call.status is CallStatus.WAITING:
            engine.queues[call.queue].available.add(call.key)
        if call.designated is not None:
            engine.designated.setdefault(call.designated, {})[call.call_id] = None
    for agent in agents.values():
        held = engine.calls.get(agent.call_id or "")
        if agent.state is AgentState.RESERVED and (
            held is None or agent.agent_id not in held.offered_to
        ):
            engine.roster.place(agent, AgentState.READY, now, fresh_idle=False)
            agent.call_id = agent.call_queue = None
