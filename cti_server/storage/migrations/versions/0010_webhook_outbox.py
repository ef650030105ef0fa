"""The CRM webhook outbox: deliveries owed to each configured endpoint.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

One row per (endpoint, idempotency key); the unique pair makes enqueueing idempotent. The
(status, next_attempt_at) index serves the delivery loop's "what is due" poll.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhook_outbox",
        sa.Column("id", _id, autoincrement=True, nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("payload", _json, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", _ts, nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("delivered_at", _ts, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_outbox"),
        sa.UniqueConstraint("endpoint", "key", name=op.f("uq_webhook_outbox_endpoint_key")),
        sa.CheckConstraint(
            "status IN ('pending', 'delivering', 'delivered', 'dead')",
            name=op.f("ck_webhook_outbox_status"),
        ),
    )
    op.create_index(
        "ix_webhook_outbox_status_next_attempt_at",
        "webhook_outbox",
        ["status", "next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_table("webhook_outbox")
