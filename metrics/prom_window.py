"""Rolling service level and answer rate of one queue, over the last ``window`` seconds.

A pure helper (fed ``at`` from the events, read with ``now``) so the window arithmetic is
tested on plain floats. The definitions are the common ones (reference/features.md §2):

- service level = calls answered within the threshold / calls answered (Asterisk ``SL``,
  Wazo ``quality_of_service``, VICIdial "answered within X seconds");
- answer rate = calls answered / calls that left the queue (answered + abandoned +
  overflowed), as Wazo's ``answered_rate``; a call still waiting is in neither count.

Both are None while the window holds no call that would count: "no calls" is not 0 %.
A call is placed in the window when it leaves the queue, so a long wait that ends in an
abandon counts at the moment the caller gives up, as Asterisk and Connect count it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

WINDOW_SECONDS = 15 * 60.0
Outcome = Literal["answered", "abandoned", "overflowed"]


@dataclass(frozen=True, slots=True)
class WindowFigures:
    answered: int = 0
    answered_in_threshold: int = 0
    abandoned: int = 0
    overflowed: int = 0

    @property
    def left_queue(self) -> int:
        return self.answered + self.abandoned + self.overflowed

    @property
    def service_level(self) -> float | None:
        return self.answered_in_threshold / self.answered if self.answered else None

    @property
    def answer_rate(self) -> float | None:
        left = self.left_queue
        return self.answered / left if left else None


class QueueWindow:
    """The calls that left one queue in the last ``window`` seconds, oldest first."""

    def __init__(self, window: float = WINDOW_SECONDS) -> None:
        if window <= 0:
            raise ValueError(f"window must be positive, not {window}")
        self.window = window
        self._calls: deque[tuple[float, Outcome, float]] = deque()

    def __len__(self) -> int:
        return len(self._calls)

    def add(self, at: float, outcome: Outcome, waited: float) -> None:
        self._calls.append((at, outcome, waited))
        self._expire(at)

    def figures(self, now: float, threshold: float) -> WindowFigures:
        """The counts at ``now`` with an answer threshold of ``threshold`` seconds (the
        threshold is applied here, not when the call was added, so a config reload of a
        queue's ``service_level_seconds`` shows at once)."""
        self._expire(now)
        answered = in_threshold = abandoned = overflowed = 0
        for _, outcome, waited in self._calls:
            if outcome == "answered":
                answered += 1
                if waited <= threshold:
                    in_threshold += 1
            elif outcome == "abandoned":
                abandoned += 1
            else:
                overflowed += 1
        return WindowFigures(answered, in_threshold, abandoned, overflowed)

    def _expire(self, now: float) -> None:
        horizon = now - self.window
        calls = self._calls
        while calls and calls[0][0] <= horizon:
            calls.popleft()
