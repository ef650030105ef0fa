"""Initial schema: the recording index, call records, SIP accounts.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Written out in full rather than from ``tables.py``, so this revision keeps meaning what it
meant when later revisions change the tables. Names are final (``op.f``): the metadata's
naming convention would otherwise prefix them again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("call_id", sa.Text(), nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=True),
        sa.Column("queue", sa.Text(), nullable=True),
        sa.Column("customer_id", sa.Text(), nullable=True),
        sa.Column("started_at", _ts, nullable=False),
        sa.Column("ended_at", _ts, nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("segments", _json, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recordings"),
        sa.CheckConstraint(
            "status IN ('recording', 'complete', 'failed', 'repaired', 'deleted')",
            name=op.f("ck_recordings_status"),
        ),
    )
    op.create_index("ix_recordings_call_id", "recordings", ["call_id"])
    op.create_index("ix_recordings_customer_id", "recordings", ["customer_id"])
    op.create_index("ix_recordings_started_at", "recordings", ["started_at"])
    op.create_index("ix_recordings_agent_id_started_at", "recordings", ["agent_id", "started_at"])
    op.create_index("ix_recordings_queue_started_at", "recordings", ["queue", "started_at"])

    op.create_table(
        "call_records",
        sa.Column("call_id", sa.Text(), nullable=False),
        sa.Column("started_at", _ts, nullable=False),
        sa.Column("answered_at", _ts, nullable=True),
        sa.Column("ended_at", _ts, nullable=False),
        sa.Column("caller", sa.Text(), nullable=False),
        sa.Column("called", sa.Text(), nullable=False),
        sa.Column("trunk", sa.Text(), nullable=True),
        sa.Column("agent_id", sa.Text(), nullable=True),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("record", _json, nullable=False),
        sa.PrimaryKeyConstraint("call_id", name="pk_call_records"),
    )
    op.create_index("ix_call_records_started_at", "call_records", ["started_at"])
    op.create_index(
        "ix_call_records_agent_id_started_at", "call_records", ["agent_id", "started_at"]
    )

    op.create_table(
        "sip_accounts",
        sa.Column("user", sa.Text(), nullable=False),
        sa.Column("realm", sa.Text(), nullable=False),
        sa.Column("ha1_md5", sa.String(32), nullable=True),
        sa.Column("ha1_sha256", sa.String(64), nullable=True),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("digest_algorithms", _json, nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.PrimaryKeyConstraint("user", name="pk_sip_accounts"),
        sa.CheckConstraint(
            "ha1_md5 IS NOT NULL OR ha1_sha256 IS NOT NULL", name=op.f("ck_sip_accounts_has_ha1")
        ),
    )


def downgrade() -> None:
    op.drop_table("sip_accounts")
    op.drop_index("ix_call_records_agent_id_started_at", table_name="call_records")
    op.drop_index("ix_call_records_started_at", table_name="call_records")
    op.drop_table("call_records")
    op.drop_index("ix_recordings_queue_started_at", table_name="recordings")
    op.drop_index("ix_recordings_agent_id_started_at", table_name="recordings")
    op.drop_index("ix_recordings_started_at", table_name="recordings")
    op.drop_index("ix_recordings_customer_id", table_name="recordings")
    op.drop_index("ix_recordings_call_id", table_name="recordings")
    op.drop_table("recordings")
