"""The one event vocabulary: every fact that matters, as a frozen dataclass.

Names are past tense and use CSTA words where CSTA has one (CallDelivered, CallEstablished,
CallCleared, ...). Every event carries ``at`` (the core's ``now``) and the ids it is about;
``name`` is the stable wire name used on the push channel, in Redis and in the journal.
Subscribers (desktop push, Prometheus, the call-record fold, the recorder) see only these,
never SIP.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    name: ClassVar[str] = "event"
    at: float


def to_json(event: Event) -> str:
    payload = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    payload["name"] = event.name
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def from_json(text: str) -> Event:
    payload = json.loads(text)
    cls = event_types()[payload.pop("name")]
    known = {f.name for f in dataclasses.fields(cls)}
    args: dict[str, Any] = {
        k: (tuple(v) if isinstance(v, list) else v) for k, v in payload.items() if k in known
    }
    return cls(**args)


def event_types() -> dict[str, type[Event]]:
    """Every concrete event class by wire name (subclasses anywhere in the code base)."""
    found: dict[str, type[Event]] = {}
    pending: list[type[Event]] = list(Event.__subclasses__())
    while pending:
        cls = pending.pop()
        found.setdefault(cls.name, cls)
        pending.extend(cls.__subclasses__())
    return found


# --- calls (CSTA call-control events) ---------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CallDelivered(Event):
    """An inbound call reached the server and was routed (CSTA Delivered)."""

    name: ClassVar[str] = "call_delivered"
    call_id: str
    caller: str
    called: str
    trunk: str | None = None
    route: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallOriginated(Event):
    """The server placed an outbound leg (agent, extension, trunk) for a call."""

    name: ClassVar[str] = "call_originated"
    call_id: str
    leg_id: str
    target: str
    agent_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallAlerting(Event):
    """The far end of an outbound leg is ringing (180/183)."""

    name: ClassVar[str] = "call_alerting"
    call_id: str
    leg_id: str
    agent_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEstablished(Event):
    """Two legs are connected: the callee answered (CSTA Established)."""

    name: ClassVar[str] = "call_established"
    call_id: str
    leg_id: str
    agent_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallFailed(Event):
    """An outbound leg ended without an answer (busy, no answer, unreachable)."""

    name: ClassVar[str] = "call_failed"
    call_id: str
    leg_id: str
    status: int
    cause: str
    agent_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallHeld(Event):
    name: ClassVar[str] = "call_held"
    call_id: str
    leg_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRetrieved(Event):
    name: ClassVar[str] = "call_retrieved"
    call_id: str
    leg_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallTransferred(Event):
    """A party asked to move the call elsewhere (REFER, blind transfer)."""

    name: ClassVar[str] = "call_transferred"
    call_id: str
    leg_id: str
    target: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallCleared(Event):
    """The whole call ended (CSTA ConnectionCleared for the last leg).

    ``cause`` is one of: ``caller_hangup``, ``callee_hangup``, ``cancelled`` (the caller
    gave up while it rang), ``rejected`` (the far end refused: busy, declined...),
    ``no_route`` (nothing in the number plan), ``unavailable`` (the extension has no
    registration, or the target kind is not served yet), ``no_media`` (no RTP port left),
    ``timeout`` (no answer, lost ACK, dead dialog), ``media_timeout`` (RTP stopped),
    ``voice_message`` (a voice message reached its maximum length).
    """

    name: ClassVar[str] = "call_cleared"
    call_id: str
    cause: str
    status: int = 0
    agent_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptStarted(Event):
    """The server began playing a prompt to a leg (announcement, IVR, message)."""

    name: ClassVar[str] = "prompt_started"
    call_id: str
    leg_id: str
    prompt: str
    language: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptEnded(Event):
    """A prompt finished, or was cut short by a key press (``barged_in``)."""

    name: ClassVar[str] = "prompt_ended"
    call_id: str
    leg_id: str
    prompt: str
    barged_in: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceMessageStarted(Event):
    """The caller is now recording a message for ``agent_id`` (ends with CallCleared)."""

    name: ClassVar[str] = "voice_message_started"
    call_id: str
    leg_id: str
    agent_id: str
    max_seconds: float
    queue: str = ""  # a message left to a queue (overflow) rather than to one agent


@dataclass(frozen=True, slots=True, kw_only=True)
class DtmfReceived(Event):
    """A caller pressed a key (RFC 4733 or in-band). Logs mask ``digit``: it may be a PIN;
    while an IVR collects a PIN or national ID (``secure``) the digit is not even here."""

    name: ClassVar[str] = "dtmf_received"
    call_id: str
    leg_id: str
    digit: str
    secure: bool = False


# --- registrations and authentication ------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRegistered(Event):
    """A SIP account registered a contact (a softphone came online)."""

    name: ClassVar[str] = "agent_registered"
    agent_id: str
    contact: str
    expires_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentUnregistered(Event):
    """A SIP account's last contact expired or was removed."""

    name: ClassVar[str] = "agent_unregistered"
    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticationFailed(Event):
    """A digest response was wrong (not the first challenge); counted for lock-out."""

    name: ClassVar[str] = "authentication_failed"
    user: str
    source: str
    locked: bool = False


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
