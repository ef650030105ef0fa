"""Loading callback and campaign figures on SQLite and PostgreSQL: requests written through
the callback repository and moved by the dialer's store (done, failed, merged on a retry),
leads with their last attempts, the period's bounds, and the report computed over them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from cti_server.storage.callback_figures import load_callback_figures
from cti_server.storage.callbacks import CallbackRepo
from cti_server.storage.campaigns import CampaignRepo
from cti_server.storage.db import Database
from cti_server.storage.dialer_store import DialerStore
from cti_server.storage.tables_campaigns import LeadRow
from metrics.callback_stats import CallbackItem, callback_report

KST = ZoneInfo("Asia/Seoul")
DAY = datetime(2026, 12, 1, tzinfo=KST)
NEXT = datetime(2026, 12, 2, tzinfo=KST)


def at(hour: int, minute: int = 0, day: int = 1) -> float:
    return datetime(2026, 12, day, hour, minute, tzinfo=KST).timestamp()


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose_sync()


def request(database: Database, number: str, now: float, queue: str = "sales") -> str:
    made, _ = CallbackRepo(database).request(
        number, queue, call_id=None, customer_id=None, due_at=now + 60, now=now
    )
    return made


def lead(database: Database, campaign: str, number: str, **values: Any) -> None:
    row = {
        "campaign": campaign,
        "number": number,
        "status": "pending",
        "attempts": 0,
        "due_at": datetime.fromtimestamp(at(9), UTC),
        "extra": {},
    } | values
    with database.sync_engine.begin() as conn:
        conn.execute(insert(LeadRow), [row])


def utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_callbacks_of_the_period_with_their_fate(database: Database) -> None:
    store = DialerStore(database)
    late = request(database, "01000000000", at(23, 59))  # Dec 1 23:59: in
    first = request(database, "01011111111", at(0))  # exactly the start: in
    request(database, "010-1111-1111", at(0, 5))  # asked again while pending: merged
    assert store.mark_dialing(first, "callback", 1, at(0, 30))
    assert store.complete(first, "callback")

    failed = request(database, "01022222222", at(9), queue="support")
    assert store.mark_dialing(failed, "callback", 1, at(9, 1))
    assert store.give_up(failed, "callback", "max_attempts", 1)

    # a retry folded into the customer's newer request: the old row is merged away
    old = request(database, "01033333333", at(10))
    assert store.mark_dialing(old, "callback", 1, at(10, 1))
    newer = request(database, "01033333333", at(10, 2))
    assert not store.reschedule(old, "callback", at(11), 1, "busy")

    request(database, "01044444444", at(0, day=2))  # the end is exclusive: out
    request(database, "01055555555", at(23, 59, day=1) - 86400)  # Nov 30: out

    figures = load_callback_figures(database, DAY, NEXT)
    by_id = {c.id: c for c in figures.callbacks}
    assert set(by_id) == {late, first, failed, old, newer}
    done = by_id[first]
    assert done == CallbackItem(
        id=first,
        queue="sales",
        created_at=at(0),
        due_at=at(0) + 60,
        status="done",
        attempts=1,
        last_attempt_at=at(0, 30),
        request_count=2,
        outcome="answered",
    )
    assert (by_id[failed].status, by_id[failed].outcome) == ("failed", "max_attempts")
    assert by_id[old].merged_away and by_id[old].outcome == f"merged:{newer}"
    assert by_id[newer].request_count == 2 and by_id[newer].status == "pending"

    report = callback_report(
        figures.callbacks, figures.leads, figures.progress, start=DAY, end=NEXT, tz=KST,
        now=at(12),
    )  # fmt: skip
    t = report.total
    assert (t.requested, t.requests, t.repeat_requests) == (4, 6, 2)
    assert (t.done, t.failed, t.pending, t.completion_rate) == (1, 1, 2, 0.5)
    assert t.wait_median == 1800.0 and t.attempts == 2  # the merged row's attempt is out
    assert [q.key for q in report.queues] == ["sales", "support"]


def test_leads_last_attempted_in_the_period_and_campaign_progress(database: Database) -> None:
    campaigns = CampaignRepo(database)
    for name in ("promo", "survey"):
        campaigns.create(name, "outbound", now=at(8))
    lead(database, "promo", "01000000001", status="done", attempts=2,
         last_attempt_at=utc(at(10)), outcome="answered")  # fmt: skip
    lead(database, "promo", "01000000002", status="pending", attempts=1,
         last_attempt_at=utc(at(11)), outcome="abandoned")  # fmt: skip
    lead(database, "promo", "01000000003", status="failed", attempts=3,
         last_attempt_at=utc(at(12) - 86400), outcome="max_attempts")  # Nov 30: out  # fmt: skip
    lead(database, "promo", "01000000004")  # never dialled
    lead(database, "survey", "01000000005", status="dialing", attempts=1,
         last_attempt_at=utc(at(0)))  # fmt: skip

    figures = load_callback_figures(database, DAY, NEXT)
    assert figures.callbacks == []
    assert [(w.campaign, w.status, w.outcome) for w in figures.leads] == [
        ("survey", "dialing", None),
        ("promo", "done", "answered"),
        ("promo", "pending", "abandoned"),
    ]
    assert [(p.campaign, p.leads, p.remaining) for p in figures.progress] == [
        ("promo", 4, 2),
        ("survey", 1, 1),
    ]
    report = callback_report(
        [], figures.leads, figures.progress, start=DAY, end=NEXT, tz=KST, now=at(12)
    )
    promo = report.campaigns[0]
    assert (promo.dialled, promo.done, promo.abandoned, promo.abandon_rate) == (2, 1, 1, 0.5)


def test_naive_bounds_are_refused(database: Database) -> None:
    with pytest.raises(ValueError, match="aware"):
        load_callback_figures(database, datetime(2026, 12, 1), NEXT)
