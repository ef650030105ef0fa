"""The dialer core on a fake clock: callbacks agent-first, blending, retries, calling hours,
DNC, caller IDs, recovery after a restart, and the races between the host and the core."""

from __future__ import annotations

from typing import Any, Literal

import pytest

from acd.dialer_model import IllegalDialTransition, UnknownCampaignError
from acd.dialer_protocol import (
    AgentReserved,
    AgentsChanged,
    CallEnded,
    Complete,
    Dial,
    DialResult,
    DncUpdated,
    GiveUp,
    HangUpCustomer,
    ItemCancelled,
    MarkDialing,
    Recovered,
    ReleaseAgent,
    Reschedule,
    ReserveAgent,
)
from cti_server.events.dialer import (
    CallbackCompleted,
    CallbackDialed,
    DialGaveUp,
    DialRescheduled,
    OutboundCallEnded,
)
from tests.unit.acd.dialer_rig import NEW_YORK, TUESDAY_10, Rig, at, item, lead

CONFIG: dict[str, Any] = {
    "caller_id": "0200000000",
    "queues": [{"name": "sales", "caller_id": "0215880001"}],
    "campaigns": [{"name": "promo", "queue": "sales", "caller_id": "0215880002"}],
    "dnc": ["+82 10-9999-0000"],
}


def rig(config: dict[str, Any] = CONFIG, free: int = 1, **kw: Any) -> Rig:
    r = Rig(config, **kw)
    r.pool.free["sales"] = [f"a{i}" for i in range(1, free + 1)]
    r.pool.free["support"] = [f"s{i}" for i in range(1, free + 1)]
    return r


def dial_callback(r: Rig, item_id: str = "cb1", **kw: Any) -> Dial:
    r.callback(item(item_id, **kw))
    return r.grant(r.one(ReserveAgent))


# --- the agent-first callback -------------------------------------------------------------------


def test_callback_reserves_an_agent_then_marks_then_dials() -> None:
    r = rig()
    r.callback(item("cb1", number="+82 10-1234-5678"))
    reserve = r.one(ReserveAgent)
    assert (reserve.queue, reserve.customer_first, reserve.item.id) == ("sales", False, "cb1")
    assert not r.of(Dial) and r.d.item_state("cb1") == "reserving"

    r.feed(AgentReserved(attempt_id=reserve.attempt_id, ok=True, agent_id="a1"))
    mark, dial = r.actions
    assert isinstance(mark, MarkDialing) and isinstance(dial, Dial)
    assert (mark.attempt_id, mark.item_id, mark.attempts) == (reserve.attempt_id, "cb1", 1)
    assert dial.attempt_id == reserve.attempt_id
    assert (dial.number, dial.agent_id, dial.customer_first) == ("01012345678", "a1", False)
    assert dial.caller_id == "0215880001"  # the queue's, not the default
    assert [type(e) for e in r.events] == [CallbackDialed]

    r.feed(DialResult(attempt_id=dial.attempt_id, outcome="answered"))
    assert r.actions == [Complete(item_id="cb1", kind="callback")]
    assert isinstance(r.events[0], CallbackCompleted) and r.events[0].agent_id == "a1"
    r.feed(CallEnded(attempt_id=dial.attempt_id, disposition="resolved"))
    assert r.actions == [] and r.d.item_state("cb1") is None
    assert isinstance(r.events[0], OutboundCallEnded) and r.events[0].disposition == "resolved"


def test_default_caller_id_for_an_unlisted_queue() -> None:
    r = rig()
    assert dial_callback(r, queue="support").caller_id == "0200000000"


def test_no_free_agent_no_dial_until_one_frees() -> None:
    r = rig(free=0)
    assert r.callback(item("cb1")) == []
    assert r.d.next_deadline() == TUESDAY_10 + r.settings.poll_interval  # re-checks itself
    r.pool.free["sales"] = ["a7"]
    r.feed(AgentsChanged(queue="sales"))
    assert r.one(ReserveAgent).item.id == "cb1"


