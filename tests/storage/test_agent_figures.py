"""Loading a period for agent performance, on SQLite and PostgreSQL: the unit tests' calls and
state log stored, read back equal, the period's bounds and the state-log look-back, and the
figures computed from the loaded rows equal those computed from the originals; QA scores from
an injected loader and from the evaluations store; the demo history written twice replaces
itself."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from cti_server.report_cli import to_stored
from cti_server.storage.agent_figures import evaluations_loader, load_agent_figures
from cti_server.storage.db import Database
from cti_server.storage.demo_history import DemoPlan, default_plan, generate, write_history
from cti_server.storage.tables import AgentStateLogRow, CallbackRow, CallRecordRow
from metrics.agent_comparison import split_compare
from metrics.agent_performance import performance_report
from metrics.cdr import CallRecord
from metrics.event_rows import AgentStateRow
from tests.unit.metrics.test_agent_performance import CALLS, KST, MON, STATES, WED, at


def store(
    database: Database, records: Sequence[CallRecord], states: Sequence[AgentStateRow]
) -> None:
    """Rows as the record writer leaves them (the fold's JSON in ``record``)."""
    calls = [vars_of(to_stored(r)) for r in records]
    log = [{"entry_key": f"t-{i}", "agent_id": s["agent_id"], "state": s["state"],
            "previous": s["previous"] or None, "reason": s["reason"] or None, "by": s["by"] or None,
            "call_id": s["call_id"], "at": datetime.fromtimestamp(s["at"], UTC)}
           for i, s in enumerate(states)]  # fmt: skip
    with database.sync_engine.begin() as conn:
        for table, rows in ((CallRecordRow, calls), (AgentStateLogRow, log)):
            if rows:
                conn.execute(insert(table), rows)


def vars_of(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__dataclass_fields__}


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    db = Database(db_url)
    yield db
    db.dispose_sync()


def test_the_period_loads_back_equal(database: Database) -> None:
    store(database, CALLS, STATES)
    data = load_agent_figures(database, MON, WED, qa=lambda db, start, end: [])
    inside = sorted((r for r in CALLS if MON.timestamp() <= r.started_at < WED.timestamp()),
                    key=lambda r: r.started_at)  # fmt: skip
    assert data.records == inside  # "late" (after the period) is not loaded
    # the state log from a day before the period: 1001's logged_out on Sunday evening too
    assert [s["at"] for s in data.states] == sorted(s["at"] for s in STATES)
    assert data.states[0] == STATES[0]
    assert data.qa_scores == []
    mine = performance_report(data.records, data.states, [], start=MON, end=WED, tz=KST)
    theirs = performance_report(CALLS, STATES, [], start=MON, end=WED, tz=KST)
    assert mine == theirs and mine.agent("1001").occupancy == pytest.approx(1 / 3)


def test_qa_scores_from_a_loader_and_the_evaluations_store(database: Database) -> None:
    store(database, CALLS[:2], [])
    given = [
        ("1001", datetime(2026, 11, 30, 9, tzinfo=KST), 80),
        (None, 0.0, 10),
        ("1002", 5.0, None),
    ]
    data = load_agent_figures(database, MON, WED, qa=lambda db, start, end: given)
    assert data.qa_scores == [("1001", at("2026-11-30T09:00"), 80.0)]  # unusable rows dropped
    assert load_agent_figures(database, MON, WED).qa_scores == []  # the store, empty
    evaluate(database, "r1", "1001", 85.0, at("2026-11-30T17:00"))
    evaluate(database, "r2", "1002", 60.0, at("2026-12-02T10:00"))  # scored after the period
    loader = evaluations_loader()
    assert loader is not None
    assert load_agent_figures(database, MON, WED).qa_scores == [
        ("1001", at("2026-11-30T17:00"), 85.0)
    ]


def evaluate(database: Database, recording: str, agent: str, score: float, when: float) -> None:
    """A recording of ``agent``'s call and a supervisor's evaluation of it, through the store."""
    from cti_server.storage.evaluations import EvaluationRepo
    from cti_server.storage.tables import RecordingRow

    moment = datetime.fromtimestamp(when, UTC)
    with database.sync_engine.begin() as conn:
        conn.execute(insert(RecordingRow), [{
            "id": recording, "call_id": f"call-{recording}", "agent_id": agent, "queue": "sales",
            "customer_id": None, "started_at": moment, "ended_at": moment, "duration_s": 60.0,
            "path": f"/tmp/{recording}.wav", "sha256": None, "bytes": 0, "status": "complete",
            "segments": [], "kind": "call"}])  # fmt: skip
    EvaluationRepo(database).save(recording, "super", form="basic", form_version="1",
                                  answers={}, score=score, critical_failed=False, comment=None,
                                  now=moment)  # fmt: skip


def test_naive_bounds_are_refused(database: Database) -> None:
    with pytest.raises(ValueError, match="aware"):
        load_agent_figures(database, datetime(2026, 11, 30), WED)


def test_demo_history_writes_and_replaces_itself(database: Database) -> None:
    plan = DemoPlan(agents=("1001", "1002"), start=date(2026, 11, 2), change=date(2026, 11, 4),
                    end=date(2026, 11, 6), requests=20.0)  # fmt: skip
    history = generate(plan, KST, random.Random(3))
    store(database, CALLS[:1], STATES[:1])  # not the demo's: left alone
    write_history(database, history)
    write_history(database, history)  # again: replaced, not doubled
    with database.sync_engine.connect() as conn:
        count = {t.__tablename__: conn.execute(select(func.count()).select_from(t)).scalar_one()
                 for t in (CallRecordRow, AgentStateLogRow, CallbackRow)}  # fmt: skip
    assert count == {"call_records": len(history.records) + 1,
                     "agent_state_log": len(history.states) + 1,
                     "callbacks": len(history.callbacks)}  # fmt: skip
    start = datetime(2026, 11, 2, tzinfo=KST)
    data = load_agent_figures(database, start, datetime(2026, 11, 6, tzinfo=KST))
    assert {r.call_id for r in data.records} == {r.call_id for r in history.records
                                                 if r.started_at >= start.timestamp()}  # fmt: skip
    report = performance_report(data.records, data.states, start=start, end=plan_end(plan), tz=KST)
    assert report.center.days == 4 and report.total.occupancy is not None


def plan_end(plan: DemoPlan) -> datetime:
    return datetime(plan.end.year, plan.end.month, plan.end.day, tzinfo=KST)


def test_eight_weeks_of_demo_history_keep_the_proposal_figures() -> None:
    """The default plan, computed without a database: MISSION.md item 11's before/after."""
    plan = default_plan(("1001", "1002"), date(2026, 12, 2))
    assert (plan.start, plan.change, plan.end) == (date(2026, 10, 5), date(2026, 11, 2),
                                                   date(2026, 11, 30))  # fmt: skip
    history = generate(plan, KST, random.Random(7))
    states = [AgentStateRow(at=s["at"].timestamp(), agent_id=s["agent_id"], state=s["state"],
                            previous=s["previous"], reason=s["reason"], call_id=s["call_id"],
                            by=s["by"]) for s in history.states]  # fmt: skip
    start, change, end = (
        datetime.combine(d, time(), KST) for d in (plan.start, plan.change, plan.end)
    )
    c = split_compare(history.records, states, start=start, at=change, end=end, tz=KST)
    center = {ch.field: ch for ch in c.center}
    assert center["aht"].before == pytest.approx(150, abs=3)
    assert center["aht"].after == pytest.approx(135, abs=3)
    assert center["answer_rate"].before == pytest.approx(0.61, abs=0.005)
    assert center["answer_rate"].after == pytest.approx(0.68, abs=0.005)
    assert center["callbacks_per_day"].before == pytest.approx(100, rel=0.03)
    assert center["callbacks_per_day"].after == pytest.approx(110, rel=0.03)
    assert center["answered_per_agent_day"].before == pytest.approx(100, rel=0.03)
    assert c.before.center.days == c.after.center.days == 20
    # each agent takes one call at a time: answer to the end of wrap-up never overlaps
    for agent in plan.agents:
        spans = sorted((r.answered_at or 0, r.wrap_up_ended_at or 0) for r in history.records
                       if r.agent_id == agent)  # fmt: skip
        assert all(a[1] <= b[0] for a, b in pairwise(spans))
    done = [cb for cb in history.callbacks if cb["status"] == "done"]
    assert len(done) == c.before.center.callbacks_handled + c.after.center.callbacks_handled
