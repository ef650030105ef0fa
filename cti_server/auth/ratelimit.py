"""Login rate limit: failures per user name and per source address in a sliding window.

Guessing passwords must cost the guesser, not the agents: after ``max_failures`` wrong logins
for one user name within ``window`` seconds, that name is refused (HTTP 429 with
Retry-After) until the oldest failure leaves the window, whatever the password. The source
address has its own, larger budget, since a whole floor of agents often shares one NAT
address while one attacker tries many names from one.

An attempt counts as a failure from the moment it starts (:meth:`LoginRateLimiter.begin`)
and is taken back on success, so parallel guesses cannot all slip in before the first wrong
answer is known. A success clears the user name's failures. ``now`` is injected.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

MAX_KEYS = 100_000  # bounded memory under a spray of made-up names


@dataclass(frozen=True, slots=True)
class RateLimitSettings:
    max_failures: int = 5  # per user name
    max_failures_per_address: int = 20
    window: float = 300.0

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.max_failures_per_address < 1 or self.window <= 0:
            raise ValueError("rate limits must be positive")


class LoginRateLimiter:
    def __init__(self, settings: RateLimitSettings | None = None) -> None:
        self.settings = settings or RateLimitSettings()
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.settings.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def _wait(self, key: str, limit: int, now: float) -> float | None:
        times = self._recent(key, now)
        if len(times) < limit:
            return None
        return times[-limit] + self.settings.window - now

    def retry_after(self, username: str, address: str, now: float) -> int | None:
        """Whole seconds until a login for ``username`` from ``address`` may be tried again;
        None when it may be tried now."""
        waits = [
            w
            for w in (
                self._wait(_user(username), self.settings.max_failures, now),
                self._wait(_addr(address), self.settings.max_failures_per_address, now),
            )
            if w is not None
        ]
        return max(1, math.ceil(max(waits))) if waits else None

    def begin(self, username: str, address: str, now: float) -> int | None:
        """Start an attempt: None and the attempt counted as a failure until
        :meth:`succeeded`; or the seconds to wait (nothing counted)."""
        wait = self.retry_after(username, address, now)
        if wait is not None:
            return wait
        if len(self._failures) >= MAX_KEYS:
            self.prune(now)
        for key in (_user(username), _addr(address)):
            self._failures.setdefault(key, deque()).append(now)
        return None

    def succeeded(self, username: str, address: str, began: float) -> None:
        """The attempt begun at ``began`` was right: clear the name, take back the address's
        provisional failure."""
        self._failures.pop(_user(username), None)
        times = self._failures.get(_addr(address))
        if times is not None:
            if began in times:
                times.remove(began)
            if not times:
                del self._failures[_addr(address)]

    def prune(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)
        while len(self._failures) >= MAX_KEYS:  # still full: forget the oldest entries
            del self._failures[next(iter(self._failures))]


def _user(username: str) -> str:
    return "u:" + username.casefold()


def _addr(address: str) -> str:
    return "a:" + address
