"""The ``recording_access`` table (revision 0011): who played, downloaded or opened a recording.

Kept apart from ``tables.py`` (which imports it, so ``Base.metadata`` has it). An audit
trail: one row per granted access (``play``, ``download``, ``view``), never updated. There is
no foreign key to ``recordings`` on purpose: the log must outlive whatever happens to the
recording row, and it names the recording by its id as it was. The (recording_id, at) index
serves one recording's history, (username, at) one user's.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cti_server.storage.tables import Base, BigId, UtcDateTime


class AccessAction(StrEnum):
    PLAY = "play"
    DOWNLOAD = "download"
    VIEW = "view"


ACCESS_ACTIONS = tuple(a.value for a in AccessAction)


class RecordingAccessRow(Base):
    __tablename__ = "recording_access"
    __table_args__ = (
        CheckConstraint("action IN ('play', 'download', 'view')", name="action"),
        Index("ix_recording_access_recording_id_at", "recording_id", "at"),
        Index("ix_recording_access_username_at", "username", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    recording_id: Mapped[str] = mapped_column(Text)
    username: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime)


__all__ = ["ACCESS_ACTIONS", "AccessAction", "RecordingAccessRow"]
