"""SIP figures, read at scrape time from the endpoint's own counters (the hot path never
touches prometheus_client), and the number of live calls.

Scanner defence: drops show in ``sip_messages_dropped_total`` as ``rate_limited``,
``scanner_user_agent`` and ``locked_source``; ``_scan_figures`` adds how many sources went over
the rate (episodes, not packets), scanner User-Agents seen, lock-outs and tracked sources.

Drop reasons are labels; the endpoint builds some from parse errors (``framing: Bad
Content-Length '12x'``), whose quoted part is the sender's bytes. Labels here keep only the
words before any quote, as an identifier, and at most ``MAX_REASONS`` distinct ones (later
newcomers are ``other``), so a scanner cannot grow the series without bound.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from cti_server.call.switch import CallSwitch
from cti_server.sip.endpoint import SipEndpoint

MAX_REASONS = 40
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def reason_label(reason: str) -> str:
    """``framing: Bad Content-Length '12x'`` -> ``framing_bad_content_length``."""
    head = reason.split("'", 1)[0].split('"', 1)[0].lower()
    return _NOT_WORD.sub("_", head).strip("_")[:48] or "unparsable"


def drop_reasons(dropped: Mapping[str, int], admitted: set[str]) -> dict[str, int]:
    """Counts by label. A label is admitted for good the first time it is seen while fewer
    than ``MAX_REASONS`` are; later newcomers add to ``other``. Admission never changes
    afterwards, so every exported series only ever grows."""
    merged: Counter[str] = Counter()
    for reason, n in dropped.items():
        label = reason_label(reason)
        if label not in admitted and len(admitted) < MAX_REASONS:
            admitted.add(label)
        merged[label if label in admitted else "other"] += n
    return dict(merged)


class SipCollector(Collector):
    def __init__(self, switch: CallSwitch) -> None:
        self._switch = switch
        self._reasons: set[str] = set()

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
        for reason, n in sorted(drop_reasons(endpoint.dropped, self._reasons).items()):
            dropped.add_metric([reason], n)
        yield dropped
        yield CounterMetricFamily(
            "sip_auth_failures", "Digest authentications that failed", value=endpoint.auth_failures
        )
        yield from _scan_figures(endpoint)
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


def _scan_figures(endpoint: SipEndpoint) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
    scan = getattr(endpoint, "scan", None)
    if scan is None:  # an endpoint stand-in without the scan guard (metrics unit tests)
        return
    yield CounterMetricFamily(
        "sip_scan_sources_limited",
        "Times a source address went over the per-source request rate",
        value=scan.limited_episodes(),
    )
    yield CounterMetricFamily(
        "sip_scanner_requests",
        "Requests whose User-Agent is a known attack tool (dropped or not)",
        value=scan.scanner_requests,
    )
    yield CounterMetricFamily(
        "sip_auth_lockouts",
        "Sources and users locked out after repeated failed authentications",
        value=endpoint.auth_lockouts,
    )
    yield GaugeMetricFamily(
        "sip_scan_sources_tracked", "Source addresses the rate limit holds", value=scan.tracked()
    )
