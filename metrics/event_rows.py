"""Events as rows of the queue event log and the agent state log (pure mappers).

The queue event log is Asterisk's ``queue_log`` in our words: one row per step of a call
through the ACD (entered, offered, no_answer, declined, connected, abandoned with position
and wait, overflowed, callback_requested, transferred, completed_by_agent/caller), so a
supervisor can replay how a queue behaved. The agent state log is one row per agent state
change; :func:`metrics.stats.occupancy` reads it. Events that belong in neither give None.
"""

from __future__ import annotations

from typing import TypedDict

from cti_server import events as ev


class QueueEventRow(TypedDict):
    at: float
    call_id: str
    event: str
    queue: str | None  # None where the event does not name one (transfers, completion)
    agent_id: str | None
    position: int | None
    wait: float | None  # seconds since the call first entered a queue
    detail: str  # reason, target or cause


class AgentStateRow(TypedDict):
    at: float
    agent_id: str
    state: str
    previous: str
    reason: str
    call_id: str | None
    by: str  # "" the agent or the system, else the supervisor who changed it


def _row(
    e: ev.Event,
    call_id: str,
    event: str,
    *,
    queue: str | None = None,
    agent_id: str | None = None,
    position: int | None = None,
    wait: float | None = None,
    detail: str = "",
) -> QueueEventRow:
    return QueueEventRow(
        at=e.at,
        call_id=call_id,
        event=event,
        queue=queue,
        agent_id=agent_id,
        position=position,
        wait=wait,
        detail=detail,
    )


def queue_event_row(e: ev.Event) -> QueueEventRow | None:
    """The queue log row for ``e``; None for events the queue log does not record.

    ``completed_by_agent``/``completed_by_caller`` (Asterisk COMPLETEAGENT/COMPLETECALLER)
    come from a ``call_cleared`` that names an agent: who hung up a connected call."""
    match e:
        case ev.CallQueued():
            return _row(e, e.call_id, "entered", queue=e.queue, position=e.position)
        case ev.CallOffered():
            return _row(e, e.call_id, "offered", queue=e.queue, agent_id=e.agent_id, wait=e.waited)
        case ev.OfferTimedOut():
            return _row(e, e.call_id, "no_answer", queue=e.queue, agent_id=e.agent_id)
        case ev.OfferDeclined():
            return _row(
                e, e.call_id, "declined", queue=e.queue, agent_id=e.agent_id, detail=e.reason
            )
        case ev.CallDequeued():
            return _row(
                e, e.call_id, "connected", queue=e.queue, agent_id=e.agent_id, wait=e.waited
            )
        case ev.CallAbandoned():
            return _row(
                e, e.call_id, "abandoned", queue=e.queue, position=e.position, wait=e.waited
            )
        case ev.CallOverflowed():
            detail = f"{e.target} ({e.reason})"
            return _row(e, e.call_id, "overflowed", queue=e.queue, wait=e.waited, detail=detail)
        case ev.CallbackRequested():
            return _row(e, e.call_id, "callback_requested", queue=e.queue, detail=e.callback_id)
        case ev.CallTransferred():
            return _row(e, e.call_id, "transferred", detail=e.target)
        case ev.CallCleared() if e.agent_id:
            who = "caller" if e.cause == "caller_hangup" else "agent"
            return _row(e, e.call_id, f"completed_by_{who}", agent_id=e.agent_id, detail=e.cause)
    return None


def agent_state_row(e: ev.Event) -> AgentStateRow | None:
    """The agent state log row for an agent state event (login, ready, ... wrap-up)."""
    if not isinstance(e, ev.AgentStateChanged):
        return None
    return AgentStateRow(
        at=e.at,
        agent_id=e.agent_id,
        state=e.state,
        previous=e.previous,
        reason=e.reason,
        call_id=e.call_id,
        by=e.by,
    )
