"""RTP, recording and bus figures, read at scrape time from the objects that keep them.

RTP counters live per leg in ``MediaCore`` (``Route.stats``, bumped per packet by the UDP
adapter); a leg's stats vanish with the leg, so the collector remembers what it last saw of
each leg and adds it to a running total when the leg is gone. That keeps the exported
counters monotonic; the packets of a leg between its last scrape and its close are the only
ones not counted. Loss is the RFC 3550 expected-minus-received, held at its high-water mark
per leg (a late packet lowers it, and a counter must not go down).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

RTP_CLOCK = 8000.0  # G.711: route jitter is kept in 8 kHz timestamp units
RECORDING_KINDS = ("call", "voice_message")


class MediaCollector(Collector):
    def __init__(self, core_getter: Callable[[], Any]) -> None:
        self._core = core_getter
        self._seen: dict[str, tuple[int, int, int, int]] = {}  # leg -> received, lost, bad, foreign
        self._retired = [0, 0, 0, 0]

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        core = self._core()
        legs: dict[str, Any] = core.legs if core is not None else {}
        jitters: list[float] = []
        for leg_id, leg in legs.items():
            stats = leg.route.stats
            before = self._seen.get(leg_id, (0, 0, 0, 0))
            self._seen[leg_id] = (
                stats.received,
                max(stats.lost(), before[1]),
                stats.dropped_bad,
                stats.dropped_foreign,
            )
            if stats.received > 1:
                jitters.append(stats.jitter / RTP_CLOCK)
        for gone in [leg_id for leg_id in self._seen if leg_id not in legs]:
            for i, value in enumerate(self._seen.pop(gone)):
                self._retired[i] += value
        totals = list(self._retired)
        for counts in self._seen.values():
            for i, value in enumerate(counts):
                totals[i] += value
        yield CounterMetricFamily(
            "cti_rtp_packets_received", "RTP packets received on anchored legs", value=totals[0]
        )
        yield CounterMetricFamily(
            "cti_rtp_packets_lost",
            "RTP packets lost on the way to us (RFC 3550 expected - received)",
            value=totals[1],
        )
        dropped = CounterMetricFamily(
            "cti_rtp_packets_dropped",
            "RTP datagrams we discarded: malformed or unnegotiated (bad), from a foreign address",
            labels=["reason"],
        )
        dropped.add_metric(["bad"], totals[2])
        dropped.add_metric(["foreign"], totals[3])
        yield dropped
        yield GaugeMetricFamily("cti_rtp_legs_active", "Anchored media legs", value=len(legs))
        yield GaugeMetricFamily(
            "cti_rtp_jitter_seconds",
            "Mean RFC 3550 interarrival jitter over the legs receiving media now",
            value=sum(jitters) / len(jitters) if jitters else 0.0,
        )
        yield GaugeMetricFamily(
            "cti_rtp_jitter_max_seconds",
            "Worst RFC 3550 interarrival jitter of the legs receiving media now",
            value=max(jitters, default=0.0),
        )


class RecordingCollector(Collector):
    """Over ``RecordingService.closed`` (append-only, filled on the reactor thread) and the
    recorder's open recordings. Only the new tail of ``closed`` is read at each scrape."""

    def __init__(self, service_getter: Callable[[], Any]) -> None:
        self._service = service_getter
        self._read = 0
        self._written: dict[str, float] = dict.fromkeys(RECORDING_KINDS, 0)
        self._failed: dict[str, float] = dict.fromkeys(RECORDING_KINDS, 0)
        self._seconds: dict[str, float] = dict.fromkeys(RECORDING_KINDS, 0.0)

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        service = self._service()
        closed: list[Any] = service.closed if service is not None else []
        if len(closed) < self._read:  # the list was emptied: count what is in it from now on
            self._read = 0
        for item in closed[self._read :]:
            kind = "call" if item.channels == 2 else "voice_message"  # see Recorder._open
            if item.error:
                self._failed[kind] += 1
            else:
                self._written[kind] += 1
            self._seconds[kind] += item.duration_s
        self._read = len(closed)
        for name, doc, counts in (
            ("cti_recordings_written", "Recordings closed complete, by kind", self._written),
            ("cti_recordings_failed", "Recordings cut short by an I/O error", self._failed),
            ("cti_recorded_seconds", "Seconds of audio in closed recordings", self._seconds),
        ):
            family = CounterMetricFamily(name, doc, labels=["kind"])
            for kind, value in counts.items():
                family.add_metric([kind], value)
            yield family
        active = len(service.recorder.active()) if service is not None else 0
        yield GaugeMetricFamily("cti_recordings_active", "Recordings open now", value=active)


class BusCollector(Collector):
    """The event bus's own counters: a subscriber that raises is logged and swallowed (so
    call control survives a metrics bug); this makes those failures visible."""

    def __init__(self, bus: Any) -> None:
        self._bus = bus

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            "cti_bus_events", "Domain events published on the bus", value=self._bus.published
        )
        yield CounterMetricFamily(
            "cti_bus_subscriber_errors",
            "Subscriber calls that raised (logged and ignored)",
            value=self._bus.errors,
        )
