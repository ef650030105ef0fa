"""Fakes for the Prometheus tests, and a registry wired the way ``cti_server/app.py`` wires it.

The fakes implement what the collectors read (the endpoint's counters, the controller's
calls, the distributor's queries, the recording service's closed files); the media core and
the distributor can also be the real ones. ``populated()`` feeds a realistic day's worth of
events so that every metric family has samples (the dashboard test needs that).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from acd.settings import AcdSettings
from cti_server import events as ev
from cti_server.bus import EventBus
from cti_server.rtp.bridge import MediaCore
from metrics.prom_dialer import attach_dialer
from metrics.prometheus import (
    CallCounters,
    attach_acd,
    attach_bus,
    attach_recording,
    build_registry,
)
from recording.files import RecordingClosed

QUEUES = ["general", "vip"]
START = 1_700_000_000.0


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeEndpoint:
    received: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    auth_failures: int = 0
    transactions: dict[str, int] = field(default_factory=dict)
    registered: int = 0

    def transaction_stats(self) -> dict[str, int]:
        return dict(self.transactions)

    def registered_count(self) -> int:
        return self.registered


@dataclass
class FakeController:
    calls: dict[str, object] = field(default_factory=dict)


@dataclass
class FakeSwitch:
    endpoint: FakeEndpoint = field(default_factory=FakeEndpoint)
    controller: FakeController = field(default_factory=FakeController)
    media: MediaCore | None = None


def acd_settings(service_level: float = 20.0) -> AcdSettings:
    return AcdSettings.model_validate(
        {
            "queues": [
                {"name": "general", "service_level_seconds": service_level},
                {"name": "vip", "service_level_seconds": 10},
            ],
            "agents": [
                {"id": "1001", "queues": ["general"]},
                {"id": "1002", "queues": ["general", "vip"]},
            ],
        }
    )


class FakeDistributor:
    """``queue_stats`` / ``agents`` as ``acd.distributor.Distributor`` answers them."""

    def __init__(self, settings: AcdSettings | None = None) -> None:
        self.settings = settings or acd_settings()
        self.active = True
        self.stats: dict[str, dict[str, Any]] = {}
        self.rows: list[dict[str, Any]] = []
        self.asked_at: list[float | None] = []

    @property
    def is_leader(self) -> bool:
        return self.active

    def queue_stats(self, queue: str, now: float | None = None) -> dict[str, Any]:
        self.asked_at.append(now)
        base = dict.fromkeys(
            ("waiting", "offered", "ready", "reserved", "busy", "wrap_up", "not_ready", "away"), 0
        )
        base |= {"queue": queue, "longest_wait": 0.0, "logged_in": 0, "estimated_wait": None}
        return base | self.stats.get(queue, {})

    def agents(self) -> list[dict[str, Any]]:
        return list(self.rows)


@dataclass
class FakeRecorder:
    open: dict[str, str] = field(default_factory=dict)

    def active(self) -> dict[str, str]:
        return dict(self.open)


@dataclass
class FakeRecordingService:
    closed: list[RecordingClosed] = field(default_factory=list)
    recorder: FakeRecorder = field(default_factory=FakeRecorder)


def closed_recording(n: int, *, channels: int = 2, error: str | None = None) -> RecordingClosed:
    return RecordingClosed(
        recording_id=f"R{n}",
        call_id=f"C{n}",
        path=f"/rec/R{n}.wav",
        channels=channels,
        opened_at=START,
        closed_at=START + 60,
        duration_s=60.0,
        sha256="0" * 64,
        bytes=0 if error else 960_044,
        error=error,
    )


@dataclass
class Wired:
    registry: CollectorRegistry
    counters: CallCounters
    bus: EventBus
    clock: Clock
    switch: FakeSwitch
    acd: FakeDistributor
    recording: FakeRecordingService

    def publish(self, *events: ev.Event) -> None:
        for event in events:
            self.bus.publish(event)

    def value(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)


def wired(media: MediaCore | None = None, window: float = 900.0) -> Wired:
    """The registry as ``build_app`` builds it (see the lines in metrics/prometheus.py)."""
    switch = FakeSwitch(media=media)
    clock = Clock()
    acd = FakeDistributor()
    recording = FakeRecordingService()
    bus = EventBus()
    registry, counters = build_registry(switch, window=window)
    bus.subscribe(counters)
    attach_acd(registry, counters, lambda: acd, list(QUEUES), clock=clock)
    attach_recording(registry, lambda: recording)
    attach_bus(registry, bus)
    attach_dialer(registry, bus, list(QUEUES))
    return Wired(registry, counters, bus, clock, switch, acd, recording)


def media_core() -> MediaCore:
    return MediaCore(local_ip="127.0.0.1", port_min=20000, port_max=20100, rng=random.Random(7))


def rtp(seq: int, ts: int, pt: int = 0) -> bytes:
    header = bytes([0x80, pt]) + seq.to_bytes(2, "big") + ts.to_bytes(4, "big")
    return header + b"\0\0\0\1" + b"\xff" * 160


def one_call_through_a_queue(t: float, call: str = "C1", queue: str = "general") -> list[ev.Event]:
    """An IVR login, a queue wait of 12 s, a 90 s talk and 10 s of wrap-up by agent 1001."""
    return [
        ev.CallDelivered(at=t, call_id=call, caller="0101234", called="1588"),
        ev.IvrStarted(at=t, call_id=call, flow="main", language="ko"),
        ev.AuthenticationAttempted(at=t + 5, call_id=call, method="customer_number", outcome="ok"),
        ev.IvrEnded(at=t + 8, call_id=call, flow="main", node="to_queue", outcome="queued"),
        ev.CallQueued(at=t + 8, call_id=call, queue=queue, priority=0, position=1),
        ev.CallOffered(at=t + 18, call_id=call, queue=queue, agent_id="1001", waited=10),
        ev.CallDequeued(at=t + 20, call_id=call, queue=queue, agent_id="1001", waited=12),
        ev.AgentBusy(at=t + 20, agent_id="1001", state="busy", previous="reserved"),
        ev.CallEstablished(at=t + 20, call_id=call, leg_id="L2", agent_id="1001"),
        ev.CallCleared(at=t + 110, call_id=call, cause="caller_hangup", agent_id="1001"),
        ev.AgentWorkingAfterCall(at=t + 110, agent_id="1001", state="wrap_up", previous="busy"),
        ev.AgentReady(at=t + 120, agent_id="1001", state="ready", previous="wrap_up"),
    ]


def populated() -> Wired:
    """Every family with samples: calls of each kind, a live RTP leg, recordings."""
    core = media_core()
    w = wired(core)
    t = w.clock.now - 600
    w.publish(*one_call_through_a_queue(t))
    w.publish(
        ev.CallDelivered(at=t, call_id="C2", caller="0105555", called="1599"),
        ev.CallQueued(at=t, call_id="C2", queue="general", priority=0, position=1),
        ev.OfferTimedOut(at=t + 15, call_id="C2", queue="general", agent_id="1002"),
        ev.CallAbandoned(at=t + 40, call_id="C2", queue="general", position=1, waited=40),
        ev.CallCleared(at=t + 40, call_id="C2", cause="caller_hangup"),
        ev.CallQueued(at=t, call_id="C3", queue="vip", priority=0, position=1),
        ev.CallOverflowed(
            at=t + 60, call_id="C3", queue="vip", target="callback", reason="max_wait", waited=60
        ),
        ev.CallbackRequested(
            at=t + 70, call_id="C3", callback_id="B1", number="0107777", queue="vip"
        ),
        ev.CallCleared(at=t + 75, call_id="C3", cause="callback"),
        ev.AuthenticationAttempted(at=t, call_id="C4", method="customer_number", outcome="bad_pin"),
    )
    w.switch.endpoint.received.update({"INVITE": 3, "ACK": 3, "BYE": 2, "response": 5})
    w.switch.endpoint.dropped.update({"stray_response": 1, "framing: Bad Content-Length '9x'": 2})
    w.switch.endpoint.transactions.update({"server": 1, "client": 0})
    w.switch.controller.calls["C9"] = object()
    w.acd.stats["general"] = {"waiting": 2, "offered": 1, "longest_wait": 33.0, "ready": 1}
    w.acd.rows = [{"id": "1001", "state": "ready"}, {"id": "1002", "state": "busy"}]
    core.open("L1", w.clock.now)
    route = core.legs["L1"].route
    for seq, late in ((1, 0.0), (2, 0.004), (4, 0.0)):  # 3 was lost, 2 came 4 ms late
        arrival = w.clock.now + seq * 0.02 + late
        route.process(rtp(seq, seq * 160), ("127.0.0.1", 40000), arrival)
    w.recording.closed += [closed_recording(1), closed_recording(2, channels=1)]
    w.recording.recorder.open["C9"] = "R9"
    return w
