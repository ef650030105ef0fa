"""The ``dispositions`` table (revision 0007): how an agent closed a call.

Kept apart from ``tables.py`` (which imports it, so ``Base.metadata`` has it): one row per
call and agent, holding the disposition code, the agent's notes and the script answers, next
to the call record with the same ``call_id``. The unique (call_id, agent_id) pair is what makes
a second save by the same agent a correction rather than a second row; a transferred call
gets one row per agent who handled it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cti_server.storage.tables import Base, JsonDocument, UtcDateTime


class DispositionRow(Base):
    """An agent's wrap-up of one call. ``answers`` is what the desktop posted: a mapping of
    step id to answer, or a list of [step id, answer] pairs for scripts with loops.
    ``contact_id`` is the contact-history row written with it (updated along with it)."""

    __tablename__ = "dispositions"
    __table_args__ = (UniqueConstraint("call_id", "agent_id"),)  # its index serves call_id

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(Text)
    agent_id: Mapped[str] = mapped_column(Text)
    customer_id: Mapped[str | None] = mapped_column(
        Text, ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    disposition: Mapped[str] = mapped_column(String(64))
    notes: Mapped[str | None] = mapped_column(Text)
    script: Mapped[str | None] = mapped_column(Text)
    answers: Mapped[Any] = mapped_column(JsonDocument)
    contact_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("contact_history.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


__all__ = ["DispositionRow"]
