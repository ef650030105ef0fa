"""Period statistics: pure functions over finished call records (DESIGN.md §2 rule 5).

A call counts in the bucket where it *started* (in the report's time zone), whatever time
it ended: a call from 23:59 to 00:05 is the first day's, one from the last evening of a
month is that month's. Records outside ``[start, end)`` are left out.

Definitions (reference/features.md §2; T is ``service_level_seconds``, default 20 s; S is
``short_abandon_seconds``, default 5 s; waits are from the first queue entry):

- ``calls``: every call that started in the bucket (IVR-only and refused calls included).
- ``requests`` (요청): calls that asked for a person: queued, or rung directly (an agent's
  extension, a transfer target from the IVR). ``request_share``: of the period's requests.
- ``answered`` / ``answer_rate``: answered by a person / requests (the proposal's ratio).
- ``abandoned``: queued calls the caller left before an answer, whether or not a phone rang
  (Connect: disconnected while in queue). Callbacks, voice messages, overflows and IVR
  hang-ups are not abandons (Connect, Flex Insights); IVR hang-ups are ``abandoned_in_ivr``.
  ``short_abandoned``: abandoned with a wait < S. ``abandon_rate`` = (abandoned - short) /
  (queued - short): Connect's abandoned/queued with short abandons removed from both
  (RingCentral, Google CCAI exclude them).
- ``service_level``: answered with wait ≤ T / answered, over queued calls (Asterisk SL,
  Wazo ``quality_of_service``, VICIdial). ``service_level_abandons_good``: (answered ≤ T +
  abandoned ≤ T) / (answered + abandoned) (Asterisk SL2). ``service_level_queued``:
  (answered, abandoned or callback-requested ≤ T) / queued (Amazon Connect "Service level
  X"). ``service_level_short_excluded``: answered ≤ T / (answered + abandoned - short)
  (RingCentral ``abandonedThresholdSeconds``). All None with an empty denominator.
- ``asa``: mean wait of answered queued calls (Connect average queue answer time; ringing
  included, as Connect includes whisper time). ``max_wait``: longest wait of any queued call,
  abandoned ones included (Connect maximum queued time). ``wait_total``/``wait_avg``: over
  every queued call (the proposal's wait time).
- ``talk_*``, ``hold_*``, ``wrap_up_*``: totals and means over answered calls (wrap-up mean
  over those whose wrap-up is known). ``aht`` = (talk + hold + wrap-up) / answered
  (Connect average handle time).
- ``occupancy``: from the agent state log (:mod:`metrics.occupancy`); None without it.

Grouping by ``agent``: a call belongs to every agent whose phone rang for it or who answered
it; ``requests`` are those calls, ``answered`` the ones this agent answered (a transferred
call stays with the agent who answered first), ``missed_offers`` the agent's rings that were
not answered (Connect agent non-response). Grouping by ``queue``: the first queue the call
asked for; calls that never asked for one are the ``-`` row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from metrics.call_record import ABANDONED_QUEUED, CallRecord, Outcome
from metrics.event_rows import AgentStateRow
from metrics.occupancy import occupancy
from metrics.periods import TIME_GROUPINGS, check_period, time_buckets, time_key

NO_QUEUE = "-"
MISSED = frozenset({"no_answer", "declined"})


@dataclass(frozen=True, slots=True, kw_only=True)
class StatsSettings:
    service_level_seconds: float = 20.0
    short_abandon_seconds: float = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PeriodStats:
    """One row of a report. Rates are fractions (0..1); times are seconds."""

    key: str
    start: datetime | None = None  # local start, for time buckets
    calls: int = 0
    requests: int = 0
    request_share: float | None = None
    answered: int = 0
    answer_rate: float | None = None
    queued: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    abandon_rate: float | None = None
    abandoned_in_ivr: int = 0
    answered_within: int = 0
    service_level: float | None = None
    service_level_abandons_good: float | None = None
    service_level_queued: float | None = None
    service_level_short_excluded: float | None = None
    asa: float | None = None
    max_wait: float | None = None
    wait_total: float = 0.0
    wait_avg: float | None = None
    talk_total: float = 0.0
    talk_avg: float | None = None
    hold_total: float = 0.0
    hold_avg: float | None = None
    wrap_up_total: float = 0.0
    wrap_up_avg: float | None = None
    aht: float | None = None
    transferred: int = 0
    callbacks_requested: int = 0
    voice_messages: int = 0
    overflowed: int = 0
    missed_offers: int = 0
    occupancy: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatsTable:
    """A whole report: one row per bucket, agent or queue, and the period's total."""

    by: str
    start: datetime
    end: datetime
    tz: str
    settings: StatsSettings
    rows: tuple[PeriodStats, ...]
    total: PeriodStats


