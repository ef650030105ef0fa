"""In-process event bus: ordered fan-out of domain events to subscribers.

A subscriber that raises is logged and counted, never propagated: the desktop push or a
metrics bug must not break call control. Delivery is synchronous and in publish order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from cti_server.events import Event

Subscriber = Callable[[Event], None]

log = logging.getLogger(__name__)


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[tuple[type[Event], Subscriber]] = []
        self.errors = 0
        self.published = 0

    def subscribe(self, subscriber: Subscriber, event_type: type[Event] = Event) -> None:
        self._subscribers.append((event_type, subscriber))

    def publish(self, event: Event) -> None:
        self.published += 1
        for event_type, subscriber in self._subscribers:
            if isinstance(event, event_type):
                try:
                    subscriber(event)
                except Exception:  # a subscriber bug must not reach the core
                    self.errors += 1
                    log.exception("subscriber %r failed on %s", subscriber, event.name)
