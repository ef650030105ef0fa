"""Period statistics against hand-computed figures: seven calls over a month end, bucketed in
Asia/Seoul and in UTC, by day, month, hour, agent and queue, with occupancy from a state log."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from metrics.cdr import CallRecord, Offer, Outcome, Transfer
from metrics.event_rows import AgentStateRow
from metrics.periods import PeriodError, parse_moment, time_buckets
from metrics.stats import PeriodStats, StatsSettings, period_stats

KST = ZoneInfo("Asia/Seoul")
UTC = ZoneInfo("UTC")
START = datetime(2026, 11, 30, tzinfo=KST)
END = datetime(2026, 12, 2, tzinfo=KST)


def at(local: str) -> float:
    return datetime.fromisoformat(local).replace(tzinfo=KST).timestamp()


def rec(
    call_id: str,
    local: str,
    outcome: Outcome,
    *,
    queue: str | None = "sales",
    wait: float | None = None,
    agent: str | None = None,
    talk: float | None = None,
    hold: float = 0.0,
    wrap: float | None = None,
    offers: tuple[tuple[str, str], ...] = (),
    transferred: bool = False,
) -> CallRecord:
    t = at(local)
    return CallRecord(
        call_id=call_id,
        started_at=t,
        queue=queue,
        queued_at=t if queue else None,
        wait_seconds=wait,
        offers=tuple(Offer(agent_id=a, queue=queue or "", at=t, outcome=o) for a, o in offers),
        agent_id=agent,
        answered_at=t + (wait or 0) if agent else None,
        talk_seconds=talk,
        hold_seconds=hold,
        wrap_up_seconds=wrap,
        transfers=(Transfer(at=t + 60, target="2000"),) if transferred else (),
        outcome=outcome,
        ended_at=t + (wait or 0) + (talk or 0) + hold,
    )


A = Outcome.ANSWERED
CALLS = [
    rec(
        "a1",
        "2026-11-30T10:00",
        A,
        wait=10,
        agent="1001",
        talk=120,
        wrap=30,
        offers=(("1001", "answered"),),
    ),
    # 23:59 + 30 s wait + 300 s talk ends on Dec 1: it counts on Nov 30, where it started
    rec(
        "a2",
        "2026-11-30T23:59",
        A,
        wait=30,
        agent="1002",
        talk=300,
        wrap=10,
        transferred=True,
        offers=(("1002", "answered"),),
    ),
    rec("a3", "2026-11-30T08:30", Outcome.ABANDONED_IN_QUEUE, wait=3),  # short abandon
    # 08:00 KST on Dec 1 is 23:00 UTC on Nov 30: another day and another month in UTC
    rec(
        "a4",
        "2026-12-01T08:00",
        Outcome.ABANDONED_RINGING,
        wait=40,
        offers=(("1001", "withdrawn"),),
    ),
    rec("a5", "2026-12-01T12:00", Outcome.ABANDONED_IN_IVR, queue=None),
    rec("a6", "2026-12-01T13:00", Outcome.CALLBACK_REQUESTED, queue="support", wait=15),
    rec(
        "a7",
        "2026-12-01T14:00",
        A,
        wait=5,
        agent="1001",
        talk=60,
        hold=20,
        offers=(("1002", "no_answer"), ("1001", "answered")),
    ),
    rec("out1", "2026-12-02T00:30", A, wait=1, agent="1001", talk=10),  # after the period
    rec("out2", "2026-11-29T23:00", A, wait=1, agent="1001", talk=10),  # before it
]


def by_key(rows: tuple[PeriodStats, ...]) -> dict[str, PeriodStats]:
    return {r.key: r for r in rows}


def test_by_day_in_seoul_with_every_definition_hand_computed() -> None:
    table = period_stats(CALLS, start=START, end=END, by="day", tz=KST)
    assert [r.key for r in table.rows] == ["2026-11-30", "2026-12-01"]
    nov30, dec1 = table.rows
    assert (nov30.calls, nov30.requests, nov30.answered, nov30.queued) == (3, 3, 2, 3)
    assert nov30.request_share == 0.5 and nov30.answer_rate == pytest.approx(2 / 3)
    assert (nov30.abandoned, nov30.short_abandoned, nov30.abandon_rate) == (1, 1, 0.0)
    assert nov30.service_level == 0.5  # a1 within 20 s, a2 not
    assert nov30.service_level_abandons_good == pytest.approx(2 / 3)  # (a1 + a3) / 3
    assert nov30.service_level_queued == pytest.approx(2 / 3)
    assert nov30.service_level_short_excluded == 0.5  # a1 / (2 answered + 1 - 1 short)
    assert (nov30.asa, nov30.max_wait, nov30.wait_total) == (20.0, 30.0, 43.0)
    assert nov30.wait_avg == pytest.approx(43 / 3)
    assert (nov30.talk_total, nov30.talk_avg, nov30.wrap_up_total, nov30.wrap_up_avg) == (
        420.0,
        210.0,
        40.0,
        20.0,
    )
    assert nov30.aht == 230.0 and nov30.transferred == 1
    assert (dec1.calls, dec1.requests, dec1.answered, dec1.queued) == (4, 3, 1, 3)
    assert (dec1.abandoned, dec1.short_abandoned) == (1, 0)
    assert dec1.abandon_rate == pytest.approx(1 / 3) and dec1.answer_rate == pytest.approx(1 / 3)
    assert dec1.service_level == 1.0 and dec1.service_level_abandons_good == 0.5
    assert dec1.service_level_queued == pytest.approx(2 / 3)  # a7 and the callback a6
    assert dec1.service_level_short_excluded == 0.5
    assert (dec1.asa, dec1.max_wait, dec1.wait_total, dec1.wait_avg) == (5.0, 40.0, 60.0, 20.0)
    assert (dec1.hold_total, dec1.wrap_up_total, dec1.wrap_up_avg) == (20.0, 0.0, None)
    assert dec1.aht == 80.0  # (60 talk + 20 hold) / 1, wrap-up unknown
    assert (dec1.abandoned_in_ivr, dec1.callbacks_requested, dec1.missed_offers) == (1, 1, 1)
    total = table.total
    assert (total.calls, total.requests, total.answered, total.queued) == (7, 6, 3, 6)
    assert total.abandon_rate == pytest.approx(1 / 5)  # (2 - 1 short) / (6 - 1 short)
    assert total.answer_rate == 0.5 and total.request_share == 1.0
    assert total.occupancy is None  # no agent state log given


def test_the_same_calls_bucket_differently_in_utc() -> None:
    days = period_stats(CALLS, start=START, end=END, by="day", tz=UTC)
    assert [(r.key, r.calls) for r in days.rows] == [
        ("2026-11-29", 1),  # a3: 08:30 KST is 23:30 UTC the day before
        ("2026-11-30", 3),  # a1, a2 and a4
        ("2026-12-01", 3),
    ]
    kst_months = period_stats(CALLS, start=START, end=END, by="month", tz=KST)
    utc_months = period_stats(CALLS, start=START, end=END, by="month", tz=UTC)
    assert [(r.key, r.calls) for r in kst_months.rows] == [("2026-11", 3), ("2026-12", 4)]
    assert [(r.key, r.calls) for r in utc_months.rows] == [("2026-11", 4), ("2026-12", 3)]
    years = period_stats(CALLS, start=START, end=END, by="year", tz=KST)
    assert [(r.key, r.calls, r.answered) for r in years.rows] == [("2026", 7, 3)]


def test_by_hour_of_day_has_all_24_rows() -> None:
    hours = period_stats(CALLS, start=START, end=END, by="hour", tz=KST)
    assert [r.key for r in hours.rows] == [f"{h:02d}" for h in range(24)]
    counts = {r.key: r.calls for r in hours.rows if r.calls}
    assert counts == {"08": 2, "10": 1, "12": 1, "13": 1, "14": 1, "23": 1}


def test_by_agent_a_call_belongs_to_everyone_it_rang() -> None:
    agents = by_key(period_stats(CALLS, start=START, end=END, by="agent", tz=KST).rows)
    assert list(agents) == ["1001", "1002"]
    a, b = agents["1001"], agents["1002"]
    assert (a.requests, a.answered, a.missed_offers, a.abandoned) == (3, 2, 0, 1)
    assert a.answer_rate == pytest.approx(2 / 3) and a.talk_total == 180.0
    assert (b.requests, b.answered, b.missed_offers, b.talk_total) == (2, 1, 1, 300.0)
    assert b.transferred == 1


def test_by_queue_the_first_queue_and_a_row_for_calls_without_one() -> None:
    queues = period_stats(CALLS, start=START, end=END, by="queue", tz=KST).rows
    assert [(r.key, r.calls, r.answered) for r in queues] == [
        ("sales", 5, 3),
        ("support", 1, 0),
        ("-", 1, 0),
    ]


def test_thresholds_are_settings() -> None:
    settings = StatsSettings(service_level_seconds=30.0, short_abandon_seconds=2.0)
    total = period_stats(CALLS, start=START, end=END, by="day", tz=KST, settings=settings).total
    assert total.service_level == 1.0  # a2's 30 s wait is now within
    assert total.short_abandoned == 0 and total.abandon_rate == pytest.approx(2 / 6)


def row(agent: str, local: str, state: str) -> AgentStateRow:
    return AgentStateRow(
        at=at(local), agent_id=agent, state=state, previous="", reason="", call_id=None, by=""
    )


def test_occupancy_is_on_contact_over_on_contact_plus_idle() -> None:
    log = [
        row("1001", "2026-11-30T09:00", "ready"),
        row("1001", "2026-11-30T09:59", "reserved"),  # ringing: neither on contact nor idle
        row("1001", "2026-11-30T10:00", "busy"),
        row("1001", "2026-11-30T11:00", "wrap_up"),
        row("1001", "2026-11-30T11:30", "ready"),
        row("1001", "2026-11-30T12:00", "logged_out"),
    ]
    on, idle = 3600 + 1800, 3540 + 1800
    days = period_stats(CALLS, start=START, end=END, by="day", tz=KST, agent_states=log)
    assert days.rows[0].occupancy == pytest.approx(on / (on + idle))
    assert days.rows[1].occupancy is None and days.total.occupancy == days.rows[0].occupancy
    hours = by_key(
        period_stats(CALLS, start=START, end=END, by="hour", tz=KST, agent_states=log).rows
    )
    assert (hours["09"].occupancy, hours["10"].occupancy, hours["11"].occupancy) == (0.0, 1.0, 0.5)
    agents = by_key(
        period_stats(CALLS, start=START, end=END, by="agent", tz=KST, agent_states=log).rows
    )
    assert agents["1002"].occupancy is None
    # the last state runs to `now` when the period is not over yet
    open_log = log[:3]
    now = at("2026-11-30T10:30")
    live = period_stats([], start=START, end=END, by="day", tz=KST, agent_states=open_log, now=now)
    assert live.total.occupancy == pytest.approx(1800 / (1800 + 3540))


def test_periods_in_a_dst_zone_and_bad_periods() -> None:
    ny = ZoneInfo("America/New_York")
    start, end = parse_moment("2026-03-08", ny)  # spring forward: a 23-hour day
    (day,) = time_buckets(start, end, "day", ny)
    assert day.windows[0][1] - day.windows[0][0] == 23 * 3600
    hours = time_buckets(start, end, "hour", ny)
    assert sum(len(b.windows) for b in hours) == 23 and not hours[2].windows
    assert parse_moment("2026-12", KST) == (
        datetime(2026, 12, 1, tzinfo=KST),
        datetime(2027, 1, 1, tzinfo=KST),
    )
    assert parse_moment("2026", KST)[1] == datetime(2027, 1, 1, tzinfo=KST)
    assert parse_moment("2026-12-01T09:00", KST)[0] == datetime(2026, 12, 1, 9, tzinfo=KST)
    with pytest.raises(PeriodError, match="not a date"):
        parse_moment("2026-13-01", KST)
    with pytest.raises(PeriodError, match="unknown grouping"):
        period_stats(CALLS, start=START, end=END, by="week", tz=KST)
    with pytest.raises(PeriodError, match="before it starts"):
        period_stats(CALLS, start=END, end=START, by="day", tz=KST)
