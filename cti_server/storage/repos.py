"""Typed async repositories over the SQL tables.

Repositories take plain frozen dataclasses and hand them back, so nothing past the edge sees a
SQLAlchemy row or session. Each method is one transaction on a fresh ``AsyncSession`` and must
run inside an asyncio Task: from Twisted code wrap the call in
:func:`cti_server.storage.bridge.run_in_loop`.

Upserts use each database's native ``INSERT ... ON CONFLICT DO UPDATE`` (SQLite ≥ 3.24 and
PostgreSQL), so a replayed journal entry (DESIGN.md §3) lands once. The statement builders are
module functions so the sync CLI path (``cti-server accounts``) runs the same SQL.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Delete, Result, Select, Table, Update, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import Insert

from cti_server.storage.tables import (
    Base,
    CallRecordRow,
    RecordingRow,
    RecordingStatus,
    SipAccountRow,
)


class RecordNotFound(LookupError):
    """The row a change was aimed at does not exist (or, for recordings, was deleted)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Recording:
    id: str
    call_id: str
    started_at: datetime
    path: str
    agent_id: str | None = None
    queue: str | None = None
    customer_id: str | None = None
    ended_at: datetime | None = None
    duration_s: float = 0.0
    sha256: str | None = None
    bytes: int = 0
    status: RecordingStatus = RecordingStatus.RECORDING
    segments: list[dict[str, Any]] = field(default_factory=list)
    kind: str = "call"  # or "voice_message": a message left for ``agent_id``
    handled_at: datetime | None = None  # voice message marked done (revision 0008)
    handled_by: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRecord:
    call_id: str
    started_at: datetime
    ended_at: datetime
    caller: str
    called: str
    cause: str
    status: int
    answered_at: datetime | None = None
    trunk: str | None = None
    agent_id: str | None = None
    record: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class SipAccount:
    """HA1s are ``H(user:realm:password)`` (RFC 7616 §3.4.2); the password is never stored."""

    user: str
    realm: str
    ha1_md5: str | None
    ha1_sha256: str | None
    display_name: str | None = None
    digest_algorithms: tuple[str, ...] | None = None
    enabled: bool = True
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def _columns(row: Base) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}


def _fields(obj: Recording | CallRecord) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


def _upsert(dialect: str, row_type: type[Base], rows: Sequence[dict[str, Any]]) -> Insert:
    """``INSERT ... ON CONFLICT (pk) DO UPDATE`` every non-key column except ``created_at``."""
    table = cast(Table, row_type.__table__)
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(table).values(list(rows))
    keys = [c.name for c in table.primary_key.columns]
    changes = {c: stmt.excluded[c] for c in rows[0] if c not in keys and c != "created_at"}
    return stmt.on_conflict_do_update(index_elements=keys, set_=changes)


