"""Outbound campaigns, their leads and the do-not-call list (revision 0006).

Declared on the one ``Base`` of :mod:`cti_server.storage.tables`, so the migration test and
the test fixtures see them once that module imports this one. Numbers are stored normalised
(``ivr_flows.auth.normalize_number``: ``+82 10-1234-5678`` → ``01012345678``), which is what
the unique (campaign, number) constraint and the DNC look-up compare.

``leads.customer_id`` is a plain reference, not a foreign key: a campaign list comes from a
CRM export whose ids need not be in our customers table, and one unknown id must not fail
the row. ``leads.time_zone`` is the customer's IANA zone for calling hours (NULL: the
dialer's own zone).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from cti_server.storage.tables import Base, BigId, JsonDocument, UtcDateTime


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    FINISHED = "finished"


class LeadStatus(StrEnum):
    """The same words as ``CallbackStatus``: the dialer store treats both tables alike."""

    PENDING = "pending"
    DIALING = "dialing"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class CampaignRow(Base):
    """A campaign. ``pacing`` is the highest dial ratio (lines per free agent) of a
    customer-first campaign; ``max_attempts`` NULL means the dialer configuration's."""

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'running', 'paused', 'stopped', 'finished')", name="status"
        ),
        CheckConstraint("pacing >= 1.0 AND pacing <= 3.0", name="pacing"),
        CheckConstraint("max_attempts IS NULL OR max_attempts >= 1", name="max_attempts"),
    )

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    queue: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default="draft")
    customer_first: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    pacing: Mapped[float] = mapped_column(Float, server_default="1.0")
    caller_id: Mapped[str] = mapped_column(Text, server_default="")
    max_attempts: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LeadRow(Base):
    """One number to call for a campaign. ``outcome``: how the last attempt ended, or why
    the lead was given up; ``disposition``: the agent's wrap-up code; ``extra``: the CSV's
    other columns, shown to the agent."""

    __tablename__ = "leads"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'dialing', 'done', 'failed', 'cancelled')", name="status"
        ),
        UniqueConstraint("campaign", "number"),
        Index("ix_leads_campaign_status_due_at", "campaign", "status", "due_at"),
        Index("ix_leads_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign: Mapped[str] = mapped_column(Text, ForeignKey("campaigns.name", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(Text)
    customer_id: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text, server_default="")
    time_zone: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    disposition: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JsonDocument)


class DncRow(Base):
    """A number never to be dialled by the dialer (callbacks included: the customer asked).
    ``source``: who added it (cli, api, agent, import); ``reason``: free text."""

    __tablename__ = "dnc_numbers"

    number: Mapped[str] = mapped_column(Text, primary_key=True)
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)
    source: Mapped[str] = mapped_column(Text, server_default="")
    reason: Mapped[str | None] = mapped_column(Text)
