"""Campaigns and the do-not-call list in SQL: what ``cti-server campaigns`` and the dialer host use.

Synchronous, for the thread pool and the CLI, like :mod:`cti_server.storage.callbacks`.

A campaign's status is a small state machine (theory of operation): it is created ``draft``
with its leads, ``start`` makes it ``running`` (the dialer host pages its due leads in),
``pause`` holds it, ``resume`` goes on, ``stop`` ends dialing but keeps the leads pending (it
can be started again), and ``finished`` is set once nothing is left to dial; it is final.
An illegal change raises :class:`IllegalCampaignStatus` naming both states. The change is
an ``UPDATE ... WHERE status = <the status read>``, so two operators racing never both win.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from acd.dialer_settings import CampaignSettings
from cti_server.storage.customer_records import Instant, utc
from cti_server.storage.db import Database
from cti_server.storage.tables_campaigns import (
    CampaignRow,
    CampaignStatus,
    DncRow,
    LeadRow,
    LeadStatus,
)
from ivr_flows.auth import normalize_number

S = CampaignStatus
TRANSITIONS: Final[dict[CampaignStatus, frozenset[CampaignStatus]]] = {
    S.DRAFT: frozenset({S.RUNNING, S.STOPPED}),
    S.RUNNING: frozenset({S.PAUSED, S.STOPPED, S.FINISHED}),
    S.PAUSED: frozenset({S.RUNNING, S.STOPPED, S.FINISHED}),
    S.STOPPED: frozenset({S.RUNNING, S.FINISHED}),
    S.FINISHED: frozenset(),
}
# What an operator types, and from where it is allowed (stricter than TRANSITIONS: resume
# only continues a pause, start never un-pauses).
COMMANDS: Final[dict[str, tuple[frozenset[CampaignStatus], CampaignStatus]]] = {
    "start": (frozenset({S.DRAFT, S.STOPPED}), S.RUNNING),
    "pause": (frozenset({S.RUNNING}), S.PAUSED),
    "resume": (frozenset({S.PAUSED}), S.RUNNING),
    "stop": (frozenset({S.DRAFT, S.RUNNING, S.PAUSED}), S.STOPPED),
}
del S
FINISHED_LEADS: Final = (LeadStatus.DONE, LeadStatus.FAILED, LeadStatus.CANCELLED)


class CampaignNotFound(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no campaign {name!r}")
        self.name = name


class CampaignExists(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"campaign {name!r} exists already")
        self.name = name


class IllegalCampaignStatus(ValueError):
    def __init__(self, name: str, current: str, target: str, command: str | None = None) -> None:
        what = f"{command!r} (to {target!r})" if command else f"a change to {target!r}"
        super().__init__(f"campaign {name}: {what} is not allowed when it is {current!r}")
        self.name = name
        self.current = current
        self.target = target


@dataclass(frozen=True, slots=True, kw_only=True)
class Campaign:
    name: str
    queue: str
    status: CampaignStatus
    customer_first: bool
    pacing: float
    caller_id: str
    max_attempts: int | None
    created_at: datetime
    updated_at: datetime

    def settings(self, template: CampaignSettings | None = None) -> CampaignSettings:
        """The dialer's view: the YAML entry of the same name (calling hours, retries) with
        what the database holds on top; without one, the dialer's defaults."""
        base: dict[str, Any] = {} if template is None else template.model_dump()
        base.update(name=self.name, queue=self.queue, customer_first=self.customer_first)
        base["pacing"] = {**base.get("pacing", {}), "ratio": self.pacing}
        if self.caller_id:
            base["caller_id"] = self.caller_id
        if self.max_attempts is not None:
            base["max_attempts"] = self.max_attempts
        return CampaignSettings.model_validate(base)


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignStats:
    """``completion``: the share of leads that need no more dialing (done, failed or
    cancelled), in percent; ``answered``: leads whose last attempt was answered."""

    campaign: str
    total: int
    by_status: dict[str, int] = field(default_factory=dict)
    attempts: int = 0
    answered: int = 0

    @property
    def completion(self) -> float:
        finished = sum(self.by_status.get(s.value, 0) for s in FINISHED_LEADS)
        return 100.0 * finished / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Lead:
    id: int
    campaign: str
    number: str
    name: str
    status: LeadStatus
    attempts: int
    due_at: datetime
    customer_id: str | None = None
    time_zone: str | None = None
    last_attempt_at: datetime | None = None
    disposition: str | None = None
    outcome: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def campaign_from_row(row: CampaignRow) -> Campaign:
    return Campaign(
        name=row.name,
        queue=row.queue,
        status=CampaignStatus(row.status),
        customer_first=row.customer_first,
        pacing=row.pacing,
        caller_id=row.caller_id,
        max_attempts=row.max_attempts,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def lead_from_row(row: LeadRow) -> Lead:
    return Lead(
        id=row.id,
        campaign=row.campaign,
        number=row.number,
        name=row.name,
        status=LeadStatus(row.status),
        attempts=row.attempts,
        due_at=row.due_at,
        customer_id=row.customer_id,
        time_zone=row.time_zone,
        last_attempt_at=row.last_attempt_at,
        disposition=row.disposition,
        outcome=row.outcome,
        extra=dict(row.extra or {}),
    )


class CampaignRepo:
    def __init__(self, database: Database) -> None:
        self.database = database

    def create(
        self,
        name: str,
        queue: str,
        *,
        now: Instant,
        customer_first: bool = False,
        pacing: float = 1.0,
        caller_id: str = "",
        max_attempts: int | None = None,
    ) -> Campaign:
        """A new ``draft`` campaign; the name and values are checked as the dialer's YAML."""
        at = utc(now)
        settings = CampaignSettings(name=name, queue=queue, customer_first=customer_first)
        if not 1.0 <= pacing <= 3.0:
            raise ValueError(f"pacing {pacing}: the dial ratio is 1.0 to 3.0 lines per agent")
        if max_attempts is not None and not 1 <= max_attempts <= 20:
            raise ValueError(f"max_attempts {max_attempts}: 1 to 20")
        row = CampaignRow(
            name=settings.name,
            queue=settings.queue,
            status=CampaignStatus.DRAFT.value,
            customer_first=customer_first,
            pacing=pacing,
            caller_id=caller_id,
            max_attempts=max_attempts,
            created_at=at,
            updated_at=at,
        )
        try:
            with Session(self.database.sync_engine, expire_on_commit=False) as s, s.begin():
                s.add(row)
        except IntegrityError as exc:
            raise CampaignExists(name) from exc
        return campaign_from_row(row)

    def get(self, name: str) -> Campaign | None:
        with Session(self.database.sync_engine) as session:
            row = session.get(CampaignRow, name)
            return None if row is None else campaign_from_row(row)

    def list(self, status: CampaignStatus | None = None) -> list[Campaign]:
        stmt = select(CampaignRow).order_by(CampaignRow.created_at, CampaignRow.name)
        if status is not None:
            stmt = stmt.where(CampaignRow.status == status.value)
        with Session(self.database.sync_engine) as session:
            return [campaign_from_row(r) for r in session.scalars(stmt)]

    def set_status(
        self, name: str, status: CampaignStatus | str, *, now: Instant, command: str | None = None
    ) -> Campaign:
        """Move ``name`` to ``status`` (a no-op when it is there already)."""
        target = CampaignStatus(status)
        with Session(self.database.sync_engine) as session, session.begin():
            row = session.get(CampaignRow, name)
            if row is None:
                raise CampaignNotFound(name)
            current = CampaignStatus(row.status)
            if current is target:
                return campaign_from_row(row)
            allowed = TRANSITIONS[current]
            if command is not None:
                sources, _ = COMMANDS[command]
                allowed = allowed if current in sources else frozenset()
            if target not in allowed:
                raise IllegalCampaignStatus(name, current.value, target.value, command)
            changed = session.execute(
                update(CampaignRow)
                .where(CampaignRow.name == name, CampaignRow.status == current.value)
                .values(status=target.value, updated_at=utc(now))
                .execution_options(synchronize_session=False)
            )
            if changed.rowcount != 1:  # type: ignore[attr-defined]
                raise IllegalCampaignStatus(name, "changed meanwhile", target.value, command)
            session.refresh(row)
            return campaign_from_row(row)

    def command(self, name: str, command: str, *, now: Instant) -> Campaign:
        """``start``, ``pause``, ``resume`` or ``stop``, as the CLI and the API say it."""
        if command not in COMMANDS:
            raise ValueError(f"unknown campaign command {command!r}: {', '.join(COMMANDS)}")
        return self.set_status(name, COMMANDS[command][1], now=now, command=command)

    def stats(self, name: str | None = None) -> dict[str, CampaignStats]:
        """Per campaign (all, or ``name``): leads by status, attempts made, leads answered."""
        answered = func.sum(case((LeadRow.outcome == "answered", 1), else_=0))
        stmt = select(
            LeadRow.campaign,
            LeadRow.status,
            func.count(),
            func.coalesce(func.sum(LeadRow.attempts), 0),
            answered,
        ).group_by(LeadRow.campaign, LeadRow.status)
        names = select(CampaignRow.name)
        if name is not None:
            stmt = stmt.where(LeadRow.campaign == name)
            names = names.where(CampaignRow.name == name)
        counts: dict[str, dict[str, int]] = {}
        totals: dict[str, list[int]] = {}
        with Session(self.database.sync_engine) as session:
            known = list(session.scalars(names))
            for campaign, status, count, attempts, yes in session.execute(stmt):
                counts.setdefault(campaign, {})[status] = int(count)
                sums = totals.setdefault(campaign, [0, 0])
                sums[0] += int(attempts)
                sums[1] += int(yes or 0)
        out = {}
        for campaign in known:
            by_status = {s.value: 0 for s in LeadStatus} | counts.get(campaign, {})
            attempts, yes = totals.get(campaign, [0, 0])
            out[campaign] = CampaignStats(
                campaign=campaign,
                total=sum(by_status.values()),
                by_status=by_status,
                attempts=attempts,
                answered=yes,
            )
        return out

    def pending_leads(
        self, campaign: str, limit: int = 500, due_before: Instant | None = None
    ) -> builtins.list[Lead]:
        """Pending leads of ``campaign``, soonest due first (what the dialer pages in)."""
        stmt = select(LeadRow).where(
            LeadRow.campaign == campaign, LeadRow.status == LeadStatus.PENDING.value
        )
        if due_before is not None:
            stmt = stmt.where(LeadRow.due_at <= utc(due_before))
        stmt = stmt.order_by(LeadRow.due_at, LeadRow.id).limit(limit)
        with Session(self.database.sync_engine) as session:
            return [lead_from_row(r) for r in session.scalars(stmt)]

    def leads(self, campaign: str, *, page_size: int = 1000) -> Iterator[Lead]:
        """Every lead of ``campaign`` in id order, read a page at a time (for export)."""
        after = 0
        while True:
            stmt = (
                select(LeadRow)
                .where(LeadRow.campaign == campaign, LeadRow.id > after)
                .order_by(LeadRow.id)
                .limit(page_size)
            )
            with Session(self.database.sync_engine) as session:
                page = [lead_from_row(r) for r in session.scalars(stmt)]
            yield from page
            if len(page) < page_size:
                return
            after = page[-1].id


@dataclass(frozen=True, slots=True, kw_only=True)
class DncEntry:
    number: str
    added_at: datetime
    source: str
    reason: str | None


def dnc_number(value: str) -> str:
    number = normalize_number(value)
    if not number:
        raise ValueError(f"{value!r} has no digits")
    return number


class DncRepo:
    """The do-not-call list. Numbers in any form; stored and compared normalised."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def add(
        self,
        numbers: Iterable[str],
        *,
        now: Instant | None = None,
        source: str = "",
        reason: str | None = None,
    ) -> list[str]:
        """Add numbers; returns those that were not on the list before (normalised)."""
        wanted = list(dict.fromkeys(dnc_number(n) for n in numbers))
        at = utc(now if now is not None else datetime.now(UTC))
        with Session(self.database.sync_engine) as session, session.begin():
            present = set(session.scalars(select(DncRow.number).where(DncRow.number.in_(wanted))))
            fresh = [n for n in wanted if n not in present]
            session.add_all(
                DncRow(number=n, added_at=at, source=source, reason=reason) for n in fresh
            )
        return fresh

    def remove(self, numbers: Iterable[str]) -> list[str]:
        """Remove numbers; returns those that were on the list (normalised)."""
        wanted = list(dict.fromkeys(dnc_number(n) for n in numbers))
        with Session(self.database.sync_engine) as session, session.begin():
            present = set(session.scalars(select(DncRow.number).where(DncRow.number.in_(wanted))))
            session.execute(delete(DncRow).where(DncRow.number.in_(present)))
        return [n for n in wanted if n in present]

    def contains(self, number: str) -> bool:
        with Session(self.database.sync_engine) as session:
            return session.get(DncRow, normalize_number(number)) is not None

    def listed(self, numbers: Iterable[str]) -> set[str]:
        """Which of ``numbers`` (normalised already) are on the list: one query per batch."""
        wanted = list(set(numbers))
        if not wanted:
            return set()
        with Session(self.database.sync_engine) as session:
            return set(session.scalars(select(DncRow.number).where(DncRow.number.in_(wanted))))

    def numbers(self) -> list[str]:
        """Every number, for the dialer's ``DncUpdated`` at start-up."""
        with Session(self.database.sync_engine) as session:
            return list(session.scalars(select(DncRow.number).order_by(DncRow.number)))

    def entries(self) -> list[DncEntry]:
        with Session(self.database.sync_engine) as session:
            rows = session.scalars(select(DncRow).order_by(DncRow.added_at, DncRow.number))
            return [
                DncEntry(number=r.number, added_at=r.added_at, source=r.source, reason=r.reason)
                for r in rows
            ]
