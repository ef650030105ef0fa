"""Evaluations of recorded calls: store, find, and the evaluated agent's reply.

Synchronous, for the thread pool, like the dispositions. The repository stores what it is
given; checking answers against the form and scoring them is :mod:`cti_server.qa.forms`'
job, done by the caller before :meth:`EvaluationRepo.save`. What it does check is what the
database knows: the recording exists, is a call (not a voice message) and has an agent, whose
id (and the call's) it copies onto the row. A supervisor saving again for the same recording
corrects their evaluation in place (the agent's reply stays); another supervisor's save is a
second row, which is what calibration compares.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cti_server.storage.customer_records import Instant, utc
from cti_server.storage.db import Database
from cti_server.storage.tables import RecordingRow
from cti_server.storage.tables_qa import EvaluationRow

MAX_COMMENT = 4000


class EvaluationError(ValueError):
    """The evaluation cannot be stored as given (the message says why)."""


class UnknownRecording(EvaluationError, LookupError):
    """No recording has this id."""


class NotEvaluable(EvaluationError):
    """The recording is a voice message, or no agent took part in the call."""


class UnknownEvaluation(EvaluationError, LookupError):
    """No evaluation has this id."""


class NotTheAgent(EvaluationError):
    """Only the evaluated agent replies to an evaluation."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingFacts:
    """What access checks and the answer need of the evaluated recording."""

    id: str
    call_id: str
    agent_id: str | None
    kind: str
    started_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Evaluation:
    id: int
    recording_id: str
    call_id: str
    agent_id: str
    evaluator: str
    form: str
    form_version: str
    answers: dict[str, Any]
    score: float
    critical_failed: bool
    comment: str | None
    agent_comment: str | None
    agent_commented_at: datetime | None
    created_at: datetime
    updated_at: datetime


def _from_row(row: EvaluationRow) -> Evaluation:
    return Evaluation(
        id=row.id,
        recording_id=row.recording_id,
        call_id=row.call_id,
        agent_id=row.agent_id,
        evaluator=row.evaluator,
        form=row.form,
        form_version=row.form_version,
        answers=dict(row.answers),
        score=row.score,
        critical_failed=row.critical_failed,
        comment=row.comment,
        agent_comment=row.agent_comment,
        agent_commented_at=row.agent_commented_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _comment(text: str | None, field: str) -> str | None:
    if text is None:
        return None
    text = text.strip()
    if len(text) > MAX_COMMENT:
        raise EvaluationError(f"{field}: at most {MAX_COMMENT} characters")
    if "\x00" in text:
        raise EvaluationError(f"{field}: contains a NUL character")
    return text or None


class EvaluationRepo:
    """Evaluations; every method is one short transaction."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def _session(self) -> Session:
        return Session(self.database.sync_engine, expire_on_commit=False)

    def recording(self, recording_id: str) -> RecordingFacts | None:
        with self._session() as session:
            row = session.get(RecordingRow, recording_id)
            if row is None:
                return None
            return RecordingFacts(id=row.id, call_id=row.call_id, agent_id=row.agent_id,
                                  kind=row.kind, started_at=row.started_at)  # fmt: skip

    def save(
        self,
        recording_id: str,
        evaluator: str,
        *,
        form: str,
        form_version: str,
        answers: dict[str, Any],
        score: float,
        critical_failed: bool,
        comment: str | None,
        now: Instant,
    ) -> tuple[Evaluation, bool]:
        """Store (or correct) ``evaluator``'s evaluation of the recording; True when new."""
        if not evaluator:
            raise EvaluationError("evaluator: required")
        if not 0 <= score <= 100:
            raise EvaluationError(f"score: 0..100, not {score}")
        fields = {
            "form": form,
            "form_version": form_version,
            "answers": dict(answers),
            "score": score,
            "critical_failed": critical_failed,
            "comment": _comment(comment, "comment"),
        }
        try:
            return self._save(recording_id, evaluator, fields, utc(now))
        except IntegrityError:
            # The same evaluator's other save inserted first: ours is the correction. (A
            # recording deleted meanwhile fails again, now as UnknownRecording.)
            return self._save(recording_id, evaluator, fields, utc(now))

    def _save(
        self, recording_id: str, evaluator: str, fields: dict[str, Any], at: datetime
    ) -> tuple[Evaluation, bool]:
        with self._session() as session, session.begin():
            recording = session.get(RecordingRow, recording_id)
            if recording is None:
                raise UnknownRecording(f"no recording {recording_id!r}")
            if recording.kind != "call":
                raise NotEvaluable(f"recording {recording_id} is a {recording.kind}, not a call")
            if not recording.agent_id:
                raise NotEvaluable(f"recording {recording_id} has no agent to evaluate")
            row = session.scalars(
                select(EvaluationRow)
                .where(
                    EvaluationRow.recording_id == recording_id,
                    EvaluationRow.evaluator == evaluator,
                )
                .with_for_update()
            ).one_or_none()
            created = row is None
            if row is None:
                row = EvaluationRow(recording_id=recording_id, evaluator=evaluator, created_at=at)
                session.add(row)
            row.call_id = recording.call_id
            row.agent_id = recording.agent_id
            for name, value in fields.items():
                setattr(row, name, value)
            row.updated_at = at
            session.flush()
            return _from_row(row), created

    def get(self, evaluation_id: int) -> Evaluation | None:
        with self._session() as session:
            row = session.get(EvaluationRow, evaluation_id)
            return None if row is None else _from_row(row)

    def for_recording(self, recording_id: str) -> list[Evaluation]:
        """Every evaluator's evaluation of a recording, oldest first."""
        with self._session() as session:
            rows = session.scalars(
                select(EvaluationRow)
                .where(EvaluationRow.recording_id == recording_id)
                .order_by(EvaluationRow.created_at, EvaluationRow.id)
            )
            return [_from_row(r) for r in rows]

    def for_agent(
        self,
        agent_id: str | None,
        since: Instant | None = None,
        until: Instant | None = None,
        *,
        limit: int | None = None,
    ) -> list[Evaluation]:
        """An agent's evaluations (every agent's when None) made in ``[since, until)``,
        newest first."""
        query = select(EvaluationRow)
        if agent_id is not None:
            query = query.where(EvaluationRow.agent_id == agent_id)
        if since is not None:
            query = query.where(EvaluationRow.created_at >= utc(since))
        if until is not None:
            query = query.where(EvaluationRow.created_at < utc(until))
        query = query.order_by(EvaluationRow.created_at.desc(), EvaluationRow.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._session() as session:
            return [_from_row(r) for r in session.scalars(query)]

    def add_agent_comment(
        self, evaluation_id: int, agent_id: str, text: str, now: Instant
    ) -> Evaluation:
        """The evaluated agent's reply (a second reply replaces the first; empty removes it)."""
        comment = _comment(text, "comment")
        with self._session() as session, session.begin():
            row = session.get(EvaluationRow, evaluation_id, with_for_update=True)
            if row is None:
                raise UnknownEvaluation(f"no evaluation {evaluation_id}")
            if row.agent_id != agent_id:
                raise NotTheAgent(f"evaluation {evaluation_id} is of agent {row.agent_id}'s call")
            row.agent_comment = comment
            row.agent_commented_at = utc(now) if comment is not None else None
            session.flush()
            return _from_row(row)


__all__ = [
    "Evaluation",
    "EvaluationError",
    "EvaluationRepo",
    "NotEvaluable",
    "NotTheAgent",
    "RecordingFacts",
    "UnknownEvaluation",
    "UnknownRecording",
]
