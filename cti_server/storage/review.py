"""Recording review: find recorded calls by what happened on them, and log who listened.

Synchronous, for the thread pool, like the evaluations. A search joins the recording index
to the stored call record (caller, outcome: the fold's JSON) and filters on the agent's
dispositions, so a supervisor can ask for "yesterday's abandoned-then-called-back calls of
agent 1001 longer than five minutes" in one query; the dispositions and the evaluation count
and mean of the recordings found come in two more queries (one per page, not per row).

The access log (``recording_access``) is append-only: one row per granted play, download or
view, written before the audio or the details leave the server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session

import cti_server.storage.tables_review  # noqa: F401  (registers the table on Base.metadata)
from cti_server.storage.customer_records import Instant, utc
from cti_server.storage.db import Database
from cti_server.storage.tables import CallRecordRow, RecordingRow, RecordingStatus
from cti_server.storage.tables_dispositions import DispositionRow
from cti_server.storage.tables_qa import EvaluationRow
from cti_server.storage.tables_review import ACCESS_ACTIONS, RecordingAccessRow

MAX_LIMIT = 500


class ReviewError(ValueError):
    """A search or log entry that cannot be run as given (the message says why)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewFilter:
    """Every field narrows the search; None leaves it open. ``since <= started_at < until``
    on the recording's start; durations are the recording's, in seconds."""

    agent_id: str | None = None
    queue: str | None = None
    customer_id: str | None = None
    call_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    min_duration: float | None = None
    max_duration: float | None = None
    outcome: str | None = None
    disposition: str | None = None
    kind: str = "call"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewItem:
    """A recording as the review list shows it, with what its call record says."""

    id: str
    call_id: str
    kind: str
    agent_id: str | None
    queue: str | None
    customer_id: str | None
    started_at: datetime
    ended_at: datetime | None
    duration_s: float
    status: str
    path: str
    bytes: int
    segments: tuple[dict[str, Any], ...]  # the recorder's marks, when the index kept them
    caller: str | None  # None: no call record stored (yet)
    called: str | None
    outcome: str | None
    dispositions: tuple[str, ...] = ()
    evaluations: int = 0
    score_mean: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Access:
    id: int
    recording_id: str
    username: str
    action: str
    at: datetime


def _outcome() -> ColumnElement[str]:
    column: ColumnElement[str] = CallRecordRow.record["outcome"].as_string()
    return column


def _customer() -> ColumnElement[str]:
    column: ColumnElement[str] = CallRecordRow.record["customer_id"].as_string()
    return column


def _conditions(f: ReviewFilter) -> list[ColumnElement[bool]]:
    rec = RecordingRow
    where: list[ColumnElement[bool]] = [
        rec.kind == f.kind,
        rec.status != RecordingStatus.DELETED.value,
    ]
    for column, value in ((rec.agent_id, f.agent_id), (rec.queue, f.queue),
                          (rec.call_id, f.call_id)):  # fmt: skip
        if value is not None:
            where.append(column == value)
    if f.customer_id is not None:
        where.append(or_(rec.customer_id == f.customer_id, _customer() == f.customer_id))
    if f.since is not None:
        where.append(rec.started_at >= f.since)
    if f.until is not None:
        where.append(rec.started_at < f.until)
    if f.min_duration is not None:
        where.append(rec.duration_s >= f.min_duration)
    if f.max_duration is not None:
        where.append(rec.duration_s <= f.max_duration)
    if f.outcome is not None:
        where.append(_outcome() == f.outcome)
    if f.disposition is not None:
        d = DispositionRow
        where.append(exists().where(and_(d.call_id == rec.call_id,
                                         d.disposition == f.disposition)))  # fmt: skip
    return where


def _select() -> Select[RecordingRow, str, str, str]:
    cr = CallRecordRow
    return select(RecordingRow, cr.caller, cr.called, _outcome()).outerjoin(
        cr, cr.call_id == RecordingRow.call_id
    )


def _item(row: RecordingRow, caller: str | None, called: str | None, outcome: str | None,
          dispositions: Sequence[str] = (), evaluations: int = 0,
          score_mean: float | None = None) -> ReviewItem:  # fmt: skip
    return ReviewItem(
        id=row.id, call_id=row.call_id, kind=row.kind, agent_id=row.agent_id, queue=row.queue,
        customer_id=row.customer_id, started_at=row.started_at, ended_at=row.ended_at,
        duration_s=row.duration_s, status=row.status, path=row.path, bytes=row.bytes,
        segments=tuple(s for s in row.segments or () if isinstance(s, dict)),
        caller=caller, called=called, outcome=outcome, dispositions=tuple(dispositions),
        evaluations=evaluations, score_mean=score_mean,
    )  # fmt: skip


