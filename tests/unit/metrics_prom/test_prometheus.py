"""The Prometheus metrics: rolling-window arithmetic on an injected clock, counters and
histograms fed real events through a real bus, collectors over fake and real cores."""

from __future__ import annotations

import math
import random

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from acd import Distributor
from acd.protocol import AcdInput, AgentCallEnded, AgentLogin, OfferAnswered, QueueCall
from cti_server import events as ev
from metrics.prom_calls import CallFate, call_outcome
from metrics.prom_sip import MAX_REASONS, reason_label
from metrics.prom_window import QueueWindow
from metrics.prometheus import CallCounters, attach_acd, build_registry
from tests.unit.metrics_prom import (
    START,
    Clock,
    FakeSwitch,
    acd_settings,
    closed_recording,
    media_core,
    one_call_through_a_queue,
    rtp,
    wired,
)

# --- the rolling window (pure) ----------------------------------------------------------------


def test_window_service_level_and_answer_rate() -> None:
    window = QueueWindow(900)
    window.add(0.0, "answered", 5.0)
    window.add(10.0, "answered", 30.0)
    window.add(20.0, "abandoned", 50.0)
    window.add(25.0, "overflowed", 60.0)
    figures = window.figures(30.0, threshold=20.0)
    assert (figures.answered, figures.answered_in_threshold) == (2, 1)
    assert figures.service_level == 0.5
    assert figures.answer_rate == 0.5  # 2 answered of 4 that left the queue
    assert window.figures(30.0, threshold=30.0).service_level == 1.0  # applied when read


def test_window_forgets_calls_older_than_the_window() -> None:
    window = QueueWindow(900)
    window.add(0.0, "answered", 5.0)
    window.add(100.0, "abandoned", 50.0)
    assert window.figures(899.0, 20.0).answered == 1
    later = window.figures(900.0, 20.0)  # the call at 0 is exactly one window old: gone
    assert (later.answered, later.abandoned, later.service_level, later.answer_rate) == (
        0,
        1,
        None,
        0.0,
    )
    empty = window.figures(1000.0, 20.0)
    assert (empty.service_level, empty.answer_rate, len(window)) == (None, None, 0)


def test_window_rejects_a_non_positive_span() -> None:
    with pytest.raises(ValueError, match="window"):
        QueueWindow(0)


# --- call outcomes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cause", "fate", "outcome"),
    [
        ("caller_hangup", CallFate(established=True), "answered"),
        ("caller_hangup", CallFate(abandoned=True), "abandoned"),
        ("caller_hangup", None, "abandoned"),
        ("cancelled", None, "abandoned"),
        ("voice_message", CallFate(voicemail=True), "voicemail"),
        ("callback", CallFate(callback=True, ivr_outcome="callback"), "callback"),
        ("caller_hangup", CallFate(ivr_outcome="caller_hangup"), "self_service"),
        ("ivr_hangup", CallFate(ivr_outcome="hangup"), "self_service"),
        ("goodbye", CallFate(ivr_outcome="transferred"), "self_service"),
        ("ivr_error", CallFate(ivr_outcome="error"), "failed"),
        ("queue_closed", CallFate(ivr_outcome="queued"), "closed"),
        ("rejected", None, "unanswered"),
        ("timeout", None, "unanswered"),
        ("no_route", None, "failed"),
        ("unavailable", None, "failed"),
        ("something_new", None, "other"),
    ],
)
def test_call_outcome(cause: str, fate: CallFate | None, outcome: str) -> None:
    assert call_outcome(cause, fate) == outcome


