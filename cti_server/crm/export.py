"""The CRM feed's shapes, and exports of a period as CSV or JSON lines.

One place decides what a contact-history entry looks like outside (``contact_payload``: the
webhook's ``data`` and the export's line) and how a call record is flattened for a
spreadsheet (``call_record_row``). A call record's webhook ``data`` is the record exactly as
stored in ``call_records.record`` (times in epoch seconds, as ``metrics.call_record``).

Exports read SQL synchronously (the CLI, or the API's thread pool) in pages, so a month of
calls is never all in memory in the CLI. Call records belong to the period they started in,
contacts to their ``at``; periods are ``[start, end)``. CSV times are in the given zone
(the server's, Asia/Seoul by default); JSON lines carry the same columns, and for a call
record also the complete stored ``record``. Korean text passes through as UTF-8.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import IO, Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from cti_server.storage.db import Database
from cti_server.storage.tables import CallRecordRow, ContactRow, CustomerRow

Kind = Literal["call_record", "contact"]
Format = Literal["csv", "jsonl"]
KINDS: tuple[Kind, ...] = ("call_record", "contact")
FORMATS: tuple[Format, ...] = ("csv", "jsonl")
PAGE = 1000
UTC_ZONE = ZoneInfo("UTC")

CALL_COLUMNS = (
    "call_id", "started_at", "answered_at", "ended_at", "caller", "called", "trunk", "queue",
    "agent_id", "customer_id", "outcome", "cause", "wait_seconds", "ring_seconds",
    "talk_seconds", "hold_seconds", "holds", "wrap_up_seconds", "transfers", "disposition",
    "callback_id",
)  # fmt: skip
CONTACT_COLUMNS = (
    "id", "at", "customer_id", "customer_number", "channel", "call_id", "agent_id", "queue",
    "category", "summary", "notes", "disposition",
)  # fmt: skip
_TIMES = ("started_at", "answered_at", "ended_at")
_SECONDS = ("wait_seconds", "ring_seconds", "talk_seconds", "hold_seconds", "wrap_up_seconds")


def _local(epoch: Any, tz: ZoneInfo) -> str | None:
    if not isinstance(epoch, int | float) or isinstance(epoch, bool):
        return None
    return datetime.fromtimestamp(epoch, tz).isoformat(timespec="seconds")


def call_record_row(record: Mapping[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """A stored record (``CallRecord.to_dict``) as one flat row, times in ``tz``."""
    row: dict[str, Any] = {name: record.get(name) for name in CALL_COLUMNS}
    for name in _TIMES:
        row[name] = _local(record.get(name), tz)
    for name in _SECONDS:
        value = record.get(name)
        row[name] = round(value, 3) if isinstance(value, int | float) else None
    row["transfers"] = len(record.get("transfers") or ())
    return row


def contact_payload(
    row: ContactRow, customer_number: str | None, tz: ZoneInfo = UTC_ZONE
) -> dict[str, Any]:
    """A contact-history entry as the CRM sees it (webhook ``data``: ``at`` in UTC)."""
    return {
        "id": row.id,
        "at": row.at.astimezone(tz).isoformat(timespec="seconds"),
        "customer_id": row.customer_id,
        "customer_number": customer_number,
        "channel": row.channel,
        "call_id": row.call_id,
        "agent_id": row.agent_id,
        "queue": row.queue,
        "category": row.category,
        "summary": row.summary,
        "notes": row.notes,
        "disposition": row.disposition,
    }


# --- reading a period ---------------------------------------------------------------------------


def _calls(start: datetime, end: datetime) -> Select[CallRecordRow]:
    return select(CallRecordRow).where(
        CallRecordRow.started_at >= start, CallRecordRow.started_at < end
    )


def _contacts(start: datetime, end: datetime) -> Select[ContactRow, str]:
    return (
        select(ContactRow, CustomerRow.customer_number)
        .join(CustomerRow, CustomerRow.id == ContactRow.customer_id, isouter=True)
        .where(ContactRow.at >= start, ContactRow.at < end)
    )


def count(database: Database, kind: Kind, start: datetime, end: datetime) -> int:
    """How many rows an export of the period would have."""
    query: Select[Any] | Select[ContactRow, str]
    query = _calls(start, end) if kind == "call_record" else _contacts(start, end)
    with Session(database.sync_engine) as session:
        return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def call_records(database: Database, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    """Stored records that started in ``[start, end)``, oldest first, a page at a time
    (keyset paging on (started_at, call_id): no OFFSET scans)."""
    after: tuple[datetime, str] | None = None
    while True:
        stmt = _calls(start, end)
        if after is not None:
            stmt = stmt.where(
                (CallRecordRow.started_at > after[0])
                | ((CallRecordRow.started_at == after[0]) & (CallRecordRow.call_id > after[1]))
            )
        stmt = stmt.order_by(CallRecordRow.started_at, CallRecordRow.call_id).limit(PAGE)
        with Session(database.sync_engine) as session:
            rows = list(session.scalars(stmt))
        for row in rows:
            yield dict(row.record or {}) | {"call_id": row.call_id}
        if len(rows) < PAGE:
            return
        after = (rows[-1].started_at, rows[-1].call_id)


def contacts(
    database: Database, start: datetime, end: datetime, tz: ZoneInfo
) -> Iterator[dict[str, Any]]:
    """Contacts whose ``at`` is in ``[start, end)``, in the order they were filed (by id),
    ``at`` in ``tz``."""
    after = 0
    while True:
        stmt = _contacts(start, end).where(ContactRow.id > after).order_by(ContactRow.id)
        with Session(database.sync_engine) as session:
            rows = session.execute(stmt.limit(PAGE)).all()
        for contact, number in rows:
            yield contact_payload(contact, number, tz)
        if len(rows) < PAGE:
            return
        after = rows[-1][0].id


# --- writing ------------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    return "" if value is None else value


def write_export(
    stream: IO[str],
    kind: Kind,
    fmt: Format,
    rows: Iterator[dict[str, Any]],
    tz: ZoneInfo,
) -> int:
    """Write ``rows`` (from :func:`call_records` or :func:`contacts`); return how many."""
    columns = CALL_COLUMNS if kind == "call_record" else CONTACT_COLUMNS

    def shape(item: dict[str, Any]) -> dict[str, Any]:
        return call_record_row(item, tz) if kind == "call_record" else dict(item)

    written = 0
    if fmt == "csv":
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(columns)
        for item in rows:
            flat = shape(item)
            writer.writerow([_cell(flat[c]) for c in columns])
            written += 1
        return written
    for item in rows:
        line = shape(item)
        if kind == "call_record":
            line["record"] = item
        stream.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
        written += 1
    return written


def export(
    database: Database,
    kind: Kind,
    fmt: Format,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    stream: IO[str],
) -> int:
    """Write a period's call records or contacts to ``stream``; return the row count."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("export bounds must be timezone-aware")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    rows = (
        call_records(database, start, end)
        if kind == "call_record"
        else (contacts(database, start, end, tz))
    )
    return write_export(stream, kind, fmt, rows, tz)


__all__ = [
    "CALL_COLUMNS",
    "CONTACT_COLUMNS",
    "FORMATS",
    "KINDS",
    "call_record_row",
    "call_records",
    "contact_payload",
    "contacts",
    "count",
    "export",
    "write_export",
]
