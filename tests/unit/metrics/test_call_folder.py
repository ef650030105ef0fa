"""CallFolder hands every call out exactly once and keeps nothing; the event-row mappers."""

from __future__ import annotations

from cti_server import events as ev
from metrics.call_folder import CallFolder
from metrics.cdr import Outcome
from metrics.event_rows import agent_state_row, queue_event_row


def answered_call(folder: CallFolder, call_id: str, agent: str, at: float) -> None:
    for e in (
        ev.CallDelivered(at=at, call_id=call_id, caller="010", called="1588"),
        ev.CallQueued(at=at, call_id=call_id, queue="q", priority=0, position=1),
        ev.CallOffered(at=at, call_id=call_id, queue="q", agent_id=agent, waited=0.0),
        ev.CallDequeued(at=at + 2, call_id=call_id, queue="q", agent_id=agent, waited=2.0),
        ev.CallEstablished(at=at + 2, call_id=call_id, leg_id="L", agent_id=agent),
        ev.AgentWorkingAfterCall(
            at=at + 10, agent_id=agent, state="wrap_up", previous="busy", call_id=call_id
        ),
        ev.CallCleared(at=at + 10, call_id=call_id, cause="callee_hangup", agent_id=agent),
    ):
        folder.feed(e)


def test_a_call_without_wrap_up_is_handed_out_at_once_and_only_once() -> None:
    folder = CallFolder()
    folder.feed(ev.CallDelivered(at=1.0, call_id="a", caller="010", called="999"))
    assert len(folder) == 1 and folder.finished(1.0) == []
    folder.feed(ev.CallCleared(at=1.0, call_id="a", cause="no_route", status=404))
    (record,) = folder.finished(1.0)
    assert record.outcome is Outcome.REJECTED and len(folder) == 0
    assert folder.finished(2.0) == []


def test_wrap_up_ends_with_the_agents_next_state_which_names_no_call() -> None:
    folder = CallFolder()
    answered_call(folder, "a", "1001", 0.0)
    answered_call(folder, "b", "1002", 5.0)
    assert folder.finished(20.0) == [] and len(folder) == 2
    folder.feed(ev.AgentReady(at=17.0, agent_id="1001", state="ready", previous="wrap_up"))
    folder.feed(ev.AgentNotReady(at=30.0, agent_id="1002", state="not_ready", previous="wrap_up"))
    a, b = folder.finished(30.0)
    assert (a.call_id, a.wrap_up_seconds) == ("a", 7.0)
    assert (b.call_id, b.wrap_up_seconds) == ("b", 15.0)
    folder.feed(ev.AgentReady(at=31.0, agent_id="1001", state="ready", previous="not_ready"))
    assert folder.finished(31.0) == [] and len(folder) == 0


def test_a_wrap_up_that_never_ends_is_cut_at_max_wrap_up_as_unknown() -> None:
    folder = CallFolder(max_wrap_up=60.0)
    answered_call(folder, "a", "1001", 0.0)
    assert folder.next_deadline() == 70.0
    assert folder.finished(69.0) == []
    (record,) = folder.finished(70.0)
    assert record.outcome is Outcome.ANSWERED and record.wrap_up_seconds is None
    # the agent's late state change finds nothing to finish
    folder.feed(ev.AgentReady(at=80.0, agent_id="1001", state="ready", previous="wrap_up"))
    assert folder.finished(80.0) == [] and len(folder) == 0


def test_a_call_never_cleared_is_handed_out_as_unterminated() -> None:
    folder = CallFolder(max_call=3600.0)
    folder.feed(ev.CallDelivered(at=10.0, call_id="a", caller="010", called="1588"))
    folder.feed(ev.CallQueued(at=10.0, call_id="a", queue="q", priority=0, position=1))
    assert folder.next_deadline() == 3610.0
    (record,) = folder.finished(3610.0)
    assert record.cause == "unterminated" and record.ended_at == 3610.0
    assert record.outcome is Outcome.FAILED and record.wait_seconds == 3600.0


def test_late_events_of_a_finished_call_do_not_open_a_new_record() -> None:
    folder = CallFolder(late=60.0)
    folder.feed(ev.CallDelivered(at=1.0, call_id="a", caller="010", called="1588"))
    folder.feed(ev.CallCleared(at=2.0, call_id="a", cause="caller_hangup"))
    assert len(folder.finished(2.0)) == 1
    folder.feed(ev.PromptEnded(at=3.0, call_id="a", leg_id="L", prompt="bye"))
    assert len(folder) == 0 and folder.next_deadline() == 62.0
    assert folder.finished(62.0) == [] and folder.next_deadline() is None


def test_queue_event_rows_follow_the_asterisk_queue_log() -> None:
    rows = [
        queue_event_row(e)
        for e in (
            ev.CallQueued(at=1.0, call_id="c", queue="q", priority=0, position=2),
            ev.CallOffered(at=1.0, call_id="c", queue="q", agent_id="1001", waited=0.0),
            ev.OfferTimedOut(at=11.0, call_id="c", queue="q", agent_id="1001"),
            ev.OfferDeclined(at=12.0, call_id="c", queue="q", agent_id="1002", reason="busy"),
            ev.CallDequeued(at=15.0, call_id="c", queue="q", agent_id="1003", waited=14.0),
            ev.CallTransferred(at=20.0, call_id="c", leg_id="L", target="2000"),
            ev.CallCleared(at=30.0, call_id="c", cause="caller_hangup", agent_id="1003"),
            ev.CallAbandoned(at=5.0, call_id="d", queue="q", position=3, waited=4.0),
            ev.CallOverflowed(
                at=6.0, call_id="e", queue="q", target="callback", reason="max_wait", waited=5.0
            ),
            ev.CallbackRequested(at=7.0, call_id="e", callback_id="cb", number="010", queue="q"),
            ev.CallCleared(at=8.0, call_id="f", cause="callee_hangup", agent_id="1001"),
        )
    ]
    assert [r["event"] if r else None for r in rows] == [
        "entered",
        "offered",
        "no_answer",
        "declined",
        "connected",
        "transferred",
        "completed_by_caller",
        "abandoned",
        "overflowed",
        "callback_requested",
        "completed_by_agent",
    ]
    abandoned = rows[7]
    assert abandoned is not None
    assert (abandoned["position"], abandoned["wait"], abandoned["queue"]) == (3, 4.0, "q")
    assert rows[8] is not None and rows[8]["detail"] == "callback (max_wait)"
    assert queue_event_row(ev.CallCleared(at=1.0, call_id="g", cause="no_route")) is None
    assert queue_event_row(ev.DtmfReceived(at=1.0, call_id="g", leg_id="L", digit="1")) is None


def test_agent_state_rows() -> None:
    row = agent_state_row(
        ev.AgentAway(at=5.0, agent_id="1001", state="away", previous="ready", by="sup1")
    )
    assert row == {
        "at": 5.0,
        "agent_id": "1001",
        "state": "away",
        "previous": "ready",
        "reason": "",
        "call_id": None,
        "by": "sup1",
    }
    assert agent_state_row(ev.CallCleared(at=1.0, call_id="c", cause="x")) is None
