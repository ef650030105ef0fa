"""Queue and agent gauges, read from the distributor at scrape time.

The distributor already keeps what a wallboard shows (``queue_stats``, ``agents``); reading
it when Prometheus asks costs nothing on the call path. The rolling service level and
answer rate come from the bus-fed windows of ``QueueEventMetrics`` and the queue's own
``service_level_seconds``. A ratio with nothing to count (no call left the queue in the
window) is NaN: "no calls" is not 0 %, and Grafana shows it as a gap.

``acd_getter`` returns the distributor (or the HA holder that forwards to it) or None;
``cti_acd_active`` is 0 on a standby node, whose queue figures are not the live ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from metrics.prom_queues import QueueEventMetrics
from metrics.prom_window import QueueWindow

AGENT_STATES = ("logged_out", "ready", "not_ready", "reserved", "busy", "wrap_up", "away")
QUEUE_AGENT_STATES = ("ready", "not_ready", "reserved", "busy", "wrap_up", "away")
DEFAULT_SERVICE_LEVEL_SECONDS = 20.0


class AcdView(Protocol):
    """What the collector reads of ``acd.distributor.Distributor``."""

    def queue_stats(self, queue: str, now: float | None = None) -> Mapping[str, Any]: ...

    def agents(self) -> Sequence[Mapping[str, Any]]: ...


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _queue_stats(acd: AcdView | None, name: str, now: float) -> Mapping[str, Any] | None:
    if acd is None:
        return None
    try:
        return acd.queue_stats(name, now)
    except LookupError:  # UnknownQueueError: a queue the running distributor does not have
        return None


def thresholds(acd: Any) -> dict[str, float]:
    """Each queue's service-level threshold from the distributor's settings."""
    settings = getattr(acd, "settings", None)
    queues = getattr(settings, "queues", None) or []
    return {q.name: float(q.service_level_seconds) for q in queues}


class AcdCollector(Collector):
    def __init__(
        self,
        acd_getter: Callable[[], AcdView | None],
        queue_names: list[str],
        queues: QueueEventMetrics,
        clock: Callable[[], float],
    ) -> None:
        self._acd = acd_getter
        self._names = list(queue_names)
        self._queues = queues
        self._clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        acd = self._acd()
        now = self._clock()
        yield GaugeMetricFamily(
            "cti_acd_active",
            "1 when this node runs the distributor (the HA leader), 0 on a standby",
            value=0 if acd is None or not getattr(acd, "is_leader", True) else 1,
        )
        yield from self._queue_gauges(acd, now)
        yield from self._agent_gauges(acd)
        yield from self._window_gauges(acd, now)

    def _queue_gauges(self, acd: AcdView | None, now: float) -> Iterator[GaugeMetricFamily]:
        labels = ["queue"]
        waiting = GaugeMetricFamily(
            "cti_queue_calls_waiting", "Calls in the queue, ringing ones included", labels=labels
        )
        ringing = GaugeMetricFamily(
            "cti_queue_calls_ringing", "Queued calls ringing an agent now", labels=labels
        )
        longest = GaugeMetricFamily(
            "cti_queue_longest_wait_seconds", "Wait of the oldest call in the queue", labels=labels
        )
        estimated = GaugeMetricFamily(
            "cti_queue_estimated_wait_seconds",
            "Expected wait of a call joining the queue now (NaN: nobody staffed)",
            labels=labels,
        )
        agents = GaugeMetricFamily(
            "cti_queue_agents",
            "Logged-in agents of the queue, by state",
            labels=["queue", "state"],
        )
        for name in self._names:
            stats = _queue_stats(acd, name, now)
            if stats is None:
                continue
            waiting.add_metric([name], stats["waiting"])
            ringing.add_metric([name], stats["offered"])
            longest.add_metric([name], stats["longest_wait"])
            estimated.add_metric([name], _nan(stats["estimated_wait"]))
            for state in QUEUE_AGENT_STATES:
                agents.add_metric([name, state], stats[state])
        yield from (waiting, ringing, longest, estimated, agents)

    def _agent_gauges(self, acd: AcdView | None) -> Iterator[GaugeMetricFamily]:
        counts = dict.fromkeys(AGENT_STATES, 0)
        for row in acd.agents() if acd is not None else []:
            state = row["state"]
            counts[state if state in counts else "logged_out"] += 1
        family = GaugeMetricFamily("cti_agents", "ACD agents, by state", labels=["state"])
        for state, n in counts.items():
            family.add_metric([state], n)
        yield family

    def _window_gauges(self, acd: AcdView | None, now: float) -> Iterator[GaugeMetricFamily]:
        minutes = f"{self._queues.window / 60:g}"
        level = GaugeMetricFamily(
            "cti_queue_service_level_ratio",
            f"Calls answered within the queue's threshold / calls answered, last {minutes} min",
            labels=["queue"],
        )
        rate = GaugeMetricFamily(
            "cti_queue_answer_rate_ratio",
            f"Calls answered / calls that left the queue, last {minutes} min",
            labels=["queue"],
        )
        threshold = GaugeMetricFamily(
            "cti_queue_service_level_threshold_seconds",
            "The queue's service-level threshold (service_level_seconds)",
            labels=["queue"],
        )
        limits = thresholds(acd)
        names = dict.fromkeys([*self._names, *self._queues.windows])
        for name in names:
            limit = limits.get(name, DEFAULT_SERVICE_LEVEL_SECONDS)
            window = self._queues.windows.get(name) or QueueWindow(self._queues.window)
            figures = window.figures(now, limit)
            level.add_metric([name], _nan(figures.service_level))
            rate.add_metric([name], _nan(figures.answer_rate))
            threshold.add_metric([name], limit)
        yield from (level, rate, threshold)
