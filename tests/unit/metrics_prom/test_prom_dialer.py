"""The dialer's Prometheus metrics: the real dialer core's events for a callback retried then
answered, a campaign drop and a give-up, fed through a real bus; then the edge cases by hand
(repeated requests, forgotten requests, bounded labels, pacing series)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from acd.dialer_protocol import CampaignCommand, Dial, DialResult, ReserveAgent
from cti_server import events as ev
from cti_server.bus import EventBus
from metrics.prom_calls import CallCounters
from metrics.prom_dialer import DialerMetrics, attach_dialer
from tests.unit.acd.dialer_rig import TUESDAY_10, Rig, item, lead

CONFIG: dict[str, Any] = {
    "queues": [{"name": "sales"}],
    "campaigns": [{"name": "promo", "queue": "sales"}],
}


def wired() -> tuple[CollectorRegistry, EventBus]:
    registry, bus = CollectorRegistry(), EventBus()
    bus.subscribe(CallCounters(registry))  # owns cti_callbacks_requested_total: no clash
    attach_dialer(registry, bus, ["sales", "support"])
    return registry, bus


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def attempts(registry: CollectorRegistry, kind: str, outcome: str) -> float | None:
    return value(registry, "cti_dial_attempts_total", kind=kind, outcome=outcome)


def publish(bus: EventBus, rig: Rig) -> None:
    for event in rig.events:
        bus.publish(event)


def requested(callback_id: str, at: float, queue: str = "sales") -> ev.CallbackRequested:
    return ev.CallbackRequested(
        at=at, call_id=f"call-{callback_id}", callback_id=callback_id, number="010", queue=queue
    )


def test_series_start_at_zero() -> None:
    registry, _ = wired()
    assert value(registry, "cti_callbacks_completed_total", queue="support") == 0.0
    assert value(registry, "cti_callback_wait_seconds_count", queue="sales") == 0.0
    assert attempts(registry, "lead", "abandoned") == 0.0
    assert value(registry, "cti_dial_gave_up_total", kind="callback", reason="dnc") == 0.0
    text = generate_latest(registry).decode()
    assert "cti_callbacks_requested_total" in text and "cti_dialer_pacing_level" in text


def test_a_callback_busy_then_answered_through_the_real_dialer() -> None:
    registry, bus = wired()
    bus.publish(requested("cb1", TUESDAY_10 - 600))
    bus.publish(requested("cb1", TUESDAY_10 - 300))  # asked again: merged, the first counts
    rig = Rig(CONFIG)
    rig.pool.free["sales"] = ["a1"]
    rig.callback(item("cb1"))
    dial = rig.grant(rig.one(ReserveAgent))
    rig.feed(DialResult(attempt_id=dial.attempt_id, outcome="busy"), after=20)
    publish(bus, rig)
    rig.advance(300)
    dial = rig.grant(rig.one(ReserveAgent))
    publish(bus, rig)
    rig.feed(DialResult(attempt_id=dial.attempt_id, outcome="answered"), after=15)
    publish(bus, rig)

    assert value(registry, "cti_callbacks_requested_total", queue="sales") == 2.0
    assert value(registry, "cti_callbacks_completed_total", queue="sales") == 1.0
    assert attempts(registry, "callback", "busy") == 1.0
    assert attempts(registry, "callback", "answered") == 1.0
    waited = rig.now - (TUESDAY_10 - 600)
    assert value(registry, "cti_callback_wait_seconds_sum", queue="sales") == waited
    assert value(registry, "cti_callback_wait_seconds_count", queue="sales") == 1.0


def test_a_campaign_drop_is_one_abandoned_attempt() -> None:
    registry, bus = wired()
    rig = Rig(CONFIG)
    rig.pool.free["sales"] = ["a1"]
    rig.feed(CampaignCommand(campaign="promo", command="start"))
    rig.leads(lead("l1"))
    dial = rig.one(Dial)
    rig.feed(DialResult(attempt_id=dial.attempt_id, outcome="answered"))
    rig.advance(2)  # no agent within the grace: dropped, rescheduled as "abandoned"
    publish(bus, rig)
    assert [type(e).__name__ for e in rig.events] == ["DialAbandoned", "DialRescheduled"]
    assert attempts(registry, "lead", "abandoned") == 1.0
    assert value(registry, "cti_dial_abandoned_total", campaign="promo") == 1.0
    assert sum(attempts(registry, "lead", o) or 0.0 for o in ("busy", "failed", "gave_up")) == 0


def test_max_attempts_counts_the_last_attempt_once() -> None:
    registry, bus = wired()
    rig = Rig({**CONFIG, "queues": [{"name": "sales", "max_attempts": 1}]})
    rig.pool.free["sales"] = ["a1"]
    bus.publish(requested("cb1", TUESDAY_10))
    rig.callback(item("cb1"))
    dial = rig.grant(rig.one(ReserveAgent))
    rig.feed(DialResult(attempt_id=dial.attempt_id, outcome="no_answer"))
    publish(bus, rig)
    assert attempts(registry, "callback", "gave_up") == 1.0
    assert attempts(registry, "callback", "no_answer") == 0.0
    assert value(registry, "cti_dial_gave_up_total", kind="callback", reason="max_attempts") == 1
    metrics = DialerMetrics(CollectorRegistry())
    metrics(requested("cb9", 0.0))
    metrics(ev.DialGaveUp(at=1.0, item_id="cb9", kind="callback", reason="dnc", attempts=0))
    assert metrics.requested_at == {}  # given up: forgotten


def test_reasons_that_are_no_attempt_and_a_drop_then_give_up() -> None:
    registry = CollectorRegistry()
    metrics = DialerMetrics(registry)
    metrics(ev.DialRescheduled(at=1, item_id="1", kind="lead", reason="calling_hours",
                               due_at=9, attempts=0))  # fmt: skip
    metrics(ev.DialRescheduled(at=1, item_id="2", kind="lead", reason="recovered",
                               due_at=9, attempts=1))  # fmt: skip
    metrics(ev.DialGaveUp(at=2, item_id="3", kind="lead", reason="dnc", attempts=0))
    metrics(ev.DialGaveUp(at=2, item_id="4", kind="lead", reason="invalid_number", attempts=1))
    metrics(ev.DialAbandoned(at=3, attempt_id="x", item_id="5", campaign="", queue="sales",
                             waited=2.0))  # fmt: skip
    metrics(ev.DialGaveUp(at=3, item_id="5", kind="callback", reason="max_attempts", attempts=3))
    assert attempts(registry, "lead", "failed") == 1.0  # the recovered one
    assert attempts(registry, "lead", "rejected") == 1.0
    assert attempts(registry, "callback", "abandoned") == 1.0
    assert attempts(registry, "callback", "gave_up") == 0.0  # its drop was counted
    assert value(registry, "cti_dial_abandoned_total", campaign="-") == 1.0
    assert value(registry, "cti_dial_gave_up_total", kind="lead", reason="dnc") == 1.0


def test_requests_remembered_are_bounded_and_a_forgotten_one_is_not_observed() -> None:
    registry = CollectorRegistry()
    metrics = DialerMetrics(registry, max_waiting=2)
    for n in range(3):
        metrics(requested(f"cb{n}", float(n)))
    assert list(metrics.requested_at) == ["cb1", "cb2"]
    for n in range(3):
        metrics(ev.CallbackCompleted(at=100.0, callback_id=f"cb{n}", attempt_id="a",
                                     queue="sales", attempts=1))  # fmt: skip
    assert value(registry, "cti_callbacks_completed_total", queue="sales") == 3.0
    assert value(registry, "cti_callback_wait_seconds_count", queue="sales") == 2.0
    assert value(registry, "cti_callback_wait_seconds_sum", queue="sales") == 99.0 + 98.0


def test_campaign_labels_are_bounded_and_pacing_goes_with_the_campaign() -> None:
    registry = CollectorRegistry()
    metrics = DialerMetrics(registry, max_names=2)
    for name in ("a", "b", "c", "d"):
        metrics(ev.PacingChanged(at=1, campaign=name, level=1.5, previous=1.0,
                                 abandon_rate=0.01, live=10, abandoned=0))  # fmt: skip
    assert value(registry, "cti_dialer_pacing_level", campaign="a") == 1.5
    assert value(registry, "cti_dialer_pacing_level", campaign="other") == 1.5
    assert value(registry, "cti_dialer_pacing_level", campaign="c") is None
    metrics(ev.CampaignStateChanged(at=2, campaign="a", state="stopped", previous="running"))
    metrics(ev.CampaignStateChanged(at=2, campaign="b", state="paused", previous="running"))
    metrics(ev.CampaignStateChanged(at=2, campaign="c", state="finished", previous="running"))
    assert value(registry, "cti_dialer_pacing_level", campaign="a") is None
    assert value(registry, "cti_dialer_pacing_level", campaign="b") == 1.5
    assert value(registry, "cti_dialer_pacing_level", campaign="other") == 1.5