def test_one_reservation_per_free_agent_oldest_due_first() -> None:
    r = rig(free=0)
    r.callback(item("late", due_at=TUESDAY_10 - 60))
    r.callback(item("early", due_at=TUESDAY_10 - 600))
    r.callback(item("earliest", due_at=TUESDAY_10 - 900))
    r.pool.free["sales"] = ["a1", "a2"]
    r.feed(AgentsChanged(queue="sales"))
    assert [a.item.id for a in r.of(ReserveAgent)] == ["earliest", "early"]


def test_future_callback_waits_for_its_due_time() -> None:
    r = rig()
    assert r.callback(item("cb1", due_at=TUESDAY_10 + 300)) == []
    assert r.advance(299) == []
    r.advance(1)
    assert r.one(ReserveAgent).item.id == "cb1"


# --- blending --------------------------------------------------------------------------------


def test_inbound_waiting_too_long_blocks_outbound() -> None:
    r = rig(free=3)
    r.pool.waiting["sales"] = (1, 10.5)  # over max_inbound_wait (10 s)
    assert r.callback(item("cb1")) == []
    r.pool.waiting["sales"] = (2, 4.0)  # inbound first: 3 free - 2 waiting = 1 for us
    r.callback(item("cb2"))
    assert [a.item.id for a in r.of(ReserveAgent)] == ["cb1"]


def test_virtual_hold_a_callback_older_than_every_waiting_caller_goes_first() -> None:
    """The caller who asked for a callback keeps their place: requested before the
    longest-waiting inbound caller arrived, it takes the free agent even though inbound
    protection would block outbound work; a later request waits behind the inbound callers."""
    r = rig(free=1)
    r.pool.waiting["sales"] = (3, 40.0)  # 3 callers, the longest for 40 s: over protection
    r.callback(item("early", due_at=TUESDAY_10 - 60))  # requested 60 s ago: ahead of them
    assert [a.item.id for a in r.of(ReserveAgent)] == ["early"]
    r2 = rig(free=1)
    r2.pool.waiting["sales"] = (3, 40.0)
    assert r2.callback(item("late", due_at=TUESDAY_10 - 10)) == []  # behind them
    r3 = rig(free=1)
    r3.pool.waiting["sales"] = (3, 40.0)
    assert r3.callback(item("retry", due_at=TUESDAY_10 - 60, attempts=1)) == []  # lost it


def test_service_level_under_target_blocks_outbound() -> None:
    r = rig()
    r.pool.level["sales"] = 0.75
    assert r.callback(item("cb1")) == []
    r.pool.level["sales"] = 0.85
    r.feed(AgentsChanged())
    assert r.one(ReserveAgent).item.id == "cb1"


# --- retries --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "delay"), [("busy", 300.0), ("no_answer", 1800.0), ("failed", 600.0)]
)
def test_no_answer_releases_the_agent_and_backs_off(
    outcome: Literal["busy", "no_answer", "failed"], delay: float
) -> None:
    r = rig()
    dial = dial_callback(r)
    r.feed(DialResult(attempt_id=dial.attempt_id, outcome=outcome), after=20)
    release, again = r.actions
    assert release == ReleaseAgent(attempt_id=dial.attempt_id)
    assert again == Reschedule(
        item_id="cb1", kind="callback", due_at=r.now + delay, attempts=1, reason=outcome
    )
    assert r.advance(delay - 1) == []
    r.advance(1)
    assert r.one(ReserveAgent).item.id == "cb1"


def test_backoff_grows_then_max_attempts_gives_up() -> None:
    r = rig()
    dial = dial_callback(r)
    r.feed(DialResult(attempt_id=dial.attempt_id, outcome="busy"))
    assert r.one(Reschedule).due_at == r.now + 300
    r.advance(300)
    dial = r.grant(r.one(ReserveAgent))
    assert r.one(MarkDialing).attempts == 2
    r.feed(DialResult(attempt_id=dial.attempt_id, outcome="busy"))
    assert r.one(Reschedule).due_at == r.now + 600  # 300 * 2 ** (2 - 1)
    r.advance(600)
    dial = r.grant(r.one(ReserveAgent))
    r.feed(DialResult(attempt_id=dial.attempt_id, outcome="no_answer"))
    assert r.one(GiveUp) == GiveUp(
        item_id="cb1", kind="callback", reason="max_attempts", attempts=3
    )
    assert r.advance(86400 * 7) == [] and r.d.item_state("cb1") is None


