"""Customer-first campaigns: pacing by free agents, the abandon cap, pause/resume/stop; and the
pieces under them (the pacer, calling hours across DST, settings, event wire form)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from acd.calling_hours import is_open, next_open, zone
from acd.dialer_model import IllegalCampaignCommand, UnknownCampaignError, retry_delay
from acd.dialer_protocol import (
    AgentReserved,
    AgentsChanged,
    CallEnded,
    CampaignCommand,
    Complete,
    Dial,
    DialResult,
    HangUpCustomer,
    MarkDialing,
    ReleaseAgent,
    Reschedule,
    ReserveAgent,
)
from acd.dialer_settings import CallingHours, DialerSettings, PacingSettings, RetrySettings
from acd.pacing import Pacer, lines_to_dial
from cti_server import events as ev
from cti_server.events.dialer import DialAbandoned, LeadDialed, PacingChanged
from tests.unit.acd.dialer_rig import NEW_YORK, TUESDAY_10, Rig, at, item, lead

CONFIG: dict[str, Any] = {
    "campaigns": [
        {"name": "promo", "queue": "sales", "caller_id": "0215880002", "pacing": {"ratio": 2.0}},
        {"name": "survey", "queue": "sales", "customer_first": False},
    ]
}


def campaign(free: int = 2, config: dict[str, Any] = CONFIG) -> Rig:
    r = Rig(config)
    r.pool.free["sales"] = [f"a{i}" for i in range(1, free + 1)]
    r.feed(CampaignCommand(campaign="promo", command="start"))
    return r


def load(r: Rig, count: int, prefix: str = "l") -> None:
    r.pool.free, free = {}, r.pool.free  # load without dialling, then let the pass run
    r.leads(*(lead(f"{prefix}{i}", number=f"0101000{i:04d}") for i in range(count)))
    r.pool.free = free


def earn_headroom(r: Rig, calls: int = 40) -> None:
    """Connected live answers, so the window allows predictive dialling."""
    for i in range(calls):
        r.pool.free["sales"] = ["a1"]
        r.leads(lead(f"h{i}", number=f"0102000{i:04d}"))
        dial = r.one(Dial)
        r.connect(dial)
        r.feed(CallEnded(attempt_id=dial.attempt_id, disposition="sale"))


def test_customer_first_dials_at_once_with_the_campaign_caller_id() -> None:
    r = campaign(free=1)
    r.leads(lead("l1"))
    mark, dial = r.actions
    assert isinstance(mark, MarkDialing) and isinstance(dial, Dial)
    assert (dial.customer_first, dial.agent_id, dial.caller_id) == (True, None, "0215880002")
    assert isinstance(r.events[0], LeadDialed) and r.events[0].level == 1.0

    r.feed(DialResult(attempt_id=dial.attempt_id, outcome="answered"))
    reserve = r.one(ReserveAgent)
    assert (reserve.customer_first, reserve.timeout) == (True, 2.0)
    r.feed(AgentReserved(attempt_id=dial.attempt_id, ok=True, agent_id="a1"), after=1.5)
    assert r.actions == [Complete(item_id="l1", kind="lead")]
    assert r.d.pacing("promo", r.now).live == 1


def test_fresh_window_dials_one_line_per_free_agent() -> None:
    r = campaign(free=2)
    load(r, 10)
    r.feed(AgentsChanged())
    assert len(r.of(Dial)) == 2  # no history: progressive, whatever the ratio
    r.feed(AgentsChanged())
    assert r.of(Dial) == []  # the two lines in progress use up the two agents


def test_ratio_times_free_agents_once_headroom_is_earned() -> None:
    r = campaign(free=2)
    earn_headroom(r)
    assert r.d.pacing("promo", r.now).level == 2.0
    r.pool.free["sales"] = ["a1", "a2", "a3"]
    load(r, 10)
    r.feed(AgentsChanged())
    assert len(r.of(Dial)) == 6  # floor(2.0 * 3) - 0 in progress
    r.pool.free["sales"] = ["a1", "a2", "a3", "a4"]
    r.feed(AgentsChanged())
    assert len(r.of(Dial)) == 2  # floor(2.0 * 4) - 6


def test_no_agent_within_the_grace_is_an_abandon() -> None:
    r = campaign(free=1)
    r.leads(lead("l1"))
    dial = r.one(Dial)
    r.feed(DialResult(attempt_id=dial.attempt_id, outcome="answered"), after=10)
    r.advance(2)
    hang_up, release, again = r.actions
    assert hang_up == HangUpCustomer(attempt_id=dial.attempt_id, reason="abandoned")
    assert release == ReleaseAgent(attempt_id=dial.attempt_id)
    assert again == Reschedule(
        item_id="l1", kind="lead", due_at=r.now + 72 * 3600, attempts=1, reason="abandoned"
    )
    abandoned = [e for e in r.events if isinstance(e, DialAbandoned)]
    assert abandoned[0].waited == 2.0
    view = r.d.pacing("promo", r.now)
    assert (view.live, view.abandoned, view.rate) == (1, 1, 1.0)


def test_an_abandon_over_the_cap_stops_predictive_dialling_at_once() -> None:
    r = campaign(free=1)
    earn_headroom(r, 40)
    r.pool.free["sales"] = ["a1"]
    r.leads(lead("x1"), lead("x2"))
    first, second = r.of(Dial)  # level 2.0 x 1 free agent
    r.feed(DialResult(attempt_id=first.attempt_id, outcome="answered"))
    r.feed(AgentReserved(attempt_id=first.attempt_id, ok=False))  # one abandon in 41: 2.4 %
    assert r.d.pacing("promo", r.now).level == 1.0  # (1 + 1) / (41 + 1) > 3 %: no headroom
    assert r.d.pacing("promo", r.now).stored_level == 2.0
    r.leads(lead("x3"))
    assert r.of(Dial) == []  # floor(1.0 * 1) - 1 line in progress
    r.feed(DialResult(attempt_id=second.attempt_id, outcome="abandoned"))  # 2 / 42 = 4.8 %
    changed = [e for e in r.events if isinstance(e, PacingChanged)]
    assert changed and (changed[0].level, changed[0].previous) == (1.0, 2.0)


def test_pause_resume_and_stop() -> None:
    r = campaign(free=1)
    r.feed(CampaignCommand(campaign="promo", command="pause", by="sup1"))
    load(r, 3)
    assert r.feed(AgentsChanged()) == [] and r.d.campaign_state("promo") == "paused"
    r.feed(CampaignCommand(campaign="promo", command="resume"))
    assert len(r.of(Dial)) == 1
    r.feed(CampaignCommand(campaign="promo", command="stop"))
    assert r.d.counts()["waiting"] == 0 and r.d.counts()["dialing"] == 1  # the call goes on
    with pytest.raises(IllegalCampaignCommand, match="'pause' is not allowed when 'stopped'"):
        r.feed(CampaignCommand(campaign="promo", command="pause"))


def test_agent_first_campaign_reserves_after_callbacks() -> None:
    r = Rig(CONFIG)
    r.pool.free["sales"] = ["a1"]
    r.feed(CampaignCommand(campaign="survey", command="start"))
    r.pool.free, free = {}, r.pool.free
    r.leads(lead("s1", campaign="survey", due_at=TUESDAY_10 - 3600))
    r.callback(item("cb1"))
    r.pool.free = free
    r.feed(AgentsChanged())
    assert [a.item.id for a in r.of(ReserveAgent)] == ["cb1"]


def test_a_lead_waiting_for_an_agent_past_closing_time_waits_for_the_morning() -> None:
    r = campaign(free=0)
    r.now = at(2025, 3, 4, 19, 55)
    r.leads(lead("l1", due_at=r.now))
    assert r.actions == []  # ready, but nobody is free
    r.advance(6 * 60)  # 20:01
    r.pool.free["sales"] = ["a1"]
    r.feed(AgentsChanged())
    assert not r.of(Dial)
    assert r.one(Reschedule).due_at == at(2025, 3, 5, 9)


def test_inbound_callers_waiting_take_agents_from_the_campaign() -> None:
    r = campaign(free=3)
    r.pool.waiting["sales"] = (2, 3.0)  # under the protection threshold: inbound first
    load(r, 5)
    r.feed(AgentsChanged())
    assert len(r.of(Dial)) == 1


def test_campaigns_on_one_queue_take_turns() -> None:
    config = {
        "campaigns": [
            {"name": "promo", "queue": "sales"},
            {"name": "winback", "queue": "sales"},
        ]
    }
    r = campaign(free=0, config=config)
    r.feed(CampaignCommand(campaign="winback", command="start"))
    r.leads(*(lead(f"p{i}", number=f"0103000{i:04d}") for i in range(4)))
    r.leads(*(lead(f"w{i}", campaign="winback", number=f"0104000{i:04d}") for i in range(4)))
    r.pool.free["sales"] = ["a1", "a2", "a3", "a4"]
    r.feed(AgentsChanged())
    assert sorted(d.campaign for d in r.of(Dial)) == ["promo", "promo", "winback", "winback"]


def test_max_lines_caps_a_campaign() -> None:
    config = {"campaigns": [{"name": "promo", "queue": "sales", "pacing": {"max_lines": 2}}]}
    r = campaign(free=5, config=config)
    load(r, 5)
    r.feed(AgentsChanged())
    assert len(r.of(Dial)) == 2


def test_customer_hanging_up_before_an_agent_came_is_an_abandon() -> None:
    r = campaign(free=1)
    r.leads(lead("l1"))
    dial = r.one(Dial)
    r.feed(DialResult(attempt_id=dial.attempt_id, outcome="answered"))
    r.feed(CallEnded(attempt_id=dial.attempt_id), after=1)
    assert not r.of(HangUpCustomer) and r.one(Reschedule).reason == "abandoned"
    r.feed(AgentReserved(attempt_id=dial.attempt_id, ok=True, agent_id="a1"))
    assert r.actions == [ReleaseAgent(attempt_id=dial.attempt_id)]  # too late: let them go


def test_pausing_while_an_agent_is_reserved_releases_them() -> None:
    r = Rig(CONFIG)
    r.pool.free["sales"] = ["b1"]
    r.feed(CampaignCommand(campaign="survey", command="start"))
    r.leads(lead("s1", campaign="survey"))
    reserve = r.one(ReserveAgent)
    r.feed(CampaignCommand(campaign="survey", command="pause"))
    r.feed(AgentReserved(attempt_id=reserve.attempt_id, ok=True, agent_id="b1"))
    assert r.actions == [ReleaseAgent(attempt_id=reserve.attempt_id)]
    assert r.d.item_state("s1") == "waiting"


def test_a_bad_batch_is_refused_whole() -> None:
    r = campaign()
    with pytest.raises(UnknownCampaignError):
        r.leads(lead("ok1"), lead("bad", campaign="gone"))
    assert r.d.item_state("ok1") is None and r.actions == []


# --- the pacer on its own -------------------------------------------------------------------


def test_pacer_headroom_rule_and_tapered_adjustment() -> None:
    pacer = Pacer(PacingSettings(ratio=2.0, step=0.5))
    assert pacer.effective_level(0) == 1.0  # no history
    for _ in range(33):
        pacer.record(0, abandoned=False)
    assert pacer.effective_level(0) == 2.0  # (0 + 1) / 34 <= 3 %
    pacer.record(1, abandoned=True)  # 1 / 34 = 2.9 %: over taper (2.4 %), under the cap
    assert pacer.adjust(1) and pacer.level == 1.5
    for _ in range(100):
        pacer.record(2, abandoned=False)
    assert pacer.adjust(2) and pacer.level == 2.0
    assert not pacer.adjust(3)  # at the ratio already
    assert pacer.effective_level(24 * 3600 + 3) == 1.0  # the window rolled: no history again


def test_lines_to_dial() -> None:
    assert lines_to_dial(2.0, 3, 0) == 6
    assert lines_to_dial(1.5, 3, 2) == 2
    assert lines_to_dial(3.0, 2, 9) == 0
    assert lines_to_dial(3.0, 0, 0) == 0


def test_retry_delay_grows_and_is_capped() -> None:
    retry = RetrySettings(max_delay=2000)
    assert [retry_delay(retry, "no_answer", n) for n in (1, 2, 3)] == [1800, 2000, 2000]
    assert retry_delay(retry, "abandoned", 1) == 72 * 3600  # never under its base


# --- calling hours and settings -------------------------------------------------------------


def test_calling_hours_follow_daylight_saving_time() -> None:
    hours = CallingHours()
    ny = zone("America/New_York", "Asia/Seoul")
    # 2025-03-09 is the spring-forward Sunday in New York; Monday opens at 09:00 EDT.
    sunday_night = at(2025, 3, 9, 19, tz=NEW_YORK)
    assert next_open(hours, sunday_night, ny) == at(2025, 3, 10, 9, tz=NEW_YORK)
    assert is_open(hours, at(2025, 3, 10, 19, 59, tz=NEW_YORK), ny)
    assert not is_open(hours, at(2025, 3, 10, 20, tz=NEW_YORK), ny)
    assert zone("Not/AZone", "Asia/Seoul").key == "Asia/Seoul"


def test_closed_dates_are_skipped() -> None:
    hours = CallingHours.model_validate({"closed_dates": ["2025-03-05"]})
    seoul = zone(None, "Asia/Seoul")
    assert next_open(hours, at(2025, 3, 4, 21), seoul) == at(2025, 3, 6, 9)


@pytest.mark.parametrize(
    "bad",
    [
        {"time_zone": "Mars/Olympus"},
        {"campaigns": [{"name": "c", "queue": "q", "pacing": {"ratio": 3.5}}]},
        {"campaigns": [{"name": "c", "queue": "q", "pacing": {"ratio": 0.5}}]},
        {"callbacks": {"calling_hours": {"weekdays": {"start": "20:00", "end": "09:00"}}}},
        {"callbacks": {"calling_hours": {"weekdays": None, "weekends": None}}},
        {"queues": [{"name": "q"}, {"name": "q"}]},
        {"callbacks": {"max_attempts": 0}},
    ],
)
def test_bad_settings_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        DialerSettings.model_validate(bad)


def test_defaults_match_the_issue() -> None:
    settings = DialerSettings()
    policy = settings.callbacks
    assert (policy.retry.busy, policy.retry.no_answer, policy.retry.failed) == (300, 1800, 600)
    assert policy.max_attempts == 3 and settings.time_zone == "Asia/Seoul"
    pacing = PacingSettings()
    assert (pacing.abandon_cap, pacing.answer_grace, pacing.window) == (0.03, 2.0, 86400)


def test_events_have_a_wire_form() -> None:
    event = LeadDialed(
        at=TUESDAY_10, lead_id="l1", attempt_id="l1.1.x", campaign="promo", queue="q",
        attempt=1, level=2.0,
    )  # fmt: skip
    assert ev.from_json(ev.to_json(event)) == event
