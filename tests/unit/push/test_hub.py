"""PushHub with fake sinks: replay from a cursor, live fan-out, heartbeats, slow clients,
and deep cursors answered from a (fake, synchronous or deferred) history."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cti_server.events import AgentReady, CallOffered, CallQueued
from cti_server.push import ClientPolicy, EventFeed, HistoryPage, PushHub
from cti_server.push.feed import event_payload


@dataclass(frozen=True)
class V:
    role: str
    agent_id: str | None = None


SUPER = V("supervisor")


@dataclass(eq=False)
class FakeSink:
    """A transport: records frames; ``full_after`` pauses the hub once that many went out."""

    hub: PushHub | None = None
    frames: list[dict[str, Any]] = field(default_factory=list)
    aborted: bool = False
    full_after: int | None = None

    def send(self, frame: bytes) -> None:
        self.frames.append(json.loads(frame))
        if self.full_after is not None and len(self.frames) >= self.full_after:
            self.full_after = None
            assert self.hub is not None
            self.hub.pause(self, 0.0)

    def abort(self) -> None:
        self.aborted = True

    @property
    def seqs(self) -> list[int]:
        return [f["seq"] for f in self.frames if "event" in f]

    @property
    def kinds(self) -> list[str]:
        return [f.get("type", "event") for f in self.frames]


def queued(i: int) -> CallQueued:
    return CallQueued(at=float(i), call_id=f"c{i}", queue="sales", priority=0, position=1)


def rig(n: int = 0, size: int = 10_000, **policy: Any) -> tuple[EventFeed, PushHub]:
    feed = EventFeed(size)
    hub = PushHub(feed, ClientPolicy(**policy))
    for i in range(1, n + 1):
        hub.publish(feed.append(queued(i)), 0.0)
    return feed, hub


def connect(hub: PushHub, cursor: int | None, viewer: V = SUPER, **sink: Any) -> FakeSink:
    fake = FakeSink(hub, **sink)
    hub.connect(fake, viewer, cursor, 0.0)
    return fake


def publish(feed: EventFeed, hub: PushHub, *events: Any, now: float = 0.0) -> None:
    for event in events:
        hub.publish(feed.append(event), now)


def test_a_new_client_goes_live_with_a_heartbeat_naming_its_cursor() -> None:
    feed, hub = rig(5)
    sink = connect(hub, None)
    assert sink.frames == [{"type": "heartbeat", "seq": 5}]
    publish(feed, hub, queued(6), queued(7))
    assert sink.seqs == [6, 7] and hub.stats.pushed == 2 and hub.live == 1


def test_a_reconnecting_client_gets_what_it_missed_then_live_ones() -> None:
    feed, hub = rig(10, catchup_chunk=3)
    sink = connect(hub, 6)
    assert sink.seqs == [7, 8, 9, 10] and sink.kinds[-1] == "heartbeat"
    publish(feed, hub, queued(11))
    assert sink.seqs == [7, 8, 9, 10, 11]


def test_a_cursor_older_than_the_ring_gets_a_gap_then_the_oldest() -> None:
    _feed, hub = rig(30, size=10)
    sink = connect(hub, 2)
    assert sink.frames[0] == {"type": "gap", "oldest": 21}
    assert sink.seqs == list(range(21, 31)) and hub.stats.gaps == 1


def test_agents_only_get_their_own_and_queue_events() -> None:
    feed, hub = rig()
    mine = connect(hub, None, V("agent", "1001"))
    other = connect(hub, None, V("agent", "1002"))
    boss = connect(hub, None, SUPER)
    publish(
        feed,
        hub,
        queued(1),
        CallOffered(at=2, call_id="c1", queue="sales", agent_id="1001", waited=1.0),
        AgentReady(at=3, agent_id="1002", state="ready", previous="not_ready"),
    )
    assert mine.seqs == [1, 2] and other.seqs == [1, 3] and boss.seqs == [1, 2, 3]
    for sink in (mine, other, boss):  # the heartbeat cursor covers skipped events too
        hub.on_timer(15.0)
        assert sink.frames[-1] == {"type": "heartbeat", "seq": 3}


def test_heartbeats_every_interval_per_client() -> None:
    _feed, hub = rig(1, heartbeat_interval=15.0)
    sink = connect(hub, None)
    assert hub.next_deadline() == 15.0
    hub.on_timer(14.0)
    assert sink.kinds == ["heartbeat"]
    hub.on_timer(15.0)
    hub.on_timer(30.0)
    assert sink.kinds == ["heartbeat"] * 3 and hub.stats.heartbeats == 3
    hub.disconnect(sink)
    assert hub.next_deadline() is None and hub.connected == 0


def test_a_live_client_behind_stops_being_written_and_catches_up_when_drained() -> None:
    feed, hub = rig(max_buffered_bytes=500)
    slow = connect(hub, None)
    fast = connect(hub, None)
    hub.pause(slow, 1.0)  # its transport buffer is full
    publish(feed, hub, *(queued(i) for i in range(1, 40)))
    assert fast.seqs == list(range(1, 40)) and not fast.aborted
    written = len(slow.seqs)
    assert 3 < written < 10 and hub.live == 1 and hub.stats.fell_behind == 1
    assert not slow.aborted and hub.connected == 2
    hub.resume(slow, 2.0)  # drained: the rest from the ring, then live again
    assert slow.seqs == list(range(1, 40)) and hub.live == 2
    publish(feed, hub, queued(40))
    assert slow.seqs[-1] == fast.seqs[-1] == 40


def test_a_client_that_stopped_reading_is_cut_off_and_the_others_keep_receiving() -> None:
    feed, hub = rig(max_buffered_bytes=500, max_stall=20.0, heartbeat_interval=15.0)
    slow = connect(hub, None)
    fast = connect(hub, None)
    hub.pause(slow, 1.0)
    publish(feed, hub, *(queued(i) for i in range(1, 40)), now=10.0)
    hub.on_timer(15.0)
    assert not slow.aborted
    hub.on_timer(30.0)
    assert slow.aborted and hub.stats.cut_off["stalled"] == 1 and hub.connected == 1
    publish(feed, hub, queued(40))
    assert fast.seqs == list(range(1, 41))
    hub.disconnect(slow)  # its connectionLost comes later: harmless
    assert hub.connected == 1


def test_a_client_paused_too_long_is_cut_off_at_its_heartbeat() -> None:
    _feed, hub = rig(max_stall=20.0, heartbeat_interval=15.0)
    sink = connect(hub, None)
    hub.pause(sink, 1.0)
    hub.on_timer(15.0)
    assert not sink.aborted
    hub.on_timer(30.0)
    assert sink.aborted and hub.stats.cut_off["stalled"] == 1


def test_a_long_replay_waits_for_the_reader_instead_of_being_cut_off() -> None:
    feed, hub = rig(1_000, max_buffered_bytes=300, catchup_chunk=50)
    sink = connect(hub, 0, full_after=120)
    assert len(sink.seqs) == 120 and not sink.aborted and hub.live == 0
    publish(feed, hub, queued(1001))  # it is not live yet: it reads this from the ring later
    assert len(sink.seqs) == 120
    hub.resume(sink, 2.0)
    assert sink.seqs == list(range(1, 1002)) and hub.live == 1


def test_a_paused_replay_that_falls_off_the_ring_gets_a_gap() -> None:
    feed, hub = rig(100, size=100)
    sink = connect(hub, 0, full_after=10)
    publish(feed, hub, *(queued(i) for i in range(101, 151)))
    hub.resume(sink, 1.0)
    gap = sink.frames.index({"type": "gap", "oldest": 51})
    assert sink.seqs == list(range(1, 11)) + list(range(51, 151))
    assert gap == 10


class FakeHistory:
    """The shared stream's older part: ``entries`` by seq; answers now or when told."""

    def __init__(self, entries: list[tuple[int, Any]], latest: int, *, hold: bool = False) -> None:
        self.rows = [(seq, *event_payload(event)) for seq, event in entries]
        self.latest = latest
        self.hold = hold
        self.waiting: list[Callable[[], None]] = []
        self.down = False

    def fetch(
        self, after: int, count: int, done: Callable[[HistoryPage | None, float], None]
    ) -> None:
        def answer() -> None:
            if self.down:
                done(None, 0.0)
                return
            rows = [r for r in self.rows if r[0] > after][:count]
            oldest = self.rows[0][0] if self.rows else None
            done(HistoryPage(rows, oldest, self.latest), 0.0)

        if self.hold:
            self.waiting.append(answer)
        else:
            answer()


