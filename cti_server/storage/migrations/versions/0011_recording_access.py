"""The recording access log: every play, download and view of a recording, by whom and when.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

An audit trail, written once per granted access and never updated. No foreign key to
``recordings``: the log outlives the recording row. Indexed for one recording's history and
for one user's.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "recording_access",
        sa.Column("id", _id, autoincrement=True, nullable=False),
        sa.Column("recording_id", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("at", _ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recording_access"),
        sa.CheckConstraint(
            "action IN ('play', 'download', 'view')", name=op.f("ck_recording_access_action")
        ),
    )
    op.create_index(
        "ix_recording_access_recording_id_at", "recording_access", ["recording_id", "at"]
    )
    op.create_index("ix_recording_access_username_at", "recording_access", ["username", "at"])


def downgrade() -> None:
    op.drop_table("recording_access")