def period_stats(
    records: Iterable[CallRecord],
    *,
    start: datetime,
    end: datetime,
    by: str,
    tz: ZoneInfo,
    settings: StatsSettings | None = None,
    agent_states: Sequence[AgentStateRow] | None = None,
    now: float | None = None,
) -> StatsTable:
    """Statistics of the calls that started in ``[start, end)``, grouped ``by`` day, month,
    year, hour (of day), agent or queue. ``now`` caps the agent state log's last intervals
    (default: the period's end)."""
    check_period(start, end, by)
    settings = settings or StatsSettings()
    lo, hi = start.timestamp(), end.timestamp()
    calls = [r for r in records if lo <= r.started_at < hi]
    horizon = hi if now is None else min(hi, now)
    total_requests = sum(1 for r in calls if r.requested_agent)

    def occ(windows: Sequence[tuple[float, float]], agent: str | None = None) -> float | None:
        if agent_states is None:
            return None
        return occupancy(agent_states, windows, horizon=horizon, agent_id=agent)

    def row(
        key: str,
        group: list[CallRecord],
        *,
        agent: str | None = None,
        first: datetime | None = None,
        share: float | None = None,
    ) -> PeriodStats:
        return summarize(
            key,
            group,
            settings=settings,
            total_requests=total_requests,
            agent_id=agent,
            start=first,
            occupancy=share,
        )

    rows: list[PeriodStats] = []
    if by in TIME_GROUPINGS:
        keyed: dict[str, list[CallRecord]] = {}
        for r in calls:
            keyed.setdefault(time_key(r.started_at, by, tz), []).append(r)
        for b in time_buckets(start, end, by, tz):
            group = keyed.get(b.key, [])
            rows.append(row(b.key, group, first=b.start, share=occ(b.windows)))
    elif by == "agent":
        members: dict[str, list[CallRecord]] = {}
        for r in calls:
            for agent in dict.fromkeys([*r.offered_to(), *([r.agent_id] if r.agent_id else [])]):
                members.setdefault(agent, []).append(r)
        for agent in sorted(members):
            rows.append(row(agent, members[agent], agent=agent, share=occ([(lo, hi)], agent)))
    else:
        queues: dict[str, list[CallRecord]] = {}
        for r in calls:
            queues.setdefault(r.queue or NO_QUEUE, []).append(r)
        rows += [row(q, queues[q]) for q in sorted(queues, key=lambda q: (q == NO_QUEUE, q))]
    total = row("total", calls, share=occ([(lo, hi)]))
    return StatsTable(
        by=by, start=start, end=end, tz=tz.key, settings=settings, rows=tuple(rows), total=total
    )


def summarize(
    key: str,
    records: Sequence[CallRecord],
    *,
    settings: StatsSettings,
    total_requests: int,
    agent_id: str | None = None,
    start: datetime | None = None,
    occupancy: float | None = None,
) -> PeriodStats:
    """One row over ``records``; with ``agent_id``, as that agent's row (see module doc)."""
    t, short = settings.service_level_seconds, settings.short_abandon_seconds

    def took(r: CallRecord) -> bool:
        answered = r.outcome is Outcome.ANSWERED
        return answered and (agent_id is None or r.agent_id == agent_id)

    requests = list(records) if agent_id is not None else [r for r in records if r.requested_agent]
    answered = [r for r in requests if took(r)]
    queued = [r for r in records if r.queued]
    answered_q = [r for r in queued if took(r)]
    abandoned = [r for r in queued if r.outcome in ABANDONED_QUEUED]
    short_abandoned = [r for r in abandoned if _wait(r) < short]
    within = [r for r in answered_q if _wait(r) <= t]
    abandoned_within = [r for r in abandoned if _wait(r) <= t]
    callbacks_within = [
        r for r in queued if r.outcome is Outcome.CALLBACK_REQUESTED and _wait(r) <= t
    ]
    waits = [_wait(r) for r in queued]
    talk = [r.talk_seconds or 0.0 for r in answered]
    hold = [r.hold_seconds for r in answered]
    wrap = [r.wrap_up_seconds for r in answered if r.wrap_up_seconds is not None]
    handled = sum(talk) + sum(hold) + sum(wrap)
    return PeriodStats(
        key=key,
        start=start,
        calls=len(records),
        requests=len(requests),
        request_share=_ratio(len(requests), total_requests),
        answered=len(answered),
        answer_rate=_ratio(len(answered), len(requests)),
        queued=len(queued),
        abandoned=len(abandoned),
        short_abandoned=len(short_abandoned),
        abandon_rate=_ratio(
            len(abandoned) - len(short_abandoned), len(queued) - len(short_abandoned)
        ),
        abandoned_in_ivr=_count(records, Outcome.ABANDONED_IN_IVR),
        answered_within=len(within),
        service_level=_ratio(len(within), len(answered_q)),
        service_level_abandons_good=_ratio(
            len(within) + len(abandoned_within), len(answered_q) + len(abandoned)
        ),
        service_level_queued=_ratio(
            len(within) + len(abandoned_within) + len(callbacks_within), len(queued)
        ),
        service_level_short_excluded=_ratio(
            len(within), len(answered_q) + len(abandoned) - len(short_abandoned)
        ),
        asa=_mean([_wait(r) for r in answered_q]),
        max_wait=max(waits, default=None),
        wait_total=sum(waits),
        wait_avg=_mean(waits),
        talk_total=sum(talk),
        talk_avg=_mean(talk),
        hold_total=sum(hold),
        hold_avg=_mean(hold),
        wrap_up_total=sum(wrap),
        wrap_up_avg=_mean(wrap),
        aht=handled / len(answered) if answered else None,
        transferred=sum(1 for r in answered if r.transfers),
        callbacks_requested=_count(records, Outcome.CALLBACK_REQUESTED),
        voice_messages=_count(records, Outcome.VOICE_MESSAGE),
        overflowed=sum(1 for r in records if r.overflow is not None),
        missed_offers=sum(_missed(r, agent_id) for r in records),
        occupancy=occupancy,
    )


def _wait(r: CallRecord) -> float:
    return r.wait_seconds or 0.0


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole > 0 else None


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _count(records: Iterable[CallRecord], outcome: Outcome) -> int:
    return sum(1 for r in records if r.outcome is outcome)


def _missed(r: CallRecord, agent_id: str | None) -> int:
    return sum(
        1 for o in r.offers if o.outcome in MISSED and (agent_id is None or o.agent_id == agent_id)
    )
