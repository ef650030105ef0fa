"""The controller's one timer: each call's earliest deadline in a heap, stale entries skipped.

A call's deadlines change often (answered, ring timeout cleared, probe rescheduled); instead
of removing entries, ``next`` drops or re-files an entry whose call ended or whose deadline
moved, so every operation stays O(log n) in the number of calls.
"""

from __future__ import annotations

import heapq

from cti_server.call.model import Call


class DeadlineHeap:
    def __init__(self) -> None:
        self._heap: list[tuple[float, str]] = []  # (deadline, call_id)

    def schedule(self, call: Call) -> None:
        upcoming = call.deadlines()
        if upcoming:
            heapq.heappush(self._heap, (min(upcoming), call.call_id))

    def next(self, calls: dict[str, Call]) -> float | None:
        heap = self._heap
        while heap:
            when, call_id = heap[0]
            call = calls.get(call_id)
            actual = min(call.deadlines(), default=None) if call else None
            if actual == when:
                return when
            heapq.heappop(heap)  # stale: the call ended or its deadline moved
            if actual is not None:
                heapq.heappush(heap, (actual, call_id))
        return None

    def due(self, calls: dict[str, Call], now: float) -> list[Call]:
        """Calls with an entry due by ``now`` (their entries are consumed), each once."""
        out: list[Call] = []
        while self._heap and self._heap[0][0] <= now:
            call = calls.get(heapq.heappop(self._heap)[1])
            if call is not None and call not in out:
                out.append(call)
        return out
