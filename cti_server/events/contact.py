"""Contact-center events: the IVR, queues (ACD) and agent states (CSTA agent events)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cti_server.events.base import Event

# --- IVR ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class IvrStarted(Event):
    """A call entered an IVR flow."""

    name: ClassVar[str] = "ivr_started"
    call_id: str
    flow: str
    language: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IvrNodeEntered(Event):
    """The flow moved to a node: the IVR path of the call record is the list of these."""

    name: ClassVar[str] = "ivr_node_entered"
    call_id: str
    flow: str
    node: str
    kind: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IvrEnded(Event):
    """The flow let go of the call: ``outcome`` is queued, transferred, voice_message,
    callback, hangup, caller_hangup or error."""

    name: ClassVar[str] = "ivr_ended"
    call_id: str
    flow: str
    node: str
    outcome: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerIdentified(Event):
    """A caller was matched to a customer record (before or without a PIN)."""

    name: ClassVar[str] = "customer_identified"
    call_id: str
    customer_id: str
    method: str  # customer_number | national_id | caller_number


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticationAttempted(Event):
    """One IVR login attempt. ``outcome``: ok, bad_pin, unknown, locked, error.
    Never carries the digits the caller entered."""

    name: ClassVar[str] = "authentication_attempted"
    call_id: str
    method: str
    outcome: str
    customer_id: str | None = None
    attempt: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackRequested(Event):
    """A callback request was committed (database or local journal) for ``number``."""

    name: ClassVar[str] = "callback_requested"
    call_id: str
    callback_id: str
    number: str
    queue: str
    customer_id: str | None = None
    due_at: float | None = None


# --- queues (ACD) ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CallQueued(Event):
    """A call joined a queue (CSTA Queued)."""

    name: ClassVar[str] = "call_queued"
    call_id: str
    queue: str
    priority: int
    position: int
    customer_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallOffered(Event):
    """The distributor offered a queued call to an agent (their phone rings)."""

    name: ClassVar[str] = "call_offered"
    call_id: str
    queue: str
    agent_id: str
    waited: float


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferTimedOut(Event):
    """An offered agent did not answer in time (ring-no-answer): the call goes back."""

    name: ClassVar[str] = "offer_timed_out"
    call_id: str
    queue: str
    agent_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferDeclined(Event):
    """An offered agent's phone refused or failed (busy, DND, unreachable)."""

    name: ClassVar[str] = "offer_declined"
    call_id: str
    queue: str
    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallDequeued(Event):
    """A queued call was connected to an agent (answered)."""

    name: ClassVar[str] = "call_dequeued"
    call_id: str
    queue: str
    agent_id: str
    waited: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CallAbandoned(Event):
    """The caller hung up while waiting in a queue."""

    name: ClassVar[str] = "call_abandoned"
    call_id: str
    queue: str
    position: int
    waited: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CallOverflowed(Event):
    """A queue sent a call elsewhere (max wait, max length, no agents): ``target`` is
    ``queue:NAME``, ``voicemail`` or ``callback``."""

    name: ClassVar[str] = "call_overflowed"
    call_id: str
    queue: str
    target: str
    reason: str
    waited: float


# --- agent state (CSTA agent events) ------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentStateChanged(Event):
    """Base of the agent state events; ``state`` is the new state's wire value."""

    name: ClassVar[str] = "agent_state_changed"
    agent_id: str
    state: str
    previous: str
    reason: str = ""
    call_id: str | None = None
    by: str = ""  # who changed it: "" the agent/system, else a supervisor's id


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentLoggedIn(AgentStateChanged):
    name: ClassVar[str] = "agent_logged_in"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentLoggedOut(AgentStateChanged):
    name: ClassVar[str] = "agent_logged_out"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentReady(AgentStateChanged):
    name: ClassVar[str] = "agent_ready"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentNotReady(AgentStateChanged):
    name: ClassVar[str] = "agent_not_ready"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentAway(AgentStateChanged):
    name: ClassVar[str] = "agent_away"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentReserved(AgentStateChanged):
    """A call is being offered to the agent (their phone rings)."""

    name: ClassVar[str] = "agent_reserved"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentBusy(AgentStateChanged):
    """The agent is talking."""

    name: ClassVar[str] = "agent_busy"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentWorkingAfterCall(AgentStateChanged):
    name: ClassVar[str] = "agent_working_after_call"
