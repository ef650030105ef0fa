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
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
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