def test_rejected_number_gives_up_at_once() -> None:
    r = rig()
    dial = dial_callback(r)
    r.feed(DialResult(attempt_id=dial.attempt_id, outcome="rejected"))
    assert r.of(GiveUp)[0].reason == "invalid_number"


@pytest.mark.parametrize("number", ["", "112", "1234567", "0123456789012345"])
def test_invalid_number_is_never_dialled(number: str) -> None:
    r = rig()
    r.callback(item("cb1", number=number))
    assert r.actions == [
        GiveUp(item_id="cb1", kind="callback", reason="invalid_number", attempts=0)
    ]


def test_no_agent_found_costs_no_attempt() -> None:
    r = rig()
    r.callback(item("cb1"))
    first = r.one(ReserveAgent)
    r.feed(AgentReserved(attempt_id=first.attempt_id, ok=False))
    assert r.actions == []  # nothing durable: the customer was never called
    assert r.advance(9) == []
    r.advance(1)  # reserve_retry
    second = r.one(ReserveAgent)
    r.advance(30)  # reserve_timeout: the host never answered
    assert r.actions[0] == ReleaseAgent(attempt_id=second.attempt_id)
    r.advance(10)
    third = r.one(ReserveAgent)
    assert len({first.attempt_id, second.attempt_id, third.attempt_id}) == 3
    r.grant(third)
    assert r.one(MarkDialing).attempts == 1


def test_lost_dial_counts_as_failed() -> None:
    r = rig()
    dial = dial_callback(r)
    r.advance(30 + 60)
    assert r.actions[:2] == [
        HangUpCustomer(attempt_id=dial.attempt_id, reason="timeout"),
        ReleaseAgent(attempt_id=dial.attempt_id),
    ]
    assert r.one(Reschedule).reason == "failed"


# --- calling hours --------------------------------------------------------------------------


def test_evening_callback_waits_for_the_morning_in_two_time_zones() -> None:
    evening = at(2025, 3, 4, 21)  # Tuesday 21:00 in Seoul = 07:00 in New York
    r = rig(free=2, start=evening)
    r.callback(item("seoul", due_at=evening))
    r.callback(item("nyc", due_at=evening, time_zone="America/New_York"))
    due = {a.item_id: a.due_at for a in r.of(Reschedule, r.all_actions)}
    assert due == {"seoul": at(2025, 3, 5, 9), "nyc": at(2025, 3, 4, 9, tz=NEW_YORK)}
    assert all(a.reason == "calling_hours" for a in r.of(Reschedule, r.all_actions))
    r.advance_to(at(2025, 3, 4, 9, tz=NEW_YORK) - 1)
    assert not r.of(ReserveAgent)
    r.advance(1)
    dial = r.grant(r.one(ReserveAgent))
    r.feed(DialResult(attempt_id=dial.attempt_id, outcome="answered"))
    r.advance_to(at(2025, 3, 5, 9) - 1)
    assert not r.of(ReserveAgent)
    r.advance(1)
    assert r.one(ReserveAgent).item.id == "seoul"


def test_friday_night_waits_for_the_weekend_window() -> None:
    friday = at(2025, 3, 7, 20, 30)
    r = rig(start=friday)
    r.callback(item("cb1", due_at=friday))
    assert r.one(Reschedule).due_at == at(2025, 3, 8, 10)  # Saturday opens at 10:00


def test_window_closing_during_the_reservation_stops_the_dial() -> None:
    r = rig(start=at(2025, 3, 4, 19, 59) + 50)
    r.callback(item("cb1", due_at=r.now))
    reserve = r.one(ReserveAgent)
    r.feed(AgentReserved(attempt_id=reserve.attempt_id, ok=True, agent_id="a1"), after=15)
    assert not r.of(Dial) and r.actions[0] == ReleaseAgent(attempt_id=reserve.attempt_id)
    r.advance(10)
    assert r.one(Reschedule).due_at == at(2025, 3, 5, 9)


# --- do not call ----------------------------------------------------------------------------


