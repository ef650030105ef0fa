"""The agents and their state changes: one place applies the table, keeps every queue's
counters and ready index in step, and emits the matching AgentStateChanged event.

Nothing else assigns ``Agent.state``; so the queue indexes cannot drift from the agents.
"""

from __future__ import annotations

from dataclasses import replace

from acd.agent_state import (
    EVENT_FOR_STATE,
    RELEASING,
    WORKING,
    AgentInput,
    AgentState,
    Pending,
    next_state,
    requested_state,
)
from acd.errors import UnknownAgentError
from acd.model import Agent, AgentView
from acd.queue import QueueState
from acd.settings import AcdSettings
from cti_server import events as ev


class Roster:
    def __init__(
        self, settings: AcdSettings, queues: dict[str, QueueState], events: list[ev.Event]
    ) -> None:
        self.queues = queues
        self.events = events
        self.agents: dict[str, Agent] = {}
        for order, a in enumerate(settings.agents):
            view = AgentView(agent_id=a.id, order=order, skills=dict(a.skills))
            self.agents[a.id] = Agent(a.id, a.name, tuple(a.queues), a.remote, view)

    def get(self, agent_id: str) -> Agent:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise UnknownAgentError(agent_id)
        return agent

    def apply(
        self,
        agent: Agent,
        event: AgentInput,
        now: float,
        *,
        reason: str = "",
        by: str = "",
        fresh_idle: bool = True,
    ) -> AgentState:
        """Run ``event`` through the table (raising IllegalAgentTransition) and return the
        agent's state afterwards. ``fresh_idle``: on return to READY the agent's idle time
        starts now; False restores it from before the offer (not their fault)."""
        target = next_state(agent.agent_id, agent.state, event)
        if target is None:
            wanted = requested_state(event)
            agent.pending = None if wanted is AgentState.READY else Pending(wanted, reason, by)
            return agent.state
        if event in RELEASING and agent.pending is not None:
            target, reason, by = agent.pending.state, agent.pending.reason, agent.pending.by
        if target not in WORKING:
            agent.pending = None
        old = agent.state
        if target is old and reason == agent.reason and by == agent.by:
            return old  # the same choice again: nothing to tell anyone
        self.place(agent, target, now, fresh_idle=fresh_idle)
        agent.reason, agent.by = reason, by
        call_id = agent.call_id if target in WORKING else None
        if target not in WORKING:
            agent.call_id = agent.call_queue = None
        cls = ev.AgentLoggedIn if old is AgentState.LOGGED_OUT else EVENT_FOR_STATE[target]
        self.events.append(
            cls(
                at=now,
                agent_id=agent.agent_id,
                state=target.value,
                previous=old.value,
                reason=reason,
                call_id=call_id,
                by=by,
            )
        )
        return target

    def place(self, agent: Agent, state: AgentState, now: float, *, fresh_idle: bool) -> None:
        """Set the state and update the indexes, without the table or an event (restore)."""
        old = agent.state
        agent.state = state
        agent.since = now
        if state is AgentState.READY and old is not AgentState.READY:
            idle = now if fresh_idle else agent.idle_before_offer
            agent.view = replace(agent.view, idle_since=idle)
            agent.ready_epoch += 1
        elif old is AgentState.READY and state is AgentState.RESERVED:
            agent.idle_before_offer = agent.view.idle_since
        if old is state:
            return
        for name in agent.queues:
            self.queues[name].agent_moved(agent, old, state)
