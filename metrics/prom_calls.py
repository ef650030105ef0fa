"""The bus subscriber behind the event-driven metrics: calls, IVR, callbacks, and (through
``QueueEventMetrics``) queues.

``cti_calls_total{outcome}`` is decided when a call clears, from what happened to it on
the way (remembered per call until then) and, failing that, from the clearing cause:

==============  =============================================================================
answered        connected to a person: an agent or an extension answered (call_established)
abandoned       the caller hung up in a queue (call_abandoned) or while a phone rang
voicemail       the caller left a voice message
callback        the caller asked to be called back
self_service    ended inside the IVR (the flow or the caller hung up there: not an abandon,
                as Flex Insights counts it) or by a flow's own hang-up cause
closed          the queue was closed (out of hours) and said so
unanswered      the called party did not answer or refused (rejected, timeout)
failed          nothing to deliver it to or a fault: no_route, unavailable, no_media,
                media_timeout, an IVR error
other           a cause not listed here
==============  =============================================================================

``cti_calls_cleared_total{cause}`` keeps the raw cause (a bounded, config-defined set).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram

from cti_server import events as ev
from metrics.prom_queues import QueueEventMetrics
from metrics.prom_window import WINDOW_SECONDS

CALL_OUTCOMES = (
    "answered",
    "abandoned",
    "voicemail",
    "callback",
    "self_service",
    "closed",
    "unanswered",
    "failed",
    "other",
)
CAUSE_OUTCOMES = {
    "caller_hangup": "abandoned",
    "cancelled": "abandoned",
    "voice_message": "voicemail",
    "callback": "callback",
    "callback_requested": "callback",
    "ivr_hangup": "self_service",
    "queue_closed": "closed",
    "rejected": "unanswered",
    "timeout": "unanswered",
    "no_route": "failed",
    "unavailable": "failed",
    "no_media": "failed",
    "media_timeout": "failed",
    "ivr_error": "failed",
    "ivr_loop": "failed",
}
IVR_OUTCOMES = (
    "queued",
    "transferred",
    "voice_message",
    "callback",
    "hangup",
    "caller_hangup",
    "error",
)
LOGIN_OUTCOMES = ("ok", "bad_pin", "unknown", "locked", "error")
IVR_BUCKETS = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600)
MAX_TRACKED_CALLS = 100_000  # a call whose clearing we never see must not leak forever
_LABEL = re.compile(r"^[a-z0-9_]{1,40}$")
_V = TypeVar("_V")


@dataclass(slots=True)
class CallFate:
    """What happened to a live call that decides its outcome."""

    established: bool = False
    abandoned: bool = False
    voicemail: bool = False
    callback: bool = False
    ivr_outcome: str | None = None


def call_outcome(cause: str, fate: CallFate | None) -> str:
    if fate is not None:
        if fate.established:
            return "answered"
        if fate.voicemail:
            return "voicemail"
        if fate.callback:
            return "callback"
        if fate.abandoned:
            return "abandoned"
        if fate.ivr_outcome in ("hangup", "caller_hangup"):
            return "self_service"
        if fate.ivr_outcome == "error":
            return "failed"
    outcome = CAUSE_OUTCOMES.get(cause)
    if outcome is None and fate is not None and fate.ivr_outcome is not None:
        return "self_service"  # a flow's own hang-up cause (``cause:`` in the YAML)
    return outcome or "other"


def bounded(value: str, known: tuple[str, ...] | None = None) -> str:
    """A label value from a known set, else a short identifier, else ``other``."""
    if known is not None:
        return value if value in known else "other"
    return value if _LABEL.match(value) else "other"


class CallCounters:
    """Bus subscriber: calls delivered and cleared, their outcome, the IVR and the queues."""

    def __init__(self, registry: CollectorRegistry, window: float = WINDOW_SECONDS) -> None:
        self.queues = QueueEventMetrics(registry, window)
        self._fates: dict[str, CallFate] = {}
        self._in_ivr: dict[str, float] = {}  # call -> ivr_started at
        self.delivered = Counter(
            "cti_calls_delivered", "Inbound calls delivered", registry=registry
        )
        self.cleared = Counter(
            "cti_calls_cleared", "Calls cleared, by cause", ["cause"], registry=registry
        )
        self.calls = Counter(
            "cti_calls",
            "Calls ended, by outcome (defined in metrics/prom_calls.py)",
            ["outcome"],
            registry=registry,
        )
        self.ivr = Histogram(
            "cti_ivr_seconds",
            "Time a call spent in an IVR flow, by how the flow let go of it",
            ["outcome"],
            buckets=IVR_BUCKETS,
            registry=registry,
        )
        self.logins = Counter(
            "cti_ivr_logins",
            "IVR login attempts (authentication_attempted), by outcome",
            ["outcome"],
            registry=registry,
        )
        self.callbacks = Counter(
            "cti_callbacks_requested",
            "Callback requests committed, by queue",
            ["queue"],
            registry=registry,
        )
        for outcome in CALL_OUTCOMES:
            self.calls.labels(outcome)
        for outcome in LOGIN_OUTCOMES:
            self.logins.labels(outcome)
        for outcome in IVR_OUTCOMES:
            self.ivr.labels(outcome)

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.CallDelivered):
            self.delivered.inc()
        elif isinstance(event, ev.CallCleared):
            self._cleared(event)
        elif isinstance(event, ev.CallEstablished):
            self._fate(event.call_id).established = True
        elif isinstance(event, ev.VoiceMessageStarted):
            self._fate(event.call_id).voicemail = True
        elif isinstance(event, ev.CallbackRequested):
            self._fate(event.call_id).callback = True
            self.callbacks.labels(event.queue or "none").inc()
        elif isinstance(event, ev.IvrStarted):
            _bounded_put(self._in_ivr, event.call_id, event.at)
        elif isinstance(event, ev.IvrEnded):
            self._ivr_ended(event)
        elif isinstance(event, ev.AuthenticationAttempted):
            self.logins.labels(bounded(event.outcome, LOGIN_OUTCOMES)).inc()
        elif self.queues.handle_event(event) and isinstance(event, ev.CallAbandoned):
            self._fate(event.call_id).abandoned = True

    def _cleared(self, event: ev.CallCleared) -> None:
        self.cleared.labels(bounded(event.cause)).inc()
        fate = self._fates.pop(event.call_id, None)
        self._in_ivr.pop(event.call_id, None)
        self.calls.labels(call_outcome(event.cause, fate)).inc()

    def _ivr_ended(self, event: ev.IvrEnded) -> None:
        outcome = bounded(event.outcome, IVR_OUTCOMES)
        self._fate(event.call_id).ivr_outcome = outcome
        started = self._in_ivr.pop(event.call_id, None)
        if started is not None:
            self.ivr.labels(outcome).observe(max(0.0, event.at - started))

    def _fate(self, call_id: str) -> CallFate:
        fate = self._fates.get(call_id)
        if fate is None:
            fate = CallFate()
            _bounded_put(self._fates, call_id, fate)
        return fate


def _bounded_put(table: dict[str, _V], key: str, value: _V) -> None:
    """Remember ``value`` until the call clears; a call whose clearing never comes (a bug,
    a lost event) must not grow the table forever, so the oldest entry goes first."""
    if key not in table and len(table) >= MAX_TRACKED_CALLS:
        del table[next(iter(table))]  # dicts keep insertion order: this is the oldest
    table[key] = value
