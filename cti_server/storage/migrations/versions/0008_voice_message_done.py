"""Voice messages can be marked done: who handled one and when.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

Both columns are NULL for a message nobody has handled yet, and for every call recording.
The inbox reads them through ``ix_recordings_kind_agent_id`` (0002); no new index.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("handled_by", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("handled_by")
        batch.drop_column("handled_at")
