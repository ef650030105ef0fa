"""What the SIP endpoint tells the call controller, one level above transactions.

These stop at the call controller (DESIGN.md §2.1): it turns them into domain events.
Every event names the leg it is about; the endpoint has already answered whatever the
protocol demands by itself (200 to CANCEL and 487 to the INVITE, 200 to BYE, 202 to REFER).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class InviteReceived:
    leg_id: str
    caller: str  # From user part (the calling number)
    caller_display: str | None
    called: str  # Request-URI user part (the dialed number)
    sdp: bytes
    max_forwards: int
    auth_user: str | None  # the account that authenticated, if any
    trunk: str | None  # the trunk the call arrived on, if any
    source: str  # "ip:port" for logs


@dataclass(frozen=True, slots=True, kw_only=True)
class LegProgress:
    leg_id: str
    status: int
    sdp: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class LegAnswered:
    leg_id: str
    sdp: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class LegFailed:
    """An outbound INVITE got a final non-2xx answer, or no answer at all (status 408)."""

    leg_id: str
    status: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LegAcked:
    leg_id: str
    sdp: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class LegCancelled:
    leg_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LegHungUp:
    """The far end sent BYE (already answered 200)."""

    leg_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LegReinvited:
    leg_id: str
    sdp: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class LegReinviteAnswered:
    leg_id: str
    status: int
    sdp: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class LegReferred:
    leg_id: str
    target: str  # the Refer-To URI user part, or the whole URI if there is none


@dataclass(frozen=True, slots=True, kw_only=True)
class LegGone:
    """The leg's dialog is dead: no ACK, a probe got 481/408, or a BYE/CANCEL completed."""

    leg_id: str
    reason: str


LegEvent = (
    InviteReceived
    | LegProgress
    | LegAnswered
    | LegFailed
    | LegAcked
    | LegCancelled
    | LegHungUp
    | LegReinvited
    | LegReinviteAnswered
    | LegReferred
    | LegGone
)
