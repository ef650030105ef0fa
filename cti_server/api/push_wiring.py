"""Wiring of the live event push: the feed, the hub, the WebSocket resource and metrics.

``build_event_push`` is what the composition root calls (``cti_server/app.py``)::

    push = build_event_push(config, reactor, bus, authenticate, registry=registry)
    extra[b"events"] = push.resource           # GET /api/v1/events
    push.start()   # in App.start, once the reactor runs
    push.stop()    # in App.stop (a Deferred: it closes the Redis connections)

Without ``config.redis.url`` the feed is this process's ring, numbered as events are
published. With it, events are numbered by Redis and come back through the node's tail of
the shared stream (``adapters/event_feed_redis.py``), so every node serves the same seqs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from autobahn.twisted.resource import WebSocketResource
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from twisted.internet.defer import Deferred, succeed

from cti_server.adapters.event_feed_redis import RedisFeedService, RedisFeedStore
from cti_server.api.push import Authenticate, PushFactory
from cti_server.bus import EventBus
from cti_server.events import Event
from cti_server.push import ClientPolicy, CutOff, EventFeed, PushHub

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PushSettings:
    ring_size: int = 10_000  # events kept for reconnecting clients (ring and Redis stream)
    max_buffered_bytes: int = 1_048_576
    max_stall: float = 30.0
    heartbeat_interval: float = 15.0
    catchup_chunk: int = 200
    auto_ping: float = 30.0  # WebSocket ping interval and timeout; 0: none
    block: float = 1.0  # Redis tail: XREAD BLOCK seconds

    @property
    def policy(self) -> ClientPolicy:
        return ClientPolicy(
            max_buffered_bytes=self.max_buffered_bytes,
            max_stall=self.max_stall,
            heartbeat_interval=self.heartbeat_interval,
            catchup_chunk=self.catchup_chunk,
        )


class PushCollector(Collector):
    """The push figures, read at scrape time (the hot path never touches prometheus)."""

    def __init__(self, hub: PushHub, feed: EventFeed, service: Any = None) -> None:
        self._hub, self._feed, self._service = hub, feed, service

    def collect(self) -> Iterator[Any]:
        hub, stats = self._hub, self._hub.stats
        clients = GaugeMetricFamily(
            "cti_push_clients", "Live event clients connected", labels=["state"]
        )
        clients.add_metric(["live"], hub.live)
        clients.add_metric(["catching_up"], hub.connected - hub.live)
        yield clients
        yield CounterMetricFamily(
            "cti_push_events", "Event frames pushed to clients", value=stats.pushed
        )
        yield CounterMetricFamily("cti_push_heartbeats", "Heartbeats sent", value=stats.heartbeats)
        yield CounterMetricFamily(
            "cti_push_gaps", "Gap markers sent (cursor too old)", value=stats.gaps
        )
        yield CounterMetricFamily(
            "cti_push_rejected", "Connections refused (bad token or cursor)", value=stats.rejected
        )
        yield CounterMetricFamily(
            "cti_push_clients_behind",
            "Live clients whose transport stayed full, sent back to catching up",
            value=stats.fell_behind,
        )
        cut = CounterMetricFamily("cti_push_clients_cut_off", "Clients cut off", labels=["reason"])
        for reason in CutOff:
            cut.add_metric([reason.value], stats.cut_off[reason.value])
        yield cut
        yield GaugeMetricFamily(
            "cti_push_feed_seq", "Newest seq in this node's feed", value=self._feed.latest
        )
        dropped = self._service.dropped if self._service is not None else 0
        yield CounterMetricFamily(
            "cti_push_feed_dropped",
            "Events not appended to the shared feed (queue full)",
            value=dropped,
        )


@dataclass
class EventPush:
    resource: WebSocketResource
    feed: EventFeed
    hub: PushHub
    factory: PushFactory
    service: RedisFeedService | None = None
    collectors: list[Collector] = field(default_factory=list)

    def start(self) -> None:
        if self.service is not None:
            self.service.start()

    def stop(self) -> Deferred[Any]:
        self.factory.stop()
        return self.service.stop() if self.service is not None else succeed(None)

    def attach_metrics(self, registry: CollectorRegistry) -> PushCollector:
        collector = PushCollector(self.hub, self.feed, self.service)
        registry.register(collector)
        self.collectors.append(collector)
        return collector


def build_event_push(
    config: Any,
    reactor: Any,
    bus: EventBus,
    authenticate: Authenticate,
    *,
    settings: PushSettings | None = None,
    registry: CollectorRegistry | None = None,
    store: RedisFeedStore | None = None,
) -> EventPush:
    """The push for ``config`` (only ``config.redis`` is read), subscribed to ``bus``.
    ``store`` overrides the Redis store built from ``config.redis.url`` (tests)."""
    settings = settings or PushSettings()
    feed = EventFeed(settings.ring_size)
    hub = PushHub(feed, settings.policy)
    factory = PushFactory(hub, authenticate, reactor, settings.auto_ping)
    url = getattr(config.redis, "url", None)
    service: RedisFeedService | None = None
    if store is None and url:
        store = RedisFeedStore.from_url(
            url,
            prefix=config.redis.key_prefix,
            max_len=settings.ring_size,
            block=settings.block,
        )
    if store is not None:
        service = RedisFeedService(store, feed, hub, reactor, block=settings.block)
        hub.history = service
        bus.subscribe(service.on_event)
        log.info("event push: feed shared through redis %r", store.prefix)
    else:

        def publish(event: Event) -> None:
            hub.publish(feed.append(event), float(reactor.seconds()))

        bus.subscribe(publish)
    resource = WebSocketResource(factory)  # type: ignore[no-untyped-call]
    push = EventPush(resource, feed, hub, factory, service)
    if registry is not None:
        push.attach_metrics(registry)
    return push
