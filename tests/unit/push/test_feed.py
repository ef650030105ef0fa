"""EventFeed: numbering, the bounded ring, catch-up from a cursor and gap markers."""

from __future__ import annotations

import json

import pytest

from cti_server.events import AgentReady, CallQueued
from cti_server.push import EventFeed, gap_frame, heartbeat_frame


def queued(i: int) -> CallQueued:
    return CallQueued(at=1000.0 + i, call_id=f"c{i}", queue="sales", priority=0, position=i)


def filled(n: int, size: int = 10_000) -> EventFeed:
    feed = EventFeed(size)
    for i in range(1, n + 1):
        feed.append(queued(i))
    return feed


def seqs(entries: list) -> list[int]:
    return [e.seq for e in entries]


def test_append_numbers_from_one_and_encodes_the_contract_frame() -> None:
    feed = EventFeed()
    first = feed.append(queued(1))
    second = feed.append(AgentReady(at=5.0, agent_id="1001", state="ready", previous="not_ready"))
    assert (first.seq, second.seq, feed.latest) == (1, 2, 2)
    message = json.loads(first.frame)
    assert message == {
        "seq": 1,
        "event": "call_queued",
        "data": {
            "at": 1001.0,
            "call_id": "c1",
            "queue": "sales",
            "priority": 0,
            "position": 1,
            "customer_id": None,
        },
    }
    assert json.loads(second.frame)["event"] == "agent_ready"
    assert json.loads(heartbeat_frame(7)) == {"type": "heartbeat", "seq": 7}
    assert json.loads(gap_frame(3)) == {"type": "gap", "oldest": 3}


def test_korean_text_is_sent_as_utf8_not_escaped() -> None:
    feed = EventFeed()
    stamped = feed.add(1, "agent_not_ready", {"agent_id": "1001", "reason": "점심"})
    assert stamped is not None
    assert "점심".encode() in stamped.frame


def test_since_a_cursor_returns_exactly_what_came_after_it() -> None:
    feed = filled(10)
    catchup = feed.since(7)
    assert seqs(catchup.entries) == [8, 9, 10]
    assert catchup.gap is None and catchup.done and catchup.cursor == 10
    assert feed.since(10).entries == [] and feed.since(10).done
    assert seqs(feed.since(0).entries) == list(range(1, 11))


def test_no_cursor_means_live_only() -> None:
    catchup = filled(5).since(None)
    assert catchup.entries == [] and catchup.cursor == 5 and catchup.done


def test_since_pages_with_a_limit() -> None:
    feed = filled(10)
    page = feed.since(2, limit=3)
    assert seqs(page.entries) == [3, 4, 5] and not page.done and page.cursor == 5
    page = feed.since(page.cursor, limit=5)
    assert seqs(page.entries) == [6, 7, 8, 9, 10] and page.done


def test_the_ring_is_bounded_and_an_old_cursor_gets_a_gap_marker() -> None:
    feed = filled(25, size=10)
    assert len(feed) == 10 and feed.oldest == 16 and feed.floor == 15
    catchup = feed.since(3)
    assert catchup.gap == 16
    assert seqs(catchup.entries) == list(range(16, 26))
    exact = feed.since(15)  # the entry right before the oldest: nothing missed
    assert exact.gap is None and seqs(exact.entries) == list(range(16, 26))


def test_a_long_run_keeps_memory_bounded() -> None:
    feed = filled(5_000, size=100)
    assert len(feed) == 100 and len(feed._entries) <= 200
    assert seqs(feed.since(4_990).entries) == list(range(4_991, 5_001))


def test_a_cursor_ahead_of_the_feed_is_from_an_earlier_run_so_everything_is_new() -> None:
    feed = filled(4)
    catchup = feed.since(900)
    assert catchup.gap == 1 and seqs(catchup.entries) == [1, 2, 3, 4]
    empty = EventFeed().since(5)
    assert empty.gap == 1 and empty.entries == []


def test_add_takes_external_numbers_and_ignores_repeats() -> None:
    feed = EventFeed(floor=40)
    assert feed.holds_after(40) and not feed.holds_after(39)
    assert feed.add(41, "call_queued", {"call_id": "a", "queue": "q"}) is not None
    assert feed.add(41, "call_queued", {"call_id": "a", "queue": "q"}) is None
    assert feed.add(40, "call_queued", {"call_id": "a", "queue": "q"}) is None
    assert feed.add(44, "call_queued", {"call_id": "b", "queue": "q"}) is not None  # a hole
    assert seqs(feed.since(40).entries) == [41, 44]
    feed.restart(100)
    assert len(feed) == 0 and feed.latest == 100 and feed.holds_after(100)


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        EventFeed(0)
