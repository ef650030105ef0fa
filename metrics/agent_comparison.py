"""Before and after a date: the same agent and centre figures for two periods, side by side
with their differences (the proposal's "handle time 150 s -> 135 s" read off the records).
Pure, like ``metrics.agent_performance``, whose reports it compares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from metrics.agent_performance import (
    AgentFigures,
    CenterFigures,
    PerformanceReport,
    QaScore,
    performance_report,
)
from metrics.call_record import CallRecord
from metrics.event_rows import AgentStateRow
from metrics.periods import localize

# --- before and after ----------------------------------------------------------------------

CENTER_FIELDS = (
    "aht",
    "answer_rate",
    "answered_per_agent_day",
    "handled_per_agent_day",
    "callbacks_per_day",
    "callbacks_handled",
    "requests",
    "answered",
    "occupancy",
    "qa_avg",
)
AGENT_FIELDS = (
    "handled",
    "handled_per_day",
    "inbound_per_day",
    "callbacks",
    "aht",
    "offer_answer_rate",
    "no_answer",
    "hold_avg",
    "wrap_up_avg",
    "occupancy",
    "qa_avg",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One figure before and after: ``delta`` = after - before (for a rate, in fractions:
    percentage points / 100), ``relative`` = delta / before."""

    field: str
    before: float | None
    after: float | None
    delta: float | None
    relative: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    at: datetime
    before: PerformanceReport
    after: PerformanceReport
    center: tuple[Change, ...]
    agents: tuple[tuple[str, tuple[Change, ...]], ...]  # (agent id, changes), by id

    def changes(self, agent_id: str) -> tuple[Change, ...]:
        return dict(self.agents).get(agent_id) or _changes(
            self.before.agent(agent_id), self.after.agent(agent_id), AGENT_FIELDS
        )


def compare(before: PerformanceReport, after: PerformanceReport) -> Comparison:
    """The two periods' figures side by side; agents of either period, by id."""
    names = sorted({a.key for a in before.agents} | {a.key for a in after.agents})
    return Comparison(
        at=after.start,
        before=before,
        after=after,
        center=_changes(before.center, after.center, CENTER_FIELDS),
        agents=tuple((n, _changes(before.agent(n), after.agent(n), AGENT_FIELDS)) for n in names),
    )


def split_compare(
    records: Sequence[CallRecord],
    states: Sequence[AgentStateRow] = (),
    qa_scores: Sequence[QaScore] | None = None,
    *,
    start: datetime,
    at: datetime,
    end: datetime,
    tz: ZoneInfo,
    now: float | None = None,
) -> Comparison:
    """``[start, at)`` against ``[at, end)``: before and after a change on ``at``."""
    start, at, end = localize(start, tz), localize(at, tz), localize(end, tz)
    if not start < at < end:
        raise ValueError(
            f"the comparison date {at.isoformat()} must lie inside the period "
            f"{start.isoformat()} to {end.isoformat()}"
        )
    first = performance_report(records, states, qa_scores, start=start, end=at, tz=tz, now=now)
    names = [a.key for a in first.agents]
    second = performance_report(
        records, states, qa_scores, start=at, end=end, tz=tz, agents=names, now=now
    )
    return compare(first, second)


def _changes(
    before: AgentFigures | CenterFigures, after: AgentFigures | CenterFigures, names: Sequence[str]
) -> tuple[Change, ...]:
    out = []
    for name in names:
        b, a = getattr(before, name), getattr(after, name)
        delta = None if a is None or b is None else a - b
        relative = None if delta is None or not b else delta / b
        out.append(Change(field=name, before=b, after=a, delta=delta, relative=relative))
    return tuple(out)
