"""Callback and campaign figures for a period: pure functions over the stored callback
requests, campaign leads and dialer call records (DESIGN.md §2 rule 5; the SQL that loads
them is :mod:`cti_server.storage.callback_figures`). Times are epoch seconds; ``now`` is
passed in, never read.

A callback belongs to the period its request was *created* in (``[start, end)``, bounds in
the report's zone), and its row says what became of it by ``now``, so December's figures
are December's requests, however late they were called back. Definitions (reference/
features.md §1.5 and §2: Connect queued callbacks, VICIdial drops; rates are fractions):

- ``requested`` (요청): callback requests created in the period, each once. A request folded
  into a newer one when it was retried (status ``cancelled``, outcome ``merged:<id>``) counts
  with the newer one, not on its own. ``requests`` (고객 요청): the customers' asks, the sum
  of ``request_count`` (asking again while a request is pending adds one to it);
  ``repeat_requests`` = requests - requested.
- ``done`` (완료): the customer answered and talked to an agent (status ``done``).
  ``failed`` (실패): given up (max attempts, DNC, invalid number: ``failed_by_reason``).
  ``cancelled``: removed by a supervisor. ``pending`` (미처리): still pending or being
  dialled at ``now``; ``overdue``: pending with its due time passed; ``oldest_pending``:
  ``now`` - the creation of the oldest pending one.
- ``completion_rate`` (완료율) = done / (done + failed): of the requests that finished, the
  share that reached the customer. ``done_rate`` = done / requested.
- time to callback (콜백 소요): created → the completing attempt (``last_attempt_at`` of a
  done request: when the call that reached the customer was placed), over done requests:
  ``wait_avg``, ``wait_median`` (the middle value, or the mean of the middle two) and
  ``wait_p90`` (nearest rank: the smallest time that at least 90 % do not exceed).
- ``attempts_per_completion`` = dial attempts of all the period's requests / done: what one
  completion cost, failed requests' attempts included. ``attempts_per_done``: the mean
  attempts of the done requests.
- ``calls``, ``handled_calls``, ``handle_avg`` (평균 처리): dialer callback calls (records
  with route ``dialer:callback``) that *started* in the period, one per attempt; the answered
  ones; their mean handle time = talk + hold + wrap-up (an unknown wrap-up counts 0), the
  AHT of :mod:`metrics.stats` (Connect average handle time).

Campaign leads have no creation time (they arrive in lists), so a lead belongs to the period
its *last attempt* falls in (worked in the period):

- ``dialled``: leads whose last attempt was in the period; ``attempts``: all their attempts.
- ``done``: connected to an agent; ``failed``: given up; ``abandoned``: waiting for a retry
  after a drop (outcome ``abandoned``: the customer answered and no agent came within the
  grace, VICIdial's DROP). A dropped lead later completed or given up counts as what it
  became, so this is a lower bound; ``cti_dial_abandoned_total`` counts every drop.
- ``answered`` = done + abandoned (the customer picked up); ``abandon_rate`` = abandoned /
  answered (VICIdial: drops out of answered calls); ``completion_rate`` = done / (done +
  failed); ``done_rate`` = done / dialled; ``attempts_per_completion`` = attempts / done.
- ``leads`` and ``remaining``: the whole campaign at ``now``, whatever the period: its list
  and the leads still pending or being dialled.

A campaign has a row when it dialled in the period or has leads remaining. Lead calls'
handle time (route ``dialer:lead``) is in the campaigns' total only: a call record does not
name its campaign. Queue rows are sorted by name, calls without a queue last (``-``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from metrics.call_record import CallRecord
from metrics.periods import localize

NO_QUEUE = "-"
TOTAL = "total"
CALLBACK_ROUTE = "dialer:callback"
LEAD_ROUTE = "dialer:lead"
OPEN = frozenset({"pending", "dialing"})


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackItem:
    """One ``callbacks`` row, as the statistics need it."""

    id: str
    queue: str
    created_at: float
    due_at: float
    status: str  # pending | dialing | done | failed | cancelled
    attempts: int = 0
    last_attempt_at: float | None = None
    request_count: int = 1
    outcome: str | None = None

    @property
    def merged_away(self) -> bool:
        return self.status == "cancelled" and (self.outcome or "").startswith("merged:")


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadItem:
    """One ``leads`` row, as the statistics need it."""

    id: str
    campaign: str
    status: str
    attempts: int = 0
    last_attempt_at: float | None = None
    outcome: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignProgress:
    """A campaign's list at ``now``: its leads, and those still pending or being dialled."""

    campaign: str
    leads: int
    remaining: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackStats:
    key: str  # the queue, or "total"
    requested: int = 0
    requests: int = 0
    repeat_requests: int = 0
    done: int = 0
    failed: int = 0
    failed_by_reason: tuple[tuple[str, int], ...] = ()
    cancelled: int = 0
    pending: int = 0
    overdue: int = 0
    oldest_pending: float | None = None
    completion_rate: float | None = None
    done_rate: float | None = None
    wait_avg: float | None = None
    wait_median: float | None = None
    wait_p90: float | None = None
    attempts: int = 0
    attempts_per_completion: float | None = None
    attempts_per_done: float | None = None
    calls: int = 0
    handled_calls: int = 0
    handle_avg: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignStats:
    key: str  # the campaign, or "total"
    leads: int = 0
    remaining: int = 0
    dialled: int = 0
    attempts: int = 0
    answered: int = 0
    done: int = 0
    failed: int = 0
    abandoned: int = 0
    cancelled: int = 0
    abandon_rate: float | None = None
    completion_rate: float | None = None
    done_rate: float | None = None
    attempts_per_completion: float | None = None
    calls: int = 0
    handled_calls: int = 0
    handle_avg: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackReport:
    start: datetime
    end: datetime
    tz: str
    now: float
    queues: tuple[CallbackStats, ...]
    total: CallbackStats
    campaigns: tuple[CampaignStats, ...]
    campaign_total: CampaignStats


