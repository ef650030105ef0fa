"""Predictive pacing of a customer-first campaign, held under its abandon-rate cap.

Definitions (features.md "Outbound drop / abandon"; VICIdial's DROP, Ofcom's 2 s rule):
- A *live answer* is a customer-first call the customer answered (``DialResult(answered)``,
  or an ``abandoned`` report, which implies one).
- It is *abandoned* when no agent is connected within ``answer_grace`` (2 s) of the answer:
  the grace deadline passes, the host finds no agent (``AgentReserved(ok=False)``), the
  customer hangs up first, or the host reports ``abandoned`` itself.
- The *abandon rate* of a campaign is abandoned / live answers over the rolling ``window``
  (24 h). Callbacks and agent-first campaigns never abandon by construction and do not count.

The pacing rule. The *dial level* is customer lines per free agent. A pass dials
``floor(level * free_agents) - lines_in_progress`` more leads, where free agents are those the
ACD reports ready for the queue, minus inbound callers waiting (inbound first), and lines in
progress are the queue's customer-first calls ringing or waiting for an agent. Then:
1. Level 1.0 (one line per free agent, "progressive") is always allowed.
2. A level above 1.0 ("predictive") is used only while one more abandon would keep the rate
   at or under the cap: ``(abandoned + 1) / (live + 1) <= cap``. So a fresh window (after a
   restart, or a quiet day) dials progressively until it has earned headroom (33 clean live
   answers at 3 %), and a rate at or over the cap never dials predictively.
3. Every ``adjust_every`` seconds of running (15 s, VICIdial's ADAPT cadence; counted at each
   decision pass, so an idle dialer needs no timer) the stored level moves:
   to 1.0 when the rate is at or over the cap, down by ``step`` above ``taper * cap``, up by
   ``step`` (at most ``ratio``) below it. It starts at ``ratio``. An abandon that brings the
   rate to the cap drops it to 1.0 at once, without waiting for the next adjustment.
Only agents free now are counted, never agents expected to free up soon, so a burst of
answers larger than the free agents is the only way to abandon, and rule 2 bounds how often.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from acd.dialer_settings import PacingSettings

_EPSILON = 1e-9
MAX_CATCH_UP = 40  # steps applied after a quiet spell: enough to cross 1.0-3.0 by 0.05


class AbandonWindow:
    """Live answers of one campaign in a rolling window, and how many were abandoned."""

    def __init__(self, span: float) -> None:
        self.span = span
        self._samples: deque[tuple[float, bool]] = deque()
        self._abandoned = 0

    def record(self, now: float, abandoned: bool) -> None:
        self._samples.append((now, abandoned))
        self._abandoned += abandoned
        self._prune(now)

    def _prune(self, now: float) -> None:
        samples = self._samples
        while samples and samples[0][0] <= now - self.span:
            _, abandoned = samples.popleft()
            self._abandoned -= abandoned

    def counts(self, now: float) -> tuple[int, int]:
        """(live answers, abandoned) inside the window ending at ``now``."""
        self._prune(now)
        return len(self._samples), self._abandoned

    def rate(self, now: float) -> float | None:
        live, abandoned = self.counts(now)
        return None if live == 0 else abandoned / live


@dataclass(frozen=True, slots=True)
class PacingView:
    level: float  # the level a pass would use now
    stored_level: float
    live: int
    abandoned: int
    rate: float | None


class Pacer:
    """One campaign's dial level (see the module docstring for the rule)."""

    def __init__(self, settings: PacingSettings) -> None:
        self.settings = settings
        self.window = AbandonWindow(settings.window)
        self.level = settings.ratio
        self.adjusted_at: float | None = None  # None: not running

    def headroom(self, now: float) -> bool:
        live, abandoned = self.window.counts(now)
        return abandoned + 1 <= self.settings.abandon_cap * (live + 1) + _EPSILON

    def effective_level(self, now: float) -> float:
        return self.level if self.headroom(now) else 1.0

    def record(self, now: float, abandoned: bool) -> bool:
        """Count a live answer; True when the stored level changed (hard drop to 1.0)."""
        self.window.record(now, abandoned)
        rate = self.window.rate(now)
        if abandoned and rate is not None and rate >= self.settings.abandon_cap:
            return self._set(1.0)
        return False

    def tick(self, now: float) -> bool:
        """The adjustments due since the last one (one per ``adjust_every``); True when the
        stored level changed. The first tick after a start only starts the clock."""
        every = self.settings.adjust_every
        if self.adjusted_at is None:
            self.adjusted_at = now
            return False
        steps = int((now - self.adjusted_at) // every)
        if steps <= 0:
            return False
        self.adjusted_at += steps * every
        changed = False
        for _ in range(min(steps, MAX_CATCH_UP)):
            changed = self.adjust(now) or changed
        return changed

    def adjust(self, now: float) -> bool:
        """One step; True when the stored level changed."""
        settings = self.settings
        rate = self.window.rate(now) or 0.0
        if rate >= settings.abandon_cap:
            return self._set(1.0)
        if rate >= settings.taper * settings.abandon_cap:
            return self._set(max(1.0, self.level - settings.step))
        return self._set(min(settings.ratio, self.level + settings.step))

    def _set(self, level: float) -> bool:
        level = round(level, 6)
        changed = level != self.level
        self.level = level
        return changed

    def view(self, now: float) -> PacingView:
        live, abandoned = self.window.counts(now)
        return PacingView(
            level=self.effective_level(now),
            stored_level=self.level,
            live=live,
            abandoned=abandoned,
            rate=None if live == 0 else abandoned / live,
        )


def lines_to_dial(level: float, free_agents: int, in_progress: int) -> int:
    """New customer lines a pass may open: ``floor(level * free) - in_progress``, >= 0."""
    if free_agents <= 0:
        return 0
    return max(0, math.floor(level * free_agents + _EPSILON) - in_progress)
