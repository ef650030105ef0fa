"""Queue metrics fed from the ACD's bus events: counters, wait and handle-time histograms,
and the rolling windows the service level is read from (``prom_window``).

Every label is bounded: ``queue`` comes from the configuration, ``outcome`` and ``reason``
from the small fixed sets below; never a call id, agent id or phone number.

- ``cti_queue_offered_total`` counts calls that *entered* a queue (``call_queued``), the
  contact-center sense of "offered"; a call overflowing into a second queue is offered to
  both. A ringing agent's phone is ``cti_queue_offers_missed_total`` when it is not answered.
- ``cti_queue_wait_seconds{outcome}`` observes the ``waited`` of every call leaving a queue:
  answered (``call_dequeued``: the ASA), abandoned or overflowed. ``waited`` counts from the
  first arrival in the ACD (what the caller lived through).
- ``cti_call_handle_seconds`` is talk plus wrap-up: from the agent answering a queued call
  (``call_dequeued``, emitted with the same ``now`` as ``call_established``) until the agent
  leaves busy/wrap-up (``agent_ready``, ``agent_not_ready``, ...).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from cti_server import events as ev
from metrics.prom_window import WINDOW_SECONDS, Outcome, QueueWindow

WAIT_BUCKETS = (1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200)
HANDLE_BUCKETS = (15, 30, 60, 90, 120, 180, 240, 300, 420, 600, 900, 1200, 1800, 3600)
WAIT_OUTCOMES: tuple[Outcome, ...] = ("answered", "abandoned", "overflowed")
OVERFLOW_REASONS = ("max_wait", "max_length", "no_agents", "agent_away")
MISSED_REASONS = ("no_answer", "declined")
WORKING_STATES = frozenset({"busy", "wrap_up"})


def _reason(value: str, known: tuple[str, ...]) -> str:
    return value if value in known else "other"


class QueueEventMetrics:
    def __init__(self, registry: CollectorRegistry, window: float = WINDOW_SECONDS) -> None:
        self.window = window
        self.windows: dict[str, QueueWindow] = {}
        self._handling: dict[str, tuple[float, str]] = {}  # agent -> (answered at, queue)
        self.offered = Counter(
            "cti_queue_offered",
            "Calls that entered the queue (call_queued)",
            ["queue"],
            registry=registry,
        )
        self.answered = Counter(
            "cti_queue_answered",
            "Queued calls an agent answered (call_dequeued)",
            ["queue"],
            registry=registry,
        )
        self.abandoned = Counter(
            "cti_queue_abandoned",
            "Callers who hung up while waiting in the queue (call_abandoned)",
            ["queue"],
            registry=registry,
        )
        self.overflowed = Counter(
            "cti_queue_overflowed",
            "Calls the queue sent elsewhere (call_overflowed), by reason",
            ["queue", "reason"],
            registry=registry,
        )
        self.missed = Counter(
            "cti_queue_offers_missed",
            "Offers to an agent that rang out (no_answer) or were refused (declined)",
            ["queue", "reason"],
            registry=registry,
        )
        self.wait = Histogram(
            "cti_queue_wait_seconds",
            "Time a call waited before it left the queue, by how it left",
            ["queue", "outcome"],
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self.handle = Histogram(
            "cti_call_handle_seconds",
            "Handle time of queued calls: talk plus after-call work",
            ["queue"],
            buckets=HANDLE_BUCKETS,
            registry=registry,
        )

    def known_queues(self, names: list[str]) -> None:
        """Create every series of the configured queues at zero, so ``rate()`` sees the first
        call and dashboards show 0 rather than "no data"."""
        for name in names:
            self._window(name)
            for counter in (self.offered, self.answered, self.abandoned):
                counter.labels(name)
            for reason in OVERFLOW_REASONS:
                self.overflowed.labels(name, reason)
            for reason in MISSED_REASONS:
                self.missed.labels(name, reason)
            for outcome in WAIT_OUTCOMES:
                self.wait.labels(name, outcome)
            self.handle.labels(name)

    def handle_event(self, event: ev.Event) -> bool:
        """Count ``event`` if it is a queue or agent event; False for any other event."""
        if isinstance(event, ev.CallQueued):
            self.offered.labels(event.queue).inc()
        elif isinstance(event, ev.CallDequeued):
            self.answered.labels(event.queue).inc()
            self._left(event.queue, "answered", event.at, event.waited)
            self._handling[event.agent_id] = (event.at, event.queue)
        elif isinstance(event, ev.CallAbandoned):
            self.abandoned.labels(event.queue).inc()
            self._left(event.queue, "abandoned", event.at, event.waited)
        elif isinstance(event, ev.CallOverflowed):
            self.overflowed.labels(event.queue, _reason(event.reason, OVERFLOW_REASONS)).inc()
            self._left(event.queue, "overflowed", event.at, event.waited)
        elif isinstance(event, ev.OfferTimedOut):
            self.missed.labels(event.queue, "no_answer").inc()
        elif isinstance(event, ev.OfferDeclined):
            self.missed.labels(event.queue, "declined").inc()
        elif isinstance(event, ev.AgentStateChanged):
            self._agent_state(event)
        else:
            return False
        return True

    def _left(self, queue: str, outcome: Outcome, at: float, waited: float) -> None:
        self.wait.labels(queue, outcome).observe(max(0.0, waited))
        self._window(queue).add(at, outcome, waited)

    def _window(self, queue: str) -> QueueWindow:
        window = self.windows.get(queue)
        if window is None:
            window = self.windows[queue] = QueueWindow(self.window)
        return window

    def _agent_state(self, event: ev.AgentStateChanged) -> None:
        if event.state in WORKING_STATES:
            return  # still on the call, or in its after-call work
        started = self._handling.pop(event.agent_id, None)
        if started is not None:
            at, queue = started
            self.handle.labels(queue).observe(max(0.0, event.at - at))
