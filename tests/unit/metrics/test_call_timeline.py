"""The call's timeline beside its recording: order, offsets from the recording's start, what
each entry carries, recorder marks, and a call with no record."""

from __future__ import annotations

from metrics.call_record import CallRecord, IvrVisit, Offer, Outcome, Transfer
from metrics.call_timeline import TimelineEvent, call_timeline

AT = 1_764_579_600.0  # the answer; the recording starts here


def answered_call() -> CallRecord:
    return CallRecord(
        call_id="c1", started_at=AT - 40, caller="0101", called="1588", route="flow:main",
        ivr=IvrVisit(flow="main", language="ko", started_at=AT - 39,
                     path=("welcome", "menu"), outcome="queue", ended_at=AT - 25),
        queue="sales", queues=("sales",), queued_at=AT - 25,
        offers=(Offer(agent_id="1002", queue="sales", at=AT - 20, outcome="no_answer",
                      ended_at=AT - 5),
                Offer(agent_id="1001", queue="sales", at=AT - 4, outcome="answered",
                      ended_at=AT)),
        agent_id="1001", answered_at=AT,
        transfers=(Transfer(at=AT + 60, target="queue:support", connected_at=AT + 70,
                            agent_id="1003"),),
        outcome=Outcome.ANSWERED, cause="caller_hangup", ended_at=AT + 95,
        wrap_up_agent="1003", wrap_up_started_at=AT + 95, wrap_up_ended_at=AT + 125,
    )  # fmt: skip


def test_every_step_in_order_with_offsets_from_the_recording() -> None:
    events = call_timeline(answered_call(), AT)
    assert [(e.kind, e.offset) for e in events] == [
        ("call_started", -40), ("ivr_started", -39), ("ivr_ended", -25), ("queued", -25),
        ("offered", -20), ("offer_ended", -5), ("offered", -4), ("answered", 0),
        ("transferred", 60), ("transfer_connected", 70), ("cleared", 95),
        ("wrap_up_started", 95), ("wrap_up_ended", 125),
    ]  # fmt: skip
    by_kind = {e.kind: e for e in events}
    assert by_kind["ivr_ended"].path == ("welcome", "menu")
    assert by_kind["ivr_ended"].detail == "queue"
    assert by_kind["offer_ended"] == TimelineEvent(
        kind="offer_ended", at=AT - 5, offset=-5, agent_id="1002", queue="sales",
        detail="no_answer",
    )  # fmt: skip
    assert by_kind["transfer_connected"].agent_id == "1003"
    assert by_kind["cleared"].detail == "caller_hangup"
    assert by_kind["answered"].to_json() == {
        "kind": "answered", "at": AT, "offset": 0.0, "agent_id": "1001", "queue": "sales",
        "detail": "", "path": [],
    }  # fmt: skip


def test_recorder_marks_keep_their_audio_offset() -> None:
    marks = [
        {"label": "paused", "at": AT + 30, "offset_s": 30.0},
        {"label": "resumed", "offset_s": 41.5},  # no wall time: placed by its offset
        {"label": "broken"},  # no offset: left out
    ]
    events = [e for e in call_timeline(answered_call(), AT, marks) if e.kind == "mark"]
    assert [(e.detail, e.at, e.offset) for e in events] == [
        ("paused", AT + 30, 30.0), ("resumed", AT + 41.5, 41.5),
    ]  # fmt: skip


def test_a_call_still_ringing_and_a_missing_record() -> None:
    ringing = CallRecord(call_id="c2", started_at=AT, offers=(Offer(agent_id="1001",
                         queue="sales", at=AT + 1),))  # fmt: skip
    assert [e.kind for e in call_timeline(ringing, AT)] == ["call_started", "offered"]
    assert call_timeline(None, AT) == []
    assert [e.kind for e in call_timeline(None, AT, [{"label": "x", "offset_s": 1}])] == ["mark"]
