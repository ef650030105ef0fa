"""Queue events and the agent state log, written from the record journal.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25

``entry_key`` names the journal entry that carried the row (``<kind>:<journal id>:<seq>``);
its unique constraint is what ``INSERT ... ON CONFLICT DO NOTHING`` relies on, so a replayed
journal adds nothing twice. Ids are 64-bit on PostgreSQL; SQLite's rowid alias is INTEGER.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_ts = sa.DateTime(timezone=True)
_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "queue_events",
        sa.Column("id", _id, autoincrement=True, nullable=False),
        sa.Column("entry_key", sa.Text(), nullable=False),
        sa.Column("call_id", sa.Text(), nullable=True),
        sa.Column("queue", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", _ts, nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("wait_seconds", sa.Float(), nullable=True),
        sa.Column("detail", _json, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_queue_events"),
        sa.UniqueConstraint("entry_key", name=op.f("uq_queue_events_entry_key")),
    )
    op.create_index("ix_queue_events_call_id", "queue_events", ["call_id"])
    op.create_index("ix_queue_events_at", "queue_events", ["at"])
    op.create_index("ix_queue_events_queue_at", "queue_events", ["queue", "at"])

    op.create_table(
        "agent_state_log",
        sa.Column("id", _id, autoincrement=True, nullable=False),
        sa.Column("entry_key", sa.Text(), nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("previous", sa.String(32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("by", sa.Text(), nullable=True),
        sa.Column("call_id", sa.Text(), nullable=True),
        sa.Column("at", _ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_agent_state_log"),
        sa.UniqueConstraint("entry_key", name=op.f("uq_agent_state_log_entry_key")),
    )
    op.create_index("ix_agent_state_log_at", "agent_state_log", ["at"])
    op.create_index("ix_agent_state_log_agent_id_at", "agent_state_log", ["agent_id", "at"])


def downgrade() -> None:
    op.drop_table("agent_state_log")
    op.drop_table("queue_events")
