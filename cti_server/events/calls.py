"""Call-control, registration and authentication events (CSTA words where CSTA has one)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cti_server.events.base import Event

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
