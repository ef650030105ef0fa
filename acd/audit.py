"""Invariants of the distributor's state, checked from the outside (tests, debugging).

Each check names what it found so a failing property test says which rule broke, not just
that something did. O(agents + calls): never on the hot path.
"""

from __future__ import annotations

from collections import Counter

from acd.agent_state import WORKING, AgentState
from acd.engine import Engine
from acd.model import CallStatus
from acd.queue import QueueState


def audit(engine: Engine) -> list[str]:
    problems: list[str] = []
    agents, calls = engine.roster.agents, engine.calls
    holders: Counter[str] = Counter(engine.claims.values())
    for call in calls.values():
        queue = engine.queues[call.queue]
        ring_all = queue.strategy.ring_all
        holders.update(call.offered_to)
        if (call.status is CallStatus.OFFERED) != bool(call.offered_to):
            problems.append(
                f"call {call.call_id}: status {call.status.value} offered to {call.offered_to}"
            )
        if len(call.offered_to) > (queue.settings.ring_all_limit if ring_all else 1):
            problems.append(f"call {call.call_id}: offered to {call.offered_to} at once")
        if call.key not in queue.calls:
            problems.append(f"call {call.call_id}: missing from queue {call.queue}")
        if (call.key in queue.available) != (call.status is CallStatus.WAITING):
            problems.append(f"call {call.call_id}: {call.status.value} but available index wrong")
        if (call.status is CallStatus.DESIGNATED) and call.designated is None:
            problems.append(f"call {call.call_id}: designated status without an agent")
        for agent_id in call.offered_to:
            agent = agents[agent_id]
            if agent.state is not AgentState.RESERVED or agent.call_id != call.call_id:
                problems.append(
                    f"call {call.call_id}: offered to {agent_id} in {agent.state.value}"
                )
    problems += [f"agent {a}: holds {n} offers" for a, n in holders.items() if n > 1]
    for agent in agents.values():
        if agent.state is AgentState.RESERVED and holders[agent.agent_id] != 1:
            problems.append(f"agent {agent.agent_id}: reserved without an offer")
        if (agent.state in WORKING) != (agent.call_id is not None):
            problems.append(
                f"agent {agent.agent_id}: {agent.state.value} with call {agent.call_id}"
            )
        if agent.pending is not None and agent.state not in WORKING:
            problems.append(f"agent {agent.agent_id}: pending state while {agent.state.value}")
    for queue in engine.queues.values():
        problems += _queue_problems(engine, queue)
    for agent_id, mine in engine.designated.items():
        for call_id in mine:
            call = calls[call_id]
            if call.designated != agent_id:
                problems.append(f"call {call_id}: indexed as designated to {agent_id}")
            waiting = call.status is CallStatus.DESIGNATED and agent_id not in call.excluded
            if waiting and agents[agent_id].state is AgentState.READY:
                problems.append(f"call {call_id}: waits for {agent_id}, who is ready")
    return problems


def _queue_problems(engine: Engine, queue: QueueState) -> list[str]:
    problems: list[str] = []
    agents, calls = engine.roster.agents, engine.calls
    counts = Counter(agents[a].state for a in queue.members)
    for state in AgentState:
        if counts[state] != queue.counts[state]:
            problems.append(f"queue {queue.name}: {state.value} count {queue.counts[state]}")
    ready = {a for a in queue.members if agents[a].state is AgentState.READY}
    if ready != set(queue.ready):
        problems.append(f"queue {queue.name}: ready index {sorted(queue.ready)} != {sorted(ready)}")
    if len(queue.calls) != sum(1 for c in calls.values() if c.queue == queue.name):
        problems.append(f"queue {queue.name}: {len(queue.calls)} calls indexed")
    for key in queue.available:
        call = calls[key[3]]
        for agent in queue.ready.values():
            if agent.agent_id in call.excluded:
                continue
            if QueueState.can_take(agent, call, engine.now):
                problems.append(f"queue {queue.name}: {call.call_id} waits, {agent.agent_id} ready")
    return problems
