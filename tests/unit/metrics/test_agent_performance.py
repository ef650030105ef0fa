"""Agent performance against hand-computed figures: nine calls over two days (Monday and
Tuesday, Asia/Seoul) for agents 1001 and 1002, a state log for occupancy, QA scores, the
centre's proposal figures, weekly series and a before/after split on Tuesday."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from metrics.agent_comparison import split_compare
from metrics.agent_performance import AgentFigures, performance_report, qa_trend, weekly
from metrics.cdr import CallRecord, Offer, Outcome
from metrics.event_rows import AgentStateRow

KST = ZoneInfo("Asia/Seoul")
MON = datetime(2026, 11, 30, tzinfo=KST)  # a Monday
TUE = datetime(2026, 12, 1, tzinfo=KST)
WED = datetime(2026, 12, 2, tzinfo=KST)
A = Outcome.ANSWERED


def at(local: str) -> float:
    return datetime.fromisoformat(local).replace(tzinfo=KST).timestamp()


def rec(
    call_id: str,
    local: str,
    outcome: Outcome,
    *,
    route: str = "flow:main",
    queue: str | None = "sales",
    agent: str | None = None,
    talk: float | None = None,
    hold: float = 0.0,
    holds: int = 0,
    wrap: float | None = None,
    offers: tuple[tuple[str, str], ...] = (),
    callback_id: str | None = None,
) -> CallRecord:
    t = at(local)
    return CallRecord(
        call_id=call_id,
        started_at=t,
        route=route,
        queue=queue,
        queued_at=t if queue and not route.startswith("dialer:") else None,
        offers=tuple(Offer(agent_id=a, queue=queue or "", at=t, outcome=o) for a, o in offers),
        agent_id=agent,
        answered_at=t + 5 if agent else None,
        talk_seconds=talk,
        hold_seconds=hold,
        holds=holds,
        wrap_up_seconds=wrap,
        callback_id=callback_id,
        outcome=outcome,
        ended_at=t + 5 + (talk or 0) + hold,
    )


CALLS = [
    rec("c1", "2026-11-30T10:00", A, agent="1001", talk=100, hold=20, holds=1, wrap=30,
        offers=(("1002", "no_answer"), ("1001", "answered"))),
    rec("c2", "2026-11-30T11:00", A, agent="1001", talk=90, wrap=10,
        offers=(("1001", "answered"),)),
    rec("c9", "2026-11-30T15:00", A, route="dialer:lead", agent="1001", talk=50),
    rec("c3", "2026-12-01T10:00", A, agent="1002", talk=200, offers=(("1002", "answered"),)),
    rec("c4", "2026-12-01T14:00", A, route="dialer:callback", agent="1002", talk=60, wrap=20,
        callback_id="cb1"),
    rec("c5", "2026-12-01T13:00", Outcome.FAILED, route="dialer:callback", callback_id="cb1"),
    rec("c6", "2026-12-01T11:00", Outcome.ABANDONED_RINGING, offers=(("1001", "withdrawn"),)),
    rec("c7", "2026-12-01T12:00", Outcome.ABANDONED_IN_QUEUE, offers=(("1002", "declined"),)),
    rec("c8", "2026-12-01T09:00", Outcome.CALLBACK_REQUESTED, queue=None, callback_id="cb1"),
    rec("late", "2026-12-02T00:30", A, agent="1001", talk=10),  # after the period
]  # fmt: skip


def state(agent: str, local: str, new: str) -> AgentStateRow:
    return AgentStateRow(
        at=at(local), agent_id=agent, state=new, previous="", reason="", call_id=None, by=""
    )


STATES = [
    state("1001", "2026-11-29T20:00", "logged_out"),  # before the period: nothing counted
    state("1001", "2026-11-30T09:00", "ready"),
    state("1001", "2026-11-30T10:00", "busy"),
    state("1001", "2026-11-30T10:30", "wrap_up"),
    state("1001", "2026-11-30T11:00", "ready"),
    state("1001", "2026-11-30T12:00", "logged_out"),
    state("1003", "2026-12-01T09:00", "ready"),  # logged in, never rung: a row of its own
    state("1003", "2026-12-01T10:00", "logged_out"),
]
SCORES = [
    ("1001", at("2026-11-30T09:00"), 80.0),
    ("1001", at("2026-12-01T09:00"), 90.0),
    ("1002", at("2026-12-01T09:00"), 70.0),
    ("1002", at("2026-12-03T09:00"), 10.0),  # after the period
]


def test_figures_per_agent_hand_computed() -> None:
    report = performance_report(CALLS, STATES, SCORES, start=MON, end=WED, tz=KST)
    assert [a.key for a in report.agents] == ["1001", "1002", "1003"]
    kim, lee, idle = report.agents
    # 1001: c1 (100 + 20 hold + 30), c2 (90 + 10), c9 (50, no wrap-up known); c6 withdrawn
    assert (kim.handled, kim.inbound, kim.callbacks, kim.outbound) == (3, 2, 0, 1)
    assert (kim.offers, kim.offers_answered, kim.no_answer, kim.declined) == (2, 2, 0, 0)
    assert kim.offer_answer_rate == 1.0
    assert (kim.talk_total, kim.hold_total, kim.holds, kim.wrap_up_total) == (240, 20, 1, 40)
    assert kim.talk_avg == 80 and kim.hold_avg == pytest.approx(20 / 3) and kim.wrap_up_avg == 20
    assert kim.aht == 100  # (240 + 20 + 40) / 3
    assert kim.occupancy == pytest.approx(1 / 3)  # on contact 1 h, ready 2 h
    assert (kim.days, kim.handled_per_day, kim.inbound_per_day) == (1, 3.0, 2.0)
    assert (kim.qa_count, kim.qa_avg, kim.qa_trend) == (2, 85.0, pytest.approx(70.0))
    # 1002: c3 (200), c4 the callback (60 + 20); rings c1 no answer, c3 answered, c7 declined
    assert (lee.handled, lee.inbound, lee.callbacks, lee.outbound) == (2, 1, 1, 0)
    assert (lee.offers, lee.offers_answered, lee.no_answer, lee.declined) == (3, 1, 1, 1)
    assert lee.offer_answer_rate == pytest.approx(1 / 3)
    assert lee.aht == 140 and lee.wrap_up_avg == 20
    assert lee.occupancy is None  # no state rows
    assert (lee.qa_count, lee.qa_avg, lee.qa_trend) == (1, 70.0, None)
    assert lee.callbacks_per_day == 1.0
    assert idle == AgentFigures(key="1003", occupancy=0.0, qa_count=0)


def test_total_and_the_centre_figures() -> None:
    report = performance_report(CALLS, STATES, SCORES, start=MON, end=WED, tz=KST)
    total = report.total
    assert (total.handled, total.inbound, total.callbacks, total.outbound) == (5, 3, 1, 1)
    assert (total.offers, total.offers_answered) == (5, 3)
    assert total.aht == 116  # (500 + 20 + 60) / 5
    assert (total.days, total.handled_per_day, total.inbound_per_day) == (2, 2.5, 1.5)
    assert total.occupancy == pytest.approx(3600 / (3600 + 7200 + 3600))  # 1003's idle hour
    assert total.qa_avg == 80.0 and total.qa_trend == pytest.approx(0.0)
    center = report.center
    # requests: the inbound calls that asked for a person: c1 c2 c3 c6 c7 (not c8, not dialer)
    assert (center.requests, center.answered, center.answer_rate) == (5, 3, 0.6)
    assert (center.agents, center.days, center.agent_days) == (2, 2, 2)
    assert center.answered_per_agent_day == 1.5 and center.handled_per_agent_day == 2.5
    assert (center.callbacks_handled, center.callbacks_per_day) == (1, 0.5)
    assert center.aht == 116 and report.qa_available


def test_without_qa_scores_or_states_the_columns_are_empty() -> None:
    report = performance_report(CALLS, start=MON, end=WED, tz=KST, agents=["1009"])
    assert not report.qa_available
    assert [a.key for a in report.agents] == ["1001", "1002", "1009"]
    assert all(a.qa_avg is None and a.qa_trend is None for a in report.agents)
    assert report.total.occupancy is None and report.agent("1009").handled == 0
    assert report.agent("nobody") == AgentFigures(key="nobody")


def test_qa_trend_is_points_per_week() -> None:
    week = 7 * 86400.0
    assert qa_trend([("a", 0.0, 70.0), ("a", week, 80.0), ("a", 2 * week, 90.0)]) == 10.0
    assert qa_trend([("a", 5.0, 70.0), ("a", 5.0, 90.0)]) is None


def test_before_and_after_tuesday() -> None:
    comparison = split_compare(CALLS, STATES, SCORES, start=MON, at=TUE, end=WED, tz=KST)
    center = {c.field: c for c in comparison.center}
    assert (center["aht"].before, center["aht"].after) == (100, 140)
    assert center["aht"].delta == 40 and center["aht"].relative == pytest.approx(0.4)
    rate = center["answer_rate"]  # Monday c1 c2 both answered; Tuesday c3 of c3 c6 c7
    assert (rate.before, rate.after) == (1.0, pytest.approx(1 / 3))
    assert rate.delta == pytest.approx(-2 / 3)
    assert (center["callbacks_handled"].before, center["callbacks_handled"].after) == (0, 1)
    per_day = center["callbacks_per_day"]  # no relative change from zero
    assert (per_day.before, per_day.after, per_day.delta, per_day.relative) == (0, 1, 1, None)
    kim = {c.field: c for c in comparison.changes("1001")}
    assert (kim["handled"].before, kim["handled"].after, kim["handled"].delta) == (3, 0, -3)
    assert kim["aht"].after is None and kim["aht"].relative is None
    assert [name for name, _ in comparison.agents] == ["1001", "1002", "1003"]
    assert comparison.at == TUE
    with pytest.raises(ValueError, match="inside the period"):
        split_compare(CALLS, start=MON, at=WED, end=WED, tz=KST)


def test_weekly_series_name_every_agent_of_the_period() -> None:
    weeks = weekly(CALLS, STATES, None, start=datetime(2026, 11, 24, tzinfo=KST), end=WED, tz=KST)
    assert [w.start.date().isoformat() for w in weeks] == ["2026-11-24", "2026-12-01"]
    assert weeks[0].end == TUE and weeks[1].end == WED
    assert [a.key for a in weeks[0].agents] == ["1001", "1002", "1003"]
    assert weeks[0].agent("1001").handled == 3 and weeks[1].agent("1002").handled == 2


def test_a_period_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        performance_report(CALLS, start=WED, end=MON, tz=KST)
