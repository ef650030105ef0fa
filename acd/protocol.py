"""What the distributor is fed and what it asks for: the contract between the ACD and its host.

The distributor (``acd.distributor.Distributor``) is sans-IO: the call controller (and the
API, for agent state) feed it these inputs with ``now`` and execute the actions it returns;
domain events (``cti_server.events``: CallQueued, CallOffered, AgentReady, ...) come out of
``drain_events()``. Ring-no-answer, wrap-up ends, announcements and max-wait overflows are
deadlines inside the distributor (``next_deadline()`` / ``on_timer(now)``).

Agent ids are SIP account users (extensions): the host finds the agent's phone through the
registrar. One agent holds at most one offer at a time; a call is offered to one agent at a
time, except under the ring-all strategy, where the first to answer wins and the others get
``WithdrawOffer``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

AgentStateName = Literal["logged_out", "ready", "not_ready", "reserved", "busy", "wrap_up", "away"]
WithdrawReason = Literal[
    "no_answer", "answered_elsewhere", "caller_left", "overflow", "agent_logged_out"
]
OverflowReason = Literal["max_wait", "max_length", "no_agents", "agent_away"]

# --- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentLogin:
    """The agent is available to the ACD (a registration, or the desktop's login).
    ``ready``: start ready instead of not ready."""

    agent_id: str
    ready: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentLogout:
    agent_id: str
    reason: str = ""  # "registration_expired", "supervisor", ...
    by: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeAgentState:
    """A state the agent (or a supervisor, ``by``) chose: ready, not_ready with a reason
    code, or away (``remote``: set by someone else for an agent not at their desk)."""

    agent_id: str
    state: Literal["ready", "not_ready", "away"]
    reason: str = ""
    by: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class WrapUpDone:
    agent_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueCall:
    """A call joins ``queue``. ``designated_agent``: offer to this agent first (up to the
    queue's ``designated_wait``), then to the group."""

    call_id: str
    queue: str
    caller: str = ""
    priority: int = 0
    skills: dict[str, int] = field(default_factory=dict)  # skill -> minimum level
    customer_id: str | None = None
    designated_agent: str | None = None
    language: str = "ko"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerLeft:
    """The caller hung up (while waiting or while an agent's phone rang)."""

    call_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferAnswered:
    call_id: str
    agent_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferFailed:
    """The agent's phone refused or could not be reached (486, 603, 480, no contact)."""

    call_id: str
    agent_id: str
    reason: str = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentCallEnded:
    """The agent's conversation ended: wrap-up begins (or ready, when the queue has none)."""

    call_id: str
    agent_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimAgent:
    """Reserve a READY agent for a call the dialer makes (a callback, a campaign lead): the
    agent is RESERVED while their phone rings, then ``OfferAnswered`` (BUSY),
    ``OfferFailed`` or ``CallerLeft`` end the claim as they end an offer. The host rings the
    phone and owns the ring timeout; the claim is not a waiting call of the queue."""

    call_id: str
    agent_id: str
    queue: str


AcdInput = (
    AgentLogin
    | AgentLogout
    | ChangeAgentState
    | WrapUpDone
    | QueueCall
    | CallerLeft
    | OfferAnswered
    | OfferFailed
    | AgentCallEnded
    | ClaimAgent
)

# --- actions ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Offer:
    """Ring ``agent_id``'s phone for ``call_id``; the distributor's own deadline
    (``timeout`` seconds) withdraws it if nobody answers."""

    call_id: str
    agent_id: str
    queue: str
    timeout: float


@dataclass(frozen=True, slots=True, kw_only=True)
class WithdrawOffer:
    """Stop ringing ``agent_id`` for ``call_id`` (no answer, another agent won, caller left,
    the call overflowed, the agent logged out)."""

    call_id: str
    agent_id: str
    reason: WithdrawReason


@dataclass(frozen=True, slots=True, kw_only=True)
class Announce:
    """Tell a waiting caller their position and/or estimated wait (``minutes``), in the
    call's language, then back to music on hold."""

    call_id: str
    position: int | None = None
    minutes: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Overflow:
    """The call leaves ``queue`` for ``target``: ``queue:NAME`` (already re-queued by the
    distributor, the host only needs to know), ``voicemail`` (a message for the queue, or for
    ``agent_id`` when the designated agent is away), ``callback`` (offer a callback) or
    ``hangup`` (the queue is closed and has nowhere to send the caller)."""

    call_id: str
    queue: str
    target: str
    reason: OverflowReason
    agent_id: str = ""


AcdAction = Offer | WithdrawOffer | Announce | Overflow
