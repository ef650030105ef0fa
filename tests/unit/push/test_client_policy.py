"""Client flow limits and the heartbeat schedule, on injected time."""

from __future__ import annotations

import pytest

from cti_server.push import ClientPolicy, CutOff, Flow, HeartbeatSchedule


def test_writes_count_only_while_paused_and_past_the_limit_the_client_is_behind() -> None:
    flow = Flow(ClientPolicy(max_buffered_bytes=100))
    assert flow.wrote(10_000) is False  # the transport is keeping up
    flow.pause(5.0)
    assert flow.wrote(60) is False
    assert flow.wrote(40) is False
    assert flow.wrote(1) is True
    flow.resume()
    assert flow.wrote(500) is False and flow.bytes_since_pause == 0


def test_a_client_paused_too_long_is_stalled() -> None:
    flow = Flow(ClientPolicy(max_stall=30.0))
    assert flow.check(1_000.0) is None
    flow.pause(100.0)
    flow.pause(120.0)  # a second pause keeps the first time
    assert flow.check(130.0) is None
    assert flow.check(130.5) is CutOff.STALLED
    flow.resume()
    assert flow.check(500.0) is None


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        ClientPolicy(max_buffered_bytes=0)
    with pytest.raises(ValueError):
        ClientPolicy(heartbeat_interval=0)


def test_heartbeats_fall_due_per_client_every_interval() -> None:
    schedule: HeartbeatSchedule[str] = HeartbeatSchedule(15.0)
    assert schedule.next_deadline() is None and schedule.due(100.0) == []
    schedule.add("a", 0.0)
    schedule.add("b", 5.0)
    assert schedule.next_deadline() == 15.0
    assert schedule.due(14.9) == []
    assert schedule.due(15.0) == ["a"]
    assert schedule.next_deadline() == 20.0
    assert schedule.due(21.0) == ["b"]
    assert schedule.next_deadline() == 30.0  # a: 15 s after its last one
    assert schedule.due(100.0) == ["a", "b"]  # a late timer sends each once, not a burst
    assert schedule.next_deadline() == 115.0


def test_removed_clients_are_skipped_and_readding_reschedules() -> None:
    schedule: HeartbeatSchedule[str] = HeartbeatSchedule(10.0)
    schedule.add("a", 0.0)
    schedule.add("b", 1.0)
    schedule.remove("a")
    assert len(schedule) == 1 and schedule.next_deadline() == 11.0
    schedule.add("b", 5.0)  # reconnected: the old due time no longer counts
    assert schedule.due(12.0) == []
    assert schedule.due(15.0) == ["b"]