def test_a_queued_call_counts_everywhere_it_should() -> None:
    w = wired()
    w.publish(*one_call_through_a_queue(w.clock.now - 200))
    assert w.value("cti_calls_total", outcome="answered") == 1
    assert w.value("cti_calls_total", outcome="abandoned") == 0  # pre-created at zero
    assert w.value("cti_calls_delivered_total") == 1
    assert w.value("cti_calls_cleared_total", cause="caller_hangup") == 1
    assert w.value("cti_queue_offered_total", queue="general") == 1
    assert w.value("cti_queue_answered_total", queue="general") == 1
    assert w.value("cti_queue_abandoned_total", queue="vip") == 0
    assert w.value("cti_ivr_logins_total", outcome="ok") == 1
    assert w.value("cti_ivr_seconds_sum", outcome="queued") == 8
    # waited 12 s: in the le=15 bucket, not in le=10
    wait = {"queue": "general", "outcome": "answered"}
    assert w.value("cti_queue_wait_seconds_bucket", **wait, le="10.0") == 0
    assert w.value("cti_queue_wait_seconds_bucket", **wait, le="15.0") == 1
    assert w.value("cti_queue_wait_seconds_sum", **wait) == 12
    # handle: answered at +20, wrap-up from +110, ready at +120 -> 100 s of talk and wrap-up
    assert w.value("cti_call_handle_seconds_sum", queue="general") == 100
    assert w.value("cti_call_handle_seconds_bucket", queue="general", le="90.0") == 0
    assert w.value("cti_call_handle_seconds_bucket", queue="general", le="120.0") == 1
    assert not w.counters._fates and not w.counters._in_ivr  # forgotten once cleared


def test_handle_time_without_wrap_up_ends_when_the_agent_is_free() -> None:
    w = wired()
    t = w.clock.now - 100
    w.publish(
        ev.CallDequeued(at=t, call_id="C1", queue="vip", agent_id="1002", waited=3),
        ev.AgentBusy(at=t, agent_id="1002", state="busy", previous="reserved"),
        ev.AgentNotReady(at=t + 45, agent_id="1002", state="not_ready", previous="busy"),
    )
    assert w.value("cti_call_handle_seconds_sum", queue="vip") == 45
    assert w.value("cti_call_handle_seconds_count", queue="vip") == 1


def test_service_level_over_the_window_on_the_injected_clock() -> None:
    w = wired(window=900)
    now = w.clock.now
    w.publish(
        ev.CallDequeued(at=now - 800, call_id="A", queue="general", agent_id="1001", waited=5),
        ev.CallDequeued(at=now - 100, call_id="B", queue="general", agent_id="1002", waited=25),
        ev.CallAbandoned(at=now - 50, call_id="C", queue="general", position=1, waited=70),
        ev.CallOverflowed(
            at=now - 40, call_id="D", queue="vip", target="voicemail", reason="max_wait", waited=9
        ),
    )
    assert w.value("cti_queue_service_level_ratio", queue="general") == 0.5  # 5 s <= 20 s
    assert w.value("cti_queue_answer_rate_ratio", queue="general") == pytest.approx(2 / 3)
    assert w.value("cti_queue_answer_rate_ratio", queue="vip") == 0.0
    assert w.value("cti_queue_service_level_threshold_seconds", queue="vip") == 10
    assert math.isnan(w.value("cti_queue_service_level_ratio", queue="vip") or 0.0)
    w.clock.now += 150  # A (at now-800) leaves the 15-minute window
    assert w.value("cti_queue_service_level_ratio", queue="general") == 0.0
    assert w.value("cti_queue_answer_rate_ratio", queue="general") == 0.5
    w.clock.now += 900
    assert math.isnan(w.value("cti_queue_service_level_ratio", queue="general") or 0.0)
    assert math.isnan(w.value("cti_queue_answer_rate_ratio", queue="general") or 0.0)
    assert w.value("cti_queue_answered_total", queue="general") == 2  # counters stay


def test_callbacks_voicemail_and_missed_offers() -> None:
    w = wired()
    t = w.clock.now
    w.publish(
        ev.OfferTimedOut(at=t, call_id="C1", queue="general", agent_id="1001"),
        ev.OfferDeclined(at=t, call_id="C1", queue="general", agent_id="1002", reason="busy"),
        ev.VoiceMessageStarted(at=t, call_id="C1", leg_id="L1", agent_id="1001", max_seconds=60),
        ev.CallCleared(at=t + 30, call_id="C1", cause="voice_message"),
        ev.CallbackRequested(at=t, call_id="C2", callback_id="B1", number="0101", queue=""),
        ev.CallCleared(at=t + 5, call_id="C2", cause="callback_requested"),
    )
    assert w.value("cti_queue_offers_missed_total", queue="general", reason="no_answer") == 1
    assert w.value("cti_queue_offers_missed_total", queue="general", reason="declined") == 1
    assert w.value("cti_calls_total", outcome="voicemail") == 1
    assert w.value("cti_calls_total", outcome="callback") == 1
    assert w.value("cti_callbacks_requested_total", queue="none") == 1


