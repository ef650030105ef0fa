"""The figures of simulated days, with the definitions the reference systems use.

Counts are summed over days first and ratios taken last, so several days weigh by volume.
Only inbound calls (``kind == "inbound"``, every arrival fed to the ACD) count as offered;
the calls the dialer places back are counted apart (``callbacks_handled``).

- offered: inbound calls that reached the ACD (queued or sent on at once).
- answered: connected to an agent. answer rate = answered / offered (the proposal's
  "응답률"; Wazo's ``answered_rate`` without closed-queue calls). served rate =
  (answered + callbacks handled) / offered: callers who got an agent one way or the other.
- abandoned: hung up while waiting, ringing included (Connect, Flex). short abandons wait
  less than ``short_abandon_seconds`` (5 s). abandon rate = abandoned / offered (Connect);
  abandon rate excluding short = (abandoned - short) / (offered - short) (Google CCAI and
  RingCentral leave short abandons out).
- service level, named by denominator: ``sl_offered`` = answered within T / offered (what
  Erlang C and A predict; the table's SL); ``sl_excl_short`` = answered within T /
  (offered - short abandons) (RingCentral's short-abandon exclusion); ``sl_answered`` =
  answered within T / answered (Asterisk ``SL``, Wazo ``quality_of_service``, VICIdial). T is
  the scenario's ``service_level_seconds`` (20 s); waits are measured from queue entry.
- ASA: mean wait of answered calls from queue entry to answer, ringing included (Connect's
  "average queue answer time" includes whisper time likewise).
- AHT: (talk + wrap-up) / handled calls, callbacks included (Connect: talk, hold and ACW).
- occupancy: (busy + wrap-up) / logged-in time over every agent. Ringing and the pause
  after a missed offer count as not occupied; Connect's variant divides by on-contact plus
  idle time, leaving not-ready time out.
- callbacks requested (overflowed to ``callback``), handled (the dialer's call answered),
  pending (not dialed by the end of the run); voicemail: overflowed to voice mail.
- Gini of handled calls per agent who logged in: 0 when every agent took as many calls,
  towards 1 when one agent took them all (the proposal's complaint about fairness);
  ``gini_work`` is the same over worked (talk + wrap-up) time.
- calls per agent: handled calls / agents who logged in, per day (the proposal's
  "상담원 1인당 응답 건수").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

from acd.erlang import ErlangResult, erlang_a_metrics, erlang_c_metrics
from acd.scenario import AgentGroup, Scenario, Shift
from acd.simulation import RunOutput


@dataclass(slots=True)
class Tally:
    variant: str
    strategy: str
    days: int = 0
    offered: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    callbacks_requested: int = 0
    callbacks_handled: int = 0
    callbacks_pending: int = 0
    voicemail: int = 0
    unresolved: int = 0
    wait_answered: float = 0.0
    work_time: float = 0.0  # busy + wrap-up, every agent
    logged_in_time: float = 0.0
    handled: int = 0
    agents_on_duty: int = 0
    per_agent: dict[str, int] = field(default_factory=dict)
    per_agent_work: dict[str, float] = field(default_factory=dict)  # busy + wrap-up seconds

    def add(self, run: RunOutput) -> None:
        scenario = run.scenario
        threshold, short = scenario.service_level_seconds, scenario.short_abandon_seconds
        self.days += 1
        for r in run.records:
            if r.kind == "callback":
                self.callbacks_handled += r.outcome == "answered"
                continue
            self.offered += 1
            if r.outcome == "answered":
                self.answered += 1
                self.answered_in_sl += r.waited <= threshold
                self.wait_answered += r.waited
            elif r.outcome == "abandoned":
                self.abandoned += 1
                self.short_abandoned += r.waited < short
            elif r.outcome == "callback":
                self.callbacks_requested += 1
            elif r.outcome == "voicemail":
                self.voicemail += 1
            elif r.outcome == "unresolved":
                self.unresolved += 1
        self.callbacks_pending += run.callbacks_pending
        for a in run.agents:
            logged = a.logged_in_time
            if logged <= 0:
                continue
            self.agents_on_duty += 1
            self.logged_in_time += logged
            work = a.time_in.get("busy", 0.0) + a.time_in.get("wrap_up", 0.0)
            self.work_time += work
            self.handled += a.handled
            self.per_agent[a.agent_id] = self.per_agent.get(a.agent_id, 0) + a.handled
            self.per_agent_work[a.agent_id] = self.per_agent_work.get(a.agent_id, 0.0) + work

    # --- ratios -------------------------------------------------------------------------

    @property
    def answer_rate(self) -> float:
        return _ratio(self.answered, self.offered)

    @property
    def served_rate(self) -> float:
        return _ratio(self.answered + self.callbacks_handled, self.offered)

    @property
    def abandon_rate(self) -> float:
        return _ratio(self.abandoned, self.offered)

    @property
    def abandon_rate_excl_short(self) -> float:
        return _ratio(self.abandoned - self.short_abandoned, self.offered - self.short_abandoned)

    @property
    def sl_offered(self) -> float:
        return _ratio(self.answered_in_sl, self.offered)

    @property
    def sl_excl_short(self) -> float:
        return _ratio(self.answered_in_sl, self.offered - self.short_abandoned)

    @property
    def sl_answered(self) -> float:
        return _ratio(self.answered_in_sl, self.answered)

    @property
    def asa(self) -> float:
        return _ratio(self.wait_answered, self.answered)

    @property
    def aht(self) -> float:
        return _ratio(self.work_time, self.handled)

    @property
    def occupancy(self) -> float:
        return _ratio(self.work_time, self.logged_in_time)

    @property
    def gini(self) -> float:
        return gini(list(self.per_agent.values()))

    @property
    def gini_work(self) -> float:
        """Gini of worked time (what ``equalized`` levels), not of call counts."""
        return gini(list(self.per_agent_work.values()))

    @property
    def calls_per_agent(self) -> float:
        return _ratio(self.handled, self.agents_on_duty)


def gini(values: list[int] | list[float]) -> float:
    """Gini coefficient: mean absolute difference over twice the mean (sorted form)."""
    n = len(values)
    total = float(sum(values))
    if n == 0 or total <= 0:
        return 0.0
    ranked = sorted(values)
    weighted = sum((i + 1) * x for i, x in enumerate(ranked))
    return 2.0 * weighted / (n * total) - (n + 1) / n


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


# --- what Erlang C and A predict for the same day -------------------------------------------


@dataclass(frozen=True, slots=True)
class Prediction:
    """A model's figures for the scenario's day, hour by hour (SIPP: each hour is taken as
    a stationary queue with that hour's arrival rate and agents on shift) and weighted by
    the hour's expected calls; ASA is weighted by answered calls."""

    model: str  # "erlang_c" | "erlang_a"
    answer_rate: float
    service_level: float  # answered within T / offered
    asa: float  # inf when some hour is overloaded under Erlang C
    abandon_rate: float
    occupancy: float
    stable: bool
    agents: float  # mean agents on shift
    load: float  # mean offered Erlangs


def predict(scenario: Scenario) -> tuple[Prediction, Prediction] | None:
    """Erlang C and Erlang A for the inbound calls of ``scenario`` (None: no calls).

    The handle time is what keeps an agent from the next call: mean talk time (times the
    agents' mean speed) + the queue's wrap-up + ``ring_seconds``. Neither model knows about
    missed offers, callbacks or max-wait overflows; Erlang A takes the patience's mean as
    exponential. Fractional staffing is interpolated between the two integers around it.
    """
    queue = next(q for q in scenario.queues if q.name == scenario.arrival_queue)
    members = [g for g in scenario.agents if not g.queues or queue.name in g.queues]
    count = sum(g.count for g in members)
    if count == 0:
        return None
    speed = sum(g.speed * g.count for g in members) / count
    handle = scenario.talk_time.mean * speed + queue.wrap_up + scenario.ring_seconds
    patience = None if scenario.patience is None else scenario.patience.mean
    threshold = scenario.service_level_seconds
    rows: list[_Hour] = []
    for hour, length in _hours(scenario.hours):
        calls = _expected_calls(scenario, hour, length)
        agents = _staffing(scenario, members, hour, length)
        if calls <= 0:
            continue
        lam = calls / (length * 3600.0)
        c = _interpolated(
            agents, partial(erlang_c_metrics, arrival_rate=lam, handle_time=handle), threshold
        )
        a = _interpolated(
            agents,
            partial(erlang_a_metrics, arrival_rate=lam, handle_time=handle, patience=patience),
            threshold,
        )
        rows.append(_Hour(calls, agents * length, c, a))
    if not rows:
        return None
    hours = scenario.hours
    return _combine("erlang_c", rows, hours, handle), _combine("erlang_a", rows, hours, handle)


@dataclass(frozen=True, slots=True)
class _Hour:
    calls: float  # expected arrivals
    agent_hours: float
    c: ErlangResult
    a: ErlangResult


def _hours(hours: float) -> list[tuple[int, float]]:
    return [(h, min(1.0, hours - h)) for h in range(math.ceil(hours))]


def _expected_calls(scenario: Scenario, hour: int, length: float) -> float:
    arrivals = scenario.arrivals
    if arrivals.times is not None:
        start, end = hour * 3600.0, (hour + length) * 3600.0
        return float(sum(1 for t in arrivals.times if start <= t < end))
    return arrivals.rate_at(hour) * length


def _staffing(scenario: Scenario, groups: list[AgentGroup], hour: int, length: float) -> float:
    start, end = float(hour), hour + length
    total = 0.0
    for g in groups:
        shifts = g.shifts or [Shift(start=0.0, end=scenario.hours)]
        covered = sum(max(0.0, min(end, s.end) - max(start, s.start)) for s in shifts)
        total += g.count * min(covered, length) / length
    return total


def _interpolated(
    agents: float, model: Callable[..., ErlangResult], threshold: float
) -> ErlangResult:
    low = math.floor(agents)
    share = agents - low
    first = model(low, threshold=threshold)
    if share < 1e-9:
        return first
    second = model(low + 1, threshold=threshold)
    values = {
        name: (1 - share) * getattr(first, name) + share * getattr(second, name)
        for name in ("p_wait", "p_abandon", "answer_rate", "asa", "mean_wait")
    }
    values["service_level"] = (1 - share) * first.service_level + share * second.service_level
    values["occupancy"] = (1 - share) * first.occupancy + share * second.occupancy
    return replace(first, stable=first.stable and second.stable, **values)


def _combine(model: str, rows: list[_Hour], hours: float, handle: float) -> Prediction:
    calls = sum(r.calls for r in rows)
    staffed = sum(r.agent_hours for r in rows)
    results = [(r.calls, r.agent_hours, r.c if model == "erlang_c" else r.a) for r in rows]
    answered = sum(n * m.answer_rate for n, _, m in results)
    stable = all(m.stable for _, _, m in results)
    asa = sum(n * m.answer_rate * m.asa for n, _, m in results) / answered if stable else math.inf
    return Prediction(
        model=model,
        answer_rate=answered / calls,
        service_level=sum(n * m.service_level for n, _, m in results) / calls,
        asa=asa,
        abandon_rate=sum(n * m.p_abandon for n, _, m in results) / calls,
        occupancy=sum(h * m.occupancy for _, h, m in results) / staffed if staffed else 0.0,
        stable=stable,
        agents=staffed / hours,
        load=calls * handle / (hours * 3600.0),
    )