def callback_report(
    callbacks: Iterable[CallbackItem],
    leads: Iterable[LeadItem] = (),
    progress: Iterable[CampaignProgress] = (),
    records: Iterable[CallRecord] = (),
    *,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    now: float,
) -> CallbackReport:
    """The figures of ``[start, end)`` (naive bounds are wall-clock in ``tz``) at ``now``;
    rows outside the period are left out, so a loader may hand over more."""
    start, end = localize(start, tz), localize(end, tz)
    if end <= start:
        raise ValueError(f"the period ends ({end.isoformat()}) before it starts")
    lo, hi = start.timestamp(), end.timestamp()
    items = [c for c in callbacks if lo <= c.created_at < hi and not c.merged_away]
    worked = [w for w in leads if w.last_attempt_at is not None and lo <= w.last_attempt_at < hi]
    calls = [r for r in records if lo <= r.started_at < hi]
    cb_calls = [r for r in calls if r.route == CALLBACK_ROUTE]
    lead_calls = [r for r in calls if r.route == LEAD_ROUTE]

    by_queue: dict[str, tuple[list[CallbackItem], list[CallRecord]]] = {}
    for c in items:
        by_queue.setdefault(c.queue or NO_QUEUE, ([], []))[0].append(c)
    for r in cb_calls:
        by_queue.setdefault(r.queue or NO_QUEUE, ([], []))[1].append(r)
    order = sorted(by_queue, key=lambda q: (q == NO_QUEUE, q))
    queues = tuple(callback_stats(q, *by_queue[q], now=now) for q in order)

    known = {p.campaign: p for p in progress}
    by_campaign: dict[str, list[LeadItem]] = {}
    for w in worked:
        by_campaign.setdefault(w.campaign, []).append(w)
    for name, p in known.items():
        if p.remaining > 0:
            by_campaign.setdefault(name, [])
    campaigns = tuple(campaign_stats(n, by_campaign[n], known.get(n)) for n in sorted(by_campaign))
    everything = CampaignProgress(
        campaign=TOTAL,
        leads=sum(p.leads for p in known.values()),
        remaining=sum(p.remaining for p in known.values()),
    )
    return CallbackReport(
        start=start,
        end=end,
        tz=tz.key,
        now=now,
        queues=queues,
        total=callback_stats(TOTAL, items, cb_calls, now=now),
        campaigns=campaigns,
        campaign_total=campaign_stats(TOTAL, worked, everything, lead_calls),
    )


