"""The dialer host's store: work items from both tables, guarded status changes, recovery."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, select

from acd.dialer import Dialer
from acd.dialer_protocol import (
    AgentReserved,
    CallbackDue,
    CampaignCommand,
    Complete,
    Dial,
    DialerAction,
    DialResult,
    GiveUp,
    LeadsLoaded,
    MarkDialing,
    Recovered,
    Reschedule,
    ReserveAgent,
)
from acd.dialer_settings import DialerSettings
from cti_server.storage.callbacks import CallbackRepo
from cti_server.storage.campaigns import CampaignRepo
from cti_server.storage.db import Database
from cti_server.storage.dialer_store import CALLBACKS, LEADS, DialerStore, lead_note
from cti_server.storage.tables_campaigns import CampaignStatus, LeadRow
from tests.unit.acd.dialer_rig import FakePool

T0 = 1_800_000_000.0


def utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose_sync()


@pytest.fixture
def store(database: Database) -> DialerStore:
    return DialerStore(database)


def callback(database: Database, number: str, due: float, queue: str = "sales") -> str:
    made, _ = CallbackRepo(database).request(
        number, queue, call_id=None, customer_id=None, due_at=due, now=T0, note="요금 문의"
    )
    return made


def campaign(database: Database, name: str, *, running: bool = True) -> None:
    repo = CampaignRepo(database)
    repo.create(name, "outbound", now=T0)
    if running:
        repo.command(name, "start", now=T0)


def lead(database: Database, name: str, number: str, due: float, **values: Any) -> str:
    row = {
        "campaign": name,
        "number": number,
        "name": "김하늘",
        "status": "pending",
        "attempts": 0,
        "due_at": utc(due),
        "time_zone": None,
        "extra": {"상품": "적금"},
    } | values
    with database.sync_engine.begin() as conn:
        made = conn.execute(insert(LeadRow).returning(LeadRow.id), [row]).scalar_one()
    return str(made)


def stored(database: Database, item_id: str, kind: str) -> Any:
    table, key = (CALLBACKS, item_id) if kind == "callback" else (LEADS, int(item_id))
    fresh = Database(database.url)  # a new engine: only what was committed is there
    try:
        with fresh.sync_engine.connect() as conn:
            return conn.execute(select(table).where(table.c.id == key)).one()
    finally:
        fresh.dispose_sync()


def test_due_items_of_both_kinds(database: Database, store: DialerStore) -> None:
    cb = callback(database, "010-1111-2222", T0 + 10)
    callback(database, "01033334444", T0 + 999)  # not due within the horizon
    campaign(database, "renewal")
    campaign(database, "draft", running=False)
    first = lead(database, "renewal", "01055556666", T0 + 5, time_zone="America/New_York")
    lead(database, "renewal", "01077778888", T0 + 500)
    lead(database, "draft", "01099990000", T0)

    items = store.due_items(T0, horizon=60)
    assert [(i.kind, i.id) for i in items] == [("callback", cb), ("lead", first)]
    call, work = items
    assert (call.number, call.queue, call.note, call.due_at) == (
        "01011112222",
        "sales",
        "요금 문의",
        T0 + 10,
    )
    assert call.time_zone is None and call.campaign == ""
    assert (work.campaign, work.queue, work.time_zone) == (
        "renewal",
        "outbound",
        "America/New_York",
    )
    assert work.note == "김하늘 / 상품: 적금" and work.due_at == T0 + 5
    assert len(store.due_items(T0, horizon=1000)) == 4


def test_due_items_limit_is_per_kind_and_per_campaign(
    database: Database, store: DialerStore
) -> None:
    for n in range(3):
        callback(database, f"0101000000{n}", T0 + n)
    for name in ("a", "b"):
        campaign(database, name)
        for n in range(3):
            lead(database, name, f"0102000000{n}", T0 + n)
    items = store.due_items(T0 + 10, limit=2)
    kinds = [(i.kind, i.campaign) for i in items]
    assert kinds == [("callback", "")] * 2 + [("lead", "a")] * 2 + [("lead", "b")] * 2


def test_mark_dialing_commits_and_only_once(database: Database, store: DialerStore) -> None:
    campaign(database, "c")
    ids = {
        "callback": callback(database, "01012345678", T0),
        "lead": lead(database, "c", "0101", T0),
    }
    for kind, item_id in ids.items():
        assert store.mark_dialing(item_id, kind, 1, T0 + 7)  # type: ignore[arg-type]
        row = stored(database, item_id, kind)
        assert (row.status, row.attempts, row.last_attempt_at) == ("dialing", 1, utc(T0 + 7))
        assert not store.mark_dialing(item_id, kind, 2, T0 + 8)  # type: ignore[arg-type]
        assert stored(database, item_id, kind).attempts == 1
    assert store.due_items(T0 + 100) == []


def test_reschedule_complete_give_up_cancel(database: Database, store: DialerStore) -> None:
    campaign(database, "c")
    item = lead(database, "c", "01012345678", T0)
    assert store.mark_dialing(item, "lead", 1, T0)
    assert store.reschedule(item, "lead", T0 + 300, 1, "busy")
    row = stored(database, item, "lead")
    assert (row.status, row.due_at, row.attempts, row.outcome) == (
        "pending",
        utc(T0 + 300),
        1,
        "busy",
    )
    # Outside calling hours the wait is no attempt's result: the outcome stays.
    assert store.reschedule(item, "lead", T0 + 3600, 1, "calling_hours")
    assert stored(database, item, "lead").outcome == "busy"
    assert not store.complete(item, "lead")  # only a call being dialled completes
    assert store.mark_dialing(item, "lead", 2, T0 + 3600)
    assert not store.reschedule(item, "lead", T0 + 9, 1, "no_answer")  # late, from attempt 1
    assert not store.give_up(item, "lead", "max_attempts", 1)
    assert store.complete(item, "lead")
    row = stored(database, item, "lead")
    assert (row.status, row.outcome, row.attempts) == ("done", "answered", 2)
    for late in (
        lambda: store.reschedule(item, "lead", T0, 2, "no_answer"),
        lambda: store.give_up(item, "lead", "dnc", 2),
        lambda: store.cancel(item, "lead"),
        lambda: store.complete(item, "lead"),
    ):
        assert not late()
    assert store.set_disposition(item, "lead", "상담완료")
    assert stored(database, item, "lead").disposition == "상담완료"

    gone = callback(database, "01099998888", T0)
    assert store.give_up(gone, "callback", "dnc", 0)
    assert (
        stored(database, gone, "callback").status,
        stored(database, gone, "callback").outcome,
    ) == (
        "failed",
        "dnc",
    )
    removed = callback(database, "01055554444", T0)
    assert store.cancel(removed, "callback")
    assert not store.mark_dialing(removed, "callback", 1, T0)
    assert stored(database, removed, "callback").status == "cancelled"


def test_ids_and_kinds(store: DialerStore) -> None:
    assert not store.mark_dialing("not-a-number", "lead", 1, T0)
    assert not store.mark_dialing("999", "lead", 1, T0)
    assert not store.complete("nope", "callback")
    with pytest.raises(ValueError, match="unknown dialer item kind 'sms'"):
        store.cancel("1", "sms")  # type: ignore[arg-type]


def test_recover_dialing_returns_what_a_crash_left(database: Database, store: DialerStore) -> None:
    campaign(database, "c")
    cb = callback(database, "01012345678", T0)
    item = lead(database, "c", "01087654321", T0, time_zone="Asia/Seoul")
    lead(database, "c", "01011110000", T0)
    assert store.mark_dialing(cb, "callback", 2, T0)
    assert store.mark_dialing(item, "lead", 1, T0)
    CampaignRepo(database).command("c", "pause", now=T0)  # still recovered: it was dialled

    restarted = Database(database.url)  # the next process
    try:
        recovered = {(i.kind, i.id): i for i in DialerStore(restarted).recover_dialing()}
    finally:
        restarted.dispose_sync()
    assert set(recovered) == {("callback", cb), ("lead", item)}
    assert recovered[("callback", cb)].attempts == 2
    work = recovered[("lead", item)]
    assert (work.attempts, work.queue, work.time_zone) == (1, "outbound", "Asia/Seoul")
    assert store.reschedule(item, "lead", T0 + 600, 1, "recovered")
    assert [i.id for i in store.recover_dialing()] == [cb]


def test_a_callback_requested_again_while_dialled_merges(
    database: Database, store: DialerStore
) -> None:
    first = callback(database, "01012345678", T0)
    assert store.mark_dialing(first, "callback", 1, T0)
    again = callback(database, "010-1234-5678", T0 + 60)  # a new pending request meanwhile
    assert again != first

    assert not store.reschedule(first, "callback", T0 + 600, 1, "no_answer")
    old, new = stored(database, first, "callback"), stored(database, again, "callback")
    assert (old.status, old.outcome) == ("cancelled", f"merged:{again}")
    assert (new.status, new.request_count, new.due_at) == ("pending", 2, utc(T0 + 60))
    assert [i.id for i in store.due_items(T0 + 60)] == [again]


def _race(calls: list[Callable[[], bool]]) -> list[bool]:
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], bool]) -> bool:
        barrier.wait(timeout=10)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_two_threads_on_one_item_exactly_one_wins(database: Database, store: DialerStore) -> None:
    campaign(database, "c")
    other = DialerStore(Database(database.url))  # another pool, as another worker thread has
    try:
        for n in range(8):
            item = lead(database, "c", f"010555{n:05d}", T0)
            marks = _race(
                [
                    lambda i=item: store.mark_dialing(i, "lead", 1, T0),
                    lambda i=item: other.mark_dialing(i, "lead", 1, T0 + 1),
                ]
            )
            assert sorted(marks) == [False, True]
            ends = _race(
                [lambda i=item: store.complete(i, "lead"), lambda i=item: other.cancel(i, "lead")]
            )
            assert sorted(ends) == [False, True]
            status = stored(database, item, "lead").status
            assert status == ("done" if ends[0] else "cancelled")
    finally:
        other.database.dispose_sync()


def test_lead_note_skips_empty_extras() -> None:
    assert lead_note("박민수", {"상품": "카드", "메모": "", "x": None}) == "박민수 / 상품: 카드"
    assert lead_note("", {}) == ""
    assert len(lead_note("a", {"k": "v" * 900})) == 500


# --- with the real dialer core -------------------------------------------------------------------


def execute(store: DialerStore, actions: list[DialerAction], now: float) -> list[DialerAction]:
    """What the host does with the store's share of the dialer's actions."""
    for action in actions:
        match action:
            case MarkDialing():
                assert store.mark_dialing(action.item_id, action.kind, action.attempts, now)
            case Reschedule():
                assert store.reschedule(
                    action.item_id, action.kind, action.due_at, action.attempts, action.reason
                )
            case Complete():
                assert store.complete(action.item_id, action.kind, action.outcome)
            case GiveUp():
                assert store.give_up(action.item_id, action.kind, action.reason, action.attempts)
    return actions


def test_the_dialer_core_runs_on_the_store(database: Database, store: DialerStore) -> None:
    campaign(database, "renewal")
    cb = callback(database, "01012345678", T0, queue="outbound")
    item = lead(database, "renewal", "01087654321", T0)
    settings = DialerSettings(campaigns=[c.settings() for c in store.campaigns()])
    pool = FakePool()
    pool.free["outbound"] = ["a1", "a2"]
    dialer = Dialer(settings, pool, random.Random(7))
    for running in store.campaigns():
        if running.status is CampaignStatus.RUNNING:  # what the host does on each poll
            dialer.handle(CampaignCommand(campaign=running.name, command="start"), T0)

    due = store.due_items(T0)
    callbacks = [i for i in due if i.kind == "callback"]
    actions = execute(store, dialer.handle(CallbackDue(item=callbacks[0]), T0), T0)
    leads = tuple(i for i in due if i.kind == "lead")
    actions += execute(store, dialer.handle(LeadsLoaded(items=leads), T0), T0)
    reserves = [a for a in actions if isinstance(a, ReserveAgent)]
    assert [r.item.id for r in reserves] == [cb, item]  # callbacks first

    dials: dict[str, Dial] = {}
    for reserve, agent in zip(reserves, ("a1", "a2"), strict=True):
        granted = AgentReserved(attempt_id=reserve.attempt_id, ok=True, agent_id=agent)
        for action in execute(store, dialer.handle(granted, T0 + 1), T0 + 1):
            if isinstance(action, Dial):
                dials[action.item_id] = action
    assert {i.id for i in store.recover_dialing()} == {cb, item}

    answered = DialResult(attempt_id=dials[cb].attempt_id, outcome="answered")
    execute(store, dialer.handle(answered, T0 + 9), T0 + 9)
    busy = DialResult(attempt_id=dials[item].attempt_id, outcome="busy")
    execute(store, dialer.handle(busy, T0 + 9), T0 + 9)
    assert stored(database, cb, "callback").status == "done"
    row = stored(database, item, "lead")
    assert (row.status, row.attempts, row.outcome) == ("pending", 1, "busy")
    assert row.due_at == utc(T0 + 9 + 300)  # busy: five minutes

    # A crash mid-attempt: the next process recovers it and the core reschedules it.
    assert store.mark_dialing(item, "lead", 2, T0 + 400)
    fresh = Dialer(settings, pool, random.Random(8))
    recovered = Recovered(items=tuple(store.recover_dialing()))
    execute(store, fresh.handle(recovered, T0 + 500), T0 + 500)
    row = stored(database, item, "lead")
    assert (row.status, row.attempts, row.outcome) == ("pending", 2, "recovered")
