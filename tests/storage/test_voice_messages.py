"""The voice-message inbox on SQLite and PostgreSQL: who sees what, done marks, callers."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, inspect
from sqlalchemy.orm import Session

from cti_server.storage.db import Database
from cti_server.storage.migrations import downgrade, upgrade
from cti_server.storage.tables import CallRecordRow, RecordingRow
from cti_server.storage.voice_messages import VoiceMessage, VoiceMessageRepo, to_json

T0 = 1_800_000_000.0
SEOUL = ZoneInfo("Asia/Seoul")


def utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.fixture
def repo(db_url: str) -> Iterator[VoiceMessageRepo]:
    database = Database(db_url)
    yield VoiceMessageRepo(database)
    database.dispose_sync()


def add_recording(
    repo: VoiceMessageRepo,
    rid: str,
    *,
    at: float,
    agent_id: str | None = None,
    queue: str | None = None,
    status: str = "complete",
    kind: str = "voice_message",
    duration: float = 12.5,
) -> None:
    row: dict[str, Any] = {
        "id": rid,
        "call_id": f"call-{rid}",
        "agent_id": agent_id,
        "queue": queue,
        "started_at": utc(at),
        "ended_at": utc(at + duration),
        "duration_s": duration,
        "path": f"/rec/{rid}.wav",
        "bytes": 1000,
        "status": status,
        "segments": [],
        "kind": kind,
    }
    with Session(repo.database.sync_engine) as session, session.begin():
        session.execute(insert(RecordingRow).values(**row))


def add_call_record(repo: VoiceMessageRepo, call_id: str, caller: str, *, at: float) -> None:
    row: dict[str, Any] = {
        "call_id": call_id,
        "started_at": utc(at),
        "ended_at": utc(at + 30),
        "caller": caller,
        "called": "1588",
        "agent_id": None,
        "cause": "normal",
        "status": 200,
        "record": {},
    }
    with Session(repo.database.sync_engine) as session, session.begin():
        session.execute(insert(CallRecordRow).values(**row))


def ids(messages: list[VoiceMessage]) -> list[str]:
    return [m.id for m in messages]


@pytest.fixture
def mailbox(repo: VoiceMessageRepo) -> VoiceMessageRepo:
    """Messages for agents 1001 and 1002, for the sales and support queues, and noise."""
    add_recording(repo, "own", at=T0 + 10, agent_id="1001", queue="sales")
    add_recording(repo, "sales", at=T0 + 20, queue="sales")
    add_recording(repo, "support", at=T0 + 30, queue="support")
    add_recording(repo, "other", at=T0 + 40, agent_id="1002", queue="sales")
    add_recording(repo, "busy", at=T0 + 50, agent_id="1001", status="recording")
    add_recording(repo, "fixed", at=T0 + 5, agent_id="1001", status="repaired")
    add_recording(repo, "gone", at=T0 + 60, agent_id="1001", status="deleted")
    add_recording(repo, "broken", at=T0 + 70, queue="sales", status="failed")
    add_recording(repo, "a-call", at=T0 + 80, agent_id="1001", kind="call")
    return repo


def test_an_agent_sees_own_and_queue_messages_newest_first(mailbox: VoiceMessageRepo) -> None:
    assert ids(mailbox.inbox("1001", ["sales"])) == ["sales", "own", "fixed"]
    assert ids(mailbox.inbox("1001", ["sales", "support"])) == ["support", "sales", "own", "fixed"]
    assert ids(mailbox.inbox("1002", ["support"])) == ["other", "support"]


def test_an_agent_without_queues_sees_only_own_messages(mailbox: VoiceMessageRepo) -> None:
    assert ids(mailbox.inbox("1001", [])) == ["own", "fixed"]
    assert mailbox.inbox("9999", []) == []


def test_a_supervisor_sees_every_playable_message(mailbox: VoiceMessageRepo) -> None:
    assert ids(mailbox.inbox(None, [])) == ["other", "support", "sales", "own", "fixed"]
    assert ids(mailbox.inbox(None, ["ignored"])) == ids(mailbox.inbox(None, []))


def test_limit_and_bad_arguments(mailbox: VoiceMessageRepo) -> None:
    assert ids(mailbox.inbox(None, [], limit=2)) == ["other", "support"]
    with pytest.raises(ValueError, match="limit"):
        mailbox.inbox(None, [], limit=0)
    with pytest.raises(TypeError, match="sequence"):
        mailbox.inbox("1001", "sales")


def test_hidden_recordings_cannot_be_fetched_or_marked(mailbox: VoiceMessageRepo) -> None:
    for rid in ("busy", "gone", "broken", "a-call", "nope"):
        assert mailbox.get(rid) is None
        assert mailbox.mark_done(rid, "1001", T0) is False


def test_a_message_shows_up_once_its_recording_closes(repo: VoiceMessageRepo) -> None:
    add_recording(repo, "m", at=T0, agent_id="1001", status="recording")
    assert repo.inbox("1001", []) == []
    with Session(repo.database.sync_engine) as session, session.begin():
        session.get_one(RecordingRow, "m").status = "complete"
    assert ids(repo.inbox("1001", [])) == ["m"]


def test_mark_done_is_idempotent_and_keeps_the_first_mark(mailbox: VoiceMessageRepo) -> None:
    assert mailbox.mark_done("sales", "1001", T0 + 100) is True
    assert mailbox.mark_done("sales", "1002", T0 + 200) is True
    done = mailbox.get("sales")
    assert done is not None
    assert (done.done, done.handled_at, done.handled_by) == (True, utc(T0 + 100), "1001")

    untouched = mailbox.get("own")
    assert untouched is not None
    assert (untouched.done, untouched.handled_at, untouched.handled_by) == (False, None, None)

    assert ids(mailbox.inbox("1001", ["sales"], include_done=False)) == ["own", "fixed"]
    assert ids(mailbox.inbox("1001", ["sales"])) == ["sales", "own", "fixed"]
    with pytest.raises(ValueError, match="who handled"):
        mailbox.mark_done("own", "", T0)


def test_mark_done_takes_an_aware_datetime(mailbox: VoiceMessageRepo) -> None:
    at = datetime(2027, 1, 15, 9, 30, tzinfo=SEOUL)
    assert mailbox.mark_done("own", "1001", at)
    done = mailbox.get("own")
    assert done is not None and done.handled_at == at
    with pytest.raises(ValueError, match="naive"):
        mailbox.mark_done("fixed", "1001", datetime(2027, 1, 15, 9, 30))


def test_concurrent_marks_credit_one_agent(repo: VoiceMessageRepo) -> None:
    add_recording(repo, "q", at=T0, queue="sales")
    agents = [f"10{n:02d}" for n in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda a: repo.mark_done("q", a, T0 + int(a)), agents))
    assert results == [True] * len(agents)
    done = repo.get("q")
    assert done is not None
    assert done.handled_by in agents
    assert done.handled_at == utc(T0 + int(done.handled_by or "0"))


def test_caller_comes_from_the_call_record_or_is_empty(mailbox: VoiceMessageRepo) -> None:
    add_call_record(mailbox, "call-own", "01012345678", at=T0)
    by_id = {m.id: m for m in mailbox.inbox("1001", ["sales"])}
    assert by_id["own"].caller == "01012345678"
    assert by_id["sales"].caller == ""  # the call record is not stored yet

    add_call_record(mailbox, "call-sales", "0212345678", at=T0)
    fetched = mailbox.get("sales")
    assert fetched is not None and fetched.caller == "0212345678"


def test_a_message_carries_what_the_desktop_needs(mailbox: VoiceMessageRepo) -> None:
    msg = mailbox.get("own")
    assert msg == VoiceMessage(
        id="own",
        call_id="call-own",
        caller="",
        agent_id="1001",
        queue="sales",
        created_at=utc(T0 + 10),
        duration=12.5,
        done=False,
        handled_at=None,
        handled_by=None,
        path="/rec/own.wav",
    )


def test_to_json_shows_times_in_the_configured_zone(mailbox: VoiceMessageRepo) -> None:
    add_call_record(mailbox, "call-sales", "01099998888", at=T0)
    mailbox.mark_done("sales", "1001", T0 + 3600)
    msg = mailbox.get("sales")
    assert msg is not None
    assert to_json(msg, SEOUL) == {
        "id": "sales",
        "caller": "01099998888",
        "queue": "sales",
        "agent_id": None,
        "created_at": "2027-01-15T17:00:20+09:00",
        "duration": 12.5,
        "done": True,
        "handled_at": "2027-01-15T18:00:00+09:00",
        "handled_by": "1001",
    }
    assert to_json(msg, UTC)["created_at"] == "2027-01-15T08:00:20+00:00"


def test_migration_0008_down_and_up_keeps_the_recordings_table(fresh_db_url: str) -> None:
    db = Database(fresh_db_url)
    try:
        assert upgrade(db.sync_engine, "0008") == "0008"
        assert downgrade(db.sync_engine, "0007") == "0007"
        inspector = inspect(db.sync_engine)
        columns = {c["name"] for c in inspector.get_columns("recordings")}
        assert "handled_at" not in columns and "handled_by" not in columns
        assert {"kind", "status", "path"} <= columns
        checks = {c["name"] for c in inspector.get_check_constraints("recordings")}
        assert checks == {"ck_recordings_status", "ck_recordings_kind"}
        assert "ix_recordings_kind_agent_id" in {
            i["name"] for i in inspector.get_indexes("recordings")
        }

        assert upgrade(db.sync_engine, "0008") == "0008"
        columns = {c["name"] for c in inspect(db.sync_engine).get_columns("recordings")}
        assert {"handled_at", "handled_by"} <= columns
    finally:
        db.dispose_sync()
