"""The ``evaluations`` table (revision 0009): a supervisor's scoring of a recorded call.

Kept apart from ``tables.py`` (which imports it, so ``Base.metadata`` has it). One row per
recording and evaluator: the unique pair makes a second save by the same supervisor a
correction, while several supervisors scoring one call (calibration) get a row each. The
call and the agent are copied from the recording when it is scored, so an agent's
evaluations of a period are one indexed query, without a join.

``answers`` holds the checked answers by question id; ``score`` and ``critical_failed`` are
what :func:`cti_server.qa.forms.score` said with the form version ``form_version``, kept as
they were even if the form file changes later. ``comment`` is the evaluator's,
``agent_comment`` the evaluated agent's reply.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cti_server.storage.tables import Base, JsonDocument, UtcDateTime


class EvaluationRow(Base):
    __tablename__ = "evaluations"
    __table_args__ = (
        UniqueConstraint("recording_id", "evaluator"),  # its index serves recording look-ups
        Index("ix_evaluations_agent_id_created_at", "agent_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_id: Mapped[str] = mapped_column(Text, ForeignKey("recordings.id", ondelete="CASCADE"))
    call_id: Mapped[str] = mapped_column(Text, index=True)
    agent_id: Mapped[str] = mapped_column(Text)
    evaluator: Mapped[str] = mapped_column(Text)
    form: Mapped[str] = mapped_column(String(64))
    form_version: Mapped[str] = mapped_column(String(64))
    answers: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    score: Mapped[float] = mapped_column(Float)
    critical_failed: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str | None] = mapped_column(Text)
    agent_comment: Mapped[str | None] = mapped_column(Text)
    agent_commented_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


__all__ = ["EvaluationRow"]