def callback_stats(
    key: str, items: Sequence[CallbackItem], calls: Sequence[CallRecord], *, now: float
) -> CallbackStats:
    """One row over requests already chosen (see the module docstring for the figures)."""
    done = [c for c in items if c.status == "done"]
    failed = [c for c in items if c.status == "failed"]
    waiting = [c for c in items if c.status in OPEN]
    reasons: dict[str, int] = {}
    for c in failed:
        reasons[c.outcome or "unknown"] = reasons.get(c.outcome or "unknown", 0) + 1
    waits = sorted(
        max(0.0, c.last_attempt_at - c.created_at) for c in done if c.last_attempt_at is not None
    )
    requests = sum(max(1, c.request_count) for c in items)
    attempts = sum(c.attempts for c in items)
    handle = handle_times(calls)
    return CallbackStats(
        key=key,
        requested=len(items),
        requests=requests,
        repeat_requests=requests - len(items),
        done=len(done),
        failed=len(failed),
        failed_by_reason=tuple(sorted(reasons.items())),
        cancelled=sum(1 for c in items if c.status == "cancelled"),
        pending=len(waiting),
        overdue=sum(1 for c in waiting if c.status == "pending" and c.due_at <= now),
        oldest_pending=max((max(0.0, now - c.created_at) for c in waiting), default=None),
        completion_rate=ratio(len(done), len(done) + len(failed)),
        done_rate=ratio(len(done), len(items)),
        wait_avg=mean(waits),
        wait_median=statistics.median(waits) if waits else None,
        wait_p90=nearest_rank(waits, 0.9),
        attempts=attempts,
        attempts_per_completion=attempts / len(done) if done else None,
        attempts_per_done=mean([float(c.attempts) for c in done]),
        calls=len(calls),
        handled_calls=len(handle),
        handle_avg=mean(handle),
    )


def campaign_stats(
    key: str,
    leads: Sequence[LeadItem],
    progress: CampaignProgress | None,
    calls: Sequence[CallRecord] = (),
) -> CampaignStats:
    done = sum(1 for w in leads if w.status == "done")
    failed = sum(1 for w in leads if w.status == "failed")
    abandoned = sum(1 for w in leads if w.status == "pending" and w.outcome == "abandoned")
    attempts = sum(w.attempts for w in leads)
    handle = handle_times(calls)
    return CampaignStats(
        key=key,
        leads=0 if progress is None else progress.leads,
        remaining=0 if progress is None else progress.remaining,
        dialled=len(leads),
        attempts=attempts,
        answered=done + abandoned,
        done=done,
        failed=failed,
        abandoned=abandoned,
        cancelled=sum(1 for w in leads if w.status == "cancelled"),
        abandon_rate=ratio(abandoned, done + abandoned),
        completion_rate=ratio(done, done + failed),
        done_rate=ratio(done, len(leads)),
        attempts_per_completion=attempts / done if done else None,
        calls=len(calls),
        handled_calls=len(handle),
        handle_avg=mean(handle),
    )


def handle_times(calls: Iterable[CallRecord]) -> list[float]:
    """Talk + hold + wrap-up of the answered calls (the AHT of :mod:`metrics.stats`)."""
    return [
        (r.talk_seconds or 0.0) + r.hold_seconds + (r.wrap_up_seconds or 0.0)
        for r in calls
        if r.answered_at is not None
    ]


def nearest_rank(ordered: Sequence[float], fraction: float) -> float | None:
    """The smallest value that at least ``fraction`` of ``ordered`` (sorted) do not exceed."""
    if not ordered:
        return None
    rank = math.ceil(round(fraction * len(ordered), 9))
    return ordered[max(1, rank) - 1]


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole > 0 else None


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None
