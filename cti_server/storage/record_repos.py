"""Queue events, the agent state log, and the group commit of record journal entries.

Both tables are append-only logs keyed by ``entry_key`` (the journal entry that carried the
row), inserted with ``ON CONFLICT (entry_key) DO NOTHING``: a replayed journal lands once. Call
records are upserted by call id (:class:`~cti_server.storage.repos.CallRecordRepo`).

``commit_entries`` is what the record writer calls every batch: one transaction per kind. It
must not let one bad entry stall the journal for ever, so an entry that cannot be turned into a
row, or that the database refuses as data (SQLSTATE 22 or 23: a NUL character in PostgreSQL
text, say), is logged in full at ERROR and counted as rejected; the rest of its batch commits.
Errors that say nothing about the data (the database is down, a missing table) propagate, and
the writer retries the whole batch later.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti_server.storage.db import Database
from cti_server.storage.journal import Entry
from cti_server.storage.repos import CallRecord, CallRecordRepo
from cti_server.storage.tables import AgentStateLogRow, Base, QueueEventRow

log = logging.getLogger(__name__)

CALL_RECORD, QUEUE_EVENT, AGENT_STATE = "call_record", "queue_event", "agent_state"
Row = TypeVar("Row", "CallRecord", "QueueEvent", "AgentStateChange")


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueEvent:
    entry_key: str
    queue: str
    kind: str
    at: datetime
    call_id: str | None = None
    agent_id: str | None = None
    position: int | None = None
    wait_seconds: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    id: int | None = None  # the database's, once stored


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentStateChange:
    entry_key: str
    agent_id: str
    state: str
    at: datetime
    previous: str | None = None
    reason: str | None = None
    by: str | None = None
    call_id: str | None = None
    id: int | None = None


async def _insert_new(
    sessions: async_sessionmaker[AsyncSession],
    row_type: type[Base],
    rows: Sequence[QueueEvent | AgentStateChange],
) -> int:
    """Insert rows whose ``entry_key`` is not there yet, in one transaction; count the new."""
    if not rows:
        return 0
    table = cast(Table, row_type.__table__)
    values = [{k: getattr(r, k) for k in r.__dataclass_fields__ if k != "id"} for r in rows]
    async with sessions() as session, session.begin():
        dialect = (await session.connection()).dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        # A list of parameter sets: SQLAlchemy batches it into multi-row INSERTs from one
        # cached compilation ("insertmanyvalues"); RETURNING yields only the rows inserted.
        stmt = insert(table).on_conflict_do_nothing(index_elements=["entry_key"])
        result = await session.execute(stmt.returning(table.c.id), values)
        return len(result.all())


class QueueEventRepo:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def insert_many(self, events: Sequence[QueueEvent]) -> int:
        """Store events not stored before (by ``entry_key``); return how many were new."""
        return await _insert_new(self._sessions, QueueEventRow, events)

    async def list_period(
        self, since: datetime, until: datetime, *, queue: str | None = None
    ) -> list[QueueEvent]:
        """Events in ``[since, until)``, oldest first."""
        stmt = select(QueueEventRow).where(QueueEventRow.at >= since, QueueEventRow.at < until)
        if queue is not None:
            stmt = stmt.where(QueueEventRow.queue == queue)
        stmt = stmt.order_by(QueueEventRow.at, QueueEventRow.id)
        async with self._sessions() as session:
            return [QueueEvent(**_columns(r)) for r in await session.scalars(stmt)]


class AgentStateLogRepo:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def insert_many(self, changes: Sequence[AgentStateChange]) -> int:
        """Store changes not stored before (by ``entry_key``); return how many were new."""
        return await _insert_new(self._sessions, AgentStateLogRow, changes)

    async def list_period(
        self, since: datetime, until: datetime, *, agent_id: str | None = None
    ) -> list[AgentStateChange]:
        """Changes in ``[since, until)``, oldest first."""
        row = AgentStateLogRow
        stmt = select(row).where(row.at >= since, row.at < until)
        if agent_id is not None:
            stmt = stmt.where(row.agent_id == agent_id)
        stmt = stmt.order_by(row.at, row.id)
        async with self._sessions() as session:
            return [AgentStateChange(**_columns(r)) for r in await session.scalars(stmt)]


def _columns(row: Base) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}


# --- journal entries to rows -------------------------------------------------------------------


def _instant(value: Any) -> datetime | None:
    """Epoch seconds (what the folds emit) or ISO 8601 (naive means UTC) to aware UTC."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise TypeError(f"not a time: {value!r}")


def _required_instant(payload: dict[str, Any], name: str) -> datetime:
    value = _instant(payload.get(name))
    if value is None:
        raise ValueError(f"no {name}")
    return value


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any, kind: type[int] | type[float]) -> Any:
    if value is None or isinstance(value, bool):
        return None
    return kind(value)