def test_dnc_numbers_are_never_dialled_in_any_format() -> None:
    r = rig()
    r.callback(item("cb1", number="010-9999-0000"))
    assert r.actions == [GiveUp(item_id="cb1", kind="callback", reason="dnc", attempts=0)]
    assert isinstance(r.events[0], DialGaveUp)


def test_dnc_added_while_waiting_or_reserving() -> None:
    r = rig(free=0)
    r.callback(item("waiting", number="01011112222"))
    r.feed(DncUpdated(add=("+821011112222",)))
    assert r.one(GiveUp).reason == "dnc"
    r.pool.free["sales"] = ["a1"]
    r.callback(item("reserving", number="01033334444"))
    reserve = r.one(ReserveAgent)
    r.feed(DncUpdated(add=("010-3333-4444",)))
    r.feed(AgentReserved(attempt_id=reserve.attempt_id, ok=True, agent_id="a1"))
    assert r.actions == [
        ReleaseAgent(attempt_id=reserve.attempt_id),
        GiveUp(item_id="reserving", kind="callback", reason="dnc", attempts=0),
    ]


# --- durability and restarts ----------------------------------------------------------------


def test_recovered_dialing_item_is_rescheduled_not_redialled() -> None:
    r = rig()
    r.feed(Recovered(items=(item("cb1", attempts=1),)))
    assert r.actions == [
        Reschedule(
            item_id="cb1", kind="callback", due_at=r.now + 600, attempts=1, reason="recovered"
        )
    ]
    assert isinstance(r.events[0], DialRescheduled)
    assert r.advance(599) == []
    r.advance(1)
    r.grant(r.one(ReserveAgent))
    assert r.one(MarkDialing).attempts == 2


def test_recovered_at_its_last_attempt_gives_up() -> None:
    r = rig()
    r.feed(Recovered(items=(item("cb1", attempts=3),)))
    assert r.one(GiveUp).reason == "max_attempts"


def test_item_sent_again_while_in_flight_is_not_dialled_twice() -> None:
    r = rig(free=2)
    dial = dial_callback(r)
    assert r.callback(item("cb1")) == []
    r.feed(DialResult(attempt_id=dial.attempt_id, outcome="answered"))
    assert r.callback(item("cb1")) == []  # completed: a lagging store read brings it back


def test_waiting_item_is_refreshed_from_the_store() -> None:
    r = rig()
    r.callback(item("cb1", due_at=TUESDAY_10 + 3600))
    r.callback(item("cb1", due_at=TUESDAY_10 + 60))  # merged request: earlier due time
    r.advance(60)
    assert r.one(ReserveAgent).item.id == "cb1"


# --- races and protocol errors --------------------------------------------------------------


def test_late_reservation_is_released() -> None:
    r = rig()
    r.callback(item("cb1"))
    reserve = r.one(ReserveAgent)
    r.advance(30)
    r.feed(AgentReserved(attempt_id=reserve.attempt_id, ok=True, agent_id="a1"))
    assert r.actions == [ReleaseAgent(attempt_id=reserve.attempt_id)]
    r.feed(DialResult(attempt_id="nobody", outcome="answered"))
    assert r.actions == []


def test_report_that_does_not_fit_the_state_is_a_typed_error() -> None:
    r = rig()
    dial = dial_callback(r)
    with pytest.raises(IllegalDialTransition, match="'agent_ready' is not allowed in 'dialing'"):
        r.feed(AgentReserved(attempt_id=dial.attempt_id, ok=True, agent_id="a2"))


def test_cancel_while_ringing_hangs_up_and_ignores_the_late_result() -> None:
    r = rig()
    dial = dial_callback(r)
    r.feed(ItemCancelled(item_id="cb1"))
    assert r.actions == [
        HangUpCustomer(attempt_id=dial.attempt_id, reason="cancelled"),
        ReleaseAgent(attempt_id=dial.attempt_id),
    ]
    r.feed(DialResult(attempt_id=dial.attempt_id, outcome="busy"))
    assert r.actions == [] and r.callback(item("cb1")) == []


def test_unknown_campaign_and_wrong_kind_are_refused() -> None:
    r = rig()
    with pytest.raises(UnknownCampaignError):
        r.leads(lead("l1", campaign="nope"))
    with pytest.raises(ValueError, match="is a lead"):
        r.callback(lead("l1"))
