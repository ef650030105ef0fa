"""Loads what :mod:`metrics.agent_performance` computes over: the call records that started
in a period, the agent state log around it, and QA scores when the evaluations store exists.
SQL only loads (DESIGN.md §2 rule 5); the figures are computed by the caller.

Synchronous, for the thread pool and the CLI, like :mod:`cti_server.storage.callback_figures`.

QA scores come from :mod:`cti_server.storage.evaluations` (``EvaluationRepo.for_agent``) when
that module is installed: each evaluation made in the period counts at its ``created_at``, so
a period's QA average is what supervisors scored in it. Without the module ``qa_scores`` is
None and the QA columns stay empty rather than showing a misleading zero.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cti_server.report_cli import from_stored
from cti_server.storage.db import Database
from cti_server.storage.repos import CallRecord as StoredCall
from cti_server.storage.tables import AgentStateLogRow, CallRecordRow
from metrics.agent_performance import QaScore
from metrics.call_record import CallRecord
from metrics.event_rows import AgentStateRow

STATE_LOOKBACK = timedelta(days=1)  # the state an agent was in when the period began
QaLoader = Callable[[Database, datetime, datetime], Iterable[tuple[Any, Any, Any]]]


@dataclass(frozen=True, slots=True)
class AgentFiguresData:
    """One period's rows, ready for :func:`metrics.agent_performance.performance_report`."""

    records: list[CallRecord]
    states: list[AgentStateRow]
    qa_scores: list[QaScore] | None


def load_agent_figures(
    database: Database, start: datetime, end: datetime, *, qa: QaLoader | None = None
) -> AgentFiguresData:
    """Calls that started in ``[start, end)`` (aware datetimes), the state log from a day
    before ``start``, and QA scores (``qa`` overrides the evaluations module's loader)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("the period needs aware datetimes")
    lo, hi = start.astimezone(UTC), end.astimezone(UTC)
    with Session(database.sync_engine) as session:
        records = load_records(session, lo, hi)
        states = load_states(session, lo - STATE_LOOKBACK, hi)
    loader = qa if qa is not None else evaluations_loader()
    scores = None if loader is None else _scores(loader(database, start, end))
    return AgentFiguresData(records=records, states=states, qa_scores=scores)


def load_records(session: Session, lo: datetime, hi: datetime) -> list[CallRecord]:
    table = CallRecordRow.__table__
    stmt = (
        select(*table.columns)
        .where(table.c.started_at >= lo, table.c.started_at < hi)
        .order_by(table.c.started_at, table.c.call_id)
    )  # columns, not ORM objects: a month of a busy centre is tens of thousands of rows
    return [from_stored(StoredCall(**row._mapping)) for row in session.execute(stmt)]


def load_states(session: Session, lo: datetime, hi: datetime) -> list[AgentStateRow]:
    log = AgentStateLogRow
    stmt = (
        select(log.at, log.agent_id, log.state, log.previous, log.reason, log.call_id, log.by)
        .where(log.at >= lo, log.at < hi)
        .order_by(log.at, log.id)
    )
    return [
        AgentStateRow(
            at=r.at.timestamp(),
            agent_id=r.agent_id,
            state=r.state,
            previous=r.previous or "",
            reason=r.reason or "",
            call_id=r.call_id,
            by=r.by or "",
        )
        for r in session.execute(stmt)
    ]


def evaluations_loader() -> QaLoader | None:
    """The evaluations store's scores, by the time each evaluation was made; None when the
    store is not installed."""
    try:
        module = importlib.import_module("cti_server.storage.evaluations")
    except ImportError:
        return None
    repo = getattr(module, "EvaluationRepo", None)
    if repo is None:
        return None

    def scores(database: Database, start: datetime, end: datetime) -> list[tuple[Any, Any, Any]]:
        found = repo(database).for_agent(None, start, end)
        return [(e.agent_id, e.created_at, e.score) for e in found]

    return scores


def _scores(rows: Iterable[tuple[Any, Any, Any]]) -> list[QaScore]:
    out = []
    for agent_id, at, score in rows:
        if agent_id is None or score is None:
            continue
        seconds = at.timestamp() if isinstance(at, datetime) else float(at)
        out.append((str(agent_id), seconds, float(score)))
    return out