class ReviewRepo:
    """Searches over recordings and call records, and the access log; one short
    transaction per method."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def _session(self) -> Session:
        return Session(self.database.sync_engine, expire_on_commit=False)

    def search(
        self, f: ReviewFilter, *, limit: int = 100, offset: int = 0
    ) -> tuple[list[ReviewItem], bool]:
        """Newest first; the bool says whether more rows follow this page."""
        if not 1 <= limit <= MAX_LIMIT or offset < 0:
            raise ReviewError(f"limit: 1..{MAX_LIMIT} and offset >= 0")
        stmt = (
            _select()
            .where(*_conditions(f))
            .order_by(RecordingRow.started_at.desc(), RecordingRow.id.desc())
            .limit(limit + 1)
            .offset(offset)
        )
        with self._session() as session:
            rows = list(session.execute(stmt).all())
            more = len(rows) > limit
            rows = rows[:limit]
            dispositions = _dispositions(session, [r[0].call_id for r in rows])
            scores = _scores(session, [r[0].id for r in rows])
            items = [
                _item(rec, caller, called, outcome, dispositions.get(rec.call_id, ()),
                      *scores.get(rec.id, (0, None)))
                for rec, caller, called, outcome in rows
            ]  # fmt: skip
        return items, more

    def get(self, recording_id: str) -> tuple[ReviewItem, dict[str, Any] | None] | None:
        """The recording (any kind, deleted ones too) and its call record's JSON, if stored."""
        stmt = select(RecordingRow, CallRecordRow).outerjoin(
            CallRecordRow, CallRecordRow.call_id == RecordingRow.call_id
        )
        with self._session() as session:
            found = session.execute(stmt.where(RecordingRow.id == recording_id)).first()
            if found is None:
                return None
            rec, record = found
            dispositions = _dispositions(session, [rec.call_id]).get(rec.call_id, ())
            count, mean = _scores(session, [rec.id]).get(rec.id, (0, None))
            data = dict(record.record) if record is not None else None
            item = _item(rec, record.caller if record else None,
                         record.called if record else None,
                         (data or {}).get("outcome"), dispositions, count, mean)  # fmt: skip
        return item, data

    # --- the access log ------------------------------------------------------------------

    def log_access(self, recording_id: str, username: str, action: str, at: Instant) -> int:
        if action not in ACCESS_ACTIONS:
            raise ReviewError(f"action: one of {', '.join(ACCESS_ACTIONS)}, not {action!r}")
        if not username:
            raise ReviewError("username: required")
        row = RecordingAccessRow(recording_id=recording_id, username=username, action=action,
                                 at=utc(at))  # fmt: skip
        with self._session() as session, session.begin():
            session.add(row)
            session.flush()
            return int(row.id)

    def access_log(self, recording_id: str, *, limit: int = 200) -> list[Access]:
        """A recording's accesses, newest first."""
        a = RecordingAccessRow
        stmt = (
            select(a)
            .where(a.recording_id == recording_id)
            .order_by(a.at.desc(), a.id.desc())
            .limit(limit)
        )
        with self._session() as session:
            return [
                Access(id=r.id, recording_id=r.recording_id, username=r.username,
                       action=r.action, at=r.at)
                for r in session.scalars(stmt)
            ]  # fmt: skip


def _dispositions(session: Session, call_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
    if not call_ids:
        return {}
    d = DispositionRow
    rows = session.execute(
        select(d.call_id, d.disposition)
        .where(d.call_id.in_(set(call_ids)))
        .order_by(d.created_at, d.id)
    )
    found: dict[str, tuple[str, ...]] = {}
    for call_id, disposition in rows:
        if disposition not in found.get(call_id, ()):
            found[call_id] = (*found.get(call_id, ()), disposition)
    return found


def _scores(session: Session, recording_ids: Sequence[str]) -> dict[str, tuple[int, float]]:
    if not recording_ids:
        return {}
    e = EvaluationRow
    rows = session.execute(
        select(e.recording_id, func.count(e.id), func.avg(e.score))
        .where(e.recording_id.in_(set(recording_ids)))
        .group_by(e.recording_id)
    )
    return {rid: (int(n), round(float(mean), 1)) for rid, n, mean in rows}


__all__ = ["Access", "ReviewError", "ReviewFilter", "ReviewItem", "ReviewRepo"]
