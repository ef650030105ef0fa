"""Synthetic but consistent history for the proposal's before/after figures
(``cti-server agents demo-history``).

MISSION.md item 11 promises, with auto-dialled callbacks, handle time 150 s → 135 s,
callbacks handled 100 → 110 and answer rate 61 % → 68 %. This writes weeks of working days
(Monday to Friday from 09:00, with a lunch hour, in the configured zone) for the demo agents,
with the figures of :data:`BEFORE` until the change date and :data:`AFTER` from it, so
``cti-server agents report --compare-before DATE`` reads them back. What one day holds
agrees with itself: each agent's state log (ready, reserved, busy, wrap-up, a ring-no-answer
now and then, lunch) lines up with the calls the agent answered; a callback completion has
its request (an IVR option or a queue overflow), its ``callbacks`` row and sometimes a failed
first attempt; the other unanswered calls are abandons in the queue.

Counts are per day: inbound requests per agent-day are fixed (:attr:`DemoPlan.requests`), so
the answer rate decides how many are answered (100 per agent-day at 61 %); callback
completions per centre day are the target. Handle times are gamma-distributed around the
target, agents a little faster or slower than each other. ``random.Random(seed)`` makes every
run the same. Rows carry the ``demo-h-`` prefix; a new run replaces the previous one's rows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert

from cti_server.report_cli import to_stored
from cti_server.storage.db import Database
from cti_server.storage.demo_history_parts import DayLog, deal, inbound_record, utc
from cti_server.storage.tables import AgentStateLogRow, CallbackRow, CallRecordRow
from metrics.call_record import CallRecord, IvrVisit, Offer, Outcome

PREFIX = "demo-h-"
CHUNK = 2000
HOLD_SHARE, HOLD_MEAN = 0.2, 40.0  # a fifth of the calls hold, 40 s on average
SHIFT = 8 * 3600.0  # on the phones, lunch aside


@dataclass(frozen=True, slots=True)
class Targets:
    aht: float  # seconds: talk + hold + wrap-up
    answer_rate: float  # inbound answered / inbound requests
    callbacks_per_day: float  # callback completions per centre day
    wrap_up: float  # mean after-call work, part of aht
    misses: tuple[int, int]  # ring-no-answer per agent-day, inclusive range


BEFORE = Targets(aht=150.0, answer_rate=0.61, callbacks_per_day=100.0, wrap_up=22.0, misses=(1, 4))
AFTER = Targets(aht=135.0, answer_rate=0.68, callbacks_per_day=110.0, wrap_up=17.0, misses=(0, 2))


@dataclass(frozen=True, slots=True)
class DemoPlan:
    agents: tuple[str, ...]
    start: date
    change: date
    end: date  # exclusive
    queue: str = "general"
    requests: float = 100 / 0.61  # inbound requests per agent-day
    before: Targets = BEFORE
    after: Targets = AFTER


@dataclass
class DemoHistory:
    records: list[CallRecord] = field(default_factory=list)
    states: list[dict[str, Any]] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)


def default_plan(agents: tuple[str, ...], today: date, weeks: int = 8) -> DemoPlan:
    """``weeks`` full weeks up to this week's Monday, changed half-way (on a Monday)."""
    if weeks < 2:
        raise ValueError("the history needs at least 2 weeks: one before and one after")
    end = today - timedelta(days=today.weekday())
    start = end - timedelta(weeks=weeks)
    return DemoPlan(agents=agents, start=start, change=start + timedelta(weeks=weeks // 2), end=end)


def generate(plan: DemoPlan, tz: ZoneInfo, rng: random.Random) -> DemoHistory:
    if not plan.agents:
        raise ValueError("no agents to make a history for")
    if not plan.start < plan.change < plan.end:
        raise ValueError(
            f"the change date {plan.change} must lie after {plan.start} and before {plan.end}"
        )
    out = DemoHistory()
    day = plan.start
    while day < plan.end:
        if day.weekday() < 5:
            _Day(plan, day, tz, rng, out).run()
        day += timedelta(days=1)
    return out


class _Day:
    """One working day: ids, the agents' timelines, then the calls nobody answered."""

    def __init__(
        self, plan: DemoPlan, day: date, tz: ZoneInfo, rng: random.Random, out: DemoHistory
    ) -> None:
        self.plan, self.rng, self.out = plan, rng, out
        self.targets = plan.after if day >= plan.change else plan.before
        self.key = day.strftime("%Y%m%d")
        self.open = datetime.combine(day, time(9), tz).timestamp()
        self.seq = 0

    def id(self, kind: str) -> str:
        self.seq += 1
        return f"{PREFIX}{self.key}-{kind}{self.seq:05d}"

    def number(self) -> str:
        return f"010{self.rng.randrange(10**8):08d}"

    def run(self) -> None:
        rng, t, agents = self.rng, self.targets, self.plan.agents
        requests = round(self.plan.requests * len(agents) * rng.uniform(0.94, 1.06))
        answered = round(requests * t.answer_rate)
        completions = round(t.callbacks_per_day * rng.uniform(0.95, 1.05))
        inbound, callbacks = (
            deal(answered, len(agents), rng),
            deal(completions, len(agents), rng),
        )
        misses: list[tuple[float, str]] = []
        done: list[CallRecord] = []
        for i, agent in enumerate(agents):
            factor = 1.0 + 0.06 * (2 * i / (len(agents) - 1) - 1) if len(agents) > 1 else 1.0
            kinds = ["in"] * inbound[i] + ["cb"] * callbacks[i] + ["miss"] * rng.randint(*t.misses)
            rng.shuffle(kinds)
            self.agent_day(agent, factor, kinds, misses, done)
        self.unanswered(requests - answered, misses, done)

    def agent_day(
        self,
        agent: str,
        factor: float,
        kinds: list[str],
        misses: list[tuple[float, str]],
        done: list[CallRecord],
    ) -> None:
        rng, t, queue = self.rng, self.targets, self.plan.queue
        log = DayLog(agent, f"{PREFIX}{self.key}-{agent}", self.out.states)
        talk_mean = (t.aht - t.wrap_up - HOLD_SHARE * HOLD_MEAN) * factor
        busy = sum(t.aht * factor + (6 if k == "in" else 15 if k == "cb" else 55) for k in kinds)
        gap = max(3.0, (SHIFT - busy) / max(1, len(kinds)))
        now, lunch = self.open - rng.uniform(60, 600), self.open + 3 * 3600
        log.add(now, "ready", "login")
        for kind in kinds:
            if lunch and now >= lunch:
                log.add(now, "not_ready", "lunch")
                now, lunch = now + 3600, 0.0
                log.add(now, "ready")
            now += rng.expovariate(1 / gap)
            if kind == "miss":  # the phone rings out: ring-no-answer makes the agent not ready
                log.add(now, "reserved")
                misses.append((now, agent))
                log.add(now + 15, "not_ready", "no_answer")
                now += 15 + rng.uniform(20, 60)
                log.add(now, "ready")
                continue
            call_id = self.id(kind)
            log.add(now, "reserved", call=call_id)
            talk = rng.gammavariate(3, talk_mean / 3)
            hold = rng.gammavariate(2, HOLD_MEAN / 2) if rng.random() < HOLD_SHARE else 0.0
            wrap = rng.gammavariate(4, t.wrap_up * factor / 4)
            if kind == "in":
                ring = rng.uniform(2, 9)
                answered, queued = now + ring, now - rng.uniform(2, 50)
                log.add(answered, "busy", call=call_id)
                record = inbound_record(call_id, queued, self.number(), queue, rng)
                offer = Offer(
                    agent_id=agent, queue=queue, at=now, outcome="answered", ended_at=answered
                )
                record = replace(
                    record,
                    offers=(offer,),
                    answered_at=answered,
                    ring_seconds=ring,
                    wait_seconds=answered - queued,
                    left_queue="answered",
                )
            else:  # agent-first callback: the agent answers, then the customer
                log.add(now + rng.uniform(2, 6), "busy", call=call_id)
                answered = now + rng.uniform(10, 20)
                record = CallRecord(
                    call_id=call_id,
                    started_at=now,
                    caller=self.number(),
                    called=agent,
                    route="dialer:callback",
                    queue=queue,
                    dialed_at=now,
                    callback_id=self.id("cb"),
                    answered_at=answered,
                    ring_seconds=answered - now,
                )
                done.append(record)
            end = answered + talk + hold
            log.add(end, "wrap_up", call=call_id)
            log.add(end + wrap, "ready")
            self.out.records.append(
                replace(
                    record,
                    agent_id=agent,
                    talk_seconds=talk,
                    hold_seconds=hold,
                    holds=1 if hold else 0,
                    wrap_up_seconds=wrap,
                    wrap_up_agent=agent,
                    wrap_up_started_at=end,
                    wrap_up_ended_at=end + wrap,
                    ended_at=end,
                    outcome=Outcome.ANSWERED,
                    cause="caller_hangup",
                )
            )
            now = end + wrap
        log.add(max(now + rng.uniform(60, 300), self.open + SHIFT + 3600), "logged_out", "logout")

    def unanswered(
        self, lost: int, misses: list[tuple[float, str]], done: list[CallRecord]
    ) -> None:
        """Abandons after a ring-no-answer or in the queue, overflows to a callback, and the
        requests, rows and failed tries of the day's callbacks."""
        rng, queue = self.rng, self.plan.queue
        for at, agent in misses[:lost]:
            offer = Offer(agent_id=agent, queue=queue, at=at, outcome="no_answer", ended_at=at + 15)
            queued = at - rng.uniform(2, 30)  # rang, rang out, then the caller gave up
            self.lost(queued, at + 15 + rng.uniform(10, 80) - queued, self.number(), offer=offer)
        left = max(0, lost - len(misses))
        overflow = min(left, round(0.35 * len(done)))
        for _ in range(left - overflow):
            wait = rng.uniform(1, 4.5) if rng.random() < 0.06 else rng.uniform(5, 240)
            self.lost(self.open + rng.uniform(0, 9 * 3600), wait, self.number())
        for n, record in enumerate(done):
            cb, asked = record.callback_id or "", record.started_at - rng.uniform(600, 10800)
            request = (
                self.lost(asked, rng.uniform(60, 300), record.caller, callback=cb)
                if n < overflow
                else self.ivr_request(asked, record.caller, cb)
            )
            tries = 1
            if rng.random() < 0.15:  # the first try found nobody home
                self.failed_try(record.started_at - rng.uniform(900, 1800), record.caller, cb)
                tries = 2
            self.callback(cb, request, asked, "done", tries, record.started_at, "answered")
        for _ in range(round(0.04 * len(done))):  # given up after three tries
            cb, asked, number = (
                self.id("cb"),
                self.open + rng.uniform(-3600, 4 * 3600),
                self.number(),
            )
            request = self.ivr_request(asked, number, cb)
            for k in range(3):
                self.failed_try(asked + 1800 * (k + 1), number, cb)
            self.callback(cb, request, asked, "failed", 3, asked + 5400, "max_attempts")

    def lost(
        self,
        queued: float,
        wait: float,
        number: str,
        *,
        offer: Offer | None = None,
        callback: str | None = None,
    ) -> CallRecord:
        record = replace(
            inbound_record(self.id("in"), queued, number, self.plan.queue, self.rng),
            offers=() if offer is None else (offer,),
            wait_seconds=wait,
            ended_at=queued + wait,
            cause="caller_hangup",
            callback_id=callback,
            overflow="callback" if callback else None,
            left_queue="overflowed" if callback else "abandoned",
            outcome=Outcome.CALLBACK_REQUESTED if callback else Outcome.ABANDONED_IN_QUEUE,
        )
        self.out.records.append(record)
        return record

    def ivr_request(self, at: float, number: str, callback: str) -> CallRecord:
        started = at - self.rng.uniform(20, 60)
        ivr = IvrVisit(
            flow="main",
            language="ko",
            started_at=started,
            path=("welcome", "menu", "callback"),
            outcome="callback",
            ended_at=at,
        )
        record = CallRecord(
            call_id=self.id("in"),
            started_at=started,
            caller=number,
            called="1588",
            route="flow:main",
            ivr=ivr,
            callback_id=callback,
            outcome=Outcome.CALLBACK_REQUESTED,
            cause="normal",
            ended_at=at,
        )
        self.out.records.append(record)
        return record

    def failed_try(self, at: float, number: str, callback: str) -> None:
        self.out.records.append(
            CallRecord(
                call_id=self.id("cb"),
                started_at=at,
                caller=number,
                route="dialer:callback",
                queue=self.plan.queue,
                dialed_at=at,
                callback_id=callback,
                outcome=Outcome.FAILED,
                cause="no_answer",
                status=480,
                ended_at=at + self.rng.uniform(20, 40),
            )
        )

    def callback(
        self,
        cb: str,
        request: CallRecord,
        asked: float,
        status: str,
        attempts: int,
        last: float,
        outcome: str,
    ) -> None:
        self.out.callbacks.append(
            {
                "id": cb,
                "created_at": utc(asked),
                "call_id": request.call_id,
                "customer_id": None,
                "number": request.caller,
                "queue": self.plan.queue,
                "due_at": utc(asked),
                "status": status,
                "attempts": attempts,
                "last_attempt_at": utc(last),
                "request_count": 1,
                "note": None,
                "outcome": outcome,
                "disposition": None,
            }
        )


def write_history(database: Database, history: DemoHistory) -> None:
    """Replace the previous demo history (rows named ``demo-h-...``) with ``history``."""
    records = [_columns(to_stored(r)) for r in history.records]
    with database.sync_engine.begin() as conn:
        conn.execute(delete(CallRecordRow).where(CallRecordRow.call_id.startswith(PREFIX)))
        conn.execute(delete(AgentStateLogRow).where(AgentStateLogRow.entry_key.startswith(PREFIX)))
        conn.execute(delete(CallbackRow).where(CallbackRow.id.startswith(PREFIX)))
        for table, rows in (
            (CallRecordRow, records),
            (AgentStateLogRow, history.states),
            (CallbackRow, history.callbacks),
        ):
            for i in range(0, len(rows), CHUNK):
                conn.execute(insert(table), rows[i : i + CHUNK])


def _columns(row: Any) -> dict[str, Any]:
    return {f.name: getattr(row, f.name) for f in fields(row)}
