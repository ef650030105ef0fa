"""Named deadlines: at most one per (kind, key), in one lazy heap.

Setting a deadline replaces the previous one of the same name; clearing forgets it. Replaced
and cleared entries stay in the heap until they surface and are skipped, so every operation
is O(log n) and nothing searches the heap.
"""

from __future__ import annotations

import heapq


class Deadlines:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str, str]] = []
        self._live: dict[tuple[str, str], tuple[int, float]] = {}
        self._seq = 0

    def set(self, kind: str, key: str, at: float) -> None:
        self._seq += 1
        self._live[(kind, key)] = (self._seq, at)
        heapq.heappush(self._heap, (at, self._seq, kind, key))

    def clear(self, kind: str, key: str) -> None:
        self._live.pop((kind, key), None)

    def when(self, kind: str, key: str) -> float | None:
        entry = self._live.get((kind, key))
        return None if entry is None else entry[1]

    def _prune(self) -> None:
        heap, live = self._heap, self._live
        while heap:
            _, seq, kind, key = heap[0]
            entry = live.get((kind, key))
            if entry is not None and entry[0] == seq:
                return
            heapq.heappop(heap)

    def next(self) -> float | None:
        self._prune()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> tuple[str, str] | None:
        """The earliest deadline at or before ``now``, forgotten as it is returned."""
        self._prune()
        if not self._heap or self._heap[0][0] > now:
            return None
        _, _, kind, key = heapq.heappop(self._heap)
        del self._live[(kind, key)]
        return kind, key

    def items(self) -> list[tuple[float, str, str]]:
        """Every live deadline as (at, kind, key), soonest first (for snapshots)."""
        return sorted((at, kind, key) for (kind, key), (_, at) in self._live.items())
