"""Agent performance for a period, and a before/after comparison: pure functions over call
records, the agent state log and (optionally) QA scores (DESIGN.md §2 rule 5).

A call counts in the period it *started* in, as in :mod:`metrics.stats`. Per agent
(reference/features.md §2; rates are fractions, times seconds):

- ``handled``: calls the agent answered (``agent_id`` of an answered record: the first agent
  to answer; a transfer does not move it), split into ``inbound`` (queued or rung directly),
  ``callbacks`` (callback completions: answered ``dialer:callback`` calls, each callback once)
  and ``outbound`` (campaign leads and other dialer calls).
- ``offers``: the agent's rings that were decided: ``offers_answered`` + ``no_answer``
  (ring-no-answer, Connect agent non-response) + ``declined`` (busy, refused, unreachable).
  Withdrawn rings (the caller left, a colleague answered first) are not the agent's to answer
  and count in none. ``offer_answer_rate`` = offers_answered / offers.
- ``talk_*``, ``hold_*``, ``wrap_up_*``: totals and means over the handled calls (wrap-up mean
  over those whose wrap-up is known); ``aht`` = (talk + hold + wrap-up) / handled (Connect
  average handle time, :mod:`metrics.stats`).
- ``occupancy``: on contact / (on contact + idle) from the state log (:mod:`metrics.occupancy`).
- ``days``: local dates with a handled call; ``*_per_day`` = count / days: per agent per day
  worked. In ``total`` the days are agent-days (the sum over agents), so ``handled_per_day``
  there is the proposal's "answered calls per agent" per day.
- ``qa_count``, ``qa_avg`` and ``qa_trend`` (points per week, least-squares slope over the
  scores' times; None with fewer than two distinct times) from ``(agent_id, at, score)``
  triples; all None when no scores are given (the evaluations store is optional).

The centre's figures (:class:`CenterFigures`) are the proposal's (MISSION.md item 11):
``answer_rate`` = answered / requests over *inbound* calls that asked for a person (dialer
calls excluded: a callback is not a new request), ``aht``, ``answered_per_agent_day`` (inbound
answered per agent-day), ``callbacks_handled`` and ``callbacks_per_day`` (per day the centre
handled calls). :func:`compare` sets two periods side by side with their differences.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from metrics.call_record import CallRecord, Outcome
from metrics.event_rows import AgentStateRow
from metrics.occupancy import occupancy
from metrics.periods import localize

QaScore = tuple[str, float, float]  # (agent_id, at epoch seconds, score)
TOTAL = "total"
CALLBACK_ROUTE = "dialer:callback"
DIALER = "dialer:"
DECIDED = frozenset({"answered", "no_answer", "declined"})
WEEK = 7 * 86400.0


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentFigures:
    key: str  # the agent id, or "total"
    handled: int = 0
    inbound: int = 0
    callbacks: int = 0
    outbound: int = 0
    offers: int = 0
    offers_answered: int = 0
    no_answer: int = 0
    declined: int = 0
    offer_answer_rate: float | None = None
    talk_total: float = 0.0
    talk_avg: float | None = None
    hold_total: float = 0.0
    hold_avg: float | None = None
    holds: int = 0
    wrap_up_total: float = 0.0
    wrap_up_avg: float | None = None
    aht: float | None = None
    occupancy: float | None = None
    days: int = 0
    handled_per_day: float | None = None
    inbound_per_day: float | None = None
    callbacks_per_day: float | None = None
    qa_count: int = 0
    qa_avg: float | None = None
    qa_trend: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CenterFigures:
    """The proposal's figures for the whole centre (see the module docstring)."""

    requests: int = 0
    answered: int = 0
    answer_rate: float | None = None
    aht: float | None = None
    agents: int = 0  # agents who handled a call
    days: int = 0  # dates on which any call was handled
    agent_days: int = 0
    answered_per_agent_day: float | None = None
    handled_per_agent_day: float | None = None
    callbacks_handled: int = 0
    callbacks_per_day: float | None = None
    occupancy: float | None = None
    qa_avg: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PerformanceReport:
    start: datetime
    end: datetime
    tz: str
    agents: tuple[AgentFigures, ...]
    total: AgentFigures
    center: CenterFigures
    qa_available: bool

    def agent(self, agent_id: str) -> AgentFigures:
        """The agent's row; an empty one for an agent without calls, states or scores."""
        found = next((a for a in self.agents if a.key == agent_id), None)
        return found or AgentFigures(key=agent_id)


