"""Request and answer models of the campaign and callback-figure routes (issue 8).

Kept apart from :mod:`cti_server.api.models` (issue 7's contract) but built on the same
bases: requests forbid unknown fields, answers name every field they send. A campaign or
queue name is what the dialer's YAML allows (``acd.dialer_settings``), so the document
tells a client the rule before the server does.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from cti_server.api.models import In, Out, Query

NAME = r"^[A-Za-z0-9_.-]{1,64}$"
CALLER_ID = r"^[0-9+*#() .-]{0,32}$"
CampaignStatusName = Literal["draft", "running", "paused", "stopped", "finished"]

# --- creating a campaign -----------------------------------------------------------------------


class CampaignCreateQuery(Query):
    """The settings when the body is the CSV itself (``Content-Type: text/csv``)."""

    name: str | None = Field(None, pattern=NAME, description="required with a text/csv body")
    queue: str | None = Field(None, pattern=NAME, description="required with a text/csv body")
    customer_first: bool | None = Field(None, description="predictive: customers dialled first")
    pacing: float | None = Field(None, ge=1.0, le=3.0, description="lines per free agent")
    caller_id: str | None = Field(None, pattern=CALLER_ID, description="shown to customers")
    max_attempts: int | None = Field(None, ge=1, le=20)


class CampaignCreateIn(In):
    """The JSON form: the settings and the call list as CSV text."""

    name: str = Field(pattern=NAME, description="letters, digits, '_', '-', '.'")
    queue: str = Field(pattern=NAME, description="an ACD queue (acd.queues)")
    csv: str = Field(
        description="the call list: a header line with number (or 전화번호), optionally "
        "name (이름), customer_id (고객번호), time_zone (시간대) and other columns"
    )
    customer_first: bool = Field(False, description="predictive: customers dialled first")
    pacing: float = Field(1.0, ge=1.0, le=3.0, description="customer-first: lines per free agent")
    caller_id: str = Field("", pattern=CALLER_ID, description="number shown to customers")
    max_attempts: int | None = Field(None, ge=1, le=20, description="default: the dialer's")


class RejectOut(Out):
    line: int = Field(description="line in the file; the header is line 1")
    reason: str
    row: list[str] = Field(description="the row's cells as they were in the file")


class CampaignCreatedOut(Out):
    name: str
    status: CampaignStatusName
    queue: str
    total: int = Field(description="data rows in the file")
    imported: int
    rejected: int = Field(description="rows not imported; the first 100 are in rejects")
    encoding: str = Field(description="how the file was read: utf-8-sig or cp949")
    columns: list[str] = Field(description="the header line as written")
    rejects: list[RejectOut]


# --- reading and changing campaigns --------------------------------------------------------------


class CampaignsQuery(Query):
    status: CampaignStatusName | None = None


class CampaignOut(Out):
    name: str
    queue: str
    status: CampaignStatusName
    customer_first: bool
    pacing: float
    caller_id: str
    max_attempts: int | None
    created_at: str = Field(description="ISO 8601 in the server's time zone")
    updated_at: str
    leads: int
    by_status: dict[str, int] = Field(description="leads per status: pending, dialing, done...")
    attempts: int = Field(description="dial attempts made")
    answered: int = Field(description="leads whose last attempt was answered")
    completion: float = Field(description="percent of leads needing no more dialing")


class CampaignsOut(Out):
    campaigns: list[CampaignOut]


class CampaignStatusOut(Out):
    name: str
    status: CampaignStatusName


class ExportQuery(Query):
    format: Literal["csv", "jsonl"] = Field("csv", description="csv (UTF-8 with a BOM) or jsonl")


# --- callback and campaign figures ---------------------------------------------------------------


class CallbackFiguresQuery(Query):
    from_: str | None = Field(None, alias="from", description="2026-12-01 (default: today)")
    to: str | None = Field(None, description="exclusive; default: the end of from's unit")


class CallbackRowOut(Out):
    """One queue's (or the total's) callbacks: ``metrics.callback_stats.CallbackStats``."""

    key: str = Field(description="the queue, '-' for none, or total")
    requested: int
    requests: int
    repeat_requests: int
    done: int
    failed: int
    failed_by_reason: dict[str, int]
    cancelled: int
    pending: int
    overdue: int
    oldest_pending: float | None
    completion_rate: float | None = Field(description="done / (done + failed), 0..1")
    done_rate: float | None
    wait_avg: float | None = Field(description="seconds from request to the completing call")
    wait_median: float | None
    wait_p90: float | None
    attempts: int
    attempts_per_completion: float | None
    attempts_per_done: float | None
    calls: int
    handled_calls: int
    handle_avg: float | None


class CampaignRowOut(Out):
    """One campaign's (or the total's) leads: ``metrics.callback_stats.CampaignStats``."""

    key: str = Field(description="the campaign, or total")
    leads: int
    remaining: int
    dialled: int
    attempts: int
    answered: int
    done: int
    failed: int
    abandoned: int
    cancelled: int
    abandon_rate: float | None
    completion_rate: float | None
    done_rate: float | None
    attempts_per_completion: float | None
    calls: int
    handled_calls: int
    handle_avg: float | None


class CallbackFiguresOut(Out):
    model_config = ConfigDict(extra="ignore", serialize_by_alias=True)

    from_: str = Field(alias="from", description="ISO 8601 in the server's time zone")
    to: str
    tz: str
    now: str
    queues: list[CallbackRowOut]
    total: CallbackRowOut
    campaigns: list[CampaignRowOut]
    campaign_total: CampaignRowOut
