"""Recording review on SQLite and PostgreSQL: the search joins recordings, call records,
dispositions and evaluations and filters on each; one recording with its record; the access
log; migration 0011 down and up."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from cti_server.storage.db import Database
from cti_server.storage.migrations import downgrade, upgrade
from cti_server.storage.review import ReviewError, ReviewFilter, ReviewRepo
from cti_server.storage.tables import CallRecordRow, RecordingRow
from cti_server.storage.tables_dispositions import DispositionRow
from cti_server.storage.tables_qa import EvaluationRow
from cti_server.storage.tables_review import RecordingAccessRow
from metrics.call_record import CallRecord, IvrVisit, Offer, Outcome, Transfer

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # 18:00 in Seoul
S0 = T0.timestamp()


def call_record(call_id: str, agent_id: str, *, at: float, customer_id: str | None = None,
                outcome: Outcome = Outcome.ANSWERED) -> CallRecord:  # fmt: skip
    """A call that went through the IVR and the queue, rang 1002 in vain, then ``agent_id``
    answered 40 s in (when the recording starts), and was transferred once."""
    return CallRecord(
        call_id=call_id, started_at=at - 40, caller="01012345678", called="1588",
        route="flow:main", customer_id=customer_id,
        ivr=IvrVisit(flow="main", language="ko", started_at=at - 39,
                     path=("welcome", "menu", "auth"), outcome="queue", ended_at=at - 25),
        queue="sales", queues=("sales",), queued_at=at - 25,
        offers=(Offer(agent_id="1002", queue="sales", at=at - 20, outcome="no_answer",
                      ended_at=at - 5),
                Offer(agent_id=agent_id, queue="sales", at=at - 4, outcome="answered",
                      ended_at=at)),
        agent_id=agent_id, answered_at=at, wait_seconds=25.0, talk_seconds=80.0,
        hold_seconds=12.0, holds=1, transfers=(Transfer(at=at + 60, target="queue:support"),),
        outcome=outcome, cause="caller_hangup", status=200, ended_at=at + 95,
    )  # fmt: skip


def add_recording(session: Session, rid: str, agent_id: str | None, *, at: datetime,
                  duration: float = 95.0, queue: str = "sales", customer_id: str | None = None,
                  kind: str = "call", status: str = "complete", path: str = "",
                  segments: list[dict[str, Any]] | None = None) -> None:  # fmt: skip
    session.add(RecordingRow(
        id=rid, call_id=f"call-{rid}", agent_id=agent_id, queue=queue, customer_id=customer_id,
        started_at=at, ended_at=at + timedelta(seconds=duration), duration_s=duration,
        path=path or f"/rec/{rid}.wav", sha256=None, bytes=int(duration * 32000) + 44,
        status=status, segments=segments or [], kind=kind,
    ))  # fmt: skip


def add_call(session: Session, record: CallRecord) -> None:
    session.add(CallRecordRow(
        call_id=record.call_id, started_at=datetime.fromtimestamp(record.started_at, UTC),
        answered_at=datetime.fromtimestamp(record.answered_at or record.started_at, UTC),
        ended_at=datetime.fromtimestamp(record.ended_at or record.started_at, UTC),
        caller=record.caller, called=record.called, trunk=None, agent_id=record.agent_id,
        cause=record.cause or "", status=record.status, record=record.to_dict(),
    ))  # fmt: skip


def add_disposition(session: Session, call_id: str, agent_id: str, code: str, at: datetime) -> None:
    session.add(DispositionRow(call_id=call_id, agent_id=agent_id, disposition=code, notes="메모",
                               answers={}, created_at=at, updated_at=at))  # fmt: skip


def add_evaluation(session: Session, rid: str, agent_id: str, evaluator: str, score: float) -> None:
    session.add(EvaluationRow(
        recording_id=rid, call_id=f"call-{rid}", agent_id=agent_id, evaluator=evaluator,
        form="standard_call", form_version="v1", answers={}, score=score, critical_failed=False,
        created_at=T0, updated_at=T0,
    ))  # fmt: skip


def seed(database: Database, paths: dict[str, str] | None = None) -> None:
    """R1 (1001, sales, an answered call with its record, 'resolved', two evaluations),
    R2 (1002, support, an hour later, 300 s, customer only in the record, 'complaint'),
    R3 (1001, a day earlier, 20 s, no call record yet); a voice message and a deleted
    recording that a search never lists. ``paths``: audio files by recording id."""
    paths = paths or {}
    later = T0 + timedelta(hours=1)
    with Session(database.sync_engine) as session, session.begin():
        add_recording(session, "R1", "1001", at=T0, customer_id="cust-1",
                      path=paths.get("R1", ""),
                      segments=[{"label": "paused", "at": S0 + 30, "offset_s": 30.0}])  # fmt: skip
        add_recording(session, "R2", "1002", at=later, duration=300.0, queue="support",
                      path=paths.get("R2", ""))  # fmt: skip
        add_recording(session, "R3", "1001", at=T0 - timedelta(days=1), duration=20.0,
                      path=paths.get("R3", ""))  # fmt: skip
        add_recording(session, "VM", "1001", at=T0, kind="voice_message")
        add_recording(session, "DEL", "1001", at=T0, status="deleted")
        session.flush()
        add_call(session, call_record("call-R1", "1001", at=S0, customer_id="cust-1"))
        add_call(session, call_record("call-R2", "1002", at=later.timestamp(),
                                      customer_id="cust-2"))  # fmt: skip
        add_disposition(session, "call-R1", "1001", "resolved", T0 + timedelta(minutes=2))
        add_disposition(session, "call-R2", "1002", "complaint", later + timedelta(minutes=6))
        add_evaluation(session, "R1", "1001", "super", 90.0)
        add_evaluation(session, "R1", "1001", "admin", 81.0)


@pytest.fixture
def repo(db_url: str) -> Iterator[ReviewRepo]:
    database = Database(db_url)
    seed(database)
    yield ReviewRepo(database)
    database.dispose_sync()


def ids(repo: ReviewRepo, **filters: Any) -> list[str]:
    return [i.id for i in repo.search(ReviewFilter(**filters))[0]]


def test_search_lists_calls_newest_first_with_their_call(repo: ReviewRepo) -> None:
    items, more = repo.search(ReviewFilter())
    assert [i.id for i in items] == ["R2", "R1", "R3"] and more is False
    r2, r1, r3 = items
    assert (r1.caller, r1.called, r1.outcome) == ("01012345678", "1588", "answered")
    assert r1.dispositions == ("resolved",) and (r1.evaluations, r1.score_mean) == (2, 85.5)
    assert r1.started_at == T0 and r1.duration_s == 95.0 and r1.segments[0]["label"] == "paused"
    assert (r3.caller, r3.outcome, r3.dispositions, r3.evaluations) == (None, None, (), 0)
    assert r2.score_mean is None and r2.queue == "support"


def test_each_filter(repo: ReviewRepo) -> None:
    assert ids(repo, agent_id="1001") == ["R1", "R3"]
    assert ids(repo, queue="support") == ["R2"]
    assert ids(repo, customer_id="cust-1") == ["R1"]  # on the recording
    assert ids(repo, customer_id="cust-2") == ["R2"]  # only in the call record
    assert ids(repo, call_id="call-R3") == ["R3"]
    assert ids(repo, since=T0) == ["R2", "R1"]
    assert ids(repo, since=T0 - timedelta(days=1), until=T0) == ["R3"]
    assert ids(repo, min_duration=95) == ["R2", "R1"]
    assert ids(repo, max_duration=95) == ["R1", "R3"]
    assert ids(repo, min_duration=96, max_duration=299) == []
    assert ids(repo, outcome="answered") == ["R2", "R1"]
    assert ids(repo, outcome="abandoned_in_queue") == []
    assert ids(repo, disposition="complaint") == ["R2"]
    assert ids(repo, agent_id="1001", disposition="complaint") == []
    assert ids(repo, kind="voice_message") == ["VM"]


def test_pages(repo: ReviewRepo) -> None:
    first, more = repo.search(ReviewFilter(), limit=2)
    assert [i.id for i in first] == ["R2", "R1"] and more is True
    rest, more = repo.search(ReviewFilter(), limit=2, offset=2)
    assert [i.id for i in rest] == ["R3"] and more is False
    with pytest.raises(ReviewError):
        repo.search(ReviewFilter(), limit=0)


def test_one_recording_with_its_call_record(repo: ReviewRepo) -> None:
    found = repo.get("R1")
    assert found is not None
    item, record = found
    assert item.id == "R1" and item.dispositions == ("resolved",) and item.evaluations == 2
    assert record is not None and record["outcome"] == "answered"
    assert CallRecord.from_dict(record).offers[0].outcome == "no_answer"
    missing = repo.get("R3")
    assert missing is not None and missing[1] is None
    deleted = repo.get("DEL")
    assert deleted is not None and deleted[0].status == "deleted"  # found, for a 410
    assert repo.get("nope") is None


def test_access_log(repo: ReviewRepo) -> None:
    first = repo.log_access("R1", "super", "view", S0)
    repo.log_access("R1", "super", "play", S0 + 5)
    repo.log_access("R1", "admin", "download", T0 + timedelta(seconds=9))
    repo.log_access("R2", "super", "play", S0)
    log = repo.access_log("R1")
    assert [(a.username, a.action) for a in log] == [
        ("admin", "download"), ("super", "play"), ("super", "view"),
    ]  # fmt: skip
    assert log[-1].id == first and log[0].at == T0 + timedelta(seconds=9)
    assert [a.action for a in repo.access_log("R1", limit=1)] == ["download"]
    with pytest.raises(ReviewError, match="action"):
        repo.log_access("R1", "super", "listen", S0)
    with pytest.raises(ReviewError, match="username"):
        repo.log_access("R1", "", "play", S0)


def test_the_log_outlives_the_recording_row(repo: ReviewRepo) -> None:
    repo.log_access("R3", "super", "play", S0)
    with Session(repo.database.sync_engine) as session, session.begin():
        session.delete(session.get(RecordingRow, "R3"))
    with Session(repo.database.sync_engine) as session:
        left = session.scalars(select(RecordingAccessRow.action)).all()
    assert left == ["play"] and repo.get("R3") is None


def test_migration_0011_down_and_up(db_url: str) -> None:
    database = Database(db_url)
    try:
        assert downgrade(database.sync_engine, "0010") == "0010"
        assert "recording_access" not in inspect(database.sync_engine).get_table_names()
        assert upgrade(database.sync_engine) == "0011"
        indexes = {i["name"] for i in inspect(database.sync_engine).get_indexes("recording_access")}
        assert indexes == {"ix_recording_access_recording_id_at", "ix_recording_access_username_at"}
    finally:
        database.dispose_sync()
