"""The ``webhook_outbox`` table (revision 0010): CRM webhook deliveries still owed or done.

One row per (endpoint, idempotency key): the unique pair is what makes a replayed journal
batch or a second save of the same record enqueue nothing new. ``next_attempt_at`` is when
a ``pending`` row is due, or, while ``delivering``, when its claim's lease runs out; the
(status, next_attempt_at) index serves the delivery loop's poll. ``attempts`` counts
requests made; ``last_status``/``last_error`` are the latest answer (HTTP status, or why
there was none). States and transitions: :mod:`cti_server.crm.outbox`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cti_server.storage.tables import Base, BigId, JsonDocument, UtcDateTime


class OutboxRow(Base):
    """``payload`` is the record as stored (call record dict, contact-history entry)."""

    __tablename__ = "webhook_outbox"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivering', 'delivered', 'dead')", name="status"),
        UniqueConstraint("endpoint", "key"),
        Index("ix_webhook_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    endpoint: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


__all__ = ["OutboxRow"]
