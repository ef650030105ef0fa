"""Failed-authentication limiter: lock a source IP or a user after repeated wrong answers.

Theory of operation: SIP scanners (sipvicious ``svcrack``) try thousands of passwords per
minute against extensions. Each wrong digest response counts against two keys, the source
IP and the user name; ``max_failures`` inside a sliding ``window`` locks that key for
``cooldown`` seconds, during which the endpoint answers 403 without checking credentials
(so a locked key cannot accumulate more failures or burn CPU on hashing). Locking the user
as well as the IP stops a botnet spraying one extension from many addresses; locking the IP
stops one host walking every extension. Success clears the user's failure history only: a
scanner cannot reset its IP's count by also holding one valid account.

What counts as a failure is the endpoint's call: a wrong response, not the first request
without credentials (which is how every client starts). Memory is bounded: keys live in
last-touched order, idle ones are pruned from the old end, and past ``max_keys`` the oldest
is dropped even if locked (a flood of fresh addresses then costs the attacker its locks,
not us our memory).

A locked source gets ``locked_answers`` more answers (403s, so a real phone shows why) and
is then silenced for the rest of the cool-down (``silent``; the scan guard drops its
requests unanswered): svcrack keeps guessing as long as anything answers, and stops when
nothing does.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

_SOURCE = "ip"
_USER = "user"


@dataclass(slots=True)
class _Entry:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0
    answers_left: int = 0  # 403s still given while locked, then silence


class AuthGuard:
    def __init__(
        self,
        max_failures: int = 5,
        window: float = 60.0,
        cooldown: float = 300.0,
        *,
        max_keys: int = 100_000,
        locked_answers: int = 3,
    ) -> None:
        if max_failures < 1 or window <= 0 or cooldown <= 0 or max_keys < 2 or locked_answers < 0:
            raise ValueError("AuthGuard limits must be positive")
        self.max_failures = max_failures
        self.window = window
        self.cooldown = cooldown
        self.max_keys = max_keys
        self.locked_answers = locked_answers
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self.lockouts = 0  # locks imposed (sources and users), for Prometheus

    @staticmethod
    def _keys(source_ip: str, user: str | None) -> list[tuple[str, str]]:
        keys = [(_SOURCE, source_ip)]
        if user:
            keys.append((_USER, user))
        return keys

    def record_failure(self, source_ip: str, user: str | None, now: float) -> bool:
        """Count one wrong response; True if it locked the source or the user."""
        locked = False
        for key in self._keys(source_ip, user):
            entry = self._touch(key, now)
            if entry.locked_until > now:
                continue
            while entry.failures and entry.failures[0] <= now - self.window:
                entry.failures.popleft()
            entry.failures.append(now)
            if len(entry.failures) >= self.max_failures:
                entry.locked_until = now + self.cooldown
                entry.answers_left = self.locked_answers
                entry.failures.clear()
                self.lockouts += 1
                locked = True
        self._prune(now)
        return locked

    def record_success(self, source_ip: str, user: str | None, now: float) -> None:
        if not user:
            return
        entry = self._entries.get((_USER, user))
        if entry is not None:
            entry.failures.clear()
        self._prune(now)

    def is_locked(self, source_ip: str, user: str | None, now: float) -> bool:
        for key in self._keys(source_ip, user):
            entry = self._entries.get(key)
            if entry is not None and entry.locked_until > now:
                return True
        return False

    def silent(self, source_ip: str, now: float) -> bool:
        """One request from ``source_ip`` arrived: True to drop it unanswered (the source is
        locked and has had its answers), False to go on (each locked answer uses one up)."""
        entry = self._entries.get((_SOURCE, source_ip))
        if entry is None or entry.locked_until <= now:
            return False
        if entry.answers_left > 0:
            entry.answers_left -= 1
            return False
        return True

    def locked_count(self, now: float) -> int:
        """Keys (sources and users) locked at ``now``; a gauge for Prometheus."""
        return sum(1 for e in self._entries.values() if e.locked_until > now)

    def tracked(self) -> int:
        return len(self._entries)

    def _touch(self, key: tuple[str, str], now: float) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
        else:
            self._entries.move_to_end(key)
        return entry

    def _idle(self, entry: _Entry, now: float) -> bool:
        recent = bool(entry.failures) and entry.failures[-1] > now - self.window
        return not recent and entry.locked_until <= now

    def _prune(self, now: float) -> None:
        while len(self._entries) > self.max_keys:
            self._entries.popitem(last=False)
        # Oldest-touched first; stop at the first entry still doing something, which keeps
        # this amortised O(1) per call (later entries were touched after it).
        while self._entries:
            entry = next(iter(self._entries.values()))
            if not self._idle(entry, now):
                break
            self._entries.popitem(last=False)
