"""Every repository method against SQLite and PostgreSQL, through the Twisted bridge.

Tests run on the reactor (pytest-twisted, asyncio reactor); each repository call is awaited
through ``run_in_loop`` exactly as server code will, since a coroutine driven by
``ensureDeferred`` cannot await SQLAlchemy's asyncio drivers directly.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
import pytest_twisted
from sqlalchemy.exc import IntegrityError, StatementError

from cti_server.storage import (
    AccountRepo,
    CallRecord,
    CallRecordRepo,
    Database,
    Recording,
    RecordingRepo,
    RecordingStatus,
    RecordNotFound,
    SipAccount,
    run_in_loop,
)

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
KST = timezone(timedelta(hours=9))


def _recording(rid: str, minutes: int = 0, **overrides: object) -> Recording:
    fields: dict[str, object] = {
        "id": rid,
        "call_id": f"call-{rid}",
        "started_at": T0 + timedelta(minutes=minutes),
        "path": f"2026/11/23/{rid}.wav",
    }
    fields.update(overrides)
    return Recording(**fields)  # type: ignore[arg-type]


def _call(call_id: str, minutes: int = 0, **overrides: object) -> CallRecord:
    fields: dict[str, object] = {
        "call_id": call_id,
        "started_at": T0 + timedelta(minutes=minutes),
        "ended_at": T0 + timedelta(minutes=minutes, seconds=95),
        "caller": "01012345678",
        "called": "15881234",
        "cause": "normal_clearing",
        "status": 200,
    }
    fields.update(overrides)
    return CallRecord(**fields)  # type: ignore[arg-type]


# --- the bridge -------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_run_in_loop_runs_an_asyncio_task_and_returns_its_result() -> None:
    async def inside_task() -> str:
        assert asyncio.current_task() is not None
        await asyncio.sleep(0)
        return "done"

    assert await run_in_loop(inside_task()) == "done"


@pytest_twisted.ensureDeferred
async def test_run_in_loop_fails_the_deferred_with_the_coroutines_error() -> None:
    async def broken() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        await run_in_loop(broken())


# --- recordings -------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_recording_insert_and_get_round_trip(db: Database) -> None:
    repo = RecordingRepo(db.async_session)
    segments = [{"leg": "caller", "offset_s": 0.0}, {"leg": "agent", "offset_s": 3.5}]
    rec = _recording(
        "r1",
        agent_id="1001",
        queue="sales",
        customer_id="c-42",
        started_at=datetime(2026, 11, 23, 18, 0, tzinfo=KST),  # 09:00 UTC
        segments=segments,
    )
    await run_in_loop(repo.insert(rec))

    got = await run_in_loop(repo.get("r1"))
    assert got == rec
    assert got is not None
    assert got.started_at.tzinfo == UTC and got.started_at == T0
    assert got.status is RecordingStatus.RECORDING
    assert await run_in_loop(repo.get("missing")) is None


@pytest_twisted.ensureDeferred
async def test_recording_duplicate_id_is_an_integrity_error(db: Database) -> None:
    repo = RecordingRepo(db.async_session)
    await run_in_loop(repo.insert(_recording("r1")))
    with pytest.raises(IntegrityError):
        await run_in_loop(repo.insert(_recording("r1")))


@pytest_twisted.ensureDeferred
async def test_naive_datetimes_are_refused(db: Database) -> None:
    repo = RecordingRepo(db.async_session)
    with pytest.raises(StatementError, match="naive datetime"):
        await run_in_loop(repo.insert(_recording("r1", started_at=datetime(2026, 11, 23, 9))))


@pytest_twisted.ensureDeferred
async def test_update_closed_records_size_checksum_and_segments(db: Database) -> None:
    repo = RecordingRepo(db.async_session)
    await run_in_loop(repo.insert(_recording("r1")))
    ended = T0 + timedelta(seconds=125.5)
    await run_in_loop(
        repo.update_closed(
            "r1",
            ended_at=ended,
            duration_s=125.5,
            bytes=4_016_044,
            sha256="ab" * 32,
            segments=[{"leg": "caller"}],
        )
    )
    got = await run_in_loop(repo.get("r1"))
    assert got is not None
    assert (got.status, got.ended_at, got.duration_s) == (RecordingStatus.COMPLETE, ended, 125.5)
    assert (got.bytes, got.sha256, got.segments) == (4_016_044, "ab" * 32, [{"leg": "caller"}])

    await run_in_loop(
        repo.update_closed(
            "r1",
            ended_at=ended,
            duration_s=120.0,
            bytes=3_840_044,
            sha256=None,
            status=RecordingStatus.REPAIRED,
        )
    )
    got = await run_in_loop(repo.get("r1"))
    assert got is not None
    assert (got.status, got.duration_s, got.sha256) == (RecordingStatus.REPAIRED, 120.0, None)
    assert got.segments == [{"leg": "caller"}]  # left alone when not given


@pytest_twisted.ensureDeferred
async def test_update_closed_refuses_other_statuses_and_unknown_ids(db: Database) -> None:
    repo = RecordingRepo(db.async_session)
    await run_in_loop(repo.insert(_recording("r1")))
    with pytest.raises(ValueError, match="complete or repaired"):
        await run_in_loop(
            repo.update_closed(
                "r1",
                ended_at=T0,
                duration_s=0.0,
                bytes=0,
                sha256=None,
                status=RecordingStatus.FAILED,
            )
        )
    with pytest.raises(RecordNotFound):
        await run_in_loop(
            repo.update_closed("nope", ended_at=T0, duration_s=0.0, bytes=0, sha256=None)
        )


@pytest_twisted.ensureDeferred
async def test_mark_failed(db: Database) -> None:
    repo = RecordingRepo(db.async_session)
    await run_in_loop(repo.insert(_recording("r1")))
    await run_in_loop(repo.mark_failed("r1", ended_at=T0 + timedelta(seconds=3)))
    got = await run_in_loop(repo.get("r1"))
    assert got is not None
    assert got.status is RecordingStatus.FAILED
    assert got.ended_at == T0 + timedelta(seconds=3)
    with pytest.raises(RecordNotFound):
        await run_in_loop(repo.mark_failed("nope"))


@pytest_twisted.ensureDeferred
async def test_mark_deleted_keeps_the_row_and_freezes_it(db: Database) -> None:
    repo = RecordingRepo(db.async_session)
    await run_in_loop(repo.insert(_recording("r1")))
    await run_in_loop(repo.mark_deleted("r1"))
    await run_in_loop(repo.mark_deleted("r1"))  # idempotent

    got = await run_in_loop(repo.get("r1"))
    assert got is not None and got.status is RecordingStatus.DELETED
    with pytest.raises(RecordNotFound, match="deleted"):
        await run_in_loop(repo.mark_failed("r1"))
    with pytest.raises(RecordNotFound):
        await run_in_loop(repo.mark_deleted("nope"))


@pytest_twisted.ensureDeferred
async def test_list_filters_orders_and_pages(db: Database) -> None:
    repo = RecordingRepo(db.async_session)
    rows = [
        _recording("a", 0, agent_id="1001", queue="sales", customer_id="c1"),
        _recording("b", 10, agent_id="1002", queue="sales"),
        _recording("c", 20, agent_id="1001", queue="support", call_id="call-x"),
        _recording("d", 30, agent_id="1001", queue="sales", call_id="call-x"),
        _recording("e", 40, agent_id="1001", queue="sales"),
    ]
    for rec in rows:
        await run_in_loop(repo.insert(rec))
    await run_in_loop(repo.mark_deleted("e"))

    async def ids(**filters: object) -> list[str]:
        found = await run_in_loop(repo.list(**filters))  # type: ignore[arg-type]
        return [r.id for r in found]

    assert await ids() == ["d", "c", "b", "a"]  # newest first, deleted left out
    assert await ids(include_deleted=True) == ["e", "d", "c", "b", "a"]
    assert await ids(agent_id="1001") == ["d", "c", "a"]
    assert await ids(queue="sales") == ["d", "b", "a"]
    assert await ids(call_id="call-x") == ["d", "c"]
    assert await ids(customer_id="c1") == ["a"]
    assert await ids(agent_id="1001", queue="sales") == ["d", "a"]
    # since <= started_at < until, in any timezone
    assert await ids(since=T0 + timedelta(minutes=10), until=T0 + timedelta(minutes=30)) == [
        "c",
        "b",
    ]
    assert await ids(since=datetime(2026, 11, 23, 18, 20, tzinfo=KST)) == ["d", "c"]
    assert await ids(limit=2) == ["d", "c"]
    assert await ids(limit=2, offset=2) == ["b", "a"]


# --- call records -----------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_call_record_upsert_inserts_then_replaces(db: Database) -> None:
    repo = CallRecordRepo(db.async_session)
    first = _call("c1", record={"events": ["CallDelivered"], "wait_s": 4.5})
    await run_in_loop(repo.upsert(first))
    assert await run_in_loop(repo.get("c1")) == first

    second = _call(
        "c1",
        answered_at=T0 + timedelta(seconds=5),
        agent_id="1001",
        trunk="gw",
        record={"events": ["CallDelivered", "CallEstablished"], "wait_s": 4.5},
    )
    await run_in_loop(repo.upsert(second))
    assert await run_in_loop(repo.get("c1")) == second
    assert await run_in_loop(repo.list_period(T0, T0 + timedelta(hours=1))) == [second]
    assert await run_in_loop(repo.get("nope")) is None


@pytest_twisted.ensureDeferred
async def test_call_record_upsert_many_is_one_batch_across_chunks(db: Database) -> None:
    repo = CallRecordRepo(db.async_session)
    assert await run_in_loop(repo.upsert_many([])) == 0
    batch = [_call(f"c{i:04}", i % 60, status=486 if i % 7 == 0 else 200) for i in range(1200)]
    assert await run_in_loop(repo.upsert_many(batch)) == 1200
    # a replayed journal re-sends some of the same calls: they land once, updated
    replay = [_call(f"c{i:04}", i % 60, cause="replayed") for i in range(1150, 1250)]
    assert await run_in_loop(repo.upsert_many(replay)) == 100

    stored = await run_in_loop(repo.list_period(T0, T0 + timedelta(hours=2)))
    assert len(stored) == 1250
    by_id = {r.call_id: r for r in stored}
    assert by_id["c1149"].cause == "normal_clearing"
    assert by_id["c1150"].cause == "replayed" and by_id["c1249"].cause == "replayed"
    assert by_id["c0007"].status == 486


@pytest_twisted.ensureDeferred
async def test_call_record_list_period_bounds_order_and_agent(db: Database) -> None:
    repo = CallRecordRepo(db.async_session)
    await run_in_loop(
        repo.upsert_many(
            [
                _call("late", 59, agent_id="1001"),
                _call("early", 0, agent_id="1002"),
                _call("next-hour", 60, agent_id="1001"),
                _call("before", -1, agent_id="1001"),
                _call("mid", 30, agent_id="1001"),
            ]
        )
    )
    hour = await run_in_loop(repo.list_period(T0, T0 + timedelta(hours=1)))
    assert [r.call_id for r in hour] == ["early", "mid", "late"]
    mine = await run_in_loop(repo.list_period(T0, T0 + timedelta(hours=1), agent_id="1001"))
    assert [r.call_id for r in mine] == ["mid", "late"]


# --- SIP accounts -----------------------------------------------------------------------------


def _account(user: str, **overrides: object) -> SipAccount:
    fields: dict[str, object] = {
        "user": user,
        "realm": "cti.local",
        "ha1_md5": "0" * 32,
        "ha1_sha256": "1" * 64,
        "created_at": T0,
    }
    fields.update(overrides)
    return SipAccount(**fields)  # type: ignore[arg-type]


@pytest_twisted.ensureDeferred
async def test_account_put_get_and_replace_keeps_created_at(db: Database) -> None:
    repo = AccountRepo(db.async_session)
    first = _account("1001", display_name="Agent Kim", digest_algorithms=("MD5",))
    await run_in_loop(repo.put(first))
    assert await run_in_loop(repo.get("1001")) == first
    assert await run_in_loop(repo.get("1009")) is None

    changed = _account(
        "1001", ha1_md5="2" * 32, ha1_sha256=None, enabled=False, created_at=T0 + timedelta(days=3)
    )
    await run_in_loop(repo.put(changed))
    got = await run_in_loop(repo.get("1001"))
    assert got is not None
    assert (got.ha1_md5, got.ha1_sha256, got.enabled) == ("2" * 32, None, False)
    assert (got.display_name, got.digest_algorithms) == (None, None)
    assert got.created_at == T0


@pytest_twisted.ensureDeferred
async def test_account_without_any_ha1_is_refused(db: Database) -> None:
    repo = AccountRepo(db.async_session)
    with pytest.raises(IntegrityError):
        await run_in_loop(repo.put(_account("1001", ha1_md5=None, ha1_sha256=None)))


@pytest_twisted.ensureDeferred
async def test_account_list_and_remove(db: Database) -> None:
    repo = AccountRepo(db.async_session)
    for user in ("1003", "1001", "1002"):
        await run_in_loop(repo.put(_account(user, enabled=user != "1002")))

    assert [a.user for a in await run_in_loop(repo.list())] == ["1001", "1002", "1003"]
    enabled = await run_in_loop(repo.list(enabled_only=True))
    assert [a.user for a in enabled] == ["1001", "1003"]

    assert await run_in_loop(repo.remove("1002")) is True
    assert await run_in_loop(repo.remove("1002")) is False
    assert [a.user for a in await run_in_loop(repo.list())] == ["1001", "1003"]
