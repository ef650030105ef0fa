"""Customer records as the rest of the server sees them, and the national-ID key.

``Customer`` never carries the PIN hash or the national-ID digests: the directory reads rows and
hands these out, so a template or a log line cannot print a secret it was never given.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cti_server.config import Config
from cti_server.storage.tables import CustomerRow
from ivr_flows import auth
from ivr_flows.protocol import CustomerView

Instant = float | datetime  # epoch seconds (``reactor.seconds()``) or an aware datetime
KEY_FILE = Path("secrets") / "national_id.key"
KEY_BYTES = 32


class CustomerError(ValueError):
    """A customer's data is invalid (the message says which field and why)."""


class DuplicateCustomer(CustomerError):
    """The customer number or national ID belongs to another customer already."""


def utc(at: Instant) -> datetime:
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ValueError(f"naive datetime {at!r}: pass a timezone-aware one")
        return at.astimezone(UTC)
    return datetime.fromtimestamp(at, UTC)


def national_id_columns(national_id: str, key: bytes) -> dict[str, str | None]:
    """The stored columns for a national ID given in full (13 digits) or as the 6-digit
    birth date: keyed digests of both forms, and the masked form."""
    number = auth.digits(national_id)
    stray = set(national_id.strip()) - set("0123456789- ")
    if len(number) not in (6, 13) or stray:
        raise CustomerError("national_id: 13 digits (YYMMDD-NNNNNNN) or 6 digits (YYMMDD)")
    return {
        "national_id_hash": auth.national_id_digest(number, key) if len(number) == 13 else None,
        "birth_date_hash": auth.national_id_digest(number[:6], key),
        "national_id_masked": auth.mask_national_id(number),
    }


def national_id_key(config: Config) -> bytes:
    """``ivr.national_id_key`` from the config, else ``<data_dir>/secrets/national_id.key``.

    The file is made on first use (32 random bytes, mode 0600). Losing it makes every stored
    national-ID digest useless for lookups, so it belongs in the backup with the database.
    """
    if config.ivr.national_id_key:
        return config.ivr.national_id_key.encode()
    path = Path(config.data_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return path.read_bytes()
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(KEY_BYTES))
    return path.read_bytes()


@dataclass(frozen=True, slots=True, kw_only=True)
class Customer:
    """A customer as agents and tools see it: the national ID masked, the PIN only a flag."""

    id: str
    customer_number: str
    name: str
    phone: str | None
    email: str | None
    vip: bool
    segment: str
    language: str | None
    assigned_agent: str | None
    national_id_masked: str | None
    has_pin: bool
    locked_until: datetime | None
    created_at: datetime
    updated_at: datetime

    def view(self) -> CustomerView:
        return CustomerView(
            customer_id=self.id,
            customer_number=self.customer_number,
            name=self.name,
            vip=self.vip,
            language=self.language,
            assigned_agent=self.assigned_agent,
            segment=self.segment,
        )


def customer_from_row(row: CustomerRow) -> Customer:
    return Customer(
        id=row.id,
        customer_number=row.customer_number,
        name=row.name,
        phone=row.phone,
        email=row.email,
        vip=row.vip,
        segment=row.segment,
        language=row.language,
        assigned_agent=row.assigned_agent,
        national_id_masked=row.national_id_masked,
        has_pin=row.pin_hash is not None,
        locked_until=row.locked_until,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
