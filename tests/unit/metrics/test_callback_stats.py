"""Callback and campaign figures against hand-computed values: requests on one Seoul day (and
the same rows in a UTC day), merges, completions and give-ups, waits, attempts, handle time
from the dialer's call records, and campaign leads with drops."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from metrics.call_record import CallRecord, Outcome
from metrics.callback_stats import (
    CallbackItem,
    CampaignProgress,
    LeadItem,
    callback_report,
    nearest_rank,
)
from metrics.reports import callback_json, callback_text

KST = ZoneInfo("Asia/Seoul")
UTC = ZoneInfo("UTC")
DAY = datetime(2026, 12, 1, tzinfo=KST)
NEXT = datetime(2026, 12, 2, tzinfo=KST)


def at(local: str) -> float:
    return datetime.fromisoformat(local).replace(tzinfo=KST).timestamp()


NOW = at("2026-12-02T09:00")


def cb(
    cid: str,
    created: str,
    status: str,
    *,
    queue: str = "sales",
    attempted: str | None = None,
    attempts: int = 0,
    requests: int = 1,
    outcome: str | None = None,
    due: str | None = None,
) -> CallbackItem:
    return CallbackItem(
        id=cid,
        queue=queue,
        created_at=at(created),
        due_at=at(due or created),
        status=status,
        attempts=attempts,
        last_attempt_at=None if attempted is None else at(attempted),
        request_count=requests,
        outcome=outcome,
    )


CALLBACKS = [
    # done after 10 min, 1 attempt, asked twice
    cb("c1", "2026-12-01T09:00", "done", attempted="2026-12-01T09:10", attempts=1, requests=2),
    # done after 30 min, 3 attempts
    cb("c2", "2026-12-01T10:00", "done", attempted="2026-12-01T10:30", attempts=3),
    # done after 2 h, 2 attempts, support queue
    cb("c3", "2026-12-01T11:00", "done", queue="support", attempted="2026-12-01T13:00", attempts=2),
    cb("c4", "2026-12-01T12:00", "failed", attempts=3, outcome="max_attempts"),
    cb("c5", "2026-12-01T12:30", "failed", attempts=0, outcome="dnc"),
    cb("c6", "2026-12-01T20:00", "pending", due="2026-12-02T08:00", attempts=1),  # overdue
    cb("c7", "2026-12-01T22:00", "pending", due="2026-12-02T10:00"),  # not yet due
    cb("c8", "2026-12-01T23:00", "cancelled"),
    # folded into c7 on a retry: counted there (c7's request_count would carry it)
    cb("m1", "2026-12-01T08:00", "cancelled", attempts=1, outcome="merged:c7"),
    # 08:30 on Dec 1 in Seoul is still Nov 30 in UTC; 00:30 on Dec 2 is outside
    cb("x1", "2026-12-02T00:30", "done", attempted="2026-12-02T00:40", attempts=1),
]


def call(
    cid: str, route: str, local: str, *, queue: str = "sales", talk: float | None = None,
    hold: float = 0.0, wrap: float | None = None,
) -> CallRecord:  # fmt: skip
    t = at(local)
    return CallRecord(
        call_id=cid,
        started_at=t,
        route=route,
        queue=queue,
        answered_at=None if talk is None else t + 5,
        talk_seconds=talk,
        hold_seconds=hold,
        wrap_up_seconds=wrap,
        outcome=Outcome.ANSWERED if talk is not None else Outcome.FAILED,
        ended_at=t + 30 + (talk or 0),
    )


RECORDS = [
    call("d1", "dialer:callback", "2026-12-01T09:10", talk=120, wrap=30),  # 150
    call("d2", "dialer:callback", "2026-12-01T10:05"),  # busy: no handle time
    call("d3", "dialer:callback", "2026-12-01T10:30", talk=200, hold=20, wrap=None),  # 220
    call("d4", "dialer:callback", "2026-12-01T13:00", queue="support", talk=60, wrap=20),  # 80
    call("d5", "dialer:lead", "2026-12-01T14:00", talk=100, wrap=50),  # 150
    call("in1", "", "2026-12-01T09:00", talk=500),  # an inbound call: not a dialer call
]


def test_callbacks_of_a_seoul_day() -> None:
    report = callback_report(CALLBACKS, records=RECORDS, start=DAY, end=NEXT, tz=KST, now=NOW)
    t = report.total
    assert (t.requested, t.requests, t.repeat_requests) == (8, 9, 1)
    assert (t.done, t.failed, t.cancelled, t.pending, t.overdue) == (3, 2, 1, 2, 1)
    assert t.failed_by_reason == (("dnc", 1), ("max_attempts", 1))
    assert t.oldest_pending == 13 * 3600  # c6, from 20:00 to 09:00 next morning
    assert t.completion_rate == 3 / 5 and t.done_rate == 3 / 8
    # waits 600, 1800, 7200
    assert t.wait_avg == 3200.0 and t.wait_median == 1800.0 and t.wait_p90 == 7200.0
    assert t.attempts == 1 + 3 + 2 + 3 + 0 + 1 and t.attempts_per_completion == 10 / 3
    assert t.attempts_per_done == 2.0
    assert (t.calls, t.handled_calls) == (4, 3)
    assert t.handle_avg == pytest.approx((150 + 220 + 80) / 3)

    sales, support = report.queues
    assert (sales.key, sales.requested, sales.done, sales.calls, sales.handled_calls) == (
        "sales",
        7,
        2,
        3,
        2,
    )
    assert sales.wait_median == 1200.0  # (600 + 1800) / 2
    assert sales.handle_avg == 185.0
    assert (support.key, support.requested, support.done, support.wait_avg) == (
        "support",
        1,
        1,
        7200.0,
    )
    assert support.completion_rate == 1.0 and support.handle_avg == 80.0


def test_the_zone_decides_which_day_a_request_is_in() -> None:
    utc_day = datetime(2026, 12, 1, tzinfo=UTC)  # 09:00 Dec 1 to 09:00 Dec 2 in Seoul
    report = callback_report(
        CALLBACKS, start=utc_day, end=datetime(2026, 12, 2, tzinfo=UTC), tz=UTC, now=NOW
    )
    # m1 (08:00 KST) stays out (merged); x1 (00:30 KST Dec 2) is in
    assert report.total.requested == 9 and report.total.done == 4 and report.tz == "UTC"
    naive = callback_report(
        CALLBACKS, start=datetime(2026, 12, 1), end=datetime(2026, 12, 2), tz=KST, now=NOW
    )
    assert naive.total.requested == 8 and naive.start == DAY  # wall-clock in the zone


def test_an_empty_period_has_no_rates() -> None:
    report = callback_report([], start=DAY, end=NEXT, tz=KST, now=NOW)
    t = report.total
    assert (t.requested, t.completion_rate, t.wait_median, t.wait_p90, t.handle_avg) == (
        0,
        None,
        None,
        None,
        None,
    )
    assert report.queues == () and report.campaigns == ()
    with pytest.raises(ValueError, match="before it starts"):
        callback_report([], start=NEXT, end=DAY, tz=KST, now=NOW)


def lead(lid: str, campaign: str, status: str, attempted: str | None, **kw: object) -> LeadItem:
    return LeadItem(
        id=lid,
        campaign=campaign,
        status=status,
        last_attempt_at=None if attempted is None else at(attempted),
        **kw,  # type: ignore[arg-type]
    )


LEADS = [
    lead("1", "promo", "done", "2026-12-01T10:00", attempts=1, outcome="answered"),
    lead("2", "promo", "done", "2026-12-01T11:00", attempts=2, outcome="answered"),
    lead("3", "promo", "pending", "2026-12-01T12:00", attempts=1, outcome="abandoned"),
    lead("4", "promo", "failed", "2026-12-01T13:00", attempts=3, outcome="max_attempts"),
    lead("5", "promo", "pending", "2026-12-01T14:00", attempts=1, outcome="busy"),
    lead("6", "promo", "dialing", "2026-12-01T15:00", attempts=2, outcome="abandoned"),
    lead("7", "promo", "done", "2026-11-30T10:00", attempts=1),  # another day
    lead("8", "survey", "done", "2026-12-01T16:00", attempts=1),
    lead("9", "promo", "pending", None),  # never dialled
]
PROGRESS = [
    CampaignProgress(campaign="promo", leads=100, remaining=60),
    CampaignProgress(campaign="survey", leads=10, remaining=0),
    CampaignProgress(campaign="old", leads=5, remaining=0),  # nothing to show
    CampaignProgress(campaign="queued", leads=20, remaining=20),  # not started: shown
]


def test_campaign_figures() -> None:
    report = callback_report([], LEADS, PROGRESS, RECORDS, start=DAY, end=NEXT, tz=KST, now=NOW)
    assert [c.key for c in report.campaigns] == ["promo", "queued", "survey"]
    promo, waiting, survey = report.campaigns
    assert (promo.leads, promo.remaining, promo.dialled, promo.attempts) == (100, 60, 6, 10)
    assert (promo.done, promo.failed, promo.abandoned, promo.answered) == (2, 1, 1, 3)
    assert promo.abandon_rate == 1 / 3  # the dialling lead 6 is not counted as a drop
    assert promo.completion_rate == 2 / 3 and promo.done_rate == 2 / 6
    assert promo.attempts_per_completion == 5.0
    assert (waiting.dialled, waiting.remaining, waiting.done_rate) == (0, 20, None)
    assert (survey.done, survey.completion_rate) == (1, 1.0)
    total = report.campaign_total
    assert (total.leads, total.remaining, total.dialled, total.done) == (135, 80, 7, 3)
    assert (total.calls, total.handled_calls, total.handle_avg) == (1, 1, 150.0)


def test_nearest_rank() -> None:
    ten = [float(i) for i in range(1, 11)]
    assert nearest_rank(ten, 0.9) == 9.0 and nearest_rank(ten, 0.5) == 5.0
    assert nearest_rank([3.0, 7.0], 0.9) == 7.0 and nearest_rank([4.0], 0.9) == 4.0
    assert nearest_rank([], 0.9) is None


def test_text_section_and_json_body() -> None:
    report = callback_report(
        CALLBACKS, LEADS, PROGRESS, RECORDS, start=DAY, end=NEXT, tz=KST, now=NOW
    )
    text = callback_text(report)
    lines = text.splitlines()
    assert lines[0] == (
        "콜백 Callbacks: 2026-12-01T00:00+09:00 ≤ t < 2026-12-02T00:00+09:00 (Asia/Seoul), "
        "현재 as of 2026-12-02T09:00+09:00"
    )
    assert lines[1].split()[:4] == ["큐", "요청", "재요청", "완료"]
    assert lines[2].split()[:4] == ["Queue", "Requested", "Repeats", "Done"]
    total = lines[7].split()
    assert total[:2] == ["합계", "Total"]
    # requested, repeats, done, failed, pending, overdue, completion, done/requested,
    # avg / median / p90 to callback, attempts per completion, AHT
    assert total[2:] == ["8", "1", "3", "2", "2", "1", "60.0%", "37.5%", "0:53:20", "0:30:00",
                         "2:00:00", "3.33", "150.0"]  # fmt: skip
    assert "실패 사유 Failed by reason: dnc 1, max_attempts 1" in text
    assert "캠페인 Campaigns (마지막 시도 기준 by last attempt)" in text
    promo = next(line for line in lines if line.startswith("promo")).split()
    assert promo == ["promo", "100", "60", "6", "3", "2", "1", "1", "33.3%", "66.7%", "33.3%",
                     "5.00", "-"]  # fmt: skip

    body = json.loads(json.dumps(callback_json(report)))
    assert (body["tz"], body["now"]) == ("Asia/Seoul", "2026-12-02T09:00:00+09:00")
    assert body["total"]["completion_rate"] == 0.6
    assert body["total"]["failed_by_reason"] == {"dnc": 1, "max_attempts": 1}
    assert [q["key"] for q in body["queues"]] == ["sales", "support"]
    assert body["campaigns"][0]["abandon_rate"] == pytest.approx(1 / 3)
    assert body["campaign_total"]["handle_avg"] == 150.0
