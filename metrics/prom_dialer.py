"""Dialer metrics from the bus: callbacks completed and how long they waited, dial attempts
by outcome, drops per campaign, give-ups, and each campaign's pacing level.

``cti_callbacks_requested_total{queue}`` already comes from ``prom_calls.CallCounters``;
this module adds (``kind`` is ``callback`` or ``lead``):

- ``cti_callbacks_completed_total{queue}``: callbacks that reached the customer and an agent
  (``callback_completed``).
- ``cti_callback_wait_seconds{queue}``: from the request (``callback_requested``; a repeated
  request keeps the first one's time) to its completion. The request time is remembered in
  this process only (at most ``MAX_WAITING`` requests, the oldest forgotten first): a
  callback requested before a restart, or on another node, is not observed. The period
  report's time to callback (``metrics.callback_stats``) has them all.
- ``cti_dial_attempts_total{kind,outcome}``: every ended attempt once. ``answered`` (the
  completion events), ``busy``, ``no_answer``, ``failed`` (``dial_rescheduled`` with that
  reason; ``recovered``, an attempt cut short by a restart, is ``failed``), ``abandoned``
  (``dial_abandoned``: answered, no agent within the grace; the reschedule or give-up that
  follows it is not counted again), ``rejected`` (given up as ``invalid_number``) and
  ``gave_up``: the last attempt of an item given up at ``max_attempts``, whose own outcome the
  event does not carry (busy, no answer or failed). ``calling_hours`` waits and DNC give-ups
  are no attempts.
- ``cti_dial_gave_up_total{kind,reason}``: items given up (``max_attempts``, ``dnc``,
  ``invalid_number``).
- ``cti_dial_abandoned_total{campaign}``: drops; ``-`` for callbacks. The drop rate of a
  campaign is this over its answered attempts.
- ``cti_dialer_pacing_level{campaign}``: dial lines per free agent after the pacer's last
  change (``pacing_changed``); the series goes when the campaign stops or finishes.

Labels are bounded: ``kind``, ``outcome`` and ``reason`` are fixed sets; the first
``MAX_NAMES`` queue and campaign names seen get their own series, later ones share
``other`` (campaigns can be created at run time).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from cti_server import events as ev
from cti_server.bus import EventBus

KINDS = ("callback", "lead")
OUTCOMES = ("answered", "busy", "no_answer", "failed", "abandoned", "rejected", "gave_up")
RESCHEDULED = {"busy": "busy", "no_answer": "no_answer", "failed": "failed", "recovered": "failed"}
GIVE_UP_REASONS = ("max_attempts", "dnc", "invalid_number")
WAIT_BUCKETS = (60, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 604800)
MAX_WAITING = 100_000
MAX_NAMES = 100
OTHER = "other"
NONE = "-"  # the campaign label of a callback's drop; a callback without a queue


class BoundedNames:
    """The label values one label may take: the first ``limit`` names, then ``other``."""

    def __init__(self, limit: int = MAX_NAMES) -> None:
        self.limit = limit
        self.seen: set[str] = set()

    def __call__(self, name: str) -> str:
        if name in self.seen:
            return name
        if len(self.seen) >= self.limit:
            return OTHER
        self.seen.add(name)
        return name


class DialerMetrics:
    """Bus subscriber for the dialer's events (see the module docstring)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        max_waiting: int = MAX_WAITING,
        max_names: int = MAX_NAMES,
    ) -> None:
        self.max_waiting = max_waiting
        self.queue_label = BoundedNames(max_names)
        self.campaign_label = BoundedNames(max_names)
        self.requested_at: dict[str, float] = {}  # callback id -> first request time
        self._dropped: dict[str, None] = {}  # items whose drop was just counted
        self.completed = Counter(
            "cti_callbacks_completed",
            "Callbacks that reached the customer and an agent, by queue",
            ["queue"],
            registry=registry,
        )
        self.wait = Histogram(
            "cti_callback_wait_seconds",
            "Time from a callback request to the call that completed it",
            ["queue"],
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self.attempts = Counter(
            "cti_dial_attempts",
            "Dialer attempts that ended, by kind and outcome (metrics/prom_dialer.py)",
            ["kind", "outcome"],
            registry=registry,
        )
        self.gave_up = Counter(
            "cti_dial_gave_up",
            "Callbacks and leads the dialer gave up, by reason",
            ["kind", "reason"],
            registry=registry,
        )
        self.abandoned = Counter(
            "cti_dial_abandoned",
            "Answered dialer calls dropped with no agent within the grace, by campaign",
            ["campaign"],
            registry=registry,
        )
        self.pacing = Gauge(
            "cti_dialer_pacing_level",
            "Dial lines per free agent after the pacer's last change, by campaign",
            ["campaign"],
            registry=registry,
        )
        for kind in KINDS:
            for outcome in OUTCOMES:
                self.attempts.labels(kind, outcome)
            for reason in GIVE_UP_REASONS:
                self.gave_up.labels(kind, reason)

    def known_queues(self, names: list[str]) -> None:
        """Start the configured queues' series at zero (and reserve their label values)."""
        for name in names:
            label = self.queue_label(name)
            self.completed.labels(label)
            self.wait.labels(label)

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.CallbackRequested):
            self._requested(event)
        elif isinstance(event, ev.CallbackCompleted):
            self._callback_completed(event)
        elif isinstance(event, ev.LeadCompleted):
            self.attempts.labels("lead", "answered").inc()
        elif isinstance(event, ev.DialRescheduled):
            self._rescheduled(event)
        elif isinstance(event, ev.DialGaveUp):
            self._gave_up(event)
        elif isinstance(event, ev.DialAbandoned):
            self._abandoned(event)
        elif isinstance(event, ev.PacingChanged):
            self.pacing.labels(self.campaign_label(event.campaign)).set(event.level)
        elif isinstance(event, ev.CampaignStateChanged) and event.state in ("stopped", "finished"):
            self._campaign_ended(event.campaign)

    def _requested(self, event: ev.CallbackRequested) -> None:
        if event.callback_id in self.requested_at:
            return  # a repeated request merged into a pending one: the first one counts
        if len(self.requested_at) >= self.max_waiting:
            del self.requested_at[next(iter(self.requested_at))]  # the oldest request
        self.requested_at[event.callback_id] = event.at

    def _callback_completed(self, event: ev.CallbackCompleted) -> None:
        queue = self.queue_label(event.queue or NONE)
        self.completed.labels(queue).inc()
        self.attempts.labels("callback", "answered").inc()
        requested = self.requested_at.pop(event.callback_id, None)
        if requested is not None:
            self.wait.labels(queue).observe(max(0.0, event.at - requested))

    def _rescheduled(self, event: ev.DialRescheduled) -> None:
        if event.reason == "abandoned" and self._was_dropped(event.item_id):
            return
        outcome = "abandoned" if event.reason == "abandoned" else RESCHEDULED.get(event.reason)
        if outcome is not None:  # calling_hours: a wait, not an attempt
            self.attempts.labels(_kind(event.kind), outcome).inc()

    def _gave_up(self, event: ev.DialGaveUp) -> None:
        kind = _kind(event.kind)
        reason = event.reason if event.reason in GIVE_UP_REASONS else OTHER
        self.gave_up.labels(kind, reason).inc()
        if kind == "callback":
            self.requested_at.pop(event.item_id, None)
        dropped = self._was_dropped(event.item_id)
        if reason == "invalid_number":
            self.attempts.labels(kind, "rejected").inc()
        elif reason == "max_attempts" and not dropped:
            self.attempts.labels(kind, "gave_up").inc()

    def _abandoned(self, event: ev.DialAbandoned) -> None:
        kind = "lead" if event.campaign else "callback"
        self.attempts.labels(kind, "abandoned").inc()
        self.abandoned.labels(self.campaign_label(event.campaign or NONE)).inc()
        if len(self._dropped) >= self.max_waiting:
            del self._dropped[next(iter(self._dropped))]
        self._dropped[event.item_id] = None

    def _was_dropped(self, item_id: str) -> bool:
        """The reschedule or give-up that follows a drop (the same decision) was counted."""
        if item_id not in self._dropped:
            return False
        del self._dropped[item_id]
        return True

    def _campaign_ended(self, campaign: str) -> None:
        if campaign in self.campaign_label.seen:  # "other" stays: other campaigns share it
            self.pacing.remove(campaign)


def _kind(kind: str) -> str:
    return kind if kind in KINDS else OTHER


def attach_dialer(
    registry: CollectorRegistry, bus: EventBus, queue_names: list[str] | None = None
) -> DialerMetrics:
    """Register the dialer metrics in ``registry`` and subscribe them to ``bus``;
    ``queue_names`` start at zero, so dashboards show 0 rather than "no data"."""
    metrics = DialerMetrics(registry)
    metrics.known_queues(queue_names or [])
    bus.subscribe(metrics)
    return metrics
