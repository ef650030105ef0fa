"""The push clients of one node: replay from a cursor, live fan-out, heartbeats, cut-offs.

A client connects with a cursor (the last seq it saw, or none). It first *catches up*:
entries after its cursor are written a chunk at a time, and only while its transport
accepts more (a long replay is paced by the reader, never buffered whole). Cursors older
than the ring are read from ``history`` (Redis) when there is one, else the client gets a
gap marker and the oldest entries kept. Once nothing newer is kept the client is *live*: a
heartbeat tells it so, and from then on each published entry is written to it at once, one
visibility check and one write per client, never waiting for it. A live client whose
transport stays full falls back to catching up, and one that stops reading is cut off
(``client_policy``), so none can make the server buffer without bound or slow the others.

``pos`` is the last seq a client was brought past (seen, or skipped as not its business);
heartbeats carry it, so whatever a client last heard is a safe cursor to reconnect with.

Pure: the transport is a ``Sink``; times come in as ``now``; ``history.fetch`` answers
through a callback on the caller's thread.
"""

from __future__ import annotations

import functools
import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from cti_server.push.audience import CallAudience, Viewer, can_see
from cti_server.push.client_policy import ClientPolicy, CutOff, Flow, HeartbeatSchedule
from cti_server.push.feed import EventFeed, Stamped, event_frame, gap_frame, heartbeat_frame
from cti_server.push.store import HistoryPage


class Sink(Protocol):
    def send(self, frame: bytes) -> None: ...

    def abort(self) -> None:
        """Drop the connection now, discarding what is still buffered."""
        ...


class History(Protocol):
    def fetch(
        self, after: int, count: int, done: Callable[[HistoryPage | None, float], None]
    ) -> None:
        """Read entries after ``after``; ``done(page, now)`` later (page None: unreachable)."""
        ...


@dataclass(eq=False)
class PushClient:
    id: int
    sink: Sink
    viewer: Viewer
    flow: Flow
    pos: int
    live: bool = False
    fetching: bool = False
    closed: bool = False
    audience: CallAudience | None = None  # scopes entries read from history


@dataclass
class PushStats:
    pushed: int = 0  # event frames written to clients
    heartbeats: int = 0
    gaps: int = 0
    fell_behind: int = 0  # live clients sent back to catching up (transport full)
    rejected: int = 0  # bad token or cursor (counted by the transport side)
    cut_off: Counter[str] = field(default_factory=Counter)


