"""Actions: what decision cores ask the edges to do, as imperative, frozen dataclasses.

The call controller speaks in legs, never in SIP messages: ``RespondLeg(leg, 180)`` is turned
into a response on the right transaction by the SIP endpoint, ``CreateLeg`` into an INVITE.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class RespondLeg:
    """Answer an inbound leg's INVITE: provisional, 2xx (with our SDP) or a failure."""

    leg_id: str
    status: int
    reason: str | None = None
    sdp: bytes = b""
    retry_after: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateLeg:
    """Send an INVITE to ``uri``. Without ``sdp`` it is a delayed offer (the 2xx carries it)."""

    leg_id: str
    call_id: str
    uri: str
    caller: str
    caller_display: str | None = None
    sdp: bytes = b""
    max_forwards: int = 70
    auto_ack: bool = True  # ACK a 2xx at once; off when the ACK must carry an answer


@dataclass(frozen=True, slots=True, kw_only=True)
class AckLeg:
    leg_id: str
    sdp: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelLeg:
    leg_id: str
    reason: str = "cancelled"


@dataclass(frozen=True, slots=True, kw_only=True)
class ByeLeg:
    leg_id: str
    reason: str = "hangup"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReinviteLeg:
    """Send a re-INVITE carrying ``sdp`` (hold, unhold, or a new far end after transfer)."""

    leg_id: str
    sdp: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerReinvite:
    leg_id: str
    status: int
    sdp: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifyRefer:
    """Report a REFER's progress to the transferor (RFC 3515 §2.4.5 sipfrag NOTIFY)."""

    leg_id: str
    status: int
    final: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeLeg:
    """An in-dialog OPTIONS to learn whether the far end still knows the dialog."""

    leg_id: str


LegAction = (
    RespondLeg
    | CreateLeg
    | AckLeg
    | CancelLeg
    | ByeLeg
    | ReinviteLeg
    | AnswerReinvite
    | NotifyRefer
    | ProbeLeg
)
