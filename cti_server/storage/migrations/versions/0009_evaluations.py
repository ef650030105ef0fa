"""Evaluations: supervisors' scoring of recorded calls against a QA form.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

One row per (recording_id, evaluator): the unique constraint makes a second save by the same
supervisor a correction, and its index serves look-ups by recording. The call and agent are
copied from the recording; ``ix_evaluations_agent_id_created_at`` serves an agent's
evaluations of a period. Rows go with their recording row (CASCADE); retention only marks
recordings deleted, so in practice they stay.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column(
            "recording_id",
            sa.Text(),
            sa.ForeignKey(
                "recordings.id",
                name=op.f("fk_evaluations_recording_id_recordings"),
                ondelete="CASCADE",
            ),
            nullable=False,
        ),
        sa.Column("call_id", sa.Text(), nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("evaluator", sa.Text(), nullable=False),
        sa.Column("form", sa.String(64), nullable=False),
        sa.Column("form_version", sa.String(64), nullable=False),
        sa.Column("answers", _json, nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("critical_failed", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("agent_comment", sa.Text(), nullable=True),
        sa.Column("agent_commented_at", _ts, nullable=True),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("updated_at", _ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_evaluations"),
        sa.UniqueConstraint(
            "recording_id", "evaluator", name=op.f("uq_evaluations_recording_id_evaluator")
        ),
    )
    op.create_index("ix_evaluations_call_id", "evaluations", ["call_id"])
    op.create_index("ix_evaluations_created_at", "evaluations", ["created_at"])
    op.create_index("ix_evaluations_agent_id_created_at", "evaluations", ["agent_id", "created_at"])


def downgrade() -> None:
    op.drop_table("evaluations")