def performance_report(
    records: Iterable[CallRecord],
    states: Sequence[AgentStateRow] = (),
    qa_scores: Iterable[QaScore] | None = None,
    *,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    agents: Iterable[str] = (),
    now: float | None = None,
) -> PerformanceReport:
    """Figures of ``[start, end)`` (naive bounds are wall-clock in ``tz``) per agent, sorted by
    id, for every agent named in ``agents`` or seen in the period's calls, states or scores.
    ``now`` caps the state log's last intervals (default: the period's end)."""
    start, end = localize(start, tz), localize(end, tz)
    if end <= start:
        raise ValueError(f"the period ends ({end.isoformat()}) before it starts")
    lo, hi = start.timestamp(), end.timestamp()
    horizon = hi if now is None else min(hi, now)
    calls = [r for r in records if lo <= r.started_at < hi]
    scores = None if qa_scores is None else [s for s in qa_scores if lo <= s[1] < hi]
    answered_by: dict[str, list[CallRecord]] = {}
    rung: dict[str, list[str]] = {}
    for r in calls:
        if r.outcome is Outcome.ANSWERED and r.agent_id:
            answered_by.setdefault(r.agent_id, []).append(r)
        for o in r.offers:
            rung.setdefault(o.agent_id, []).append(o.outcome)
    names = {*agents, *answered_by, *rung}
    names |= {s["agent_id"] for s in states if lo <= s["at"] < hi}
    names |= {s[0] for s in scores or ()}
    logs = _state_logs(states, lo, hi)
    rows = []
    for agent in sorted(names):
        log = logs.get(agent, [])
        share = occupancy(log, [(lo, hi)], horizon=horizon) if states else None
        agent_scores = None if scores is None else [s for s in scores if s[0] == agent]
        figures = _figures(
            agent, answered_by.get(agent, []), rung.get(agent, []), agent_scores, tz, share
        )
        rows.append(figures)
    every = [r for agent in sorted(answered_by) for r in answered_by[agent]]
    every_log = [row for log in logs.values() for row in log]
    share = occupancy(every_log, [(lo, hi)], horizon=horizon) if states else None
    total = _figures(TOTAL, every, [o for a in rung.values() for o in a], scores, tz, share)
    agent_days = sum(a.days for a in rows)
    total = replace(
        total,
        days=agent_days,
        handled_per_day=_ratio(total.handled, agent_days),
        inbound_per_day=_ratio(total.inbound, agent_days),
        callbacks_per_day=_ratio(total.callbacks, agent_days),
    )
    return PerformanceReport(
        start=start,
        end=end,
        tz=tz.key,
        agents=tuple(rows),
        total=total,
        center=_center(calls, total, rows, tz),
        qa_available=qa_scores is not None,
    )


def _figures(
    key: str,
    handled: Sequence[CallRecord],
    offers: Sequence[str],
    scores: Sequence[QaScore] | None,
    tz: ZoneInfo,
    share: float | None,
) -> AgentFigures:
    callbacks = [r for r in handled if r.route == CALLBACK_ROUTE]
    inbound = [r for r in handled if not r.route.startswith(DIALER)]
    talk = [r.talk_seconds or 0.0 for r in handled]
    hold = [r.hold_seconds for r in handled]
    wrap = [r.wrap_up_seconds for r in handled if r.wrap_up_seconds is not None]
    completed = len({r.callback_id or r.call_id for r in callbacks})
    days = len(_dates(handled, tz))
    decided = [o for o in offers if o in DECIDED]
    answered = sum(1 for o in decided if o == "answered")
    return AgentFigures(
        key=key,
        handled=len(handled),
        inbound=len(inbound),
        callbacks=completed,
        outbound=len(handled) - len(inbound) - len(callbacks),
        offers=len(decided),
        offers_answered=answered,
        no_answer=sum(1 for o in decided if o == "no_answer"),
        declined=sum(1 for o in decided if o == "declined"),
        offer_answer_rate=_ratio(answered, len(decided)),
        talk_total=sum(talk),
        talk_avg=_mean(talk),
        hold_total=sum(hold),
        hold_avg=_mean(hold),
        holds=sum(r.holds for r in handled),
        wrap_up_total=sum(wrap),
        wrap_up_avg=_mean(wrap),
        aht=_ratio(sum(talk) + sum(hold) + sum(wrap), len(handled)),
        occupancy=share,
        days=days,
        handled_per_day=_ratio(len(handled), days),
        inbound_per_day=_ratio(len(inbound), days),
        callbacks_per_day=_ratio(completed, days),
        qa_count=0 if scores is None else len(scores),
        qa_avg=None if scores is None else _mean([s[2] for s in scores]),
        qa_trend=None if scores is None else qa_trend(scores),
    )


