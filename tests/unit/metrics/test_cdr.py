"""The call-record fold over event sequences as the server publishes them (the IVR → queue →
agent order is the one `cti-server demo` prints), with hand-checked numbers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace

from cti_server import events as ev
from metrics.cdr import CallRecord, Outcome, fold

C = "C2-069342"


def run(events: Iterable[ev.Event]) -> CallRecord:
    record: CallRecord | None = None
    for e in events:
        record = fold(record, e)
    assert record is not None
    return record


def delivered(at: float = 100.0, route: str = "flow:main") -> ev.CallDelivered:
    return ev.CallDelivered(
        at=at, call_id=C, caller="01012345678", called="1588", trunk="demo-gw", route=route
    )


def ivr_to_queue() -> list[ev.Event]:
    """The demo's call: menu, customer number, PIN, VIP priority, queue ``general``."""
    nodes = [
        (100.0, "greeting", "play"),
        (103.0, "check_hours", "hours"),
        (103.0, "choose_language", "menu"),
        (105.0, "ask_customer_number", "collect"),
        (110.0, "ask_pin", "collect"),
        (114.0, "verify", "authenticate"),
    ]
    out: list[ev.Event] = [
        delivered(),
        ev.IvrStarted(at=100.0, call_id=C, flow="main", language="ko"),
    ]
    out += [ev.IvrNodeEntered(at=t, call_id=C, flow="main", node=n, kind=k) for t, n, k in nodes]
    out += [
        ev.DtmfReceived(at=111.0, call_id=C, leg_id="L1", digit="", secure=True),
        ev.CustomerIdentified(
            at=114.0, call_id=C, customer_id="demo-10001", method="customer_number"
        ),
        ev.AuthenticationAttempted(
            at=114.0, call_id=C, method="customer_number", outcome="ok", customer_id="demo-10001"
        ),
        ev.IvrNodeEntered(at=114.0, call_id=C, flow="main", node="to_agent", kind="enqueue"),
        ev.IvrEnded(at=116.0, call_id=C, flow="main", node="to_agent", outcome="queued"),
        ev.CallQueued(
            at=116.0, call_id=C, queue="general", priority=10, position=1, customer_id="demo-10001"
        ),
        ev.CallOffered(at=116.0, call_id=C, queue="general", agent_id="1001", waited=0.0),
        ev.AgentReserved(at=116.0, agent_id="1001", state="reserved", previous="ready", call_id=C),
        ev.CallOriginated(at=116.0, call_id=C, leg_id="L4", target="sip:1001@x", agent_id="1001"),
        ev.CallAlerting(at=116.5, call_id=C, leg_id="L4", agent_id="1001"),
    ]
    return out


def answered_by_1001(at: float = 120.0) -> list[ev.Event]:
    return [
        ev.CallDequeued(at=at, call_id=C, queue="general", agent_id="1001", waited=at - 116.0),
        ev.AgentBusy(at=at, agent_id="1001", state="busy", previous="reserved", call_id=C),
        ev.CallEstablished(at=at, call_id=C, leg_id="L4", agent_id="1001"),
    ]


def cleared(at: float, cause: str = "caller_hangup", **kw: object) -> ev.CallCleared:
    return ev.CallCleared(at=at, call_id=C, cause=cause, **kw)  # type: ignore[arg-type]


def test_ivr_then_queue_then_answered_with_hold_and_wrap_up() -> None:
    r = run(
        [
            *ivr_to_queue(),
            *answered_by_1001(),
            ev.CallHeld(at=150.0, call_id=C, leg_id="L4"),
            ev.CallRetrieved(at=160.0, call_id=C, leg_id="L4"),
            ev.AgentWorkingAfterCall(
                at=200.0, agent_id="1001", state="wrap_up", previous="busy", call_id=C
            ),
            cleared(200.0, agent_id="1001"),
            ev.AgentReady(at=212.0, agent_id="1001", state="ready", previous="wrap_up"),
        ]
    )
    assert r.outcome is Outcome.ANSWERED
    assert r.ivr is not None and r.ivr.flow == "main" and r.ivr.outcome == "queued"
    assert r.ivr.path[:3] == ("greeting", "check_hours", "choose_language")
    assert r.ivr.path[-1] == "to_agent" and r.ivr.seconds == 16.0
    assert r.customer_id == "demo-10001"
    assert r.auth is not None and (r.auth.method, r.auth.outcome, r.auth.attempts) == (
        "customer_number",
        "ok",
        1,
    )
    assert (r.queue, r.priority, r.queued_at, r.agent_id) == ("general", 10, 116.0, "1001")
    assert r.wait_seconds == 4.0 and r.ring_seconds == 4.0
    assert (r.hold_seconds, r.holds) == (10.0, 1)
    assert r.talk_seconds == 70.0  # 120 → 200 is 80 s connected, 10 s of it on hold
    assert r.wrap_up_seconds == 12.0  # wrap-up 200 → ready 212
    assert r.dialed_at is None  # the agent leg was the offer's, not a direct call


