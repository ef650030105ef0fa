"""Live events for desktops and wallboards: the numbered feed, who sees what, slow clients.

Pure (no twisted, no redis): the WebSocket edge is ``cti_server/api/push.py`` and the
Redis-shared feed ``cti_server/adapters/event_feed_redis.py``.
"""

from cti_server.push.audience import (
    EVERYONE,
    STAFF_ONLY,
    STAFF_ROLES,
    CallAudience,
    Scope,
    Viewer,
    can_see,
)
from cti_server.push.client_policy import ClientPolicy, CutOff, Flow, HeartbeatSchedule
from cti_server.push.feed import (
    DEFAULT_SIZE,
    Catchup,
    EventFeed,
    Stamped,
    event_frame,
    event_payload,
    gap_frame,
    heartbeat_frame,
)
from cti_server.push.hub import History, PushClient, PushHub, PushStats, Sink
from cti_server.push.store import FeedStore, HistoryPage, MemoryFeedStore, parse_event_text

__all__ = [
    "DEFAULT_SIZE",
    "EVERYONE",
    "STAFF_ONLY",
    "STAFF_ROLES",
    "CallAudience",
    "Catchup",
    "ClientPolicy",
    "CutOff",
    "EventFeed",
    "FeedStore",
    "Flow",
    "HeartbeatSchedule",
    "History",
    "HistoryPage",
    "MemoryFeedStore",
    "PushClient",
    "PushHub",
    "PushStats",
    "Scope",
    "Sink",
    "Stamped",
    "Viewer",
    "can_see",
    "event_frame",
    "event_payload",
    "gap_frame",
    "heartbeat_frame",
    "parse_event_text",
]
