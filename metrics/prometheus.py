"""Prometheus exposition: an explicit registry, fed from the cores' own counters and the bus.

The SIP endpoint, the media core, the distributor and the recorder keep their own figures;
collectors read them at scrape time, so the hot paths never touch prometheus_client. Domain
events update counters and histograms through one bus subscriber (``CallCounters``).

Composition (``cti_server/app.py``)::

    registry, counters = build_registry(switch)  # SIP, calls, IVR, RTP
    bus.subscribe(counters)
    attach_acd(registry, counters, lambda: center.acd, queue_names, clock=reactor.seconds)
    attach_recording(registry, lambda: recording)
    attach_bus(registry, bus)

Labels are bounded (queue names from the config, fixed outcome and reason sets; never a
call id, agent id or number); their sets are documented in ``prom_calls`` (call outcomes),
``prom_queues``, ``prom_acd``, ``prom_media`` and ``prom_sip``. The Grafana dashboard over
these is ``metrics/grafana/cti-dashboard.json``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from cti_server.call.switch import CallSwitch
from metrics.prom_acd import AcdCollector
from metrics.prom_calls import CallCounters
from metrics.prom_media import BusCollector, MediaCollector, RecordingCollector
from metrics.prom_sip import SipCollector
from metrics.prom_window import WINDOW_SECONDS

__all__ = [
    "WINDOW_SECONDS",
    "AcdCollector",
    "BusCollector",
    "CallCounters",
    "MediaCollector",
    "RecordingCollector",
    "SipCollector",
    "attach_acd",
    "attach_bus",
    "attach_media",
    "attach_recording",
    "build_registry",
]


def build_registry(
    switch: CallSwitch, *, window: float = WINDOW_SECONDS
) -> tuple[CollectorRegistry, CallCounters]:
    """The registry with the SIP, call and media figures; subscribe the returned counters to
    the bus. ``window`` is the span of the rolling service level and answer rate."""
    registry = CollectorRegistry()
    registry.register(SipCollector(switch))
    attach_media(registry, lambda: switch.media)
    return registry, CallCounters(registry, window)


def attach_acd(
    registry: CollectorRegistry,
    counters: CallCounters,
    acd_getter: Callable[[], Any],
    queue_names: list[str],
    *,
    clock: Callable[[], float] = time.time,
) -> AcdCollector:
    """Queue and agent gauges over the distributor ``acd_getter()`` returns (read at each
    scrape: a promoted standby swaps it), plus the rolling service level and answer rate of
    the bus-fed windows in ``counters``. ``clock`` must be the clock the events are stamped
    with (``reactor.seconds``). The queues' series start at zero."""
    counters.queues.known_queues(queue_names)
    collector = AcdCollector(acd_getter, queue_names, counters.queues, clock)
    registry.register(collector)
    return collector


def attach_media(registry: CollectorRegistry, core_getter: Callable[[], Any]) -> MediaCollector:
    """RTP packets, loss and jitter of the media anchor (``build_registry`` does this with
    ``switch.media``; the families are there, at zero, without an anchor)."""
    collector = MediaCollector(core_getter)
    registry.register(collector)
    return collector


def attach_recording(
    registry: CollectorRegistry, service_getter: Callable[[], Any]
) -> RecordingCollector:
    """Recordings written, failed and open, from the ``RecordingService`` (None: zeros)."""
    collector = RecordingCollector(service_getter)
    registry.register(collector)
    return collector


def attach_bus(registry: CollectorRegistry, bus: Any) -> BusCollector:
    """Events published and subscriber failures of the event bus."""
    collector = BusCollector(bus)
    registry.register(collector)
    return collector
