"""Queue events, the agent state log and ``commit_entries`` on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest_twisted

from cti_server.storage import CallRecordRepo, Database, run_in_loop
from cti_server.storage.journal import Entry
from cti_server.storage.record_repos import (
    AgentStateChange,
    AgentStateLogRepo,
    QueueEvent,
    QueueEventRepo,
    commit_entries,
)

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
E0 = T0.timestamp()


def _event(n: int, queue: str = "sales", **overrides: Any) -> QueueEvent:
    fields: dict[str, Any] = {
        "entry_key": f"queue_event:j1:{n}",
        "queue": queue,
        "kind": "joined",
        "at": T0 + timedelta(seconds=n),
        "call_id": f"call-{n}",
    }
    fields.update(overrides)
    return QueueEvent(**fields)


def _change(n: int, agent_id: str = "1001", **overrides: Any) -> AgentStateChange:
    fields: dict[str, Any] = {
        "entry_key": f"agent_state:j1:{n}",
        "agent_id": agent_id,
        "state": "ready",
        "at": T0 + timedelta(seconds=n),
    }
    fields.update(overrides)
    return AgentStateChange(**fields)


def _entry(seq: int, kind: str, key: str, payload: dict[str, Any]) -> Entry:
    return Entry("j1", seq, kind, key, payload)


def _call_payload(call_id: str, offset: float = 0.0, **extra: Any) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "started_at": E0 + offset,
        "answered_at": E0 + offset + 5,
        "ended_at": E0 + offset + 65.5,
        "caller": "01012345678",
        "called": "15881234",
        "trunk": "kt",
        "agent_id": "1001",
        "cause": "normal_clearing",
        "queue": "sales",
        "outcome": "answered",
        **extra,
    }


@pytest_twisted.ensureDeferred
async def test_queue_events_insert_once_and_list_by_period(db: Database) -> None:
    repo = QueueEventRepo(db.async_session)
    events = [
        _event(1, position=1),
        _event(2, queue="support"),
        _event(3, kind="answered", agent_id="1001", wait_seconds=12.5, detail={"ring_s": 3}),
    ]
    assert await run_in_loop(repo.insert_many(events)) == 3
    assert await run_in_loop(repo.insert_many(events)) == 0  # a replay adds nothing
    assert await run_in_loop(repo.insert_many([])) == 0

    rows = await run_in_loop(repo.list_period(T0, T0 + timedelta(minutes=1)))
    assert [r.entry_key for r in rows] == [e.entry_key for e in events]
    assert all(r.id is not None for r in rows)
    assert rows[2].at == T0 + timedelta(seconds=3)
    assert rows[2].at.tzinfo is not None
    assert (rows[2].wait_seconds, rows[2].agent_id, rows[2].detail) == (12.5, "1001", {"ring_s": 3})
    assert rows[0].position == 1

    sales = await run_in_loop(repo.list_period(T0, T0 + timedelta(minutes=1), queue="sales"))
    assert [r.call_id for r in sales] == ["call-1", "call-3"]
    later = await run_in_loop(
        repo.list_period(T0 + timedelta(seconds=2), T0 + timedelta(seconds=3))
    )
    assert [r.call_id for r in later] == ["call-2"]  # [since, until)


@pytest_twisted.ensureDeferred
async def test_agent_state_log_insert_once_and_list_by_period(db: Database) -> None:
    repo = AgentStateLogRepo(db.async_session)
    changes = [
        _change(1, state="ready", previous="logged_out", by="1001"),
        _change(2, agent_id="1002", state="break", reason="lunch", by="supervisor"),
        _change(3, state="not_ready", previous="ready", reason="rona", by="acd", call_id="c9"),
    ]
    assert await run_in_loop(repo.insert_many(changes)) == 3
    assert await run_in_loop(repo.insert_many(changes[1:])) == 0

    rows = await run_in_loop(repo.list_period(T0, T0 + timedelta(hours=1)))
    assert len(rows) == 3
    mine = await run_in_loop(repo.list_period(T0, T0 + timedelta(hours=1), agent_id="1001"))
    assert [(r.state, r.previous, r.by) for r in mine] == [
        ("ready", "logged_out", "1001"),
        ("not_ready", "ready", "acd"),
    ]
    assert mine[1].call_id == "c9"
    assert mine[1].reason == "rona"


@pytest_twisted.ensureDeferred
async def test_commit_entries_routes_each_kind(db: Database) -> None:
    entries = [
        _entry(1, "queue_event", "c1", {"queue": "sales", "kind": "joined", "at": E0, "position": 2,
                                         "call_id": "c1", "priority": 5}),
        _entry(2, "agent_state", "1001", {"agent_id": "1001", "state": "busy", "previous": "ready",
                                          "at": E0 + 1, "call_id": "c1", "by": "acd"}),
        _entry(3, "call_record", "c1", _call_payload("c1")),
        _entry(4, "queue_event", "c1", {"queue": "sales", "kind": "answered",
                                         "at": (T0 + timedelta(seconds=2)).isoformat(),
                                         "wait_seconds": 7, "detail": {"agent_id_hint": "x"}}),
    ]  # fmt: skip
    counts = await run_in_loop(commit_entries(db, entries))
    assert (counts.call_records, counts.queue_events, counts.agent_states) == (1, 2, 1)
    assert counts.rejected == 0

    record = await run_in_loop(CallRecordRepo(db.async_session).get("c1"))
    assert record is not None
    assert record.started_at == T0
    assert record.answered_at == T0 + timedelta(seconds=5)
    assert record.ended_at == T0 + timedelta(seconds=65.5)
    assert (record.caller, record.called, record.trunk, record.agent_id) == (
        "01012345678",
        "15881234",
        "kt",
        "1001",
    )
    assert (record.cause, record.status) == ("normal_clearing", 0)
    assert record.record == _call_payload("c1")

    events = await run_in_loop(QueueEventRepo(db.async_session).list_period(T0, T0 + timedelta(1)))
    assert [(e.kind, e.entry_key) for e in events] == [
        ("joined", "queue_event:j1:1"),
        ("answered", "queue_event:j1:4"),
    ]
    assert events[0].detail == {"priority": 5}  # what has no column is kept, not dropped
    assert events[1].detail == {"agent_id_hint": "x"}
    assert events[1].wait_seconds == 7.0
    changes = await run_in_loop(
        AgentStateLogRepo(db.async_session).list_period(T0, T0 + timedelta(1))
    )
    assert [(c.agent_id, c.state, c.by) for c in changes] == [("1001", "busy", "acd")]

    again = await run_in_loop(commit_entries(db, entries))  # a replay
    assert (again.queue_events, again.agent_states, again.rejected) == (0, 0, 0)
    events = await run_in_loop(QueueEventRepo(db.async_session).list_period(T0, T0 + timedelta(1)))
    assert len(events) == 2


@pytest_twisted.ensureDeferred
async def test_the_latest_record_of_a_call_wins_within_a_batch(db: Database) -> None:
    entries = [
        _entry(1, "call_record", "c1", _call_payload("c1", cause="busy")),
        _entry(2, "call_record", "c2", _call_payload("c2")),
        _entry(3, "call_record", "c1", _call_payload("c1", cause="normal_clearing", status=200)),
    ]
    counts = await run_in_loop(commit_entries(db, entries))
    assert counts.call_records == 2
    record = await run_in_loop(CallRecordRepo(db.async_session).get("c1"))
    assert record is not None
    assert (record.cause, record.status) == ("normal_clearing", 200)


@pytest_twisted.ensureDeferred
async def test_an_entry_that_makes_no_row_is_rejected_alone(db: Database) -> None:
    entries = [
        _entry(1, "call_record", "c1", {"call_id": "c1", "caller": "0101"}),  # no started_at
        _entry(2, "call_record", "c2", _call_payload("c2", started_at="yesterday")),
        _entry(3, "mystery", "x", {}),
        _entry(4, "agent_state", "1001", {"agent_id": "1001", "at": E0}),  # no state
        _entry(5, "queue_event", "c3", {"queue": "sales", "kind": "joined"}),  # no time
        _entry(6, "call_record", "c4", _call_payload("c4", status=True)),
    ]
    counts = await run_in_loop(commit_entries(db, entries))
    assert counts.rejected == 5
    assert counts.call_records == 1
    record = await run_in_loop(CallRecordRepo(db.async_session).get("c4"))
    assert record is not None
    assert record.status == 0  # not a SIP status: the default


@pytest_twisted.ensureDeferred
async def test_data_the_database_refuses_is_rejected_alone(db: Database) -> None:
    """PostgreSQL refuses NUL in text (SQLite stores it): the rest of the batch commits."""
    entries = [
        _entry(1, "agent_state", "1001", {"agent_id": "1001", "state": "ready", "at": E0}),
        _entry(2, "agent_state", "1002", {"agent_id": "1002", "state": "re\x00dy", "at": E0}),
        _entry(3, "agent_state", "1003", {"agent_id": "1003", "state": "break", "at": E0}),
    ]
    counts = await run_in_loop(commit_entries(db, entries))
    refused = 1 if db.backend == "postgresql" else 0
    assert counts.rejected == refused
    assert counts.agent_states == 3 - refused
    changes = await run_in_loop(
        AgentStateLogRepo(db.async_session).list_period(T0, T0 + timedelta(1))
    )
    assert {c.agent_id for c in changes} >= {"1001", "1003"}
