"""The screen pop: what the agent's desktop shows about a caller as the call arrives.

Profile (national ID masked only), VIP and segment, the assigned agent, the latest inquiries
with what was done about them, and the predictable things (usual payment method, frequently
ordered products), plus how the caller authenticated in the IVR, so the agent can skip asking.

:func:`assemble_screen_pop` is pure (records in, :class:`ScreenPop` out); :func:`build_screen_pop`
is the thin synchronous loader the host runs in the thread pool when a call is offered.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cti_server.storage.customers import Customer, CustomerDirectory, customer_from_row
from cti_server.storage.db import Database
from cti_server.storage.tables import (
    ContactRow,
    CustomerRow,
    FrequentProductRow,
    PaymentMethodRow,
)

DEFAULT_LIMIT = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class PastInquiry:
    at: datetime
    channel: str
    category: str
    summary: str
    notes: str | None = None
    disposition: str | None = None
    agent_id: str | None = None
    queue: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentMethod:
    kind: str  # card, bank or transfer
    label: str  # e.g. "신한카드 ****1234": never a full number
    usual: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class FrequentProduct:
    code: str
    name: str
    times_ordered: int
    last_ordered_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ScreenPop:
    customer_id: str
    customer_number: str
    name: str
    phone: str | None
    email: str | None
    vip: bool
    segment: str
    language: str | None
    assigned_agent: str | None
    national_id_masked: str | None
    auth_method: str
    auth_outcome: str
    inquiries: tuple[PastInquiry, ...] = ()
    usual_payment: PaymentMethod | None = None
    frequent_products: tuple[FrequentProduct, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: datetimes as ISO 8601 UTC strings."""
        result: dict[str, Any] = _jsonable(asdict(self))
        return result

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def assemble_screen_pop(
    customer: Customer,
    inquiries: Sequence[PastInquiry],
    payments: Sequence[PaymentMethod],
    products: Sequence[FrequentProduct],
    *,
    auth_method: str,
    auth_outcome: str,
    limit: int = DEFAULT_LIMIT,
) -> ScreenPop:
    """Newest ``limit`` inquiries; the payment method marked usual (else none: guessing one
    would have the agent suggest the wrong card); the ``limit`` most ordered products."""
    latest = sorted(inquiries, key=lambda i: i.at, reverse=True)[:limit]
    usual = next((p for p in payments if p.usual), None)
    top = sorted(
        products,
        key=lambda p: (p.times_ordered, p.last_ordered_at.timestamp() if p.last_ordered_at else 0),
        reverse=True,
    )[:limit]
    return ScreenPop(
        customer_id=customer.id,
        customer_number=customer.customer_number,
        name=customer.name,
        phone=customer.phone,
        email=customer.email,
        vip=customer.vip,
        segment=customer.segment,
        language=customer.language,
        assigned_agent=customer.assigned_agent,
        national_id_masked=customer.national_id_masked,
        auth_method=auth_method,
        auth_outcome=auth_outcome,
        inquiries=tuple(latest),
        usual_payment=usual,
        frequent_products=tuple(top),
    )


def build_screen_pop(
    directory_or_database: CustomerDirectory | Database,
    customer_id: str,
    *,
    auth_method: str,
    auth_outcome: str,
    limit: int = DEFAULT_LIMIT,
) -> ScreenPop | None:
    """Load and assemble one customer's screen pop (blocking: run it in the thread pool);
    None when the customer does not exist."""
    database = (
        directory_or_database.database
        if isinstance(directory_or_database, CustomerDirectory)
        else directory_or_database
    )
    with Session(database.sync_engine) as session:
        row = session.get(CustomerRow, customer_id)
        if row is None:
            return None
        contacts = session.scalars(
            select(ContactRow)
            .where(ContactRow.customer_id == customer_id)
            .order_by(ContactRow.at.desc(), ContactRow.id.desc())
            .limit(limit)
        )
        inquiries = [
            PastInquiry(
                at=c.at,
                channel=c.channel,
                category=c.category,
                summary=c.summary,
                notes=c.notes,
                disposition=c.disposition,
                agent_id=c.agent_id,
                queue=c.queue,
            )
            for c in contacts
        ]
        payments = [
            PaymentMethod(kind=p.kind, label=p.label, usual=p.usual)
            for p in session.scalars(
                select(PaymentMethodRow)
                .where(PaymentMethodRow.customer_id == customer_id)
                .order_by(PaymentMethodRow.usual.desc(), PaymentMethodRow.id)
            )
        ]
        products = [
            FrequentProduct(
                code=p.product_code,
                name=p.name,
                times_ordered=p.times_ordered,
                last_ordered_at=p.last_ordered_at,
            )
            for p in session.scalars(
                select(FrequentProductRow)
                .where(FrequentProductRow.customer_id == customer_id)
                .order_by(
                    FrequentProductRow.times_ordered.desc(),
                    FrequentProductRow.last_ordered_at.desc().nulls_last(),
                )
                .limit(limit)
            )
        ]
        customer = customer_from_row(row)
    return assemble_screen_pop(
        customer,
        inquiries,
        payments,
        products,
        auth_method=auth_method,
        auth_outcome=auth_outcome,
        limit=limit,
    )
