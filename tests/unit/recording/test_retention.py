"""Retention decisions: per-queue keep periods, default, voice messages, legal hold."""

from __future__ import annotations

import pytest

from recording.retention import DAY_S, IndexRow, RetentionPolicy, expired, expires_at

NOW = 1_700_000_000.0


def row(
    rid: str, age_days: float, queue: str | None = "sales", kind: str = "call", hold: bool = False
) -> IndexRow:
    started = NOW - age_days * DAY_S
    return IndexRow(
        id=rid, path=f"/r/{rid}.wav", started_at=started, queue=queue, kind=kind, hold=hold
    )


POLICY = RetentionPolicy(default_days=90, queue_days={"sales": 30, "legal": None, "pci": 0})


def test_queue_period_overrides_default() -> None:
    rows = [row("young", 29.9), row("old", 30.1), row("other-q", 60, queue="support")]
    assert [r.id for r in expired(rows, POLICY, NOW)] == ["old"]


def test_default_applies_to_unlisted_queue_and_no_queue() -> None:
    rows = [row("s", 91, queue="support"), row("n", 91, queue=None), row("k", 89, queue=None)]
    assert [r.id for r in expired(rows, POLICY, NOW)] == ["n", "s"]  # same age: by id


def test_none_keeps_forever() -> None:
    assert expired([row("l", 10_000, queue="legal")], POLICY, NOW) == []
    assert expired([row("x", 10_000)], RetentionPolicy(), NOW) == []


def test_zero_days_expires_at_once() -> None:
    assert [r.id for r in expired([row("p", 0, queue="pci")], POLICY, NOW)] == ["p"]


def test_boundary_is_inclusive() -> None:
    exact = row("e", 30)
    assert expires_at(exact, POLICY) == NOW
    assert expired([exact], POLICY, NOW) == [exact]
    assert expired([exact], POLICY, NOW - 0.001) == []


def test_legal_hold_is_never_expired() -> None:
    held = row("h", 1000, hold=True)
    assert expires_at(held, POLICY) is None and expired([held], POLICY, NOW) == []


def test_voice_messages_have_their_own_period() -> None:
    policy = RetentionPolicy(default_days=90, queue_days={"sales": 30}, voice_message_days=7)
    vm = row("vm", 8, kind="voice_message")
    call = row("call", 8)
    assert expired([vm, call], policy, NOW) == [vm]
    # without a voice-message period they follow the queue like calls
    assert expired([vm], POLICY, NOW) == []


def test_oldest_first_and_limit() -> None:
    rows = [row("b", 40), row("a", 50), row("c", 35)]
    assert [r.id for r in expired(rows, POLICY, NOW)] == ["a", "b", "c"]
    assert [r.id for r in expired(rows, POLICY, NOW, limit=2)] == ["a", "b"]


def test_negative_periods_are_refused() -> None:
    with pytest.raises(ValueError):
        RetentionPolicy(default_days=-1)
    with pytest.raises(ValueError):
        RetentionPolicy(queue_days={"q": -0.5})
