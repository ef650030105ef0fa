"""The dialer host's one door to SQL: callbacks and campaign leads as ``WorkItem``s.

Synchronous (the host runs these in a thread pool); times are POSIX seconds as the dialer
core uses them. Two kinds share one shape: ``"callback"`` rows of ``callbacks`` (id: the
request's id) and ``"lead"`` rows of ``leads`` (id: the lead's integer id as a string).

Every change is one guarded ``UPDATE ... WHERE id = ? AND status IN (expected)``, committed
before the method returns, and each returns whether it applied. A stale or raced action
(a ``Complete`` for an item a supervisor cancelled, the second of two threads marking the
same item) changes nothing and returns False. The host's rule for False: the store no longer
holds the item the way the dialer thinks, so it does not dial (after ``mark_dialing``) and it
tells the dialer ``ItemCancelled``. ``reschedule`` and ``give_up`` also require the stored
``attempts`` to be no more than the action's, so a late action of an earlier attempt cannot
undo a later one.

Statuses: ``mark_dialing`` pending → dialing; ``reschedule`` pending|dialing → pending;
``complete`` dialing → done; ``give_up`` pending|dialing → failed; ``cancel``
pending|dialing → cancelled.

A callback rescheduled while the same customer asked again for the same queue (a second
pending request exists: the partial unique index allows one) is folded into that request:
its ``request_count`` grows, this one becomes ``cancelled`` (outcome ``merged:<id>``), and
``reschedule`` returns False.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Integer, Text, and_, column, null, select, table, update
from sqlalchemy.exc import IntegrityError

from acd.dialer_protocol import ItemKind, WorkItem
from cti_server.storage.campaigns import Campaign, CampaignRepo, DncRepo
from cti_server.storage.customer_records import Instant, utc
from cti_server.storage.db import Database
from cti_server.storage.tables import CustomerRow, UtcDateTime
from cti_server.storage.tables_campaigns import CampaignRow, CampaignStatus, LeadRow

PENDING, DIALING, DONE, FAILED, CANCELLED = "pending", "dialing", "done", "failed", "cancelled"
NOTE_LIMIT = 500

# The callback columns this store reads and writes, ``outcome`` and ``disposition`` (0006)
# included; ``tables.CallbackRow`` declares the same table for the ORM.
CALLBACKS = table(
    "callbacks",
    column("id", Text),
    column("created_at", UtcDateTime),
    column("customer_id", Text),
    column("number", Text),
    column("queue", Text),
    column("due_at", UtcDateTime),
    column("status", Text),
    column("attempts", Integer),
    column("last_attempt_at", UtcDateTime),
    column("request_count", Integer),
    column("note", Text),
    column("outcome", Text),
    column("disposition", Text),
)
LEADS = LeadRow.__table__
CAMPAIGNS = CampaignRow.__table__
# Customers have no time zone column yet; when one is added, callbacks pick it up here.
CUSTOMER_ZONE: Any = getattr(CustomerRow, "time_zone", None)


def _seconds(at: datetime) -> float:
    return at.timestamp()


def lead_note(name: str, extra: dict[str, Any]) -> str:
    """What the agent reads before an agent-first dial: the name, then the CSV's extras."""
    parts = [name] if name else []
    parts += [f"{key}: {value}" for key, value in extra.items() if value not in ("", None)]
    return " / ".join(parts)[:NOTE_LIMIT]


class DialerStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.campaign_repo = CampaignRepo(database)
        self.dnc = DncRepo(database)

    # --- reading work -----------------------------------------------------------------------

    def due_items(self, now: float, horizon: float = 0.0, limit: int = 500) -> list[WorkItem]:
        """Pending callbacks, and pending leads of running campaigns, due before
        ``now + horizon``, soonest first: at most ``limit`` callbacks and at most ``limit``
        leads per campaign, so one long list never hides the others."""
        before = utc(now + horizon)
        with self.database.sync_engine.connect() as conn:
            items = self._callbacks(conn, CALLBACKS.c.status == PENDING, before, limit)
            running = conn.execute(
                select(CAMPAIGNS.c.name, CAMPAIGNS.c.queue)
                .where(CAMPAIGNS.c.status == CampaignStatus.RUNNING.value)
                .order_by(CAMPAIGNS.c.name)
            ).all()
            for name, queue in running:
                where = and_(LEADS.c.campaign == name, LEADS.c.status == PENDING)
                items += self._leads(conn, where, before, limit, {name: queue})
        return items

    def recover_dialing(self) -> list[WorkItem]:
        """Items left in ``dialing``: the process died mid-attempt (feed as ``Recovered``)."""
        with self.database.sync_engine.connect() as conn:
            queues = dict(conn.execute(select(CAMPAIGNS.c.name, CAMPAIGNS.c.queue)).all())
            items = self._callbacks(conn, CALLBACKS.c.status == DIALING, None, None)
            items += self._leads(conn, LEADS.c.status == DIALING, None, None, queues)
        return items

    def campaigns(self) -> list[Campaign]:
        """Every campaign with its status: the host compares and sends ``CampaignCommand``."""
        return self.campaign_repo.list()

    def dnc_numbers(self) -> list[str]:
        return self.dnc.numbers()

    def _callbacks(
        self, conn: Connection, where: Any, before: datetime | None, limit: int | None
    ) -> list[WorkItem]:
        c = CALLBACKS.c
        columns = [c.id, c.number, c.queue, c.due_at, c.attempts, c.customer_id, c.note]
        if CUSTOMER_ZONE is None:
            stmt = select(*columns, null().label("time_zone"))
        else:
            stmt = select(*columns, CUSTOMER_ZONE.label("time_zone")).outerjoin(
                CustomerRow, CustomerRow.id == c.customer_id
            )
        stmt = stmt.where(where)
        if before is not None:
            stmt = stmt.where(c.due_at <= before)
        stmt = stmt.order_by(c.due_at, c.created_at, c.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        return [
            WorkItem(
                id=row.id,
                kind="callback",
                number=row.number,
                due_at=_seconds(row.due_at),
                queue=row.queue,
                attempts=row.attempts,
                time_zone=row.time_zone,
                customer_id=row.customer_id,
                note=row.note or "",
            )
            for row in conn.execute(stmt)
        ]

    def _leads(
        self,
        conn: Connection,
        where: Any,
        before: datetime | None,
        limit: int | None,
        queues: dict[str, str],
    ) -> list[WorkItem]:
        c = LEADS.c
        stmt = select(LEADS).where(where)
        if before is not None:
            stmt = stmt.where(c.due_at <= before)
        stmt = stmt.order_by(c.due_at, c.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        return [
            WorkItem(
                id=str(row.id),
                kind="lead",
                number=row.number,
                due_at=_seconds(row.due_at),
                queue=queues.get(row.campaign, ""),
                campaign=row.campaign,
                attempts=row.attempts,
                time_zone=row.time_zone,
                customer_id=row.customer_id,
                note=lead_note(row.name, dict(row.extra or {})),
            )
            for row in conn.execute(stmt)
        ]

    # --- the dialer's actions ---------------------------------------------------------------

    def mark_dialing(self, item_id: str, kind: ItemKind, attempts: int, now: Instant) -> bool:
        """pending → dialing with ``attempts`` (this one included); committed on return."""
        values = {"status": DIALING, "attempts": attempts, "last_attempt_at": utc(now)}
        return self._change(item_id, kind, (PENDING,), values)

    def reschedule(
        self, item_id: str, kind: ItemKind, due_at: Instant, attempts: int, reason: str
    ) -> bool:
        """pending|dialing → pending, due at ``due_at``. ``reason`` is kept as the outcome,
        except ``calling_hours`` (a wait, not the result of an attempt)."""
        values: dict[str, Any] = {"status": PENDING, "due_at": utc(due_at), "attempts": attempts}
        if reason != "calling_hours":
            values["outcome"] = reason
        try:
            return self._change(item_id, kind, (PENDING, DIALING), values, attempts)
        except IntegrityError:
            if kind != "callback":
                raise
        return self._merge_callback(item_id, attempts)

    def complete(self, item_id: str, kind: ItemKind, outcome: str = "answered") -> bool:
        """dialing → done: the customer is talking to an agent."""
        return self._change(item_id, kind, (DIALING,), {"status": DONE, "outcome": outcome})

    def give_up(self, item_id: str, kind: ItemKind, reason: str, attempts: int) -> bool:
        """pending|dialing → failed, ``reason`` (max_attempts, dnc, invalid_number) kept."""
        values = {"status": FAILED, "outcome": reason, "attempts": attempts}
        return self._change(item_id, kind, (PENDING, DIALING), values, attempts)

    def cancel(self, item_id: str, kind: ItemKind) -> bool:
        """pending|dialing → cancelled (a supervisor removed it, the customer called in)."""
        return self._change(item_id, kind, (PENDING, DIALING), {"status": CANCELLED})

    def set_disposition(self, item_id: str, kind: ItemKind, disposition: str) -> bool:
        """The agent's wrap-up code for the call (``CallEnded.disposition``), any status."""
        values = {"disposition": disposition}
        return self._change(item_id, kind, (PENDING, DIALING, DONE, FAILED, CANCELLED), values)

    # --- guarded updates --------------------------------------------------------------------

    def _change(
        self,
        item_id: str,
        kind: ItemKind,
        expected: Sequence[str],
        values: dict[str, Any],
        max_attempts: int | None = None,
    ) -> bool:
        target, key = _target(item_id, kind)
        if key is None:
            return False
        guard = and_(target.c.id == key, target.c.status.in_(expected))
        if max_attempts is not None:
            guard = and_(guard, target.c.attempts <= max_attempts)
        with self.database.sync_engine.begin() as conn:
            result = conn.execute(update(target).where(guard).values(**values))
        return bool(result.rowcount == 1)

    def _merge_callback(self, item_id: str, attempts: int) -> bool:
        """Fold a callback being rescheduled into the newer pending request for the same
        number and queue (see the module docstring); always False."""
        c = CALLBACKS.c
        live = and_(c.id == item_id, c.status.in_((PENDING, DIALING)), c.attempts <= attempts)
        with self.database.sync_engine.begin() as conn:
            mine = conn.execute(
                select(c.number, c.queue, c.request_count, c.customer_id).where(live)
            ).first()
            if mine is None:
                return False
            other = conn.execute(
                select(c.id).where(
                    c.number == mine.number,
                    c.queue == mine.queue,
                    c.status == PENDING,
                    c.id != item_id,
                )
            ).scalar()
            if other is None:
                return False
            conn.execute(
                update(CALLBACKS)
                .where(c.id == other)
                .values(request_count=c.request_count + mine.request_count)
            )
            if mine.customer_id is not None:
                conn.execute(
                    update(CALLBACKS)
                    .where(c.id == other, c.customer_id.is_(None))
                    .values(customer_id=mine.customer_id)
                )
            conn.execute(
                update(CALLBACKS).where(live).values(status=CANCELLED, outcome=f"merged:{other}")
            )
        return False


def _target(item_id: str, kind: ItemKind) -> tuple[Any, Any]:
    """The table and typed key of an item id (a lead id that is no integer matches nothing)."""
    if kind == "callback":
        return CALLBACKS, item_id
    if kind == "lead":
        try:
            return LEADS, int(item_id)
        except ValueError:
            return LEADS, None
    raise ValueError(f"unknown dialer item kind {kind!r}: 'callback' or 'lead'")
