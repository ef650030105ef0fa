"""The numbered event feed desktops replay from: sequence numbers and a bounded ring.

Every event gets an increasing integer ``seq``; a desktop remembers the last one it saw
and reconnects with it as its cursor. The ring keeps the newest ``size`` entries: a cursor
inside it gets exactly what it missed, an older one gets a gap marker naming the oldest
entry still kept and then everything from there (API_CONTRACT.md "Live events").

Each entry is encoded to its wire frame once, here, and scoped once (``CallAudience``), so
fanning it out costs one lookup and one write per client, whatever the number of clients.

Alone (no Redis) the feed numbers events itself (``append``). With Redis the numbers come
from the shared stream and arrive through ``add`` in stream order, so every node holds the
same numbers; there ``floor`` says from where this node's ring is complete (it starts at
the stream's end when the node starts), and older cursors are read from Redis.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from cti_server.events import Event
from cti_server.push.audience import CallAudience, Scope

DEFAULT_SIZE: Final = 10_000


@dataclass(frozen=True, slots=True)
class Stamped:
    """One numbered event, its wire frame and who may see it."""

    seq: int
    name: str
    data: Mapping[str, Any]
    frame: bytes
    scope: Scope


@dataclass(frozen=True, slots=True)
class Catchup:
    """What a cursor missed: ``gap`` (the oldest seq kept) when the cursor fell behind the
    ring, then ``entries``; ``cursor`` is where the next call continues; ``done`` when
    nothing newer is kept."""

    entries: list[Stamped]
    gap: int | None
    cursor: int
    done: bool


def event_payload(event: Event) -> tuple[str, dict[str, Any]]:
    """An event as its wire name and fields (the fields ``to_json`` writes, less the name)."""
    return event.name, {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}


def _dumps(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def event_frame(seq: int, name: str, data: Mapping[str, Any]) -> bytes:
    return _dumps({"seq": seq, "event": name, "data": data})


def heartbeat_frame(seq: int) -> bytes:
    return _dumps({"type": "heartbeat", "seq": seq})


def gap_frame(oldest: int) -> bytes:
    return _dumps({"type": "gap", "oldest": oldest})


class EventFeed:
    def __init__(
        self,
        size: int = DEFAULT_SIZE,
        audience: CallAudience | None = None,
        *,
        floor: int = 0,
    ) -> None:
        if size < 1:
            raise ValueError(f"feed size must be at least 1, not {size}")
        self.size = size
        self.audience = audience or CallAudience()
        self._entries: list[Stamped] = []
        self._start = 0  # entries before this index are trimmed (compacted in batches)
        self.floor = floor  # every entry with seq > floor is held, until trimmed
        self.latest = floor

    def __len__(self) -> int:
        return len(self._entries) - self._start

    @property
    def oldest(self) -> int | None:
        return self._entries[self._start].seq if len(self) else None

    def append(self, event: Event) -> Stamped:
        """Number an event (single node: the feed is the authority)."""
        name, data = event_payload(event)
        stamped = self.add(self.latest + 1, name, data)
        assert stamped is not None
        return stamped

    def add(self, seq: int, name: str, data: Mapping[str, Any]) -> Stamped | None:
        """An entry numbered elsewhere (the shared stream); None if not newer than ``latest``
        (a repeat after a reconnection), so adding is idempotent."""
        if seq <= self.latest:
            return None
        stamped = Stamped(
            seq, name, data, event_frame(seq, name, data), self.audience.scope(name, data)
        )
        self._entries.append(stamped)
        self.latest = seq
        if len(self) > self.size:
            self.floor = self._entries[self._start].seq
            self._start += 1
            if self._start >= self.size:  # compact: amortised O(1) per entry
                del self._entries[: self._start]
                self._start = 0
        return stamped

    def restart(self, floor: int) -> None:
        """Forget everything: the ring is complete only after ``floor`` from now on."""
        self._entries.clear()
        self._start = 0
        self.floor = self.latest = floor

    def holds_after(self, cursor: int) -> bool:
        """Whether the ring has every entry after ``cursor`` (older ones are elsewhere)."""
        return self.floor <= cursor <= self.latest

    def since(self, cursor: int | None, limit: int | None = None) -> Catchup:
        """The entries after ``cursor``, at most ``limit``. ``None``: nothing (live only). A
        cursor ahead of ``latest`` belongs to an earlier run of the feed: all is new."""
        if cursor is None:
            return Catchup([], None, self.latest, True)
        gap: int | None = None
        if cursor < self.floor or cursor > self.latest:
            gap = self.oldest if self.oldest is not None else self.latest + 1
            cursor = gap - 1
        entries = self.entries_after(cursor, limit)
        done = not entries or entries[-1].seq == self.latest
        next_cursor = self.latest if done else entries[-1].seq
        return Catchup(entries, gap, next_cursor, done)

    def entries_after(self, cursor: int, limit: int | None = None) -> list[Stamped]:
        """The kept entries with ``seq > cursor``, oldest first, at most ``limit``."""
        i = bisect.bisect_right(self._entries, cursor, lo=self._start, key=lambda e: e.seq)
        end = len(self._entries) if limit is None else min(len(self._entries), i + limit)
        return self._entries[i:end]