def test_a_call_cleared_while_on_hold_counts_the_hold_to_the_end() -> None:
    r = run(
        [
            *ivr_to_queue(),
            *answered_by_1001(),
            ev.CallHeld(at=130.0, call_id=C, leg_id="L1"),
            cleared(140.0, "callee_hangup"),
        ]
    )
    assert r.hold_seconds == 10.0 and r.talk_seconds == 10.0


def test_caller_hanging_up_in_the_ivr_is_abandoned_in_ivr_not_an_agent_request() -> None:
    r = run(
        [
            delivered(),
            ev.IvrStarted(at=100.0, call_id=C, flow="main", language="ko"),
            ev.IvrNodeEntered(at=100.0, call_id=C, flow="main", node="greeting", kind="play"),
            ev.IvrEnded(at=107.0, call_id=C, flow="main", node="greeting", outcome="caller_hangup"),
            cleared(107.0),
        ]
    )
    assert r.outcome is Outcome.ABANDONED_IN_IVR
    assert not r.requested_agent and not r.queued and r.wait_seconds is None
    assert r.ivr is not None and r.ivr.seconds == 7.0


def test_the_ivr_saying_goodbye_is_ivr_completed_and_a_lockout_too() -> None:
    for cause in ("closed", "locked_out"):
        r = run(
            [
                delivered(),
                ev.IvrStarted(at=100.0, call_id=C, flow="main", language="ko"),
                ev.AuthenticationAttempted(at=101.0, call_id=C, method="pin", outcome="bad_pin"),
                ev.AuthenticationAttempted(
                    at=102.0, call_id=C, method="pin", outcome="locked", attempt=3
                ),
                ev.IvrEnded(at=103.0, call_id=C, flow="main", node="bye", outcome="hangup"),
                cleared(104.0, cause),
            ]
        )
        assert r.outcome is Outcome.IVR_COMPLETED
        assert r.auth is not None and (r.auth.outcome, r.auth.attempts) == ("locked", 3)


def test_a_blind_transfer_keeps_the_first_agent_and_records_the_new_party() -> None:
    r = run(
        [
            *ivr_to_queue(),
            *answered_by_1001(),
            ev.CallTransferred(at=150.0, call_id=C, leg_id="L4", target="2002"),
            ev.CallOriginated(
                at=150.0, call_id=C, leg_id="L7", target="sip:2002@x", agent_id="2002"
            ),
            ev.CallEstablished(at=155.0, call_id=C, leg_id="L7", agent_id="2002"),
            cleared(215.0, agent_id="2002"),
        ]
    )
    assert r.outcome is Outcome.ANSWERED and r.agent_id == "1001"
    (t,) = r.transfers
    assert (t.at, t.target, t.connected_at, t.agent_id) == (150.0, "2002", 155.0, "2002")
    assert r.talk_seconds == 95.0 and r.dialed_at is None


def test_a_designated_agent_away_gives_a_voice_message() -> None:
    r = run(
        [
            delivered(route="queue:sales"),
            ev.CallOverflowed(
                at=100.0,
                call_id=C,
                queue="sales",
                target="voicemail",
                reason="agent_away",
                waited=0.0,
            ),
            ev.PromptStarted(
                at=100.0, call_id=C, leg_id="L1", prompt="leave_message", language="ko"
            ),
            ev.VoiceMessageStarted(
                at=104.0, call_id=C, leg_id="L1", agent_id="1001", max_seconds=60
            ),
            cleared(130.0, "voice_message"),
        ]
    )
    assert r.outcome is Outcome.VOICE_MESSAGE and r.voice_message_for == "1001"
    assert r.queue == "sales" and not r.queued and r.wait_seconds is None
    assert r.requested_agent


