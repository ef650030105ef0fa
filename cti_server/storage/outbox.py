"""The CRM webhook outbox in SQL: enqueue, take what is due, file each attempt's answer.

Synchronous, for a thread pool (the delivery service's) or for a caller's own transaction
(:meth:`OutboxRepo.enqueue_in` takes a Connection or Session, so a contact-history row and
its outbox rows commit together). Times are POSIX seconds or aware datetimes.

``enqueue`` is ``INSERT ... ON CONFLICT (endpoint, key)``: a row already there keeps its
place. While it is still ``pending`` and was never tried, a newer version of the record
replaces its payload (the complete call record after the wrap-up replaces the one stored at
hang-up) and may bring its due time forward; once it is being delivered, delivered or dead
nothing changes, so a replayed journal or a repeated save never queues a record twice.

Every state change is one guarded ``UPDATE ... WHERE id = ? AND status IN (...)`` built
from the transition table of :mod:`cti_server.crm.outbox`; the answers of an attempt also
require ``attempts`` to equal the claim's, so the late answer of an attempt whose lease ran
out (another poll claimed the row again) changes nothing. Each returns whether it applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, case, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from cti_server.crm.outbox import OutboxEvent, OutboxStatus, sources
from cti_server.storage.customer_records import Instant, utc
from cti_server.storage.db import Database
from cti_server.storage.tables_outbox import OutboxRow

OUTBOX = cast(Table, OutboxRow.__table__)
MAX_ERROR = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class NewEntry:
    """One delivery owed: ``not_before`` holds an incomplete record back (None: due now)."""

    endpoint: str
    kind: str
    key: str
    payload: dict[str, Any]
    not_before: Instant | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxEntry:
    id: int
    endpoint: str
    kind: str
    key: str
    payload: dict[str, Any]
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def _entry(row: Any) -> OutboxEntry:
    m = row._mapping
    return OutboxEntry(
        id=m["id"],
        endpoint=m["endpoint"],
        kind=m["kind"],
        key=m["key"],
        payload=m["payload"],
        status=OutboxStatus(m["status"]),
        attempts=m["attempts"],
        next_attempt_at=m["next_attempt_at"],
        last_status=m["last_status"],
        last_error=m["last_error"],
        created_at=m["created_at"],
        delivered_at=m["delivered_at"],
    )


def _error(text: str | None) -> str | None:
    return None if text is None else text[:MAX_ERROR]


def enqueue_in(executor: Connection | Session, entries: Sequence[NewEntry], now: Instant) -> int:
    """Queue ``entries`` inside the caller's transaction (see the module doc); later entries
    for the same (endpoint, key) win. Returns how many distinct entries were offered."""
    latest: dict[tuple[str, str], NewEntry] = {}
    for e in entries:
        latest.pop((e.endpoint, e.key), None)
        latest[(e.endpoint, e.key)] = e
    if not latest:
        return 0
    at = utc(now)
    values = [
        {
            "endpoint": e.endpoint,
            "kind": e.kind,
            "key": e.key,
            "payload": e.payload,
            "status": OutboxStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": at if e.not_before is None else max(at, utc(e.not_before)),
            "created_at": at,
        }
        for e in latest.values()
    ]
    bind = executor.get_bind() if isinstance(executor, Session) else executor
    insert = pg_insert if bind.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(OUTBOX)
    new, old = stmt.excluded, OUTBOX.c
    sooner = and_(old.attempts == 0, new.next_attempt_at < old.next_attempt_at)
    stmt = stmt.on_conflict_do_update(
        index_elements=["endpoint", "key"],
        set_={
            "payload": new.payload,
            "next_attempt_at": case((sooner, new.next_attempt_at), else_=old.next_attempt_at),
        },
        # no IN (...): an expanding parameter cannot go with executemany
        where=or_(*(old.status == s for s in sources(OutboxEvent.UPDATE))),
    )
    executor.execute(stmt, values)
    return len(values)


class OutboxRepo:
    """Every method is one short transaction of its own."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def enqueue(self, entries: Sequence[NewEntry], now: Instant) -> int:
        with self.database.sync_engine.begin() as conn:
            return enqueue_in(conn, entries, now)

    # --- the delivery loop ------------------------------------------------------------------

    def due(self, now: Instant, limit: int, *, endpoint: str | None = None) -> list[OutboxEntry]:
        """Rows to send now, soonest due first: pending ones whose time has come and
        delivering ones whose lease ran out (their claimer is gone)."""
        stmt = select(OUTBOX).where(
            OUTBOX.c.status.in_(sources(OutboxEvent.CLAIM)),
            OUTBOX.c.next_attempt_at <= utc(now),
        )
        if endpoint is not None:
            stmt = stmt.where(OUTBOX.c.endpoint == endpoint)
        stmt = stmt.order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id).limit(limit)
        with self.database.sync_engine.connect() as conn:
            return [_entry(r) for r in conn.execute(stmt)]

    def mark_delivering(
        self, entry_id: int, now: Instant, lease_until: Instant
    ) -> OutboxEntry | None:
        """Claim a due row for one attempt (``attempts`` + 1) until ``lease_until``; None when
        another poll or node claimed it first or it is no longer due."""
        stmt = (
            update(OUTBOX)
            .where(
                OUTBOX.c.id == entry_id,
                OUTBOX.c.status.in_(sources(OutboxEvent.CLAIM)),
                OUTBOX.c.next_attempt_at <= utc(now),
            )
            .values(
                status=OutboxStatus.DELIVERING.value,
                attempts=OUTBOX.c.attempts + 1,
                next_attempt_at=utc(lease_until),
            )
            .returning(*OUTBOX.c)
        )
        with self.database.sync_engine.begin() as conn:
            row = conn.execute(stmt).one_or_none()
        return None if row is None else _entry(row)

    def claim(
        self, endpoint: str, now: Instant, limit: int, lease_until: Instant
    ) -> list[OutboxEntry]:
        """Up to ``limit`` due rows of ``endpoint``, each claimed (``mark_delivering``)."""
        if limit <= 0:
            return []
        claimed = []
        for entry in self.due(now, limit, endpoint=endpoint):
            taken = self.mark_delivering(entry.id, now, lease_until)
            if taken is not None:
                claimed.append(taken)
        return claimed

    def mark_delivered(
        self, entry_id: int, attempts: int, now: Instant, http_status: int | None
    ) -> bool:
        return self._answer(
            entry_id, attempts, OutboxEvent.SUCCEEDED, OutboxStatus.DELIVERED,
            delivered_at=utc(now), last_status=http_status, last_error=None,
        )  # fmt: skip

    def mark_failed(
        self,
        entry_id: int,
        attempts: int,
        next_attempt_at: Instant,
        http_status: int | None,
        error: str | None,
    ) -> bool:
        """Back to pending, due again at ``next_attempt_at``."""
        return self._answer(
            entry_id, attempts, OutboxEvent.RETRY, OutboxStatus.PENDING,
            next_attempt_at=utc(next_attempt_at), last_status=http_status,
            last_error=_error(error),
        )  # fmt: skip

    def mark_dead(
        self, entry_id: int, attempts: int, http_status: int | None, error: str | None
    ) -> bool:
        return self._answer(
            entry_id, attempts, OutboxEvent.GAVE_UP, OutboxStatus.DEAD,
            last_status=http_status, last_error=_error(error),
        )  # fmt: skip

    def _answer(
        self,
        entry_id: int,
        attempts: int,
        event: OutboxEvent,
        target: OutboxStatus,
        **values: Any,
    ) -> bool:
        stmt = (
            update(OUTBOX)
            .where(
                OUTBOX.c.id == entry_id,
                OUTBOX.c.status.in_(sources(event)),
                OUTBOX.c.attempts == attempts,
            )
            .values(status=target.value, **values)
        )
        with self.database.sync_engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount)

    # --- reading and housekeeping -----------------------------------------------------------

    def get(self, endpoint: str, key: str) -> OutboxEntry | None:
        stmt = select(OUTBOX).where(OUTBOX.c.endpoint == endpoint, OUTBOX.c.key == key)
        with self.database.sync_engine.connect() as conn:
            row = conn.execute(stmt).one_or_none()
        return None if row is None else _entry(row)

    def entries(
        self, *, endpoint: str | None = None, status: OutboxStatus | None = None, limit: int = 100
    ) -> list[OutboxEntry]:
        """Oldest first (an operator looking at the dead ones, a test)."""
        stmt = select(OUTBOX)
        if endpoint is not None:
            stmt = stmt.where(OUTBOX.c.endpoint == endpoint)
        if status is not None:
            stmt = stmt.where(OUTBOX.c.status == status.value)
        stmt = stmt.order_by(OUTBOX.c.id).limit(limit)
        with self.database.sync_engine.connect() as conn:
            return [_entry(r) for r in conn.execute(stmt)]

    def counts(self) -> dict[tuple[str, str], int]:
        """Rows by (endpoint, status)."""
        stmt = select(OUTBOX.c.endpoint, OUTBOX.c.status, func.count()).group_by(
            OUTBOX.c.endpoint, OUTBOX.c.status
        )
        with self.database.sync_engine.connect() as conn:
            return {(e, s): int(n) for e, s, n in conn.execute(stmt)}

    def prune_delivered(self, before: Instant) -> int:
        """Forget delivered rows older than ``before``; their keys could be queued again
        after that, so keep them longer than anything can be replayed (the journal)."""
        stmt = delete(OUTBOX).where(
            OUTBOX.c.status == OutboxStatus.DELIVERED.value, OUTBOX.c.delivered_at < utc(before)
        )
        with self.database.sync_engine.begin() as conn:
            return int(conn.execute(stmt).rowcount or 0)


__all__ = ["NewEntry", "OutboxEntry", "OutboxRepo", "enqueue_in"]
