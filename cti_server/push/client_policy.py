"""How far a push client may fall behind, when it is cut off, and when heartbeats are due.

The server never waits for a client. Its transport says when its write buffer is full
(``pause``: more than Twisted's 64 KiB not yet taken by the kernel) and when it has drained
(``resume``). A burst published in one reactor turn pauses every client, fast or not (the
bytes only reach the sockets after the turn), so a pause alone proves nothing. A *live*
client is still written to while paused, up to ``max_buffered_bytes``; past that it is
*behind*: it stops being written to and goes back to catching up from the ring when it
drains, so its buffer never grows past about 64 KiB plus the limit, and a fast client hit
by a burst loses nothing. A client that stays paused longer than ``max_stall`` without
ever draining has stopped reading: it is cut off (``stalled``). One that reads, but slower
than events come, keeps catching up and is told of a gap if it falls off the ring.

Heartbeats are due ``heartbeat_interval`` after a client connected and after each one
sent, which spreads them over the interval instead of one burst; ``now`` never going back,
the due times stay in order in a deque, so scheduling and popping are O(1).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

K = TypeVar("K", bound=Hashable)

HEARTBEAT_INTERVAL: Final = 15.0


@dataclass(frozen=True, slots=True)
class ClientPolicy:
    max_buffered_bytes: int = 1_048_576
    max_stall: float = 30.0
    heartbeat_interval: float = HEARTBEAT_INTERVAL
    catchup_chunk: int = 200  # entries written per turn while replaying

    def __post_init__(self) -> None:
        if self.max_buffered_bytes < 1 or self.catchup_chunk < 1:
            raise ValueError("max_buffered_bytes and catchup_chunk must be positive")
        if self.max_stall <= 0 or self.heartbeat_interval <= 0:
            raise ValueError("max_stall and heartbeat_interval must be positive")


class CutOff(enum.StrEnum):
    STALLED = "stalled"  # the transport stayed full for max_stall: the reader stopped


class Flow:
    """One client's outgoing side: paused or not, and what was written since the pause."""

    def __init__(self, policy: ClientPolicy) -> None:
        self._policy = policy
        self.paused = False
        self.paused_since = 0.0
        self.bytes_since_pause = 0

    def pause(self, now: float) -> None:
        if not self.paused:
            self.paused = True
            self.paused_since = now
            self.bytes_since_pause = 0

    def resume(self) -> None:
        self.paused = False
        self.bytes_since_pause = 0

    def wrote(self, nbytes: int) -> bool:
        """Count a write; True once the client is behind (stop writing live events to it)."""
        if not self.paused:
            return False
        self.bytes_since_pause += nbytes
        return self.bytes_since_pause > self._policy.max_buffered_bytes

    def check(self, now: float) -> CutOff | None:
        if self.paused and now - self.paused_since > self._policy.max_stall:
            return CutOff.STALLED
        return None


class HeartbeatSchedule(Generic[K]):
    def __init__(self, interval: float = HEARTBEAT_INTERVAL) -> None:
        self.interval = interval
        self._due: dict[K, float] = {}
        self._order: deque[tuple[float, K]] = deque()

    def __len__(self) -> int:
        return len(self._due)

    def add(self, key: K, now: float) -> None:
        due = now + self.interval
        self._due[key] = due
        self._order.append((due, key))

    def remove(self, key: K) -> None:
        self._due.pop(key, None)  # its deque entry is skipped when it comes up

    def next_deadline(self) -> float | None:
        self._drop_stale()
        return self._order[0][0] if self._order else None

    def due(self, now: float) -> list[K]:
        """The clients whose heartbeat is due, each scheduled again one interval later."""
        found: list[K] = []
        while True:
            self._drop_stale()
            if not self._order or self._order[0][0] > now:
                return found
            _, key = self._order.popleft()
            found.append(key)
            following = now + self.interval  # from when it was sent: keeps the deque sorted
            self._due[key] = following
            self._order.append((following, key))

    def _drop_stale(self) -> None:
        order = self._order
        while order and self._due.get(order[0][1]) != order[0][0]:
            order.popleft()
