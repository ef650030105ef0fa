"""Loads what :mod:`metrics.callback_stats` computes over: the callback requests created in a
period, the campaign leads last attempted in it, and each campaign's list size and leads
remaining. SQL only loads (DESIGN.md §2 rule 5): no figure is computed here except the two
per-campaign counts, which a ``GROUP BY`` gives without reading every lead of a long list.

Synchronous, for the thread pool and ``cti-server report``, like the other repositories.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from cti_server.storage.db import Database
from cti_server.storage.tables import CallbackRow
from cti_server.storage.tables_campaigns import LeadRow
from metrics.callback_stats import CallbackItem, CampaignProgress, LeadItem

OPEN_STATUSES = ("pending", "dialing")


@dataclass(frozen=True, slots=True)
class CallbackFigures:
    """The rows of one period, ready for :func:`metrics.callback_stats.callback_report`."""

    callbacks: list[CallbackItem]
    leads: list[LeadItem]
    progress: list[CampaignProgress]


def load_callback_figures(database: Database, start: datetime, end: datetime) -> CallbackFigures:
    """Callbacks created and leads last attempted in ``[start, end)`` (aware datetimes), and
    every campaign's progress as it is now."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("the period needs aware datetimes")
    lo, hi = start.astimezone(UTC), end.astimezone(UTC)
    with Session(database.sync_engine) as session:
        return CallbackFigures(
            callbacks=load_callbacks(session, lo, hi),
            leads=load_leads(session, lo, hi),
            progress=load_progress(session),
        )


def load_callbacks(session: Session, lo: datetime, hi: datetime) -> list[CallbackItem]:
    c = CallbackRow
    stmt = (
        select(
            c.id,
            c.queue,
            c.created_at,
            c.due_at,
            c.status,
            c.attempts,
            c.last_attempt_at,
            c.request_count,
            c.outcome,
        )
        .where(c.created_at >= lo, c.created_at < hi)
        .order_by(c.created_at, c.id)
    )
    return [
        CallbackItem(
            id=row.id,
            queue=row.queue,
            created_at=row.created_at.timestamp(),
            due_at=row.due_at.timestamp(),
            status=row.status,
            attempts=row.attempts or 0,
            last_attempt_at=_seconds(row.last_attempt_at),
            request_count=row.request_count or 1,
            outcome=row.outcome,
        )
        for row in session.execute(stmt)
    ]


def load_leads(session: Session, lo: datetime, hi: datetime) -> list[LeadItem]:
    w = LeadRow
    stmt = (
        select(w.id, w.campaign, w.status, w.attempts, w.last_attempt_at, w.outcome)
        .where(w.last_attempt_at >= lo, w.last_attempt_at < hi)
        .order_by(w.last_attempt_at, w.id)
    )
    return [
        LeadItem(
            id=str(row.id),
            campaign=row.campaign,
            status=row.status,
            attempts=row.attempts or 0,
            last_attempt_at=_seconds(row.last_attempt_at),
            outcome=row.outcome,
        )
        for row in session.execute(stmt)
    ]


def load_progress(session: Session) -> list[CampaignProgress]:
    w = LeadRow
    still_open = func.sum(case((w.status.in_(OPEN_STATUSES), 1), else_=0))
    stmt = (
        select(w.campaign, func.count().label("leads"), still_open.label("remaining"))
        .group_by(w.campaign)
        .order_by(w.campaign)
    )
    return [
        CampaignProgress(campaign=row.campaign, leads=int(row.leads), remaining=int(row.remaining))
        for row in session.execute(stmt)
    ]


def _seconds(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()