def test_labels_stay_bounded() -> None:
    w = wired()
    t = w.clock.now
    w.publish(
        ev.CallCleared(at=t, call_id="C1", cause="Weird Cause: 010-1234-5678"),
        ev.AuthenticationAttempted(at=t, call_id="C1", method="x", outcome="guessed"),
        ev.IvrStarted(at=t, call_id="C2", flow="main", language="ko"),
        ev.IvrEnded(at=t + 1, call_id="C2", flow="main", node="n", outcome="strange"),
    )
    assert w.value("cti_calls_cleared_total", cause="other") == 1
    assert w.value("cti_ivr_logins_total", outcome="other") == 1
    assert w.value("cti_ivr_seconds_count", outcome="other") == 1
    text = generate_latest(w.registry).decode()
    assert "010-1234" not in text and "C1" not in text


def test_call_fates_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("metrics.prom_calls.MAX_TRACKED_CALLS", 3)
    counters = CallCounters(CollectorRegistry())
    for i in range(5):
        counters(ev.CallEstablished(at=START, call_id=f"C{i}", leg_id="L", agent_id=None))
    assert list(counters._fates) == ["C2", "C3", "C4"]


# --- collectors over the distributor ----------------------------------------------------------


def test_queue_and_agent_gauges_from_the_distributor() -> None:
    w = wired()
    w.acd.stats["general"] = {
        "waiting": 3,
        "offered": 1,
        "longest_wait": 42.5,
        "estimated_wait": 80.0,
        "ready": 2,
        "busy": 1,
    }
    w.acd.rows = [{"state": "ready"}, {"state": "ready"}, {"state": "busy"}, {"state": "x"}]
    assert w.value("cti_queue_calls_waiting", queue="general") == 3
    assert w.value("cti_queue_calls_ringing", queue="general") == 1
    assert w.value("cti_queue_longest_wait_seconds", queue="general") == 42.5
    assert w.value("cti_queue_estimated_wait_seconds", queue="general") == 80
    assert math.isnan(w.value("cti_queue_estimated_wait_seconds", queue="vip") or 0.0)
    assert w.value("cti_queue_agents", queue="general", state="ready") == 2
    assert w.value("cti_queue_agents", queue="general", state="away") == 0
    assert w.value("cti_agents", state="ready") == 2
    assert w.value("cti_agents", state="logged_out") == 1  # an unknown state is not lost
    assert w.value("cti_acd_active") == 1
    assert w.acd.asked_at[-1] == w.clock.now  # longest wait measured at scrape time
    w.acd.active = False
    assert w.value("cti_acd_active") == 0


def test_the_real_distributor_and_its_events() -> None:
    clock = Clock()
    distributor = Distributor(acd_settings(), random.Random(1))
    registry, counters = build_registry(FakeSwitch())  # type: ignore[arg-type]
    attach_acd(registry, counters, lambda: distributor, ["general", "vip"], clock=clock)

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    def feed(item: AcdInput | None, at: float) -> None:
        clock.now = at
        if item is None:
            distributor.on_timer(at)
        else:
            distributor.handle(item, at)
        for event in distributor.drain_events():
            counters(event)

    feed(AgentLogin(agent_id="1001"), START)
    feed(QueueCall(call_id="C1", queue="general"), START + 1)
    feed(OfferAnswered(call_id="C1", agent_id="1001"), START + 4)
    clock.now = START + 10
    assert sample("cti_agents", state="busy") == 1
    assert sample("cti_queue_agents", queue="general", state="busy") == 1
    assert sample("cti_queue_service_level_ratio", queue="general") == 1
    assert sample("cti_queue_wait_seconds_sum", queue="general", outcome="answered") == 3
    feed(AgentCallEnded(call_id="C1", agent_id="1001"), START + 64)
    assert distributor.next_deadline() == START + 74  # the end of wrap-up (10 s)
    feed(None, START + 74)
    assert sample("cti_agents", state="ready") == 1
    assert sample("cti_call_handle_seconds_sum", queue="general") == 70  # talk 60 + wrap 10


# --- SIP, media, recordings, bus ------------------------------------------------------------


