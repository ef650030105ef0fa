"""The agent state table: what an ACD agent may do next.

Theory of operation. An agent is LOGGED_OUT until a login (registration or desktop) makes
them READY or NOT_READY. Only a READY agent is ever offered a call (OFFER -> RESERVED: their
phone rings). The offer ends one of three ways: ANSWER -> BUSY; OFFER_ENDED -> READY when it
was withdrawn through nobody's fault (the caller left, a colleague answered first under
ring-all, a fail-over); OFFER_MISSED -> NOT_READY when the agent let it ring out or refused it
and the queue parks such agents (``no_answer_not_ready``). When the conversation ends,
CALL_ENDED starts wrap-up (WRAP_UP, a timer or WRAP_UP_DONE ends it), or
CALL_ENDED_NO_WRAP_UP goes straight back to READY when the queue has no wrap-up time.

READY, NOT_READY and AWAY are the agent's (or a supervisor's) choice and move freely between
each other. The same request while the agent is handling a call (RESERVED, BUSY, WRAP_UP) is
not refused and not applied: it becomes the *pending state* (ECMA-269 §22.1.5
PendingAgentState), taken instead of READY when the work ends (the ``RELEASING`` inputs).
A READY request during RESERVED or BUSY cancels a pending state; during WRAP_UP it ends the
wrap-up now. LOGOUT is allowed from every logged-in state; the distributor withdraws a ringing
offer first. Any other (state, input) pair raises ``IllegalAgentTransition`` naming both.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from acd.errors import AcdError
from cti_server import events as ev


class AgentState(enum.Enum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    NOT_READY = "not_ready"  # with a reason code (break, lunch, no_answer, declined, ...)
    RESERVED = "reserved"  # a call is being offered: the phone rings
    BUSY = "busy"  # talking
    WRAP_UP = "wrap_up"  # after-call work, on a timer
    AWAY = "away"  # not at the desk (often set by a supervisor: ``by``)


class AgentInput(enum.Enum):
    LOGIN_READY = "login_ready"
    LOGIN_NOT_READY = "login_not_ready"
    LOGOUT = "logout"
    SET_READY = "set_ready"
    SET_NOT_READY = "set_not_ready"
    SET_AWAY = "set_away"
    OFFER = "offer"
    ANSWER = "answer"
    OFFER_ENDED = "offer_ended"
    OFFER_MISSED = "offer_missed"
    CALL_ENDED = "call_ended"
    CALL_ENDED_NO_WRAP_UP = "call_ended_no_wrap_up"
    WRAP_UP_DONE = "wrap_up_done"


S, I = AgentState, AgentInput  # noqa: E741 - table shorthand
_CHOICES: Final = {I.SET_READY: S.READY, I.SET_NOT_READY: S.NOT_READY, I.SET_AWAY: S.AWAY}
TRANSITIONS: Final[dict[AgentState, dict[AgentInput, AgentState]]] = {
    S.LOGGED_OUT: {I.LOGIN_READY: S.READY, I.LOGIN_NOT_READY: S.NOT_READY},
    S.READY: {**_CHOICES, I.OFFER: S.RESERVED, I.LOGOUT: S.LOGGED_OUT},
    S.NOT_READY: {**_CHOICES, I.LOGOUT: S.LOGGED_OUT},
    S.AWAY: {**_CHOICES, I.LOGOUT: S.LOGGED_OUT},
    S.RESERVED: {
        I.ANSWER: S.BUSY,
        I.OFFER_ENDED: S.READY,
        I.OFFER_MISSED: S.NOT_READY,
        I.LOGOUT: S.LOGGED_OUT,
    },
    S.BUSY: {
        I.CALL_ENDED: S.WRAP_UP,
        I.CALL_ENDED_NO_WRAP_UP: S.READY,
        I.LOGOUT: S.LOGGED_OUT,
    },
    S.WRAP_UP: {I.WRAP_UP_DONE: S.READY, I.SET_READY: S.READY, I.LOGOUT: S.LOGGED_OUT},
}
# Requests remembered as the pending state instead of applied (SET_READY clears it).
DEFERRED: Final[frozenset[tuple[AgentState, AgentInput]]] = frozenset(
    {(s, i) for s in (S.RESERVED, S.BUSY) for i in _CHOICES}
    | {(S.WRAP_UP, I.SET_NOT_READY), (S.WRAP_UP, I.SET_AWAY)}
)
# Inputs that end the agent's work: a pending state replaces their target.
RELEASING: Final = frozenset(
    {I.OFFER_ENDED, I.OFFER_MISSED, I.CALL_ENDED_NO_WRAP_UP, I.WRAP_UP_DONE}
)
WORKING: Final = frozenset({S.RESERVED, S.BUSY, S.WRAP_UP})  # states that hold a call
del S, I

EVENT_FOR_STATE: Final[dict[AgentState, type[ev.AgentStateChanged]]] = {
    AgentState.LOGGED_OUT: ev.AgentLoggedOut,
    AgentState.READY: ev.AgentReady,
    AgentState.NOT_READY: ev.AgentNotReady,
    AgentState.AWAY: ev.AgentAway,
    AgentState.RESERVED: ev.AgentReserved,
    AgentState.BUSY: ev.AgentBusy,
    AgentState.WRAP_UP: ev.AgentWorkingAfterCall,
}


class IllegalAgentTransition(AcdError, RuntimeError):
    def __init__(self, agent_id: str, state: AgentState, event: AgentInput) -> None:
        super().__init__(
            f"agent {agent_id}: {event.value!r} is not allowed in state {state.value!r}"
        )
        self.agent_id = agent_id
        self.state = state
        self.event = event


@dataclass(frozen=True, slots=True)
class Pending:
    """A state the agent asked for while busy, applied when the work ends."""

    state: AgentState
    reason: str = ""
    by: str = ""


def requested_state(event: AgentInput) -> AgentState:
    """The state a SET_* request asks for."""
    return _CHOICES[event]


def next_state(agent_id: str, state: AgentState, event: AgentInput) -> AgentState | None:
    """The table lookup: the new state, ``None`` when the request is deferred (pending)."""
    target = TRANSITIONS[state].get(event)
    if target is not None:
        return target
    if (state, event) in DEFERRED:
        return None
    raise IllegalAgentTransition(agent_id, state, event)
