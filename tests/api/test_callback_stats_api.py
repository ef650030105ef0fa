"""``GET /api/v1/stats/callbacks`` on SQLite and PostgreSQL: the statistics tests' callback
requests and campaign leads stored, then read back through the API, equal what
:func:`metrics.callback_stats.callback_report` makes of the same rows and call records;
the period's defaults and bounds, roles, and a failing loader."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_twisted
from sqlalchemy import insert
from twisted.internet.defer import fail, succeed

from cti_server.api.stats import StatsResource
from cti_server.storage.campaigns import CampaignRepo
from cti_server.storage.db import Database
from cti_server.storage.tables import CallbackRow
from cti_server.storage.tables_campaigns import LeadRow
from metrics.callback_stats import CampaignProgress, LeadItem, callback_report
from metrics.reports import callback_json
from tests.api.conftest import Api, FakeClock
from tests.unit.metrics.test_callback_stats import CALLBACKS, DAY, KST, NEXT, RECORDS, at

CLOCK = at("2026-12-01T18:00")  # "today" is Dec 1 in Seoul
LEADS = [
    LeadItem(id="1", campaign="promo", status="done", attempts=2,
             last_attempt_at=at("2026-12-01T10:00"), outcome="answered"),
    LeadItem(id="2", campaign="promo", status="pending", attempts=1,
             last_attempt_at=at("2026-12-01T11:00"), outcome="abandoned"),
    LeadItem(id="3", campaign="promo", status="pending"),
    LeadItem(id="4", campaign="survey", status="failed", attempts=3,
             last_attempt_at=at("2026-11-30T12:00"), outcome="max_attempts"),
]  # fmt: skip
PROGRESS = [
    CampaignProgress(campaign="promo", leads=3, remaining=2),
    CampaignProgress(campaign="survey", leads=1, remaining=0),
]


def utc(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


@pytest.fixture
def figures_db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    rows = [{"id": c.id, "created_at": utc(c.created_at), "number": f"0101000{i:04d}",
             "queue": c.queue, "due_at": utc(c.due_at), "status": c.status,
             "attempts": c.attempts, "last_attempt_at": utc(c.last_attempt_at),
             "request_count": c.request_count, "outcome": c.outcome}
            for i, c in enumerate(CALLBACKS)]  # fmt: skip
    repo = CampaignRepo(database)
    for name in ("promo", "survey"):
        repo.create(name, "sales", now=at("2026-11-29T09:00"))
    leads = [{"id": int(w.id), "campaign": w.campaign, "number": f"0102000{w.id:0>4}",
              "status": w.status, "attempts": w.attempts, "due_at": utc(at("2026-12-01T09:00")),
              "last_attempt_at": utc(w.last_attempt_at), "outcome": w.outcome, "extra": {}}
             for w in LEADS]  # fmt: skip
    with database.sync_engine.begin() as conn:
        conn.execute(insert(CallbackRow), rows)
        conn.execute(insert(LeadRow), leads)
    yield database
    database.dispose_sync()


@pytest.fixture
def fapi(make_api: Callable[..., Api], figures_db: Database) -> Api:
    stats = StatsResource(lambda start, end: succeed(RECORDS), KST)
    return make_api(database=figures_db, stats=stats, clock=FakeClock(CLOCK))


def expected(start: datetime = DAY, end: datetime = NEXT) -> Any:
    report = callback_report(CALLBACKS, LEADS, PROGRESS, RECORDS, start=start, end=end, tz=KST,
                             now=CLOCK)  # fmt: skip
    return json.loads(json.dumps(callback_json(report)))


@pytest_twisted.ensureDeferred
async def test_today_by_default_as_the_report_computes_it(fapi: Api) -> None:
    answer = await fapi.call("GET", "/stats/callbacks", user="super")
    assert answer.status == 200, answer.raw
    body = answer.json
    assert body == expected()
    assert (body["from"], body["to"]) == ("2026-12-01T00:00:00+09:00", "2026-12-02T00:00:00+09:00")
    total = body["total"]
    assert (total["requested"], total["done"], total["failed"], total["pending"]) == (8, 3, 2, 2)
    assert total["failed_by_reason"] == {"dnc": 1, "max_attempts": 1}
    assert total["handle_avg"] == pytest.approx((150 + 220 + 80) / 3)
    [promo] = body["campaigns"]  # survey: dialled on Nov 30, nothing left
    assert (promo["key"], promo["dialled"], promo["abandoned"], promo["remaining"]) == (
        "promo", 2, 1, 2)  # fmt: skip


@pytest_twisted.ensureDeferred
async def test_explicit_periods(fapi: Api) -> None:
    same = await fapi.call("GET", "/stats/callbacks?from=2026-12-01&to=2026-12-02", user="admin")
    assert same.status == 200 and same.json == expected()
    month = await fapi.call("GET", "/stats/callbacks?from=2026-11", user="super")
    assert month.json == expected(datetime(2026, 11, 1, tzinfo=KST), DAY)
    two = await fapi.call("GET", "/stats/callbacks?from=2026-11-30&to=2026-12-02", user="super")
    assert two.json["campaign_total"]["dialled"] == 3  # survey's Nov 30 attempt too


@pytest.mark.parametrize(
    "query",
    ["from=2026-13-01", "from=yesterday", "from=2026-12-02&to=2026-12-01",
     "from=2020-01-01&to=2026-01-01", "from=9999-12-31", "from=0001-01-01", "to=2026-11-01"],
)  # fmt: skip
@pytest_twisted.ensureDeferred
async def test_bad_periods_are_400(fapi: Api, query: str) -> None:
    answer = await fapi.call("GET", f"/stats/callbacks?{query}", user="super")
    assert (answer.status, answer.error) == (400, "bad_query"), answer.raw


@pytest_twisted.ensureDeferred
async def test_supervisors_only(fapi: Api) -> None:
    assert (await fapi.call("GET", "/stats/callbacks")).status == 401
    agent = await fapi.call("GET", "/stats/callbacks", user="1002")
    assert (agent.status, agent.error) == (403, "forbidden")


@pytest_twisted.ensureDeferred
async def test_failures_are_503(make_api: Callable[..., Api], figures_db: Database) -> None:
    broken = StatsResource(lambda start, end: fail(RuntimeError("records: connection refused")),
                           KST)  # fmt: skip
    api = make_api(database=figures_db, stats=broken, clock=FakeClock(CLOCK))
    answer = await api.call("GET", "/stats/callbacks", user="super")
    assert (answer.status, answer.error) == (503, "database_unavailable")
    assert "connection refused" in answer.json["detail"]
