"""An agent's voice-message inbox: messages callers left, listed, fetched and marked done.

Synchronous, for the thread pool, like :mod:`cti_server.storage.callbacks`. A voice message
is a ``recordings`` row of kind ``voice_message``; it belongs to ``agent_id``, or, with
``agent_id`` NULL, to everyone in ``queue`` (overflow, after hours). Only finished recordings
(``complete`` or ``repaired``) are messages: one still ``recording`` has no playable file yet,
and ``failed``/``deleted`` ones have none at all.

The caller's number comes from ``call_records`` by an outer join, because the call record is
group-committed shortly after the call ends (DESIGN.md §3) and may not be there yet when the
desktop first lists the message: the number is then ``''`` and fills in on the next listing.

``mark_done`` is one conditional ``UPDATE ... WHERE handled_at IS NULL``, so when two agents
of a queue press "done" together the first one keeps the credit and both get ``True``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Select, and_, or_, select, update
from sqlalchemy.orm import Session

from cti_server.storage.customer_records import Instant, utc
from cti_server.storage.db import Database
from cti_server.storage.tables import CallRecordRow, RecordingRow, RecordingStatus

VOICE_MESSAGE = "voice_message"
PLAYABLE = (RecordingStatus.COMPLETE.value, RecordingStatus.REPAIRED.value)
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceMessage:
    id: str
    call_id: str
    caller: str  # '' until the call record is stored
    agent_id: str | None  # None: a message for everyone in ``queue``
    queue: str | None
    created_at: datetime
    duration: float
    done: bool
    handled_at: datetime | None
    handled_by: str | None
    path: str


def _message(row: RecordingRow, caller: str | None) -> VoiceMessage:
    return VoiceMessage(
        id=row.id,
        call_id=row.call_id,
        caller=caller or "",
        agent_id=row.agent_id,
        queue=row.queue,
        created_at=row.started_at,
        duration=float(row.duration_s),
        done=row.handled_at is not None,
        handled_at=row.handled_at,
        handled_by=row.handled_by,
        path=row.path,
    )


def _is_message() -> ColumnElement[bool]:
    return and_(RecordingRow.kind == VOICE_MESSAGE, RecordingRow.status.in_(PLAYABLE))


def _messages() -> Select[RecordingRow, str]:
    # ``caller`` is NULL despite its type when the outer join finds no call record.
    return (
        select(RecordingRow, CallRecordRow.caller)
        .outerjoin(CallRecordRow, CallRecordRow.call_id == RecordingRow.call_id)
        .where(_is_message())
    )


def _local(at: datetime | None, tz: tzinfo) -> str | None:
    return None if at is None else at.astimezone(tz).isoformat()


def to_json(msg: VoiceMessage, tz: tzinfo) -> dict[str, Any]:
    """The message as the API returns it, times in the configured zone. ``path`` and
    ``call_id`` stay inside: the desktop plays a message through the API by its id."""
    return {
        "id": msg.id,
        "caller": msg.caller,
        "queue": msg.queue,
        "agent_id": msg.agent_id,
        "created_at": _local(msg.created_at, tz),
        "duration": round(msg.duration, 3),
        "done": msg.done,
        "handled_at": _local(msg.handled_at, tz),
        "handled_by": msg.handled_by,
    }


class VoiceMessageRepo:
    def __init__(self, database: Database) -> None:
        self.database = database

    def inbox(
        self,
        agent_id: str | None,
        queues: Sequence[str],
        *,
        include_done: bool = True,
        limit: int = 200,
    ) -> list[VoiceMessage]:
        """Newest first. ``agent_id`` None is a supervisor's view: every message (``queues``
        is then ignored); otherwise the agent's own plus the unassigned ones of ``queues``."""
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
        if isinstance(queues, str):
            raise TypeError("queues is a sequence of queue names, not one string")
        stmt = _messages()
        if agent_id is not None:
            mine: ColumnElement[bool] = RecordingRow.agent_id == agent_id
            if queues:
                shared = and_(RecordingRow.agent_id.is_(None), RecordingRow.queue.in_(queues))
                mine = or_(mine, shared)
            stmt = stmt.where(mine)
        if not include_done:
            stmt = stmt.where(RecordingRow.handled_at.is_(None))
        stmt = stmt.order_by(RecordingRow.started_at.desc(), RecordingRow.id.desc()).limit(limit)
        with Session(self.database.sync_engine) as session:
            return [_message(row, caller) for row, caller in session.execute(stmt)]

    def get(self, message_id: str) -> VoiceMessage | None:
        """The message, or None when there is none by that id (or it is not playable: still
        recording, failed, deleted, or a call recording). Whether the asker may hear it is
        the caller's check, on ``agent_id`` and ``queue``."""
        with Session(self.database.sync_engine) as session:
            found = session.execute(_messages().where(RecordingRow.id == message_id)).first()
            return None if found is None else _message(*found)

    def mark_done(self, message_id: str, by: str, now: Instant) -> bool:
        """Mark a message handled by ``by``. A second call keeps the first ``handled_at`` and
        ``handled_by`` and still returns True; False when there is no such message."""
        if not by:
            raise ValueError("mark_done needs who handled the message")
        at = utc(now)
        stmt = (
            update(RecordingRow)
            .where(RecordingRow.id == message_id, _is_message())
            .where(RecordingRow.handled_at.is_(None))
            .values(handled_at=at, handled_by=by)
        )
        exists = select(RecordingRow.id).where(RecordingRow.id == message_id, _is_message())
        with Session(self.database.sync_engine) as session, session.begin():
            if cast(CursorResult[Any], session.execute(stmt)).rowcount:
                return True
            return session.execute(exists).first() is not None
