"""Read-only rows for the API and wallboard: plain JSON-able dicts, typed.

Rows are dicts (not dataclasses) because the web layer serves them as they are and looks
agents up by ``row["id"]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

from acd.agent_state import AgentState
from acd.model import Agent, CallStatus, WaitingCall
from acd.queue import QueueState


class AgentRow(TypedDict):
    id: str
    name: str
    state: str
    reason: str
    by: str  # who set the state: "" the agent or the system, else a supervisor
    since: float
    call_id: str | None
    queues: list[str]
    remote: bool
    pending: str | None  # the state taken when the current call's work ends
    pending_reason: str
    idle_since: float
    calls_handled: int
    talk_time: float
    average_handle_time: float | None
    offers: int
    offers_answered: int
    answer_rate: float


class QueueStats(TypedDict):
    queue: str
    waiting: int  # calls in the queue, ringing ones included
    offered: int  # of which ringing an agent
    longest_wait: float
    logged_in: int
    ready: int
    reserved: int
    busy: int
    wrap_up: int
    not_ready: int
    away: int
    average_handle_time: float
    estimated_wait: float | None


def agent_row(agent: Agent) -> AgentRow:
    view = agent.view
    pending = agent.pending
    return AgentRow(
        id=agent.agent_id,
        name=agent.name,
        state=agent.state.value,
        reason=agent.reason,
        by=agent.by,
        since=agent.since,
        call_id=agent.call_id,
        queues=list(agent.queues),
        remote=agent.remote,
        pending=None if pending is None else pending.state.value,
        pending_reason="" if pending is None else pending.reason,
        idle_since=view.idle_since,
        calls_handled=view.calls_handled,
        talk_time=view.talk_time,
        average_handle_time=view.average_handle_time,
        offers=view.offers,
        offers_answered=view.offers_answered,
        answer_rate=view.answer_rate,
    )


def queue_stats(queue: QueueState, calls: Mapping[str, WaitingCall], now: float) -> QueueStats:
    counts = queue.counts
    oldest = queue.oldest_arrival()
    waiting = len(queue.calls)
    offered = sum(1 for key in queue.calls if calls[key[3]].status is CallStatus.OFFERED)
    return QueueStats(
        queue=queue.name,
        waiting=waiting,
        offered=offered,
        longest_wait=0.0 if oldest is None else max(0.0, now - oldest),
        logged_in=queue.logged_in,
        ready=counts[AgentState.READY],
        reserved=counts[AgentState.RESERVED],
        busy=counts[AgentState.BUSY],
        wrap_up=counts[AgentState.WRAP_UP],
        not_ready=counts[AgentState.NOT_READY],
        away=counts[AgentState.AWAY],
        average_handle_time=queue.aht(),
        estimated_wait=queue.ewt(waiting + 1),
    )