def shared_rig(history: FakeHistory, floor: int, upto: int) -> tuple[EventFeed, PushHub]:
    """A node whose tail started at ``floor``: the ring has floor+1..upto."""
    feed = EventFeed(floor=floor)
    hub = PushHub(feed, ClientPolicy(catchup_chunk=4), history)  # type: ignore[arg-type]
    for seq in range(floor + 1, upto + 1):
        name, data = event_payload(queued(seq))
        stamped = feed.add(seq, name, data)
        assert stamped is not None
        hub.publish(stamped, 0.0)
    return feed, hub


def test_a_cursor_before_this_nodes_ring_is_read_from_the_shared_stream() -> None:
    history = FakeHistory([(s, queued(s)) for s in range(5, 21)], latest=20)
    _feed, hub = shared_rig(history, floor=12, upto=20)
    sink = connect(hub, 6)
    assert sink.seqs == list(range(7, 21)) and sink.kinds[-1] == "heartbeat"
    early = connect(hub, 1)  # the stream was trimmed past it too
    assert early.frames[0] == {"type": "gap", "oldest": 5}
    assert early.seqs == list(range(5, 21))


def test_live_events_during_a_history_read_are_not_lost_or_doubled() -> None:
    history = FakeHistory([(s, queued(s)) for s in range(1, 11)], latest=10, hold=True)
    feed, hub = shared_rig(history, floor=8, upto=10)
    sink = connect(hub, 3)
    for seq in (11, 12):
        name, data = event_payload(queued(seq))
        hub.publish(feed.add(seq, name, data), 0.0)  # type: ignore[arg-type]
    while history.waiting:
        history.waiting.pop(0)()
    assert sink.seqs == list(range(4, 13))


def test_a_cursor_from_a_faster_node_waits_for_the_tail_and_a_reset_stream_replays() -> None:
    history = FakeHistory([(s, queued(s)) for s in range(1, 16)], latest=15)
    feed, hub = shared_rig(history, floor=0, upto=12)
    ahead = connect(hub, 14)  # node B already told it about 13 and 14
    assert ahead.kinds == ["heartbeat"] and ahead.frames[0]["seq"] == 14
    for seq in (13, 14, 15):
        name, data = event_payload(queued(seq))
        hub.publish(feed.add(seq, name, data), 0.0)  # type: ignore[arg-type]
    assert ahead.seqs == [15]
    stale = connect(hub, 500)  # from before Redis was emptied
    assert stale.frames[0] == {"type": "gap", "oldest": 1} and stale.seqs == list(range(1, 16))


def test_history_down_falls_back_to_the_ring_with_a_gap() -> None:
    history = FakeHistory([], latest=0)
    history.down = True
    _feed, hub = shared_rig(history, floor=8, upto=10)
    sink = connect(hub, 2)
    assert sink.frames[0] == {"type": "gap", "oldest": 9} and sink.seqs == [9, 10]