def _center(
    calls: Sequence[CallRecord], total: AgentFigures, rows: Sequence[AgentFigures], tz: ZoneInfo
) -> CenterFigures:
    inbound = [r for r in calls if not r.route.startswith(DIALER) and r.requested_agent]
    answered = sum(1 for r in inbound if r.outcome is Outcome.ANSWERED)
    handled = [r for r in calls if r.outcome is Outcome.ANSWERED and r.agent_id]
    days = len(_dates(handled, tz))
    return CenterFigures(
        requests=len(inbound),
        answered=answered,
        answer_rate=_ratio(answered, len(inbound)),
        aht=total.aht,
        agents=sum(1 for a in rows if a.handled),
        days=days,
        agent_days=total.days,
        answered_per_agent_day=_ratio(total.inbound, total.days),
        handled_per_agent_day=total.handled_per_day,
        callbacks_handled=total.callbacks,
        callbacks_per_day=_ratio(total.callbacks, days),
        occupancy=total.occupancy,
        qa_avg=total.qa_avg,
    )


def qa_trend(scores: Sequence[QaScore]) -> float | None:
    """The least-squares slope of score over time, in points per week."""
    if len({s[1] for s in scores}) < 2:
        return None
    xs = [s[1] / WEEK for s in scores]
    ys = [s[2] for s in scores]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / spread


def weekly(
    records: Sequence[CallRecord],
    states: Sequence[AgentStateRow] = (),
    qa_scores: Sequence[QaScore] | None = None,
    *,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    now: float | None = None,
) -> tuple[PerformanceReport, ...]:
    """One report per 7 local days from ``start`` (the last one may be shorter): the trend a
    chart draws. Each names every agent of the whole period, so the series line up."""
    start, end = localize(start, tz), localize(end, tz)
    whole = performance_report(records, states, qa_scores, start=start, end=end, tz=tz, now=now)
    names = [a.key for a in whole.agents]
    out = []
    week_start = start
    while week_start < end:
        local = week_start.replace(tzinfo=None) + timedelta(days=7)
        week_end = min(end, localize(local, tz))
        out.append(
            performance_report(
                records,
                states,
                qa_scores,
                start=week_start,
                end=week_end,
                tz=tz,
                agents=names,
                now=now,
            )
        )
        week_start = week_end
    return tuple(out)


def _state_logs(
    states: Sequence[AgentStateRow], lo: float, hi: float
) -> dict[str, list[AgentStateRow]]:
    """Each agent's rows in ``[lo, hi)`` and the last one before ``lo`` (the state the agent
    was in when the period began): all that occupancy needs, so a long log is read once."""
    before: dict[str, AgentStateRow] = {}
    inside: dict[str, list[AgentStateRow]] = {}
    for row in states:
        agent = row["agent_id"]
        if row["at"] < lo:
            if agent not in before or row["at"] >= before[agent]["at"]:
                before[agent] = row
        elif row["at"] < hi:
            inside.setdefault(agent, []).append(row)
    return {a: [*([before[a]] if a in before else []), *inside.get(a, [])]
            for a in {*before, *inside}}  # fmt: skip


def _dates(records: Iterable[CallRecord], tz: ZoneInfo) -> set[str]:
    return {datetime.fromtimestamp(r.started_at, tz).date().isoformat() for r in records}


def _ratio(part: float, whole: int) -> float | None:
    return part / whole if whole > 0 else None


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None
