"""The login rate limit on an injected clock."""

from __future__ import annotations

import pytest

from cti_server.auth import LoginRateLimiter, RateLimitSettings


def fail(limiter: LoginRateLimiter, user: str, addr: str, now: float) -> int | None:
    return limiter.begin(user, addr, now)  # begun and never succeeded: a failure


def test_five_failures_in_five_minutes_block_the_name() -> None:
    limiter = LoginRateLimiter()
    for i in range(5):
        assert fail(limiter, "1001", "10.0.0.1", 100.0 + i) is None
    assert limiter.begin("1001", "10.0.0.2", 110.0) == 290  # from any address
    assert limiter.retry_after("1001", "10.0.0.1", 395.5) == 5
    assert limiter.retry_after("1001", "10.0.0.1", 400.0) is None  # the first one left
    assert limiter.retry_after("1002", "10.0.0.1", 110.0) is None  # another name may


def test_names_are_compared_without_case() -> None:
    limiter = LoginRateLimiter(RateLimitSettings(max_failures=1))
    fail(limiter, "Super", "a", 0.0)
    assert limiter.retry_after("super", "b", 1.0) is not None


def test_success_clears_the_name_and_takes_back_the_provisional_failure() -> None:
    limiter = LoginRateLimiter(RateLimitSettings(max_failures=3, max_failures_per_address=3))
    fail(limiter, "1001", "a", 0.0)
    fail(limiter, "1001", "a", 1.0)
    assert limiter.begin("1001", "a", 2.0) is None
    limiter.succeeded("1001", "a", 2.0)
    # The name is clear; the address keeps its two real failures only.
    assert limiter.begin("x", "a", 3.0) is None
    assert limiter.begin("y", "a", 4.0) == 296


def test_parallel_attempts_count_before_their_answers() -> None:
    limiter = LoginRateLimiter(RateLimitSettings(max_failures=2))
    assert limiter.begin("1001", "a", 0.0) is None
    assert limiter.begin("1001", "a", 0.0) is None
    assert limiter.begin("1001", "a", 0.0) is not None  # the third waits for the window


def test_memory_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import cti_server.auth.ratelimit as module

    monkeypatch.setattr(module, "MAX_KEYS", 10)
    limiter = LoginRateLimiter()
    for i in range(50):
        limiter.begin(f"user{i}", "a", float(i))
    assert len(limiter._failures) <= 11


def test_settings_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RateLimitSettings(max_failures=0)
