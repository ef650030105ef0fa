"""The durable store of callback requests (DESIGN.md §3: committed before the confirmation plays).

Synchronous, for the thread pool, like :mod:`cti_server.storage.customers`. A caller who asks
twice (or hangs up and calls again) while a request for the same number and queue is still
pending gets the same request back, counted in ``request_count``: one ``INSERT ... ON CONFLICT``
against the partial unique index on pending rows, so two concurrent requests on PostgreSQL
merge in the database rather than in a check-then-insert race. The dialer comes later; it
will move requests through ``dialing`` to ``done``, ``failed`` or ``cancelled``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from cti_server.storage.customers import Instant, utc
from cti_server.storage.db import Database
from cti_server.storage.tables import CallbackRow, CallbackStatus
from ivr_flows.auth import normalize_number

PENDING_ONLY = text("status = 'pending'")


@dataclass(frozen=True, slots=True, kw_only=True)
class Callback:
    id: str
    created_at: datetime
    number: str
    queue: str
    due_at: datetime
    status: CallbackStatus
    call_id: str | None = None
    customer_id: str | None = None
    attempts: int = 0
    last_attempt_at: datetime | None = None
    request_count: int = 1
    note: str | None = None


def callback_from_row(row: CallbackRow) -> Callback:
    return Callback(
        id=row.id,
        created_at=row.created_at,
        number=row.number,
        queue=row.queue,
        due_at=row.due_at,
        status=CallbackStatus(row.status),
        call_id=row.call_id,
        customer_id=row.customer_id,
        attempts=row.attempts,
        last_attempt_at=row.last_attempt_at,
        request_count=row.request_count,
        note=row.note,
    )


class CallbackRepo:
    def __init__(
        self, database: Database, *, new_id: Callable[[], str] = lambda: uuid.uuid4().hex
    ) -> None:
        self.database = database
        self._new_id = new_id

    def request(
        self,
        number: str,
        queue: str,
        *,
        call_id: str | None,
        customer_id: str | None,
        due_at: Instant,
        now: Instant,
        note: str | None = None,
    ) -> tuple[str, bool]:
        """Store a request, or merge it into the pending one for the same number and queue.

        Returns ``(callback_id, merged)``. A merge keeps the earlier due time and fills in a
        customer the first request did not know.
        """
        normalized = normalize_number(number)
        if not normalized:
            raise ValueError(f"callback number {number!r} has no digits")
        if not queue:
            raise ValueError("callback queue is empty")
        new_id = self._new_id()
        values: dict[str, Any] = {
            "id": new_id,
            "created_at": utc(now),
            "call_id": call_id,
            "customer_id": customer_id,
            "number": normalized,
            "queue": queue,
            "due_at": utc(due_at),
            "status": CallbackStatus.PENDING.value,
            "attempts": 0,
            "request_count": 1,
            "note": note,
        }
        insert = pg_insert if self.database.backend == "postgresql" else sqlite_insert
        proposed = insert(CallbackRow).values(**values)
        table = CallbackRow.__table__
        earlier_due = case(
            (proposed.excluded.due_at < table.c.due_at, proposed.excluded.due_at),
            else_=table.c.due_at,
        )
        stmt = proposed.on_conflict_do_update(
            index_elements=[table.c.number, table.c.queue],
            index_where=PENDING_ONLY,
            set_={
                "request_count": table.c.request_count + 1,
                "due_at": earlier_due,
                "customer_id": func.coalesce(table.c.customer_id, proposed.excluded.customer_id),
            },
        ).returning(table.c.id)
        with Session(self.database.sync_engine) as session, session.begin():
            stored = session.execute(stmt).scalar_one()
        return str(stored), stored != new_id

    def get(self, callback_id: str) -> Callback | None:
        with Session(self.database.sync_engine) as session:
            row = session.get(CallbackRow, callback_id)
            return None if row is None else callback_from_row(row)

    def pending(self, limit: int = 100, *, due_before: Instant | None = None) -> list[Callback]:
        """Pending requests, soonest due first (what the dialer will take next)."""
        stmt = select(CallbackRow).where(CallbackRow.status == CallbackStatus.PENDING.value)
        if due_before is not None:
            stmt = stmt.where(CallbackRow.due_at <= utc(due_before))
        stmt = stmt.order_by(CallbackRow.due_at, CallbackRow.created_at, CallbackRow.id)
        with Session(self.database.sync_engine) as session:
            return [callback_from_row(r) for r in session.scalars(stmt.limit(limit))]
