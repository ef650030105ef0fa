"""Recorder decisions: policies, the state table, silence while paused or secure, transfers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cti_server.events import CallCleared, CallEstablished, CallHeld
from recording import wav
from recording.recorder import (
    FRAME_S,
    CallMeta,
    CloseRecording,
    MarkSegment,
    OpenRecording,
    Recorder,
    RecorderStateError,
    RecordingAction,
    RecordingKind,
    RecordingNotAllowed,
    State,
    UnknownCall,
    WriteFrames,
)

T0 = 1_700_000_000.0  # 2023-11-14 UTC
CALLER = np.full(160, 1111, dtype=np.int16)
AGENT = np.full(160, -2222, dtype=np.int16)
AUDIO = wav.interleave(CALLER, AGENT)


def make(**policies: str) -> Recorder:
    counter = itertools.count(1)
    return Recorder(
        new_id=lambda: f"rec{next(counter)}",
        base_dir="/var/rec/",
        policies=policies,
        default_policy="on_demand",
    )


def writes(actions: list[RecordingAction]) -> list[bytes]:
    return [a.pcm for a in actions if isinstance(a, WriteFrames)]


def tick(r: Recorder, call_id: str, n: int, now: float) -> list[bytes]:
    out: list[bytes] = []
    for i in range(n):
        out += writes(r.feed(call_id, CALLER, AGENT, now + i * FRAME_S))
    return out


def test_policy_all_starts_when_the_agent_connects() -> None:
    r = make(sales="all")
    r.set_context("c1", queue="sales", customer_id="cust9")
    actions = r.agent_connected("c1", "a1", T0)
    assert actions == [
        OpenRecording(
            recording_id="rec1",
            call_id="c1",
            path="/var/rec/2023-11-14/rec1.wav",
            channels=2,
            at=T0,
            kind=RecordingKind.CALL,
            queue="sales",
            agent_id="a1",
            customer_id="cust9",
        ),
        MarkSegment(recording_id="rec1", label="agent:a1", at=T0, offset_s=0.0),
    ]
    assert r.state("c1") is State.RECORDING and r.active() == {"c1": "rec1"}


def test_policy_on_demand_waits_for_the_api() -> None:
    r = make(support="on_demand")
    assert r.agent_connected("c1", "a1", T0, queue="support") == []
    assert r.feed("c1", CALLER, AGENT, T0) == []
    opened = r.start("c1", T0 + 5)
    assert isinstance(opened[0], OpenRecording) and opened[0].queue == "support"
    assert writes(r.feed("c1", CALLER, AGENT, T0 + 5.02)) == [AUDIO]


def test_policy_none_refuses_the_api() -> None:
    r = make(vip="none")
    assert r.agent_connected("c1", "a1", T0, queue="vip") == []
    with pytest.raises(RecordingNotAllowed) as info:
        r.start("c1", T0)
    assert info.value.queue == "vip"
    assert r.state("c1") is State.IDLE


def test_unknown_queue_uses_the_default_policy() -> None:
    r = Recorder(lambda: "x1", "/r", {"a": "all"}, default_policy="all")
    assert isinstance(r.agent_connected("c1", "a1", T0, queue="other")[0], OpenRecording)


def test_bad_policy_name_is_refused_at_construction() -> None:
    with pytest.raises(ValueError):
        Recorder(lambda: "x", "/r", {"q": "sometimes"})


def test_feed_writes_one_interleaved_frame_per_tick() -> None:
    r = make(q="all")
    r.agent_connected("c1", "a1", T0, queue="q")
    out = tick(r, "c1", 5, T0)
    assert out == [AUDIO] * 5
    left, right = wav.split(out[0])
    assert (left == 1111).all() and (right == -2222).all()


def test_missing_audio_on_one_side_is_silence_on_that_channel() -> None:
    r = make(q="all")
    r.agent_connected("c1", "a1", T0, queue="q")
    [pcm] = writes(r.feed("c1", None, AGENT, T0))
    left, right = wav.split(pcm)
    assert not left.any() and (right == -2222).all()


def test_pause_writes_silence_and_keeps_the_timeline() -> None:
    r = make(q="all")
    r.agent_connected("c1", "a1", T0, queue="q")
    frames = tick(r, "c1", 3, T0)
    assert r.pause("c1", T0 + 0.06) == [
        MarkSegment(recording_id="rec1", label="paused", at=T0 + 0.06, offset_s=3 * FRAME_S)
    ]
    frames += tick(r, "c1", 4, T0 + 0.06)
    assert r.state("c1") is State.PAUSED
    [resumed] = r.resume("c1", T0 + 0.14)
    assert isinstance(resumed, MarkSegment) and resumed.offset_s == pytest.approx(0.14)
    frames += tick(r, "c1", 2, T0 + 0.14)
    assert frames == [AUDIO] * 3 + [wav.STEREO_SILENCE] * 4 + [AUDIO] * 2


def test_secure_mode_silences_even_while_recording_and_is_marked() -> None:
    r = make(q="all")
    r.agent_connected("c1", "a1", T0, queue="q")
    tick(r, "c1", 2, T0)
    [mark] = r.set_secure("c1", True, T0 + 0.04)
    assert isinstance(mark, MarkSegment) and mark.label == "secure"
    assert tick(r, "c1", 3, T0 + 0.04) == [wav.STEREO_SILENCE] * 3
    assert r.set_secure("c1", True, T0 + 0.1) == []  # already on: nothing to mark
    [end] = r.set_secure("c1", False, T0 + 0.1)
    assert isinstance(end, MarkSegment) and end.label == "secure_end"
    assert tick(r, "c1", 1, T0 + 0.1) == [AUDIO]


def test_secure_set_before_recording_starts_silences_from_the_first_frame() -> None:
    """PIN entry in the IVR happens before any agent; the flag must carry into the recording."""
    r = make(q="all")
    assert r.set_secure("c1", True, T0) == []
    opened = r.agent_connected("c1", "a1", T0 + 1, queue="q")
    assert [a.label for a in opened if isinstance(a, MarkSegment)] == ["agent:a1", "secure"]
    assert tick(r, "c1", 2, T0 + 1) == [wav.STEREO_SILENCE] * 2


def test_secure_wins_over_resume() -> None:
    r = make(q="all")
    r.agent_connected("c1", "a1", T0, queue="q")
    r.set_secure("c1", True, T0)
    r.pause("c1", T0)
    r.resume("c1", T0)
    assert tick(r, "c1", 1, T0) == [wav.STEREO_SILENCE]


def test_transfer_keeps_one_recording_and_marks_the_new_agent() -> None:
    r = make(q="all")
    r.agent_connected("c1", "a1", T0, queue="q")
    tick(r, "c1", 50, T0)
    actions = r.agent_connected("c1", "a2", T0 + 1.0)
    assert actions == [
        MarkSegment(recording_id="rec1", label="agent:a2", at=T0 + 1.0, offset_s=1.0)
    ]
    assert r.recording_id("c1") == "rec1"


def test_handle_bus_events() -> None:
    r = make(q="all")
    r.set_context("c1", queue="q")
    opened = r.handle(CallEstablished(at=T0, call_id="c1", leg_id="l2", agent_id="a7"), T0)
    assert isinstance(opened[0], OpenRecording) and opened[0].agent_id == "a7"
    assert r.handle(CallHeld(at=T0, call_id="c1", leg_id="l2"), T0) == []
    assert r.handle(CallEstablished(at=T0, call_id="c1", leg_id="l1"), T0) == []  # caller leg
    closed = r.handle(CallCleared(at=T0 + 9, call_id="c1", cause="normal"), T0 + 9)
    assert closed == [CloseRecording(recording_id="rec1", at=T0 + 9)]
    assert r.state("c1") is State.IDLE and r.active() == {}


def test_call_end_closes_and_forgets() -> None:
    r = make(q="all")
    r.agent_connected("c1", "a1", T0, queue="q")
    assert r.call_ended("c1", T0 + 3) == [CloseRecording(recording_id="rec1", at=T0 + 3)]
    assert r.feed("c1", CALLER, AGENT, T0 + 3.02) == []
    assert r.call_ended("c1", T0 + 4) == []
    assert r.call_ended("never-seen", T0) == []


def test_call_end_without_recording_forgets_the_context() -> None:
    r = make(q="on_demand")
    r.set_secure("c1", True, T0)
    assert r.call_ended("c1", T0) == []
    with pytest.raises(UnknownCall):
        r.pause("c1", T0)


def test_stop_then_start_opens_a_second_recording() -> None:
    r = make(q="all")
    r.agent_connected("c1", "a1", T0, queue="q")
    assert r.stop("c1", T0 + 1) == [CloseRecording(recording_id="rec1", at=T0 + 1)]
    assert r.feed("c1", CALLER, AGENT, T0 + 1.02) == []
    # a transfer after the agent stopped it does not restart it behind their back
    assert r.agent_connected("c1", "a2", T0 + 2) == []
    opened = r.start("c1", T0 + 3)
    assert isinstance(opened[0], OpenRecording) and opened[0].recording_id == "rec2"
    assert opened[0].agent_id == "a2"


@pytest.mark.parametrize(
    ("setup", "call", "state"),
    [
        ([], "pause", State.IDLE),
        ([], "resume", State.IDLE),
        ([], "stop", State.IDLE),
        (["start"], "start", State.RECORDING),
        (["start"], "resume", State.RECORDING),
        (["start", "pause"], "pause", State.PAUSED),
        (["start", "pause"], "start", State.PAUSED),
    ],
)
def test_illegal_inputs_raise_naming_state_and_input(
    setup: list[str], call: str, state: State
) -> None:
    r = make()
    r.set_context("c1", queue="q")
    for name in setup:
        getattr(r, name)("c1", T0)
    with pytest.raises(RecorderStateError) as info:
        getattr(r, call)("c1", T0)
    assert info.value.state is state and info.value.event.value == call
    assert state.value in str(info.value) and call in str(info.value)


def test_controls_on_an_unknown_call_raise() -> None:
    r = make()
    for control in (r.pause, r.resume, r.stop):
        with pytest.raises(UnknownCall):
            control("nope", T0)


def test_voice_message_is_mono_caller_only_and_ignores_queue_policy() -> None:
    r = make(vip="none")
    r.set_context("c1", queue="vip")
    [opened] = r.start_voice_message("c1", T0, CallMeta(agent_id="away-agent"))
    assert isinstance(opened, OpenRecording)
    assert (opened.channels, opened.kind, opened.agent_id) == (
        1,
        RecordingKind.VOICE_MESSAGE,
        "away-agent",
    )
    [pcm] = writes(r.feed("c1", CALLER, AGENT, T0))
    assert pcm == wav.mono(CALLER)
    r.pause("c1", T0)
    assert writes(r.feed("c1", CALLER, AGENT, T0)) == [wav.MONO_SILENCE]


def test_start_meta_merges_into_the_context() -> None:
    r = make()
    r.set_context("c1", queue="q", customer_id="cu1")
    [opened] = r.start("c1", T0, CallMeta(agent_id="a3"))[:1]
    assert isinstance(opened, OpenRecording)
    assert (opened.queue, opened.agent_id, opened.customer_id) == ("q", "a3", "cu1")


def test_unsafe_ids_are_refused() -> None:
    r = Recorder(lambda: "../../etc/passwd", "/r", default_policy="on_demand")
    with pytest.raises(ValueError):
        r.start("c1", T0)


def test_deterministic_across_runs() -> None:
    def run() -> list[RecordingAction]:
        r = make(q="all")
        out = r.agent_connected("c1", "a1", T0, queue="q")
        out += r.feed("c1", CALLER, None, T0)
        out += r.pause("c1", T0 + 0.02)
        out += r.call_ended("c1", T0 + 0.04)
        return out

    assert run() == run()


def test_no_deadlines() -> None:
    assert make().next_deadline() is None


def test_feed_many_equals_feed_call_by_call() -> None:
    """The batched tick gives the same actions as one feed per call, states included."""
    rng = np.random.default_rng(7)
    callers = rng.integers(-9000, 9000, (4, 160), dtype=np.int16)
    agents = rng.integers(-9000, 9000, (4, 160), dtype=np.int16)
    ids = ["c0", "c1", "c2", "c3"]  # c3 is not recorded

    def setup() -> Recorder:
        r = make(q="all")
        r.agent_connected("c0", "a0", T0, queue="q")
        r.agent_connected("c1", "a1", T0, queue="q")
        r.pause("c1", T0)
        r.start_voice_message("c2", T0)
        r.set_secure("c3", True, T0)
        return r

    one_by_one = setup()
    expected: list[RecordingAction] = []
    for i, call_id in enumerate(ids):
        expected += one_by_one.feed(call_id, callers[i], agents[i], T0 + 0.02)
    batched = setup().feed_many(ids, callers, agents, T0 + 0.02)
    assert batched == expected
    assert [a.recording_id for a in batched if isinstance(a, WriteFrames)] == [
        "rec1",
        "rec2",
        "rec3",
    ]


def test_a_queued_call_is_recorded_by_its_queue_policy_and_indexed_with_its_customer() -> None:
    from cti_server.events import CallEstablished, CallQueued

    recorder = Recorder(
        iter(f"R{i}" for i in range(9)).__next__,
        "/rec",
        policies={"pin-reset": "none"},
        default_policy="all",
    )
    recorder.handle(
        CallQueued(
            at=1.0, call_id="C1", queue="pin-reset", priority=0, position=1, customer_id="c9"
        ),
        1.0,
    )
    assert (
        recorder.handle(CallEstablished(at=2.0, call_id="C1", leg_id="L2", agent_id="1001"), 2.0)
        == []
    )
    recorder.handle(
        CallQueued(at=1.0, call_id="C2", queue="sales", priority=0, position=1, customer_id="c7"),
        1.0,
    )
    (opened, *_) = recorder.handle(
        CallEstablished(at=2.0, call_id="C2", leg_id="L3", agent_id="1002"), 2.0
    )
    assert opened.queue == "sales" and opened.customer_id == "c7"