def _rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched (DML results are cursor results)."""
    return cast(CursorResult[Any], result).rowcount


async def _dialect(session: AsyncSession) -> str:
    return (await session.connection()).dialect.name


# --- recordings --------------------------------------------------------------------------------


def _recording(row: RecordingRow) -> Recording:
    fields = _columns(row)
    fields["status"] = RecordingStatus(row.status)
    return Recording(**fields)


class RecordingRepo:
    """The recording index. A row is inserted when recording starts (status ``recording``)
    and closed with its size and checksum; a crash leaves ``recording`` rows for repair."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def insert(self, recording: Recording) -> None:
        """Add a new recording; a duplicate id raises ``sqlalchemy.exc.IntegrityError``."""
        async with self._sessions() as session, session.begin():
            session.add(RecordingRow(**{**_fields(recording), "status": recording.status.value}))

    async def update_closed(
        self,
        recording_id: str,
        *,
        ended_at: datetime,
        duration_s: float,
        bytes: int,
        sha256: str | None,
        segments: builtins.list[dict[str, Any]] | None = None,
        status: RecordingStatus = RecordingStatus.COMPLETE,
    ) -> None:
        """Record how a recording ended (``complete``, or ``repaired`` after a crash)."""
        if status not in (RecordingStatus.COMPLETE, RecordingStatus.REPAIRED):
            raise ValueError(f"a closed recording is complete or repaired, not {status.value}")
        values: dict[str, Any] = {
            "ended_at": ended_at,
            "duration_s": duration_s,
            "bytes": bytes,
            "sha256": sha256,
            "status": status.value,
        }
        if segments is not None:
            values["segments"] = segments
        await self._change(recording_id, values)

    async def mark_failed(self, recording_id: str, *, ended_at: datetime | None = None) -> None:
        values: dict[str, Any] = {"status": RecordingStatus.FAILED.value}
        if ended_at is not None:
            values["ended_at"] = ended_at
        await self._change(recording_id, values)

    async def mark_deleted(self, recording_id: str) -> None:
        """Retention removed the file; the row stays as the audit trail (idempotent)."""
        async with self._sessions() as session, session.begin():
            stmt = (
                update(RecordingRow)
                .where(RecordingRow.id == recording_id)
                .values(status=RecordingStatus.DELETED.value)
            )
            if _rowcount(await session.execute(stmt)) == 0:
                raise RecordNotFound(f"recording {recording_id!r} not found")

    async def get(self, recording_id: str) -> Recording | None:
        async with self._sessions() as session:
            row = await session.get(RecordingRow, recording_id)
            return None if row is None else _recording(row)

    async def _change(self, recording_id: str, values: dict[str, Any]) -> None:
        stmt: Update = (
            update(RecordingRow)
            .where(RecordingRow.id == recording_id)
            .where(RecordingRow.status != RecordingStatus.DELETED.value)
            .values(**values)
        )
        async with self._sessions() as session, session.begin():
            if _rowcount(await session.execute(stmt)) == 0:
                raise RecordNotFound(f"recording {recording_id!r} not found or deleted")

    async def list(
        self,
        *,
        call_id: str | None = None,
        agent_id: str | None = None,
        queue: str | None = None,
        customer_id: str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        include_deleted: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[Recording]:
        """Newest first; ``since <= started_at < until``; deleted rows only when asked."""
        stmt: Select[RecordingRow] = select(RecordingRow)
        for column, value in (
            (RecordingRow.call_id, call_id),
            (RecordingRow.agent_id, agent_id),
            (RecordingRow.queue, queue),
            (RecordingRow.customer_id, customer_id),
            (RecordingRow.kind, kind),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if since is not None:
            stmt = stmt.where(RecordingRow.started_at >= since)
        if until is not None:
            stmt = stmt.where(RecordingRow.started_at < until)
        if not include_deleted:
            stmt = stmt.where(RecordingRow.status != RecordingStatus.DELETED.value)
        stmt = stmt.order_by(RecordingRow.started_at.desc(), RecordingRow.id.desc())
        async with self._sessions() as session:
            rows = await session.scalars(stmt.limit(limit).offset(offset))
            return [_recording(r) for r in rows]


# --- call records ------------------------------------------------------------------------------


def _call_record(row: CallRecordRow) -> CallRecord:
    return CallRecord(**_columns(row))


class CallRecordRepo:
    """Finished calls. ``upsert_many`` is the group commit: one transaction for a batch."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def upsert(self, record: CallRecord) -> None:
        await self.upsert_many([record])

    async def upsert_many(self, records: Sequence[CallRecord]) -> int:
        if not records:
            return 0
        rows = list({r.call_id: _fields(r) for r in records}.values())  # latest per call
        table = cast(Table, CallRecordRow.__table__)
        async with self._sessions() as session, session.begin():
            # One compiled statement, executemany: compiling a 500-row VALUES list per chunk
            # cost ~270 µs of reactor CPU per record.
            stmt = (pg_insert if await _dialect(session) == "postgresql" else sqlite_insert)(table)
            changes = {c: stmt.excluded[c] for c in rows[0] if c != "call_id"}
            upsert = stmt.on_conflict_do_update(index_elements=["call_id"], set_=changes)
            await session.execute(upsert, rows)
        return len(rows)

    async def get(self, call_id: str) -> CallRecord | None:
        async with self._sessions() as session:
            row = await session.get(CallRecordRow, call_id)
            return None if row is None else _call_record(row)

    async def list_period(
        self, since: datetime, until: datetime, *, agent_id: str | None = None
    ) -> list[CallRecord]:
        """Calls that started in ``[since, until)``, oldest first (a call counts where it began)."""
        stmt = (
            select(CallRecordRow)
            .where(CallRecordRow.started_at >= since, CallRecordRow.started_at < until)
            .order_by(CallRecordRow.started_at, CallRecordRow.call_id)
        )
        if agent_id is not None:
            stmt = stmt.where(CallRecordRow.agent_id == agent_id)
        async with self._sessions() as session:
            return [_call_record(r) for r in await session.scalars(stmt)]


# --- SIP accounts ------------------------------------------------------------------------------


def account_from_row(row: SipAccountRow) -> SipAccount:
    fields = _columns(row)
    algorithms = row.digest_algorithms
    fields["digest_algorithms"] = None if algorithms is None else tuple(algorithms)
    return SipAccount(**fields)


def account_put_statement(dialect: str, account: SipAccount) -> Insert:
    """Insert or replace an account, keeping the first ``created_at``."""
    values = {name: getattr(account, name) for name in account.__dataclass_fields__}
    algorithms = account.digest_algorithms
    values["digest_algorithms"] = None if algorithms is None else list(algorithms)
    return _upsert(dialect, SipAccountRow, [values])


def accounts_select() -> Select[SipAccountRow]:
    return select(SipAccountRow).order_by(SipAccountRow.user)


def account_delete_statement(user: str) -> Delete:
    return delete(SipAccountRow).where(SipAccountRow.user == user)


class AccountRepo:
    """Agents' SIP credentials, as the registrar's digest check reads them."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def put(self, account: SipAccount) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(account_put_statement(await _dialect(session), account))

    async def get(self, user: str) -> SipAccount | None:
        async with self._sessions() as session:
            row = await session.get(SipAccountRow, user)
            return None if row is None else account_from_row(row)

    async def remove(self, user: str) -> bool:
        """Delete an account; False if there was none."""
        async with self._sessions() as session, session.begin():
            return bool(_rowcount(await session.execute(account_delete_statement(user))))

    async def list(self, *, enabled_only: bool = False) -> builtins.list[SipAccount]:
        stmt = accounts_select()
        if enabled_only:
            stmt = stmt.where(SipAccountRow.enabled.is_(True))
        async with self._sessions() as session:
            return [account_from_row(r) for r in await session.scalars(stmt)]
