"""Customers: IVR authentication, its audit log, contact history, screen-pop data, callbacks.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

PINs and national IDs are stored only as hashes (see ``ivr_flows.auth``). The callbacks'
partial unique index (pending requests per number and queue) is what merges a repeated
request; SQLite (3.8+) and PostgreSQL both have partial indexes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ts = sa.DateTime(timezone=True)


def _customer_fk(table: str, ondelete: str) -> sa.Column[str]:
    """``customer_id`` referring to ``customers``: optional where deleting sets it NULL."""
    return sa.Column(
        "customer_id",
        sa.Text(),
        sa.ForeignKey(
            "customers.id", name=op.f(f"fk_{table}_customer_id_customers"), ondelete=ondelete
        ),
        nullable=ondelete == "SET NULL",
    )


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("customer_number", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("vip", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("segment", sa.Text(), nullable=False, server_default=""),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("assigned_agent", sa.Text(), nullable=True),
        sa.Column("pin_hash", sa.Text(), nullable=True),
        sa.Column("national_id_hash", sa.String(64), nullable=True),
        sa.Column("birth_date_hash", sa.String(64), nullable=True),
        sa.Column("national_id_masked", sa.Text(), nullable=True),
        sa.Column("locked_until", _ts, nullable=True),
        sa.Column("failures_reset_at", _ts, nullable=True),
        sa.Column("last_auth_at", _ts, nullable=True),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("updated_at", _ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
        sa.UniqueConstraint("customer_number", name=op.f("uq_customers_customer_number")),
        sa.UniqueConstraint("national_id_hash", name=op.f("uq_customers_national_id_hash")),
    )
    op.create_index("ix_customers_phone", "customers", ["phone"])
    op.create_index("ix_customers_birth_date_hash", "customers", ["birth_date_hash"])

    op.create_table(
        "auth_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", _ts, nullable=False),
        sa.Column("call_id", sa.Text(), nullable=True),
        _customer_fk("auth_attempts", "SET NULL"),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("caller_masked", sa.Text(), nullable=True),
        sa.Column("agent_id", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_auth_attempts"),
        sa.CheckConstraint(
            "outcome IN ('ok', 'bad_pin', 'unknown', 'locked', 'error', 'unlocked')",
            name=op.f("ck_auth_attempts_outcome"),
        ),
    )
    op.create_index("ix_auth_attempts_at", "auth_attempts", ["at"])
    op.create_index("ix_auth_attempts_customer_id_at", "auth_attempts", ["customer_id", "at"])

    op.create_table(
        "contact_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _customer_fk("contact_history", "CASCADE"),
        sa.Column("at", _ts, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("call_id", sa.Text(), nullable=True),
        sa.Column("agent_id", sa.Text(), nullable=True),
        sa.Column("queue", sa.Text(), nullable=True),
        sa.Column("category", sa.Text(), nullable=False, server_default=""),
        sa.Column("summary", sa.Text(), nullable=False, server_default=""),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("disposition", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_contact_history"),
        sa.CheckConstraint(
            "channel IN ('call', 'callback', 'campaign')", name=op.f("ck_contact_history_channel")
        ),
    )
    op.create_index("ix_contact_history_call_id", "contact_history", ["call_id"])
    op.create_index("ix_contact_history_customer_id_at", "contact_history", ["customer_id", "at"])

    op.create_table(
        "payment_methods",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _customer_fk("payment_methods", "CASCADE"),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("usual", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.PrimaryKeyConstraint("id", name="pk_payment_methods"),
        sa.CheckConstraint(
            "kind IN ('card', 'bank', 'transfer')", name=op.f("ck_payment_methods_kind")
        ),
    )
    op.create_index("ix_payment_methods_customer_id", "payment_methods", ["customer_id"])

    op.create_table(
        "frequent_products",
        _customer_fk("frequent_products", "CASCADE"),
        sa.Column("product_code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("times_ordered", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_ordered_at", _ts, nullable=True),
        sa.PrimaryKeyConstraint("customer_id", "product_code", name="pk_frequent_products"),
    )

    op.create_table(
        "callbacks",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("call_id", sa.Text(), nullable=True),
        _customer_fk("callbacks", "SET NULL"),
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("queue", sa.Text(), nullable=False),
        sa.Column("due_at", _ts, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_attempt_at", _ts, nullable=True),
        sa.Column("request_count", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_callbacks"),
        sa.CheckConstraint(
            "status IN ('pending', 'dialing', 'done', 'failed', 'cancelled')",
            name=op.f("ck_callbacks_status"),
        ),
    )
    op.create_index("ix_callbacks_customer_id", "callbacks", ["customer_id"])
    op.create_index("ix_callbacks_status_due_at", "callbacks", ["status", "due_at"])
    op.create_index(
        "ux_callbacks_pending_number_queue",
        "callbacks",
        ["number", "queue"],
        unique=True,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_table("callbacks")
    op.drop_table("frequent_products")
    op.drop_table("payment_methods")
    op.drop_table("contact_history")
    op.drop_table("auth_attempts")
    op.drop_table("customers")
