"""Recording kind: a call recording or a voice message left for an agent.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="call"))
        batch.create_check_constraint(
            op.f("ck_recordings_kind"), "kind IN ('call', 'voice_message')"
        )
        batch.create_index(op.f("ix_recordings_kind_agent_id"), ["kind", "agent_id"])


def downgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.drop_index(op.f("ix_recordings_kind_agent_id"))
        batch.drop_constraint(op.f("ck_recordings_kind"), type_="check")
        batch.drop_column("kind")
