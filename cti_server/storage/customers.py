"""The customer directory: IVR lookups, PIN checks with lock-out and audit, contact history.

Synchronous on purpose: a PIN check is ~40-60 ms of scrypt, so the host runs every method in
Twisted's thread pool (``deferToThread``) and the reactor never waits for the hash or the
database. Each method opens its own session on the sync engine (a pool shared by threads).
Database errors propagate as SQLAlchemy exceptions; the host maps them to the outcome "error".

A PIN check reads the customer, hashes outside any transaction, then re-reads the row under a
write lock (the ``last_auth_at`` update: a row lock on PostgreSQL, the write lock on SQLite)
before it audits and counts, so parallel guesses cannot slip past a lock set meanwhile. An
unknown customer still costs one hash, so the delay does not tell whether a number exists.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cti_server.config import Config
from cti_server.storage.customer_records import (
    Customer,
    CustomerError,
    DuplicateCustomer,
    Instant,
    customer_from_row,
    national_id_columns,
    national_id_key,
    utc,
)
from cti_server.storage.db import Database
from cti_server.storage.tables import AuthAttemptRow, ContactRow, CustomerRow
from ivr_flows import auth
from ivr_flows.protocol import AuthOutcome, CustomerView
from ivr_flows.settings import LockoutSettings, PinHashSettings

LookupBy = Literal["customer_number", "national_id", "caller_number"]


class CustomerDirectory:
    """Customers for the IVR and the agent desktop; every method is one short transaction."""

    def __init__(
        self,
        database: Database,
        *,
        national_id_key: bytes,
        pin_settings: PinHashSettings | None = None,
        lockout: LockoutSettings | None = None,
        token_bytes: Callable[[int], bytes] = secrets.token_bytes,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.database = database
        self._key = national_id_key
        self.pin_settings = pin_settings or PinHashSettings()
        self.lockout = lockout or LockoutSettings()
        self._token_bytes = token_bytes
        self._new_id = new_id
        # What an unknown customer's check costs: the same scrypt at the same parameters.
        self._dummy_hash = auth.hash_pin("0000", self.pin_settings, bytes(auth.SALT_BYTES))

    @classmethod
    def from_config(cls, config: Config, database: Database) -> CustomerDirectory:
        return cls(
            database,
            national_id_key=national_id_key(config),
            pin_settings=config.ivr.pin_hash,
            lockout=config.ivr.lockout,
        )

    # --- secrets ---------------------------------------------------------------------------

    def hash_pin(self, pin: str) -> str:
        return auth.hash_pin(pin, self.pin_settings, self._token_bytes(auth.SALT_BYTES))

    # --- reading ---------------------------------------------------------------------------

    def _session(self) -> Session:
        return Session(self.database.sync_engine, expire_on_commit=False)

    def _matches(
        self, session: Session, by: LookupBy, value: str, caller: str | None = None
    ) -> list[CustomerRow]:
        """At most two rows (enough to see ambiguity), or the one whose phone is ``caller``
        when ``value`` alone matches several."""
        stmt = select(CustomerRow)
        if by == "customer_number":
            stmt = stmt.where(CustomerRow.customer_number == value.strip())
        elif by == "caller_number":
            number = auth.normalize_number(value)
            if not number:
                return []
            stmt = stmt.where(CustomerRow.phone == number)
        elif by == "national_id":
            number = auth.digits(value)
            column = {6: CustomerRow.birth_date_hash, 13: CustomerRow.national_id_hash}.get(
                len(number)
            )
            if column is None:
                return []
            stmt = stmt.where(column == auth.national_id_digest(number, self._key))
        else:
            raise ValueError(f"unknown lookup {by!r}")
        rows = list(session.scalars(stmt.limit(2)))
        phone = auth.normalize_number(caller) if caller else ""
        if len(rows) > 1 and phone and by != "caller_number":
            rows = list(session.scalars(stmt.where(CustomerRow.phone == phone).limit(2)))
        return rows

    def find(self, by: LookupBy, value: str, *, caller: str | None = None) -> Customer | None:
        """The one customer ``value`` identifies; None when none or several match. A birth
        date or a family's shared phone can be ambiguous: the caller's number settles it when
        it is one of theirs, else the flow asks for the customer number."""
        with self._session() as session:
            rows = self._matches(session, by, value, caller)
            return customer_from_row(rows[0]) if len(rows) == 1 else None

    def lookup(self, by: LookupBy, value: str, *, caller: str | None = None) -> CustomerView | None:
        customer = self.find(by, value, caller=caller)
        return None if customer is None else customer.view()

    def get(self, customer_id: str) -> Customer | None:
        with self._session() as session:
            row = session.get(CustomerRow, customer_id)
            return None if row is None else customer_from_row(row)

    # --- PIN check -------------------------------------------------------------------------

    def verify_pin(
        self,
        by: LookupBy,
        value: str,
        pin: str,
        *,
        call_id: str | None,
        caller: str | None,
        now: Instant,
    ) -> tuple[AuthOutcome, CustomerView | None]:
        """One IVR login attempt, audited. ``locked`` is also the answer to the wrong PIN that
        sets the lock (the caller hears it at once rather than on the next try)."""
        at = utc(now)
        masked = auth.mask_number(auth.normalize_number(caller)) if caller else None

        def attempt(customer_id: str | None, outcome: AuthOutcome) -> AuthAttemptRow:
            return AuthAttemptRow(
                at=at,
                call_id=call_id,
                customer_id=customer_id,
                method=by,
                outcome=outcome,
                caller_masked=masked,
            )

        with self._session() as session:
            rows = self._matches(session, by, value, caller)
        if len(rows) != 1:
            auth.verify_pin(pin, self._dummy_hash)
            self._audit(attempt(None, "unknown"))
            return "unknown", None
        row = rows[0]
        if row.locked_until is not None and at < row.locked_until:
            self._audit(attempt(row.id, "locked"))
            return "locked", None
        good = auth.verify_pin(pin, row.pin_hash or self._dummy_hash) and row.pin_hash is not None
        rehash = good and auth.needs_rehash(row.pin_hash or "", self.pin_settings)
        new_hash = self.hash_pin(pin) if rehash else None

        with self._session() as session, session.begin():
            # The first write takes the lock: attempts on one customer queue up here.
            session.execute(
                update(CustomerRow).where(CustomerRow.id == row.id).values(last_auth_at=at)
            )
            current = session.get(CustomerRow, row.id, populate_existing=True)
            if current is None:  # deleted meanwhile
                session.add(attempt(None, "unknown"))
                return "unknown", None
            if current.locked_until is not None and at < current.locked_until:
                session.add(attempt(current.id, "locked"))
                return "locked", None
            if good:
                session.add(attempt(current.id, "ok"))
                current.failures_reset_at = at
                current.locked_until = None
                if new_hash is not None:
                    current.pin_hash = new_hash
                return "ok", customer_from_row(current).view()
            session.add(attempt(current.id, "bad_pin"))
            session.flush()
            decision = auth.lock_decision(
                self._failures(session, current, at),
                self.lockout,
                at.timestamp(),
                None if current.locked_until is None else current.locked_until.timestamp(),
            )
            if decision.newly_locked and decision.locked_until is not None:
                current.locked_until = utc(decision.locked_until)
                current.failures_reset_at = at
                return "locked", None
            return "bad_pin", None

    def _failures(self, session: Session, row: CustomerRow, at: datetime) -> int:
        since = utc(at.timestamp() - self.lockout.window_seconds)
        if row.failures_reset_at is not None and row.failures_reset_at > since:
            since = row.failures_reset_at
        stmt = select(func.count()).where(
            AuthAttemptRow.customer_id == row.id,
            AuthAttemptRow.outcome == "bad_pin",
            AuthAttemptRow.at >= since,
            AuthAttemptRow.at <= at,
        )
        return int(session.scalar(stmt) or 0)

    def _audit(self, attempt: AuthAttemptRow) -> None:
        with self._session() as session, session.begin():
            session.add(attempt)

    def unlock(self, customer_id: str, by: str, *, now: Instant | None = None) -> bool:
        """An agent lifts a lock (and forgives earlier failures); audited with the agent's id.
        False when there is no such customer."""
        at = utc(now if now is not None else datetime.now(UTC))
        with self._session() as session, session.begin():
            row = session.get(CustomerRow, customer_id, with_for_update=True)
            if row is None:
                return False
            row.locked_until = None
            row.failures_reset_at = at
            row.updated_at = at
            session.add(
                AuthAttemptRow(
                    at=at,
                    customer_id=row.id,
                    method="agent_unlock",
                    outcome="unlocked",
                    agent_id=by,
                )
            )
        return True

    # --- writing ---------------------------------------------------------------------------

    def new_customer_row(
        self,
        *,
        customer_number: str,
        name: str,
        now: datetime,
        phone: str | None = None,
        email: str | None = None,
        vip: bool = False,
        segment: str = "",
        language: str | None = None,
        assigned_agent: str | None = None,
        pin_hash: str | None = None,
        national_id: str | None = None,
        customer_id: str | None = None,
    ) -> CustomerRow:
        """A validated row with secrets hashed (the import uses it with pre-hashed PINs)."""
        if not customer_number.strip():
            raise CustomerError("customer_number: missing")
        if not name.strip():
            raise CustomerError("name: missing")
        phone_digits = auth.normalize_number(phone) if phone else None
        if phone and (not phone_digits or len(phone_digits) < 7):
            raise CustomerError(f"phone: {phone!r} is not a phone number")
        ids = national_id_columns(national_id, self._key) if national_id else {}
        return CustomerRow(
            id=customer_id or self._new_id(),
            customer_number=customer_number.strip(),
            name=name.strip(),
            phone=phone_digits,
            email=email or None,
            vip=vip,
            segment=segment,
            language=language or None,
            assigned_agent=assigned_agent or None,
            pin_hash=pin_hash,
            created_at=now,
            updated_at=now,
            **ids,
        )

    def add_customer(
        self,
        *,
        customer_number: str,
        name: str,
        phone: str | None = None,
        email: str | None = None,
        vip: bool = False,
        segment: str = "",
        language: str | None = None,
        assigned_agent: str | None = None,
        pin: str | None = None,
        national_id: str | None = None,
        now: Instant | None = None,
        customer_id: str | None = None,
    ) -> str:
        """Add a customer and return its id; raises :class:`CustomerError` or
        :class:`DuplicateCustomer`."""
        if pin is not None and not auth.valid_pin(pin):
            raise CustomerError("pin: 4 to 8 digits")
        row = self.new_customer_row(
            customer_number=customer_number,
            name=name,
            now=utc(now if now is not None else datetime.now(UTC)),
            phone=phone,
            email=email,
            vip=vip,
            segment=segment,
            language=language,
            assigned_agent=assigned_agent,
            pin_hash=self.hash_pin(pin) if pin is not None else None,
            national_id=national_id,
            customer_id=customer_id,
        )
        try:
            with self._session() as session, session.begin():
                session.add(row)
        except IntegrityError as exc:
            raise DuplicateCustomer(
                f"customer {customer_number!r}: the number or national ID exists already"
            ) from exc
        return row.id

    def set_pin(self, customer_id: str, pin: str, *, now: Instant | None = None) -> bool:
        """Set a new PIN (and forgive earlier failures); False when there is no such customer."""
        if not auth.valid_pin(pin):
            raise CustomerError("pin: 4 to 8 digits")
        at = utc(now if now is not None else datetime.now(UTC))
        new_hash = self.hash_pin(pin)
        with self._session() as session, session.begin():
            result = session.execute(
                update(CustomerRow)
                .where(CustomerRow.id == customer_id)
                .values(pin_hash=new_hash, failures_reset_at=at, updated_at=at)
            )
            return bool(getattr(result, "rowcount", 0))

    def add_contact(
        self,
        customer_id: str,
        *,
        at: Instant,
        channel: str = "call",
        call_id: str | None = None,
        agent_id: str | None = None,
        queue: str | None = None,
        category: str = "",
        summary: str = "",
        notes: str | None = None,
        disposition: str | None = None,
    ) -> int:
        """Record a contact (what the agent wrote at wrap-up); returns its id."""
        row = ContactRow(
            customer_id=customer_id,
            at=utc(at),
            channel=channel,
            call_id=call_id,
            agent_id=agent_id,
            queue=queue,
            category=category,
            summary=summary,
            notes=notes,
            disposition=disposition,
        )
        with self._session() as session, session.begin():
            session.add(row)
            session.flush()
            return row.id


__all__ = [
    "Customer",
    "CustomerDirectory",
    "CustomerError",
    "DuplicateCustomer",
    "Instant",
    "LookupBy",
    "customer_from_row",
    "national_id_key",
    "utc",
]
