"""The shared-state contract a hot standby relies on, and its single-node, in-memory form.

Three things live in the backend (DESIGN.md §3): the leader lease with its fencing token, the
distributor snapshot the next leader recovers from, and the event stream desktops replay
from a cursor. ``RedisBackend`` shares them between nodes; ``InMemoryBackend`` is the same
contract inside one process (the embedded default, and the fake for adapter tests). One
contract suite (tests/state/test_backend_contract.py) runs against both.

Every method is a coroutine so both fit the same suite and the same caller; the in-memory
one never suspends. Fencing: each grant of the lease increments an epoch and returns it as
the token; a snapshot write names its token and is refused unless it is the newest epoch, so
a deposed leader's late write cannot overwrite its successor's state.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Final, Protocol, runtime_checkable

DEFAULT_PREFIX: Final = "cti:"
DEFAULT_MAX_EVENTS: Final = 100_000


class StateUnavailable(ConnectionError):
    """The backend did not answer (connection refused, timeout): a retryable condition."""


@runtime_checkable
class StateBackend(Protocol):
    async def acquire(self, node_id: str, ttl: float) -> int | None:
        """Take the lease if nobody holds it: a new fencing token, or None."""
        ...

    async def renew(self, node_id: str, token: int, ttl: float) -> bool:
        """Extend the lease for ``ttl`` if ``node_id`` still holds it with ``token``."""
        ...

    async def release(self, node_id: str, token: int) -> None:
        """Give the lease up if ``node_id`` still holds it with ``token``."""
        ...

    async def holder(self) -> tuple[str, int] | None:
        """Who holds the lease, with which token."""
        ...

    async def save_snapshot(self, token: int, data: str) -> bool:
        """Store ``data`` if ``token`` is the newest epoch; False: refused (fenced)."""
        ...

    async def load_snapshot(self) -> tuple[int, str] | None:
        """The last stored snapshot and the token it was written with."""
        ...

    async def append_event(self, json_text: str) -> str:
        """Append to the event stream; the entry's id, a cursor for ``read_events``."""
        ...

    async def append_events(self, texts: Sequence[str]) -> list[str]:
        """Append several in order, in one round trip where the backend can. On
        ``StateUnavailable`` some may be in: a caller that re-sends delivers at least once."""
        ...

    async def read_events(self, after: str, count: int) -> list[tuple[str, str]]:
        """Up to ``count`` entries with ids after ``after`` ("0": from the start), oldest
        first. Ids are ``"<ms>-<seq>"`` strings; compare them with ``parse_stream_id``."""
        ...

    async def close(self) -> None: ...


def parse_stream_id(text: str) -> tuple[int, int]:
    """A stream id (``"1700000000000-3"``, or ``"0"``) as a comparable pair."""
    ms, _, seq = text.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        raise ValueError(f"not a stream id: {text!r}") from None


def format_stream_id(entry_id: tuple[int, int]) -> str:
    return f"{entry_id[0]}-{entry_id[1]}"


class InMemoryBackend:
    """The contract in one process; ``clock`` decides lease expiry and stream ids."""

    def __init__(self, clock: Callable[[], float], *, max_events: int = DEFAULT_MAX_EVENTS) -> None:
        self._clock = clock
        self._max_events = max_events
        self._lease: tuple[str, int, float] | None = None  # node, token, expires at
        self._epoch = 0
        self._snapshot: tuple[int, str] | None = None
        self._events: deque[tuple[tuple[int, int], str]] = deque()
        self._last_id = (0, 0)

    def _live_lease(self) -> tuple[str, int, float] | None:
        if self._lease is not None and self._lease[2] <= self._clock():
            self._lease = None
        return self._lease

    async def acquire(self, node_id: str, ttl: float) -> int | None:
        if self._live_lease() is not None:
            return None
        self._epoch += 1
        self._lease = (node_id, self._epoch, self._clock() + ttl_ms(ttl) / 1000)
        return self._epoch

    async def renew(self, node_id: str, token: int, ttl: float) -> bool:
        lease = self._live_lease()
        if lease is None or lease[:2] != (node_id, token):
            return False
        self._lease = (node_id, token, self._clock() + ttl_ms(ttl) / 1000)
        return True

    async def release(self, node_id: str, token: int) -> None:
        lease = self._live_lease()
        if lease is not None and lease[:2] == (node_id, token):
            self._lease = None

    async def holder(self) -> tuple[str, int] | None:
        lease = self._live_lease()
        return None if lease is None else (lease[0], lease[1])

    async def save_snapshot(self, token: int, data: str) -> bool:
        if self._epoch == 0 or token != self._epoch:
            return False
        self._snapshot = (token, data)
        return True

    async def load_snapshot(self) -> tuple[int, str] | None:
        return self._snapshot

    async def append_event(self, json_text: str) -> str:
        ms = int(self._clock() * 1000)
        last_ms, last_seq = self._last_id
        self._last_id = (last_ms, last_seq + 1) if ms <= last_ms else (ms, 0)
        self._events.append((self._last_id, json_text))
        while len(self._events) > self._max_events:
            self._events.popleft()
        return format_stream_id(self._last_id)

    async def append_events(self, texts: Sequence[str]) -> list[str]:
        return [await self.append_event(text) for text in texts]

    async def read_events(self, after: str, count: int) -> list[tuple[str, str]]:
        cursor = parse_stream_id(after)
        out: list[tuple[str, str]] = []
        for entry_id, text in self._events:
            if entry_id > cursor:
                out.append((format_stream_id(entry_id), text))
                if len(out) >= count:
                    break
        return out

    async def close(self) -> None:
        return None


def ttl_ms(seconds: float) -> int:
    """A TTL in whole milliseconds, as Redis's PX takes it (at least 1)."""
    return max(1, round(seconds * 1000))
