"""Call dispositions: the agent's wrap-up code, notes and script answers per call.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

One row per (call_id, agent_id): the unique constraint makes a second save by the same agent
a correction, and its index serves look-ups by call. ``contact_id`` points at the
contact-history row filed with the disposition (SET NULL if that row goes).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "dispositions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.Text(), nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column(
            "customer_id",
            sa.Text(),
            sa.ForeignKey(
                "customers.id",
                name=op.f("fk_dispositions_customer_id_customers"),
                ondelete="SET NULL",
            ),
            nullable=True,
        ),
        sa.Column("disposition", sa.String(64), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("script", sa.Text(), nullable=True),
        sa.Column("answers", _json, nullable=False),
        sa.Column(
            "contact_id",
            sa.Integer(),
            sa.ForeignKey(
                "contact_history.id",
                name=op.f("fk_dispositions_contact_id_contact_history"),
                ondelete="SET NULL",
            ),
            nullable=True,
        ),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("updated_at", _ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dispositions"),
        sa.UniqueConstraint("call_id", "agent_id", name=op.f("uq_dispositions_call_id_agent_id")),
    )
    op.create_index("ix_dispositions_customer_id", "dispositions", ["customer_id"])


def downgrade() -> None:
    op.drop_table("dispositions")
