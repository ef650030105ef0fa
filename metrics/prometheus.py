"""Prometheus exposition: an explicit registry, fed from the cores' own counters.

The SIP endpoint and transaction layer count what they see (messages by method, drops by
reason, failed authentications); a custom collector reads those counters at scrape time, so
the hot path never touches prometheus_client. Domain events update counters via the bus.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from cti_server.call.switch import CallSwitch
from cti_server.events import CallCleared, CallDelivered, Event


class SipCollector(Collector):
    def __init__(self, switch: CallSwitch) -> None:
        self._switch = switch

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        endpoint = self._switch.endpoint
        received = CounterMetricFamily(
            "sip_messages_received", "SIP messages received", labels=["method"]
        )
        for method, n in sorted(endpoint.received.items()):
            received.add_metric([method], n)
        yield received
        dropped = CounterMetricFamily(
            "sip_messages_dropped",
            "SIP messages dropped or answered with an error before dispatch, by reason",
            labels=["reason"],
        )
        for reason, n in sorted(endpoint.dropped.items()):
            dropped.add_metric([reason], n)
        yield dropped
        yield CounterMetricFamily(
            "sip_auth_failures", "Digest authentications that failed", value=endpoint.auth_failures
        )
        active = GaugeMetricFamily(
            "sip_transactions_active", "Live SIP transactions", labels=["kind"]
        )
        for kind, n in sorted(endpoint.transaction_stats().items()):
            active.add_metric([kind], n)
        yield active
        yield GaugeMetricFamily(
            "cti_calls_active", "Calls in progress", value=len(self._switch.controller.calls)
        )
        yield GaugeMetricFamily(
            "sip_registered_agents",
            "Accounts with a live registration",
            value=endpoint.registered_count(),
        )


class CallCounters:
    """Bus subscriber: calls delivered and cleared, by cause."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.delivered = Counter(
            "cti_calls_delivered", "Inbound calls delivered", registry=registry
        )
        self.cleared = Counter(
            "cti_calls_cleared", "Calls cleared, by cause", ["cause"], registry=registry
        )

    def __call__(self, event: Event) -> None:
        if isinstance(event, CallDelivered):
            self.delivered.inc()
        elif isinstance(event, CallCleared):
            self.cleared.labels(event.cause).inc()


def build_registry(switch: CallSwitch) -> tuple[CollectorRegistry, CallCounters]:
    registry = CollectorRegistry()
    registry.register(SipCollector(switch))
    return registry, CallCounters(registry)