class PushHub:
    def __init__(
        self,
        feed: EventFeed,
        policy: ClientPolicy | None = None,
        history: History | None = None,
    ) -> None:
        self.feed = feed
        self.policy = policy or ClientPolicy()
        self.history = history
        self.stats = PushStats()
        self._clients: dict[int, PushClient] = {}
        self._by_sink: dict[Sink, PushClient] = {}
        self._live: dict[int, PushClient] = {}
        self._heartbeats: HeartbeatSchedule[int] = HeartbeatSchedule(self.policy.heartbeat_interval)
        self._ids = itertools.count(1)

    @property
    def connected(self) -> int:
        return len(self._clients)

    @property
    def live(self) -> int:
        return len(self._live)

    def connect(self, sink: Sink, viewer: Viewer, cursor: int | None, now: float) -> PushClient:
        client = PushClient(next(self._ids), sink, viewer, Flow(self.policy), pos=0)
        self._clients[client.id] = client
        self._by_sink[sink] = client  # before any write: a write may pause it
        self._heartbeats.add(client.id, now)
        if cursor is None:
            client.pos = self.feed.latest
            self._go_live(client)
        else:
            client.pos = cursor
            self._pump(client, now)
        return client

    def disconnect(self, sink: Sink) -> None:
        """The connection is gone (idempotent)."""
        client = self._by_sink.get(sink)
        if client is not None:
            self._drop(client)

    def _drop(self, client: PushClient) -> None:
        client.closed = True
        self._by_sink.pop(client.sink, None)
        self._clients.pop(client.id, None)
        self._live.pop(client.id, None)
        self._heartbeats.remove(client.id)

    def publish(self, stamped: Stamped, now: float) -> None:
        """A new entry of the feed (already in it): to every live client that may see it."""
        seq, scope, frame = stamped.seq, stamped.scope, stamped.frame
        for client in tuple(self._live.values()):
            if seq <= client.pos:
                continue
            client.pos = seq
            if can_see(client.viewer, scope) and self._send(client, frame):
                self.stats.pushed += 1

    def restarted(self, floor: int) -> None:
        """The shared feed started again below what clients saw (Redis was emptied): every
        client is told of a gap and follows the new numbers from ``floor``."""
        for client in tuple(self._clients.values()):
            if client.pos > floor:
                self._gap(client, floor + 1)

    def pause(self, sink: Sink, now: float) -> None:
        """The sink's transport buffer is full."""
        client = self._by_sink.get(sink)
        if client is not None:
            client.flow.pause(now)

    def resume(self, sink: Sink, now: float) -> None:
        """The sink's transport buffer has drained."""
        client = self._by_sink.get(sink)
        if client is not None:
            client.flow.resume()
            self._pump(client, now)

    def next_deadline(self) -> float | None:
        return self._heartbeats.next_deadline()

    def on_timer(self, now: float) -> None:
        for client_id in self._heartbeats.due(now):
            client = self._clients.get(client_id)
            if client is None:
                continue
            verdict = client.flow.check(now)
            if verdict is not None:
                self._cut(client, verdict)
            elif self._send(client, heartbeat_frame(client.pos)):
                self.stats.heartbeats += 1

    # --- catching up ----------------------------------------------------------------------

    def _pump(self, client: PushClient, now: float) -> None:
        feed, chunk = self.feed, self.policy.catchup_chunk
        while not (client.closed or client.live or client.fetching or client.flow.paused):
            if self.history is not None and not feed.holds_after(client.pos):
                client.fetching = True
                self.history.fetch(
                    client.pos, chunk, functools.partial(self._fetched, client, client.pos)
                )
                return
            catchup = feed.since(client.pos, chunk)
            if catchup.gap is not None and not self._gap(client, catchup.gap):
                return
            for entry in catchup.entries:
                if can_see(client.viewer, entry.scope):
                    if not self._send(client, entry.frame):
                        return
                    self.stats.pushed += 1
                client.pos = entry.seq
                if client.flow.paused:
                    return
            if catchup.done:
                client.pos = max(client.pos, catchup.cursor)
                self._go_live(client)

    def _fetched(
        self, client: PushClient, after: int, page: HistoryPage | None, now: float
    ) -> None:
        client.fetching = False
        if client.closed:
            return
        feed = self.feed
        if page is None:  # history unreachable: what the ring has, or the live feed
            if after > feed.latest:
                self._go_live(client)
            elif self._gap(client, feed.oldest if feed.oldest is not None else feed.latest + 1):
                client.pos = max(client.pos, feed.floor)
                self._pump(client, now)
            return
        if after > page.latest:  # a cursor from before the stream was reset: all is new
            if self._gap(client, page.oldest if page.oldest is not None else page.latest + 1):
                self._pump(client, now)
            return
        if after > feed.latest:  # this node's tail has not read up to the cursor yet
            self._go_live(client)
            return
        if (
            page.oldest is not None
            and page.oldest > after + 1
            and not self._gap(client, page.oldest)
        ):
            return
        audience = client.audience = client.audience or CallAudience()
        for seq, name, data in page.entries:
            if seq > feed.floor:
                break
            if can_see(client.viewer, audience.scope(name, data)):
                if not self._send(client, event_frame(seq, name, data)):
                    return
                self.stats.pushed += 1
            client.pos = seq
            if client.flow.paused:
                return  # the rest is read again on resume
        entries = page.entries
        if len(entries) < self.policy.catchup_chunk or entries[-1][0] >= feed.floor:
            client.pos = max(client.pos, feed.floor)  # the rest is in the ring
        self._pump(client, now)

    # --- writing --------------------------------------------------------------------------

    def _go_live(self, client: PushClient) -> None:
        client.live = True
        client.audience = None
        self._live[client.id] = client
        if self._send(client, heartbeat_frame(client.pos)):
            self.stats.heartbeats += 1

    def _gap(self, client: PushClient, oldest: int) -> bool:
        """Tell the client it missed what is no longer kept; it goes on from ``oldest``."""
        self.stats.gaps += 1
        client.pos = oldest - 1
        return self._send(client, gap_frame(oldest))

    def _send(self, client: PushClient, frame: bytes) -> bool:
        """Write one frame; False if the client is gone. A live client whose transport
        stays full past the limit falls behind: it catches up from the ring once drained."""
        client.sink.send(frame)
        if client.flow.wrote(len(frame)) and client.live:
            client.live = False
            self._live.pop(client.id, None)
            self.stats.fell_behind += 1
        return not client.closed

    def _cut(self, client: PushClient, reason: CutOff) -> None:
        self.stats.cut_off[reason.value] += 1
        self._drop(client)
        client.sink.abort()