def test_overflow_to_voicemail_without_a_message_is_overflowed() -> None:
    r = run(
        [
            delivered(route="queue:sales"),
            ev.CallQueued(at=100.0, call_id=C, queue="sales", priority=0, position=3),
            ev.CallOverflowed(
                at=160.0,
                call_id=C,
                queue="sales",
                target="voicemail",
                reason="max_wait",
                waited=60.0,
            ),
            cleared(162.0),
        ]
    )
    assert r.outcome is Outcome.OVERFLOWED and r.wait_seconds == 60.0


def test_overflow_to_another_queue_keeps_waiting_and_lists_both_queues() -> None:
    r = run(
        [
            delivered(route="queue:sales"),
            ev.CallQueued(at=100.0, call_id=C, queue="sales", priority=0, position=1),
            ev.CallOverflowed(
                at=130.0,
                call_id=C,
                queue="sales",
                target="queue:support",
                reason="max_wait",
                waited=30.0,
            ),
            ev.CallQueued(at=130.0, call_id=C, queue="support", priority=0, position=1),
            ev.CallAbandoned(at=150.0, call_id=C, queue="support", position=1, waited=50.0),
            cleared(150.0),
        ]
    )
    assert r.outcome is Outcome.ABANDONED_IN_QUEUE
    assert (r.queue, r.queues, r.overflow, r.wait_seconds) == (
        "sales",
        ("sales", "support"),
        "queue:support",
        50.0,
    )


def test_direct_calls_answered_abandoned_ringing_failed_and_rejected() -> None:
    dial = [
        delivered(route="extension:1001"),
        ev.CallOriginated(at=100.0, call_id=C, leg_id="L2", target="sip:1001@x", agent_id="1001"),
        ev.CallAlerting(at=100.2, call_id=C, leg_id="L2", agent_id="1001"),
    ]
    talking = [*dial, ev.CallEstablished(at=105.0, call_id=C, leg_id="L2", agent_id="1001")]
    assert run(talking).outcome is None and not run(talking).cleared
    answered = run([*talking, cleared(165.0)])
    assert (answered.outcome, answered.ring_seconds, answered.talk_seconds) == (
        Outcome.ANSWERED,
        5.0,
        60.0,
    )
    assert answered.wait_seconds is None and answered.requested_agent
    assert run([*dial, cleared(108.0, "cancelled")]).outcome is Outcome.ABANDONED_RINGING
    failed = [ev.CallFailed(at=130.0, call_id=C, leg_id="L2", status=480, cause="no answer")]
    assert run([*dial, *failed, cleared(130.0, "timeout")]).outcome is Outcome.FAILED
    refused = run([delivered(route=""), cleared(100.0, "no_route", status=404)])
    assert refused.outcome is Outcome.REJECTED and not refused.requested_agent


def test_the_record_survives_json_and_ignores_unknown_keys() -> None:
    r = run([*ivr_to_queue(), *answered_by_1001(), cleared(200.0)])
    data = json.loads(json.dumps(r.to_dict()))
    assert data == r.to_dict() and data["outcome"] == "answered" and data["version"] == 1
    assert CallRecord.from_dict(data) == r
    assert CallRecord.from_dict({**data, "added_later": 1}) == r
    assert CallRecord.from_dict({"call_id": "x", "started_at": 1.0}).outcome is None


def test_events_not_about_a_call_fold_to_nothing_and_late_news_changes_nothing() -> None:
    reg = ev.AgentRegistered(at=1.0, agent_id="1001", contact="sip:1001@x", expires_at=300.0)
    assert fold(None, reg) is None
    assert fold(None, ev.AgentReady(at=1.0, agent_id="1001", state="ready", previous="x")) is None
    done = run([delivered(), cleared(101.0, "no_route", status=404)])
    assert fold(done, reg) is done
    late = ev.CallQueued(at=102.0, call_id=C, queue="sales", priority=0, position=1)
    assert fold(done, late) == done
    assert fold(done, cleared(103.0)) == done  # a repeated clear keeps the first
    mid = fold(None, ev.CallQueued(at=50.0, call_id="X", queue="q", priority=0, position=1))
    assert mid is not None and mid.started_at == 50.0 and mid.caller == ""  # joined mid-call
    assert replace(mid, queue=None).requested_agent is False
