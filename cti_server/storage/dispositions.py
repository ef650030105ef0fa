"""Call dispositions: what the agent chose at wrap-up, their notes and the script answers.

Synchronous, for the thread pool (``deferToThread``), like the customer directory. Saving a
disposition also files the contact in the customer's history (what the next screen pop
shows) in the same transaction, so the two never disagree. The same agent saving again for
the same call corrects both rows in place: agents fix typos after the fact, and a second
row would count the contact twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cti_server.storage.customer_records import Instant, utc
from cti_server.storage.db import Database
from cti_server.storage.tables import ContactChannel, ContactRow, CustomerRow
from cti_server.storage.tables_dispositions import DispositionRow

MAX_NOTES = 10_000
_CHANNELS = frozenset(c.value for c in ContactChannel)


class DispositionError(ValueError):
    """The disposition cannot be stored as given (the message says which field and why)."""


class UnknownCustomer(DispositionError):
    """``customer_id`` names no customer."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Disposition:
    id: int
    call_id: str
    agent_id: str
    customer_id: str | None
    disposition: str
    notes: str | None
    script: str | None
    answers: Any  # {step_id: answer} or [[step_id, answer], ...], as saved
    contact_id: int | None  # the contact-history row filed with it
    created_at: datetime
    updated_at: datetime


def _from_row(row: DispositionRow) -> Disposition:
    return Disposition(
        id=row.id,
        call_id=row.call_id,
        agent_id=row.agent_id,
        customer_id=row.customer_id,
        disposition=row.disposition,
        notes=row.notes,
        script=row.script,
        answers=row.answers,
        contact_id=row.contact_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _answers_json(answers: Any) -> Any:
    if answers is None:
        return {}
    if isinstance(answers, Mapping):
        return {str(k): v for k, v in answers.items()}
    if isinstance(answers, list | tuple):
        return [list(pair) for pair in answers]
    raise DispositionError(f"answers: a mapping or a list of pairs, not {type(answers).__name__}")


class DispositionRepo:
    """Dispositions of calls; every method is one short transaction."""

    def __init__(
        self,
        database: Database,
        on_contact: Callable[[Session, ContactRow, datetime], None] | None = None,
    ) -> None:
        self.database = database
        self.on_contact = on_contact  # the CRM outbox, queued in the same transaction

    def _session(self) -> Session:
        return Session(self.database.sync_engine, expire_on_commit=False)

    def save(
        self,
        call_id: str,
        agent_id: str,
        customer_id: str | None,
        disposition: str,
        notes: str | None,
        script: str | None,
        answers: Any,
        now: Instant,
        *,
        queue: str | None = None,
        channel: str = ContactChannel.CALL,
        category: str = "",
        summary: str = "",
    ) -> Disposition:
        """Store (or correct) ``agent_id``'s disposition of ``call_id`` and, when the customer
        is known, the matching contact-history entry; both or neither."""
        if not call_id or not agent_id:
            raise DispositionError("call_id and agent_id are required")
        if not disposition or len(disposition) > 64:
            raise DispositionError("disposition: 1 to 64 characters")
        if notes is not None and len(notes) > MAX_NOTES:
            raise DispositionError(f"notes: at most {MAX_NOTES} characters")
        if channel not in _CHANNELS:
            raise DispositionError(f"channel: one of {', '.join(sorted(_CHANNELS))}")
        fields = {
            "customer_id": customer_id,
            "disposition": disposition,
            "notes": notes,
            "script": script,
            "answers": _answers_json(answers),
        }
        contact = {
            "channel": str(channel),
            "queue": queue,
            "category": category,
            "summary": summary,
            "notes": notes,
            "disposition": disposition,
        }
        try:
            return self._save(call_id, agent_id, fields, contact, utc(now))
        except IntegrityError:
            # The same agent's other save of this call inserted first: ours is the correction.
            return self._save(call_id, agent_id, fields, contact, utc(now))

    def _save(
        self,
        call_id: str,
        agent_id: str,
        fields: dict[str, Any],
        contact_fields: dict[str, Any],
        at: datetime,
    ) -> Disposition:
        customer_id = fields["customer_id"]
        with self._session() as session, session.begin():
            if customer_id is not None and session.get(CustomerRow, customer_id) is None:
                raise UnknownCustomer(f"customer_id: no customer {customer_id!r}")
            row = session.scalars(
                select(DispositionRow)
                .where(DispositionRow.call_id == call_id, DispositionRow.agent_id == agent_id)
                .with_for_update()
            ).one_or_none()
            contact = None
            if row is not None and row.contact_id is not None:
                contact = session.get(ContactRow, row.contact_id)
                if contact is not None and contact.customer_id != customer_id:
                    session.delete(contact)  # filed under the wrong customer before
                    contact = None
            if customer_id is not None:
                if contact is None:
                    contact = ContactRow(
                        customer_id=customer_id, at=at, call_id=call_id, agent_id=agent_id
                    )
                    session.add(contact)
                for name, value in contact_fields.items():
                    setattr(contact, name, value)
                session.flush()
                if self.on_contact is not None:
                    self.on_contact(session, contact, at)
            if row is None:
                row = DispositionRow(call_id=call_id, agent_id=agent_id, created_at=at)
                session.add(row)
            for name, value in fields.items():
                setattr(row, name, value)
            row.contact_id = contact.id if contact is not None else None
            row.updated_at = at
            session.flush()
            return _from_row(row)

    def for_call(self, call_id: str) -> list[Disposition]:
        """Every agent's disposition of a call (more than one after a transfer), oldest first."""
        with self._session() as session:
            rows = session.scalars(
                select(DispositionRow)
                .where(DispositionRow.call_id == call_id)
                .order_by(DispositionRow.created_at, DispositionRow.id)
            )
            return [_from_row(r) for r in rows]

    def for_customer(self, customer_id: str, *, limit: int | None = None) -> list[Disposition]:
        """A customer's dispositions, newest first."""
        with self._session() as session:
            query = (
                select(DispositionRow)
                .where(DispositionRow.customer_id == customer_id)
                .order_by(DispositionRow.created_at.desc(), DispositionRow.id.desc())
            )
            if limit is not None:
                query = query.limit(limit)
            return [_from_row(r) for r in session.scalars(query)]


__all__ = [
    "Disposition",
    "DispositionError",
    "DispositionRepo",
    "UnknownCustomer",
]