def call_record_from(entry: Entry) -> CallRecord:
    p = entry.payload
    started = _required_instant(p, "started_at")
    status = p.get("status")
    return CallRecord(
        call_id=str(p.get("call_id") or entry.key),
        started_at=started,
        ended_at=_instant(p.get("ended_at")) or started,
        answered_at=_instant(p.get("answered_at")),
        caller=_text(p.get("caller")) or "",
        called=_text(p.get("called")) or "",
        trunk=_text(p.get("trunk")),
        agent_id=_text(p.get("agent_id")),
        cause=_text(p.get("cause")) or "",
        status=status if isinstance(status, int) and not isinstance(status, bool) else 0,
        record=p,
    )


_QUEUE_COLUMNS = {"call_id", "queue", "kind", "at", "agent_id", "position", "wait_seconds"}


def queue_event_from(entry: Entry) -> QueueEvent:
    """Columns by name; anything else the event carried goes into ``detail``."""
    p = entry.payload
    detail = dict(p.get("detail") or {})
    detail.update({k: v for k, v in p.items() if k not in _QUEUE_COLUMNS and k != "detail"})
    return QueueEvent(
        entry_key=entry.entry_key,
        queue=_text(p.get("queue")) or "",
        kind=_text(p.get("kind")) or "",
        at=_required_instant(p, "at"),
        call_id=_text(p.get("call_id")),
        agent_id=_text(p.get("agent_id")),
        position=_number(p.get("position"), int),
        wait_seconds=_number(p.get("wait_seconds"), float),
        detail=detail,
    )


def agent_state_from(entry: Entry) -> AgentStateChange:
    p = entry.payload
    state = _text(p.get("state"))
    if not state:
        raise ValueError("no state")
    return AgentStateChange(
        entry_key=entry.entry_key,
        agent_id=str(p.get("agent_id") or entry.key),
        state=state,
        at=_required_instant(p, "at"),
        previous=_text(p.get("previous")),
        reason=_text(p.get("reason")),
        by=_text(p.get("by")),
        call_id=_text(p.get("call_id")),
    )


# --- the group commit ---------------------------------------------------------------------------


@dataclass(slots=True)
class CommitCounts:
    call_records: int = 0
    queue_events: int = 0  # new rows (a replayed entry is not counted again)
    agent_states: int = 0
    rejected: int = 0


def _reject(entry_key: str, payload: Any, why: object) -> None:
    log.error("journal entry %s rejected (%s): %s", entry_key, why, json.dumps(payload))


async def _write_group(
    write: Callable[[Sequence[Row]], Awaitable[int]],
    rows: list[tuple[Entry, Row]],
    counts: CommitCounts,
) -> int:
    """One transaction for the lot; if the database refuses the data, row by row."""
    if not rows:
        return 0
    try:
        return await write([row for _, row in rows])
    except DBAPIError as exc:
        if not _refuses_data(exc):
            raise
        log.warning("group commit refused (%s): retrying %d rows one by one", exc.orig, len(rows))
    written = 0
    for entry, row in rows:
        try:
            written += await write([row])
        except DBAPIError as exc:
            if not _refuses_data(exc):
                raise
            counts.rejected += 1
            _reject(entry.entry_key, entry.payload, exc.orig)
    return written


def _refuses_data(exc: DBAPIError) -> bool:
    """The data is wrong, not the database: SQLSTATE class 22 (data exception) or 23
    (integrity). asyncpg's errors reach SQLAlchemy as a plain DBAPIError with the code."""
    if isinstance(exc, IntegrityError | DataError):
        return True
    sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
    return sqlstate[:2] in ("22", "23")


async def commit_entries(database: Database, entries: Sequence[Entry]) -> CommitCounts:
    """Store a batch of journal entries: one transaction per kind (see the module doc)."""
    counts = CommitCounts()
    calls: dict[str, tuple[Entry, CallRecord]] = {}  # one row per call: the latest wins
    queue: list[tuple[Entry, QueueEvent]] = []
    agents: list[tuple[Entry, AgentStateChange]] = []
    for entry in entries:
        try:
            if entry.kind == CALL_RECORD:
                record = call_record_from(entry)
                calls.pop(record.call_id, None)
                calls[record.call_id] = (entry, record)
            elif entry.kind == QUEUE_EVENT:
                queue.append((entry, queue_event_from(entry)))
            elif entry.kind == AGENT_STATE:
                agents.append((entry, agent_state_from(entry)))
            else:
                raise ValueError(f"unknown kind {entry.kind!r}")
        except (ValueError, TypeError, OverflowError) as exc:
            counts.rejected += 1
            _reject(entry.entry_key, entry.payload, exc)
    sessions = database.async_session
    counts.call_records = await _write_group(
        CallRecordRepo(sessions).upsert_many, list(calls.values()), counts
    )
    counts.queue_events = await _write_group(QueueEventRepo(sessions).insert_many, queue, counts)
    counts.agent_states = await _write_group(
        AgentStateLogRepo(sessions).insert_many, agents, counts
    )
    return counts
