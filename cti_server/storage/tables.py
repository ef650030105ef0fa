"""The SQL schema as SQLAlchemy 2 declarative tables.

Migrations (``migrations/versions``) are the source of the deployed schema; these classes are
what the code reads and writes, and a test checks the two agree. Constraint names follow one
convention so later migrations (and Alembic's batch mode on SQLite) can name what they alter.

Times are stored as timezone-aware UTC on both databases: PostgreSQL has ``timestamptz``,
SQLite keeps text, so :class:`UtcDateTime` refuses naive datetimes on the way in and hands
back aware UTC ones on the way out; the two databases then behave alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Native JSON on PostgreSQL (queryable, indexable later); text holding JSON on SQLite.
JsonDocument = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store timezone-aware datetimes")
        utc = value.astimezone(UTC)
        # SQLite's DATETIME is text without an offset: keep one meaning, UTC.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class RecordingStatus(StrEnum):
    RECORDING = "recording"
    COMPLETE = "complete"
    FAILED = "failed"
    REPAIRED = "repaired"
    DELETED = "deleted"


RECORDING_STATUSES = tuple(s.value for s in RecordingStatus)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class RecordingRow(Base):
    """The recording index: one row per recorded call leg set, written at start and close."""

    __tablename__ = "recordings"
    __table_args__ = (
        CheckConstraint(
            "status IN ('recording', 'complete', 'failed', 'repaired', 'deleted')",
            name="status",
        ),
        Index("ix_recordings_agent_id_started_at", "agent_id", "started_at"),
        Index("ix_recordings_queue_started_at", "queue", "started_at"),
        CheckConstraint("kind IN ('call', 'voice_message')", name="kind"),
        Index("ix_recordings_kind_agent_id", "kind", "agent_id"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    call_id: Mapped[str] = mapped_column(Text, index=True)
    agent_id: Mapped[str | None] = mapped_column(Text)
    queue: Mapped[str | None] = mapped_column(Text)
    customer_id: Mapped[str | None] = mapped_column(Text, index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    duration_s: Mapped[float] = mapped_column(Float)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    segments: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument)
    kind: Mapped[str] = mapped_column(String(16), server_default="call")
    handled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    handled_by: Mapped[str | None] = mapped_column(Text)


class CallRecordRow(Base):
    """A finished call as the call-record fold left it; ``record`` holds the full fold."""

    __tablename__ = "call_records"
    __table_args__ = (Index("ix_call_records_agent_id_started_at", "agent_id", "started_at"),)

    call_id: Mapped[str] = mapped_column(Text, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime)
    caller: Mapped[str] = mapped_column(Text)
    called: Mapped[str] = mapped_column(Text)
    trunk: Mapped[str | None] = mapped_column(Text)
    agent_id: Mapped[str | None] = mapped_column(Text)
    cause: Mapped[str] = mapped_column(Text)
    status: Mapped[int] = mapped_column(Integer)
    record: Mapped[dict[str, Any]] = mapped_column(JsonDocument)


class SipAccountRow(Base):
    """An agent's SIP credentials: digest HA1s for ``realm`` only, never the password.

    ``digest_algorithms`` NULL means the server's ``sip.digest_algorithms``.
    """

    __tablename__ = "sip_accounts"
    __table_args__ = (
        CheckConstraint("ha1_md5 IS NOT NULL OR ha1_sha256 IS NOT NULL", name="has_ha1"),
    )

    user: Mapped[str] = mapped_column(Text, primary_key=True)
    realm: Mapped[str] = mapped_column(Text)
    ha1_md5: Mapped[str | None] = mapped_column(String(32))
    ha1_sha256: Mapped[str | None] = mapped_column(String(64))
    display_name: Mapped[str | None] = mapped_column(Text)
    digest_algorithms: Mapped[list[str] | None] = mapped_column(JsonDocument)
    enabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


# --- customers (revision 0003) -------------------------------------------------------------------


class AuthOutcomeValue(StrEnum):
    """``auth_attempts.outcome``: the IVR's answers, plus an agent's unlock."""

    OK = "ok"
    BAD_PIN = "bad_pin"
    UNKNOWN = "unknown"
    LOCKED = "locked"
    ERROR = "error"
    UNLOCKED = "unlocked"


class ContactChannel(StrEnum):
    CALL = "call"
    CALLBACK = "callback"
    CAMPAIGN = "campaign"


class PaymentKind(StrEnum):
    CARD = "card"
    BANK = "bank"
    TRANSFER = "transfer"


class CallbackStatus(StrEnum):
    PENDING = "pending"
    DIALING = "dialing"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class CustomerRow(Base):
    """A customer. Secrets only as hashes: ``pin_hash`` is scrypt (``ivr_flows.auth``),
    ``national_id_hash``/``birth_date_hash`` are keyed HMACs of the full number and of its
    6-digit date-of-birth prefix (what the IVR asks for; shared by many customers, so not
    unique). ``phone`` is normalised digits (``ivr_flows.auth.normalize_number``).

    ``failures_reset_at``: wrong PINs before it do not count towards a lock (set by a lock, an
    unlock and a good login); ``locked_until`` in the future means locked.
    """

    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    customer_number: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text, index=True)
    email: Mapped[str | None] = mapped_column(Text)
    vip: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    segment: Mapped[str] = mapped_column(Text, server_default="")
    language: Mapped[str | None] = mapped_column(String(8))
    assigned_agent: Mapped[str | None] = mapped_column(Text)
    pin_hash: Mapped[str | None] = mapped_column(Text)
    national_id_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    birth_date_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    national_id_masked: Mapped[str | None] = mapped_column(Text)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    failures_reset_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_auth_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AuthAttemptRow(Base):
    """The audit log of IVR logins (and agents' unlocks): never the digits typed, and the
    caller's number masked to its last 4 digits. Lock-out counts read it."""

    __tablename__ = "auth_attempts"
    __table_args__ = (
        CheckConstraint(
            "outcome IN ('ok', 'bad_pin', 'unknown', 'locked', 'error', 'unlocked')",
            name="outcome",
        ),
        Index("ix_auth_attempts_customer_id_at", "customer_id", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    call_id: Mapped[str | None] = mapped_column(Text)
    customer_id: Mapped[str | None] = mapped_column(
        Text, ForeignKey("customers.id", ondelete="SET NULL")
    )
    method: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    caller_masked: Mapped[str | None] = mapped_column(Text)
    agent_id: Mapped[str | None] = mapped_column(Text)


class ContactRow(Base):
    """One contact with a customer (what the screen pop lists as past inquiries)."""

    __tablename__ = "contact_history"
    __table_args__ = (
        CheckConstraint("channel IN ('call', 'callback', 'campaign')", name="channel"),
        Index("ix_contact_history_customer_id_at", "customer_id", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(Text, ForeignKey("customers.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    channel: Mapped[str] = mapped_column(String(16))
    call_id: Mapped[str | None] = mapped_column(Text, index=True)
    agent_id: Mapped[str | None] = mapped_column(Text)
    queue: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text, server_default="")
    summary: Mapped[str] = mapped_column(Text, server_default="")
    notes: Mapped[str | None] = mapped_column(Text)
    disposition: Mapped[str | None] = mapped_column(Text)


class PaymentMethodRow(Base):
    """A payment method as agents may see it: a label such as "신한카드 ****1234", no number."""

    __tablename__ = "payment_methods"
    __table_args__ = (CheckConstraint("kind IN ('card', 'bank', 'transfer')", name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(
        Text, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(Text)
    usual: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class FrequentProductRow(Base):
    __tablename__ = "frequent_products"

    customer_id: Mapped[str] = mapped_column(
        Text, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    product_code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    times_ordered: Mapped[int] = mapped_column(Integer, server_default="0")
    last_ordered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class CallbackRow(Base):
    """A callback request. At most one *pending* request per (number, queue): the partial
    unique index makes a repeated request merge into the first (``request_count`` grows)."""

    __tablename__ = "callbacks"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'dialing', 'done', 'failed', 'cancelled')", name="status"
        ),
        Index(
            "ux_callbacks_pending_number_queue",
            "number",
            "queue",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_callbacks_status_due_at", "status", "due_at"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    call_id: Mapped[str | None] = mapped_column(Text)
    customer_id: Mapped[str | None] = mapped_column(
        Text, ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    number: Mapped[str] = mapped_column(Text)
    queue: Mapped[str] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    request_count: Mapped[int] = mapped_column(Integer, server_default="1")
    note: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(Text)
    disposition: Mapped[str | None] = mapped_column(Text)


# --- queue events and the agent state log (revision 0004) ---------------------------------------

# 64-bit ids on PostgreSQL (an event log outgrows 2**31); SQLite's rowid alias must be INTEGER.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class QueueEventRow(Base):
    """A queue event (joined, offered, answered, abandoned...) as the record journal carried it.

    ``entry_key`` names the journal entry (``<kind>:<journal id>:<seq>``): unique, so replaying
    the journal inserts nothing twice. ``detail`` holds whatever else the event said.
    """

    __tablename__ = "queue_events"
    __table_args__ = (Index("ix_queue_events_queue_at", "queue", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entry_key: Mapped[str] = mapped_column(Text, unique=True)
    call_id: Mapped[str | None] = mapped_column(Text, index=True)
    queue: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    agent_id: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int | None] = mapped_column(Integer)
    wait_seconds: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[dict[str, Any]] = mapped_column(JsonDocument)


class AgentStateLogRow(Base):
    """One agent state change (``previous`` → ``state``), for occupancy and audit reports."""

    __tablename__ = "agent_state_log"
    __table_args__ = (Index("ix_agent_state_log_agent_id_at", "agent_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entry_key: Mapped[str] = mapped_column(Text, unique=True)
    agent_id: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(32))
    previous: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    by: Mapped[str | None] = mapped_column(Text)  # who changed it: the agent, a supervisor, RONA
    call_id: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


# Tables kept in modules of their own, registered on ``Base.metadata`` here so that whoever
# imports the schema (migrations, the schema comparison test) sees all of it.
from cti_server.storage import (  # noqa: E402, F401
    tables_campaigns,
    tables_dispositions,
    tables_outbox,
    tables_qa,
    tables_review,
    tables_users,
)
