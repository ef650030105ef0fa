"""Request and answer models of the recording review routes (issue 11), and their settings.

:class:`ReviewSettings` holds what a deployment may change about review without code: which
roles may download a recording as a file (everyone who may hear a recording can play it in
the page; a download leaves the server's access control behind, so it is narrower).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cti_server.api.models import In, Out, Query, RoleName

OutcomeName = Literal[
    "answered", "voice_message", "callback_requested", "abandoned_ringing", "abandoned_in_queue",
    "overflowed", "abandoned_in_ivr", "ivr_completed", "rejected", "failed",
]  # fmt: skip
ID = Field(None, max_length=64)
MAX_DURATION = 7 * 24 * 3600.0


def _download_roles() -> list[RoleName]:
    return ["admin", "supervisor"]


class ReviewSettings(BaseModel):
    """``download_roles``: roles whose users may fetch a recording with ``?download=1``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    download_roles: list[RoleName] = Field(default_factory=_download_roles)


# --- search ---------------------------------------------------------------------------------


class ReviewQuery(Query):
    agent_id: str | None = Field(None, max_length=64, description="an agent: its own only")
    queue: str | None = ID
    customer_id: str | None = ID
    call_id: str | None = Field(None, max_length=128)
    from_: str | None = Field(
        None, alias="from", description="2026-12-04, 2026-12 or 2026-12-04T09:00 (server's zone)"
    )
    to: str | None = Field(None, description="exclusive; default: the end of from's unit")
    min_duration: float | None = Field(None, ge=0, le=MAX_DURATION, description="seconds")
    max_duration: float | None = Field(None, ge=0, le=MAX_DURATION, description="seconds")
    outcome: OutcomeName | None = Field(None, description="how the call ended (call record)")
    disposition: str | None = Field(None, max_length=64, description="an agent's wrap-up code")
    limit: int = Field(100, ge=1, le=500)
    offset: int = Field(0, ge=0, le=1_000_000)


class ReviewItemOut(Out):
    id: str
    call_id: str
    agent_id: str | None
    queue: str | None
    customer_id: str | None
    started_at: str = Field(description="ISO 8601 in the server's time zone")
    ended_at: str | None
    duration_s: float
    status: str = Field(description="recording, complete, failed, repaired or deleted")
    caller: str | None = Field(description="null while the call record is not stored")
    called: str | None
    outcome: OutcomeName | None
    dispositions: list[str]
    evaluations: int
    score_mean: float | None


class ReviewListOut(Out):
    model_config = ConfigDict(extra="ignore", serialize_by_alias=True)

    from_: str | None = Field(alias="from")
    to: str | None
    tz: str
    count: int
    more: bool = Field(description="more recordings match: ask again with offset + count")
    recordings: list[ReviewItemOut]


# --- one recording --------------------------------------------------------------------------


class TimelineEventOut(Out):
    kind: str = Field(
        description="call_started, ivr_started, ivr_ended, queued, offered, offer_ended, "
        "answered, mark, transferred, transfer_connected, cleared, wrap_up_started, wrap_up_ended"
    )
    at: str = Field(description="ISO 8601 in the server's time zone")
    offset: float = Field(description="seconds into the recording; negative: before it began")
    agent_id: str | None
    queue: str | None
    detail: str
    path: list[str]


class CallSummaryOut(Out):
    caller: str
    called: str
    route: str
    customer_id: str | None
    queues: list[str]
    overflow: str | None
    outcome: OutcomeName | None
    cause: str | None
    wait_seconds: float | None
    talk_seconds: float | None
    hold_seconds: float
    holds: int
    wrap_up_seconds: float | None
    auth: dict[str, str | int] | None


class DispositionOut(Out):
    agent_id: str
    disposition: str
    notes: str | None
    created_at: str
    updated_at: str


class EvaluationSummaryOut(Out):
    n: int
    mean: float | None
    min: float | None
    max: float | None
    critical_failed: int
    mine: int | None = Field(description="the id of your own evaluation of it, if any")


class ReviewDetailOut(Out):
    recording: ReviewItemOut
    call: CallSummaryOut | None = Field(description="null while the call record is not stored")
    timeline: list[TimelineEventOut]
    dispositions: list[DispositionOut]
    evaluations: EvaluationSummaryOut
    audio: bool = Field(description="there is audio to play (not deleted, not failed empty)")
    can_download: bool = Field(description="?download=1 is allowed for your role")
    can_evaluate: bool


class AudioQuery(Query):
    download: Literal["0", "1"] = Field(
        "0", description="1: as an attachment (roles in review.download_roles only)"
    )


class AccessOut(Out):
    id: int
    username: str
    action: Literal["play", "download", "view"]
    at: str


class AccessLogOut(Out):
    recording_id: str
    accesses: list[AccessOut]


class AccessLogQuery(Query):
    limit: int = Field(200, ge=1, le=1000)


__all__ = [
    "AccessLogOut",
    "AccessLogQuery",
    "AudioQuery",
    "In",
    "ReviewDetailOut",
    "ReviewListOut",
    "ReviewQuery",
    "ReviewSettings",
]
