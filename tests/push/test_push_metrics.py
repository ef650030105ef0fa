"""The push figures in Prometheus, and the builder's single-node wiring on a fake clock."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from twisted.internet import task

from cti_server.api.push_wiring import PushSettings, build_event_push
from cti_server.bus import EventBus
from cti_server.config import Config
from cti_server.events import CallQueued
from tests.push.ws_client import Viewer, authenticate


class Sink:
    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def send(self, frame: bytes) -> None:
        self.frames.append(frame)

    def abort(self) -> None:
        return None


def test_metrics_and_single_node_wiring() -> None:
    clock, bus, registry = task.Clock(), EventBus(), CollectorRegistry()
    settings = PushSettings(max_stall=1.0, heartbeat_interval=1.0)
    push = build_event_push(
        Config(), clock, bus, authenticate, settings=settings, registry=registry
    )
    assert push.service is None  # no redis.url: the in-memory ring
    live, stuck = Sink(), Sink()
    push.hub.connect(live, Viewer("supervisor"), None, clock.seconds())
    push.hub.connect(stuck, Viewer("agent", "1001"), None, clock.seconds())
    push.hub.pause(stuck, clock.seconds())
    bus.publish(CallQueued(at=1.0, call_id="c1", queue="sales", priority=0, position=1))
    bus.publish(CallQueued(at=2.0, call_id="c2", queue="sales", priority=0, position=1))
    push.factory.rearm()
    clock.advance(1.0)
    clock.advance(1.0)  # the stuck one has been paused for 2 s: cut off
    text = generate_latest(registry).decode()
    for line in [
        'cti_push_clients{state="live"} 1.0',
        'cti_push_clients{state="catching_up"} 0.0',
        "cti_push_events_total 4.0",
        'cti_push_clients_cut_off_total{reason="stalled"} 1.0',
        "cti_push_feed_seq 2.0",
        "cti_push_rejected_total 0.0",
        "cti_push_feed_dropped_total 0.0",
        "cti_push_clients_behind_total 0.0",
    ]:
        assert line in text, line
    assert len(live.frames) == 5  # heartbeat, two events, two heartbeats
    push.stop()
    assert not clock.getDelayedCalls()
