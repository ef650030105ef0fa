"""The ``users`` table (revision 0005): who may log in to the agent desktop and wallboard.

Kept beside ``tables.py`` on the same ``Base`` (its metadata is the schema the migration test
compares against); ``tables.py`` imports this module so every user of ``Base.metadata``
sees it. Passwords only as scrypt strings (``cti_server.auth.passwords``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from cti_server.storage.tables import Base, UtcDateTime


class UserRow(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('agent', 'supervisor', 'admin')", name="role"),
        CheckConstraint("language IN ('ko', 'en')", name="language"),
    )

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[str | None] = mapped_column(Text, index=True)
    display_name: Mapped[str] = mapped_column(Text, server_default="")
    language: Mapped[str] = mapped_column(String(2), server_default="ko")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    disabled: Mapped[bool] = mapped_column(Boolean, server_default=false())
