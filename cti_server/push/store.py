"""Where the numbered feed lives: the contract both the in-memory ring and Redis keep.

``append`` numbers events (the store is the authority on ``seq``: with Redis, every node
draws from one counter) and ``read`` pages through what is kept after a cursor. One contract
suite (tests/push/test_store_contract.py) runs against both implementations.
Like ``cti_server.state.backend``, the methods are coroutines so both fit one caller; the
in-memory store never suspends.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from cti_server.push.feed import EventFeed

Entry = tuple[int, str, dict[str, Any]]  # seq, event name, event fields


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """Entries after a cursor, oldest first; ``oldest`` is the oldest seq still kept (None:
    nothing is), ``latest`` the newest seq ever given out."""

    entries: list[Entry] = field(default_factory=list)
    oldest: int | None = None
    latest: int = 0


def parse_event_text(text: str) -> tuple[str, dict[str, Any]]:
    """An event's ``to_json`` text as its name and fields (no class needed: a newer node's
    events still pass through)."""
    payload = json.loads(text)
    if not isinstance(payload, dict) or not isinstance(payload.get("name"), str):
        raise ValueError(f"not an event: {text[:80]!r}")
    name = payload.pop("name")
    return name, payload


@runtime_checkable
class FeedStore(Protocol):
    async def append(self, texts: Sequence[str]) -> list[int]:
        """Number and keep events (``to_json`` texts) in order; their seqs, increasing."""
        ...

    async def read(self, after: int, count: int) -> HistoryPage:
        """Up to ``count`` kept entries with ``seq > after``."""
        ...

    async def close(self) -> None: ...


class MemoryFeedStore:
    """The ring of one process as a ``FeedStore`` (single node)."""

    def __init__(self, feed: EventFeed) -> None:
        self.feed = feed

    async def append(self, texts: Sequence[str]) -> list[int]:
        parsed = [parse_event_text(text) for text in texts]  # all or none on bad input
        seqs = []
        for name, data in parsed:
            stamped = self.feed.add(self.feed.latest + 1, name, data)
            assert stamped is not None
            seqs.append(stamped.seq)
        return seqs

    async def read(self, after: int, count: int) -> HistoryPage:
        entries = [(e.seq, e.name, dict(e.data)) for e in self.feed.entries_after(after, count)]
        return HistoryPage(entries, self.feed.oldest, self.feed.latest)

    async def close(self) -> None:
        return None