def test_sip_counters_keep_their_names_and_bound_drop_reasons() -> None:
    w = wired()
    endpoint = w.switch.endpoint
    endpoint.received.update({"INVITE": 4, "response": 2})
    endpoint.dropped.update(
        {"stray_response": 1, "framing: Bad Content-Length '1x'": 1, "answered_400": 2}
    )
    endpoint.dropped.update({f"framing: Bad Content-Length '{i}'": 1 for i in range(50)})
    endpoint.auth_failures = 3
    w.switch.controller.calls.update({"C1": object(), "C2": object()})
    assert w.value("sip_messages_received_total", method="INVITE") == 4
    assert w.value("sip_messages_dropped_total", reason="framing_bad_content_length") == 51
    assert w.value("sip_messages_dropped_total", reason="answered_400") == 2
    assert w.value("sip_auth_failures_total") == 3
    assert w.value("cti_calls_active") == 2
    for i in range(MAX_REASONS + 5):
        endpoint.dropped[f"reason {i}"] += 1
    assert w.value("sip_messages_dropped_total", reason="other") == 8  # 3 + 5 over the limit
    assert w.value("sip_messages_dropped_total", reason="stray_response") == 1  # kept for good
    assert reason_label("framing: Message too large") == "framing_message_too_large"
    assert reason_label("'") == "unparsable"


def test_rtp_counters_survive_the_legs_that_closed() -> None:
    core = media_core()
    w = wired(core)
    now = w.clock.now
    for leg in ("A", "B"):
        core.open(leg, now)
    a, b = core.legs["A"].route, core.legs["B"].route
    for seq in (10, 11, 14):  # 12 and 13 lost
        a.process(rtp(seq, seq * 160), ("127.0.0.1", 4000), now + seq * 0.02)
    for i, seq in enumerate((1, 2, 3)):
        b.process(rtp(seq, seq * 160), ("127.0.0.1", 4002), now + seq * 0.02 + i * 0.01)
    b.process(b"junk", ("127.0.0.1", 4002), now)
    assert w.value("cti_rtp_packets_received_total") == 6
    assert w.value("cti_rtp_packets_lost_total") == 2
    assert w.value("cti_rtp_packets_dropped_total", reason="bad") == 1
    assert w.value("cti_rtp_legs_active") == 2
    jitter = w.value("cti_rtp_jitter_max_seconds") or 0.0
    assert 0 < jitter < 0.01
    assert 0 < (w.value("cti_rtp_jitter_seconds") or 0.0) <= jitter
    a.process(rtp(12, 12 * 160), ("127.0.0.1", 4000), now + 0.5)  # late: loss goes down
    core.close("A")
    assert w.value("cti_rtp_packets_lost_total") == 2  # a counter never goes down
    assert w.value("cti_rtp_packets_received_total") == 6  # A's last 1 packet was unseen
    assert w.value("cti_rtp_legs_active") == 1


def test_rtp_families_exist_without_a_media_anchor() -> None:
    w = wired(None)
    assert w.value("cti_rtp_packets_lost_total") == 0
    assert w.value("cti_rtp_jitter_seconds") == 0


def test_recordings_by_kind() -> None:
    w = wired()
    w.recording.closed += [closed_recording(1), closed_recording(2, channels=1)]
    assert w.value("cti_recordings_written_total", kind="call") == 1
    w.recording.closed += [closed_recording(3), closed_recording(4, error="disk full")]
    w.recording.recorder.open["C5"] = "R5"
    assert w.value("cti_recordings_written_total", kind="call") == 2
    assert w.value("cti_recordings_written_total", kind="voice_message") == 1
    assert w.value("cti_recordings_failed_total", kind="call") == 1
    assert w.value("cti_recorded_seconds_total", kind="call") == 180
    assert w.value("cti_recordings_active") == 1


def test_bus_counters_show_a_failing_subscriber() -> None:
    w = wired()

    def broken(event: ev.Event) -> None:
        raise RuntimeError("bug")

    w.bus.subscribe(broken)
    w.publish(ev.CallDelivered(at=START, call_id="C1", caller="1", called="2"))
    assert w.value("cti_bus_events_total") == 1
    assert w.value("cti_bus_subscriber_errors_total") == 1
    assert w.value("cti_calls_delivered_total") == 1  # the others still saw it
