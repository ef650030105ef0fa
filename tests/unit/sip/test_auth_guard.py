"""Failed-authentication limiter on a float clock."""

from __future__ import annotations

import pytest

from cti_server.sip.auth_guard import AuthGuard


def test_locks_after_n_failures_within_the_window() -> None:
    guard = AuthGuard(max_failures=3, window=60.0, cooldown=300.0)
    assert not guard.record_failure("198.51.100.1", "1001", 0.0)
    assert not guard.record_failure("198.51.100.1", "1001", 10.0)
    assert not guard.is_locked("198.51.100.1", "1001", 10.0)
    assert guard.record_failure("198.51.100.1", "1001", 20.0)
    assert guard.is_locked("198.51.100.1", "1001", 20.0)
    assert guard.is_locked("198.51.100.1", None, 20.0)  # the source itself
    assert guard.is_locked("192.0.2.9", "1001", 20.0)  # the user from anywhere
    assert guard.locked_count(20.0) == 2


def test_failures_outside_the_window_do_not_add_up() -> None:
    guard = AuthGuard(max_failures=3, window=60.0, cooldown=300.0)
    guard.record_failure("198.51.100.1", "1001", 0.0)
    guard.record_failure("198.51.100.1", "1001", 30.0)
    assert not guard.record_failure("198.51.100.1", "1001", 60.0)  # the first one aged out
    assert not guard.is_locked("198.51.100.1", "1001", 60.0)
    assert guard.record_failure("198.51.100.1", "1001", 61.0)


def test_cooldown_releases_the_lock() -> None:
    guard = AuthGuard(max_failures=2, window=60.0, cooldown=300.0)
    guard.record_failure("198.51.100.1", "1001", 0.0)
    guard.record_failure("198.51.100.1", "1001", 1.0)
    assert guard.is_locked("198.51.100.1", "1001", 300.9)
    assert not guard.is_locked("198.51.100.1", "1001", 301.0)
    assert guard.locked_count(301.0) == 0
    # The count starts afresh after the cool-down.
    assert not guard.record_failure("198.51.100.1", "1001", 302.0)


def test_failures_while_locked_do_not_extend_the_lock() -> None:
    guard = AuthGuard(max_failures=2, window=60.0, cooldown=100.0)
    guard.record_failure("198.51.100.1", None, 0.0)
    assert guard.record_failure("198.51.100.1", None, 1.0)
    assert not guard.record_failure("198.51.100.1", None, 50.0)
    assert not guard.is_locked("198.51.100.1", None, 101.0)


def test_scanner_walking_extensions_locks_its_source_only() -> None:
    guard = AuthGuard(max_failures=5, window=60.0, cooldown=300.0)
    locked = [guard.record_failure("203.0.113.66", str(ext), 1.0) for ext in range(100, 105)]
    assert locked == [False, False, False, False, True]
    assert guard.is_locked("203.0.113.66", "9999", 2.0)
    assert not guard.is_locked("192.0.2.10", "100", 2.0)  # the real 100 still registers


def test_botnet_spraying_one_user_locks_the_user() -> None:
    guard = AuthGuard(max_failures=5, window=60.0, cooldown=300.0)
    results = [guard.record_failure(f"203.0.113.{i}", "1001", float(i)) for i in range(5)]
    assert results[-1] and not any(results[:-1])
    assert guard.is_locked("192.0.2.10", "1001", 5.0)
    assert not guard.is_locked("203.0.113.1", "1002", 5.0)


def test_success_clears_the_user_count_but_not_the_source_lock() -> None:
    guard = AuthGuard(max_failures=3, window=60.0, cooldown=300.0)
    guard.record_failure("198.51.100.1", "1001", 0.0)
    guard.record_failure("198.51.100.1", "1001", 1.0)
    guard.record_success("192.0.2.10", "1001", 2.0)
    # The user's two failures are forgotten; the source's are not.
    assert guard.record_failure("198.51.100.1", "1001", 3.0)
    assert guard.is_locked("198.51.100.1", None, 3.0)
    assert not guard.is_locked("192.0.2.10", "1001", 3.0)
    guard.record_success("198.51.100.1", "1001", 4.0)
    assert guard.is_locked("198.51.100.1", None, 4.0)


def test_memory_cap_drops_the_oldest_keys() -> None:
    guard = AuthGuard(max_failures=2, window=60.0, cooldown=300.0, max_keys=100)
    guard.record_failure("10.0.0.0", None, 0.0)
    guard.record_failure("10.0.0.0", None, 0.0)
    assert guard.is_locked("10.0.0.0", None, 0.0)
    for i in range(1, 200):
        guard.record_failure(f"10.0.{i // 256}.{i % 256}", None, 1.0)
    assert guard.tracked() == 100
    assert not guard.is_locked("10.0.0.0", None, 2.0)  # evicted, by design


def test_idle_entries_are_pruned() -> None:
    guard = AuthGuard(max_failures=5, window=60.0, cooldown=300.0)
    for i in range(50):
        guard.record_failure(f"192.0.2.{i}", f"u{i}", 0.0)
    assert guard.tracked() == 100
    guard.record_failure("198.51.100.1", None, 61.0)
    assert guard.tracked() == 1


def test_locked_entries_survive_pruning_until_cooldown_ends() -> None:
    guard = AuthGuard(max_failures=1, window=10.0, cooldown=100.0)
    guard.record_failure("192.0.2.1", None, 0.0)
    guard.record_failure("192.0.2.2", None, 50.0)
    assert guard.tracked() == 2 and guard.is_locked("192.0.2.1", None, 50.0)
    guard.record_failure("192.0.2.3", None, 101.0)
    assert guard.tracked() == 2  # 192.0.2.1's lock ended, 192.0.2.2's has not


@pytest.mark.parametrize("kwargs", [{"max_failures": 0}, {"window": 0}, {"cooldown": -1}])
def test_rejects_nonsense_limits(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AuthGuard(**kwargs)
