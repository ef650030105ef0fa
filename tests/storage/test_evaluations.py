"""Evaluations on SQLite and PostgreSQL: save and correct one's own, several evaluators per
recording, an agent's evaluations of a period, the agent's reply, refusals, and migration
0009 down and up."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, inspect, select
from sqlalchemy.orm import Session

import cti_server.storage.tables_qa  # noqa: F401  (the table on Base.metadata)
from cti_server.storage.db import Database
from cti_server.storage.evaluations import (
    EvaluationError,
    EvaluationRepo,
    NotEvaluable,
    NotTheAgent,
    UnknownEvaluation,
    UnknownRecording,
)
from cti_server.storage.migrations import downgrade, upgrade
from cti_server.storage.tables import RecordingRow
from cti_server.storage.tables_qa import EvaluationRow

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ANSWERS = {"greeting_standard": "yes", "greeting_tone": 4, "identity_verified": "na"}


def add_recording(database: Database, rid: str, agent_id: str | None = "1001", *,
                  kind: str = "call", at: datetime = T0) -> None:  # fmt: skip
    """A closed recording row, as the recorder leaves it."""
    row: dict[str, Any] = {
        "id": rid, "call_id": f"call-{rid}", "agent_id": agent_id, "queue": "sales",
        "started_at": at, "ended_at": at + timedelta(seconds=95), "duration_s": 95.0,
        "path": f"/rec/{rid}.wav", "bytes": 1_520_044, "status": "complete", "segments": [],
        "kind": kind,
    }  # fmt: skip
    with Session(database.sync_engine) as session, session.begin():
        session.add(RecordingRow(**row))


@pytest.fixture
def repo(db_url: str) -> Iterator[EvaluationRepo]:
    database = Database(db_url)
    yield EvaluationRepo(database)
    database.dispose_sync()


def save(repo: EvaluationRepo, rid: str, evaluator: str, value: float = 80.0, *,
         at: datetime = T0, **more: Any) -> Any:  # fmt: skip
    fields: dict[str, Any] = {"form": "standard_call", "form_version": "abc123",
                              "answers": ANSWERS, "score": value, "critical_failed": False,
                              "comment": None, "now": at} | more  # fmt: skip
    return repo.save(rid, evaluator, **fields)


def test_save_then_correct_ones_own(repo: EvaluationRepo) -> None:
    add_recording(repo.database, "R1")
    first, created = save(repo, "R1", "super", comment="  인사가 좋았습니다  ")
    assert created and first.id > 0
    assert (first.call_id, first.agent_id, first.evaluator) == ("call-R1", "1001", "super")
    assert first.answers == ANSWERS and first.comment == "인사가 좋았습니다"
    assert first.created_at == first.updated_at == T0

    later = T0 + timedelta(minutes=5)
    again, created = save(repo, "R1", "super", 0.0, at=later, critical_failed=True)
    assert not created and again.id == first.id
    assert (again.score, again.critical_failed, again.comment) == (0.0, True, None)
    assert (again.created_at, again.updated_at) == (T0, later)
    assert repo.get(first.id) == again


def test_several_evaluators_per_recording(repo: EvaluationRepo) -> None:
    add_recording(repo.database, "R1")
    add_recording(repo.database, "R2")
    save(repo, "R1", "super", 90.0)
    save(repo, "R1", "admin", 70.0, at=T0 + timedelta(seconds=1))
    save(repo, "R2", "super", 50.0)
    found = repo.for_recording("R1")
    assert [(e.evaluator, e.score) for e in found] == [("super", 90.0), ("admin", 70.0)]
    assert repo.for_recording("nothing") == []


def test_refusals(repo: EvaluationRepo) -> None:
    add_recording(repo.database, "VM", "1001", kind="voice_message")
    add_recording(repo.database, "IVR", None)
    with pytest.raises(UnknownRecording, match="no recording 'R9'"):
        save(repo, "R9", "super")
    with pytest.raises(NotEvaluable, match="is a voice_message, not a call"):
        save(repo, "VM", "super")
    with pytest.raises(NotEvaluable, match="has no agent"):
        save(repo, "IVR", "super")
    add_recording(repo.database, "R1")
    with pytest.raises(EvaluationError, match="comment: at most 4000"):
        save(repo, "R1", "super", comment="가" * 4001)
    with pytest.raises(EvaluationError, match=r"score: 0\.\.100"):
        save(repo, "R1", "super", 100.1)
    assert repo.for_recording("R1") == []


def test_an_agents_evaluations_of_a_period(repo: EvaluationRepo) -> None:
    for i, agent in enumerate(["1001", "1001", "1002", "1001"]):
        add_recording(repo.database, f"R{i}", agent)
        save(repo, f"R{i}", "super", 60.0 + i, at=T0 + timedelta(days=i))
    mine = repo.for_agent("1001")
    assert [e.recording_id for e in mine] == ["R3", "R1", "R0"]  # newest first
    window = repo.for_agent("1001", T0 + timedelta(days=1), T0 + timedelta(days=3))
    assert [e.recording_id for e in window] == ["R1"]  # until is exclusive
    assert [e.recording_id for e in repo.for_agent(None, since=T0.timestamp() + 1)] == [
        "R3", "R2", "R1"
    ]  # fmt: skip
    assert len(repo.for_agent(None, limit=2)) == 2


def test_the_agents_reply(repo: EvaluationRepo) -> None:
    add_recording(repo.database, "R1", "1002")
    made, _ = save(repo, "R1", "super")
    at = T0 + timedelta(hours=2)
    replied = repo.add_agent_comment(made.id, "1002", "다음 통화부터 개선하겠습니다.", at)
    assert (replied.agent_comment, replied.agent_commented_at) == (
        "다음 통화부터 개선하겠습니다.",
        at,
    )
    assert replied.updated_at == T0  # the evaluation itself did not change
    corrected, _ = save(repo, "R1", "super", 85.0, at=at + timedelta(hours=1))
    assert corrected.agent_comment == replied.agent_comment  # a correction keeps the reply
    with pytest.raises(NotTheAgent):
        repo.add_agent_comment(made.id, "1001", "not mine", at)
    with pytest.raises(UnknownEvaluation):
        repo.add_agent_comment(made.id + 100, "1002", "?", at)
    with pytest.raises(EvaluationError, match="NUL"):
        repo.add_agent_comment(made.id, "1002", "a\x00b", at)
    cleared = repo.add_agent_comment(made.id, "1002", "   ", at)
    assert (cleared.agent_comment, cleared.agent_commented_at) == (None, None)


def test_concurrent_saves_by_one_evaluator_make_one_row(repo: EvaluationRepo) -> None:
    add_recording(repo.database, "R1")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda n: save(repo, "R1", "super", float(n)), range(8)))
    assert sum(created for _, created in results) == 1
    assert len({e.id for e, _ in results}) == 1
    assert len(repo.for_recording("R1")) == 1


def test_rows_go_with_their_recording(repo: EvaluationRepo) -> None:
    add_recording(repo.database, "R1")
    save(repo, "R1", "super")
    with Session(repo.database.sync_engine) as session, session.begin():
        session.execute(delete(RecordingRow).where(RecordingRow.id == "R1"))
    with Session(repo.database.sync_engine) as session:
        assert session.scalars(select(EvaluationRow)).all() == []


def test_migration_0009_down_and_up(fresh_db_url: str) -> None:
    db = Database(fresh_db_url)
    try:
        assert upgrade(db.sync_engine, "0009") == "0009"
        inspector = inspect(db.sync_engine)
        assert {i["name"] for i in inspector.get_indexes("evaluations")} >= {
            "ix_evaluations_agent_id_created_at", "ix_evaluations_call_id",
            "ix_evaluations_created_at",
        }  # fmt: skip
        uniques = {u["name"] for u in inspector.get_unique_constraints("evaluations")}
        assert uniques == {"uq_evaluations_recording_id_evaluator"}
        assert downgrade(db.sync_engine, "0008") == "0008"
        assert "evaluations" not in inspect(db.sync_engine).get_table_names()
        assert upgrade(db.sync_engine, "0009") == "0009"
        assert "evaluations" in inspect(db.sync_engine).get_table_names()
    finally:
        db.dispose_sync()
