"""Outbound campaigns, their leads, the do-not-call list; callbacks' outcome and disposition.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

Lead numbers are unique per campaign (normalised digits), so importing the same list twice
adds nothing twice. ``callbacks.outcome`` keeps how the last dial ended or why the dialer
gave up; ``callbacks.disposition`` the agent's wrap-up code, as ``leads`` has them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_ts = sa.DateTime(timezone=True)
_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ITEM_STATUSES = "status IN ('pending', 'dialing', 'done', 'failed', 'cancelled')"


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("queue", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="draft"),
        sa.Column("customer_first", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("pacing", sa.Float(), nullable=False, server_default="1.0"),
        sa.Column("caller_id", sa.Text(), nullable=False, server_default=""),
        sa.Column("max_attempts", sa.Integer(), nullable=True),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("updated_at", _ts, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_campaigns"),
        sa.CheckConstraint(
            "status IN ('draft', 'running', 'paused', 'stopped', 'finished')",
            name=op.f("ck_campaigns_status"),
        ),
        sa.CheckConstraint("pacing >= 1.0 AND pacing <= 3.0", name=op.f("ck_campaigns_pacing")),
        sa.CheckConstraint(
            "max_attempts IS NULL OR max_attempts >= 1", name=op.f("ck_campaigns_max_attempts")
        ),
    )

    op.create_table(
        "leads",
        sa.Column("id", _id, autoincrement=True, nullable=False),
        sa.Column(
            "campaign",
            sa.Text(),
            sa.ForeignKey(
                "campaigns.name", name=op.f("fk_leads_campaign_campaigns"), ondelete="CASCADE"
            ),
            nullable=False,
        ),
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False, server_default=""),
        sa.Column("time_zone", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("due_at", _ts, nullable=False),
        sa.Column("last_attempt_at", _ts, nullable=True),
        sa.Column("disposition", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("extra", _json, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_leads"),
        sa.UniqueConstraint("campaign", "number", name=op.f("uq_leads_campaign_number")),
        sa.CheckConstraint(_ITEM_STATUSES, name=op.f("ck_leads_status")),
    )
    op.create_index("ix_leads_campaign_status_due_at", "leads", ["campaign", "status", "due_at"])
    op.create_index("ix_leads_status", "leads", ["status"])

    op.create_table(
        "dnc_numbers",
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("added_at", _ts, nullable=False),
        sa.Column("source", sa.Text(), nullable=False, server_default=""),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("number", name="pk_dnc_numbers"),
    )

    with op.batch_alter_table("callbacks") as batch:
        batch.add_column(sa.Column("outcome", sa.Text(), nullable=True))
        batch.add_column(sa.Column("disposition", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("callbacks") as batch:
        batch.drop_column("disposition")
        batch.drop_column("outcome")
    op.drop_table("dnc_numbers")
    op.drop_table("leads")
    op.drop_table("campaigns")
