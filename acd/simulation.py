"""A discrete-event simulation of one contact-center day, driving the real distributor.

Sans-IO like the distributor it drives: a virtual clock and an event heap, randomness from
injected sources (``RngFactory``: one independent stream per purpose, so two variants of a
scenario see the same callers: arrival times, patience and talk times are drawn from their
own streams in call order, and talk time is drawn as a uniform variate scaled by the
variant's distribution; common random numbers make variant differences less noisy).

What the simulated world does with the ``Distributor`` (``acd.protocol``):

- arrivals (Poisson, piecewise constant per hour, or fixed times) -> ``QueueCall``;
- ``Offer`` -> after ``ring_seconds`` the agent answers (``OfferAnswered``), except with the
  no-answer probability, when the phone just rings: the distributor's own ring-no-answer
  deadline fires in ``on_timer``. An agent parked not-ready for it makes themselves ready
  again after ``no_answer_pause``;
- ``CallDequeued`` (answered) -> after the talk time ``AgentCallEnded``; wrap-up is the
  distributor's timer;
- the caller's patience runs out while waiting -> ``CallerLeft`` (``CallAbandoned``);
- ``Overflow`` to ``callback`` -> a callback request. The dialer queues it back (a new call
  of lower priority, always answered) once an agent of its queue is ready and nobody waits
  there; until the close only, unless ``callbacks.after_close``. ``voicemail`` is counted;
- shifts -> ``AgentLogin`` at the start; at the end, a not-ready request (pending while
  the agent works) then ``AgentLogout``. Agents of the closing shift (ending at or after the
  last arrival) stay until their queues are empty, as a real team finishes the day.

The run ends when nothing is left to happen or ``drain_hours`` after the close. Per-call
records are folded from the distributor's events; ``acd.sim_figures`` computes the figures.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Protocol

from acd.distributor import Distributor
from acd.protocol import (
    AcdAction,
    AcdInput,
    AgentCallEnded,
    AgentLogin,
    AgentLogout,
    CallerLeft,
    ChangeAgentState,
    Offer,
    OfferAnswered,
    Overflow,
    QueueCall,
    WithdrawOffer,
)
from acd.scenario import Scenario
from cti_server import events as ev


class RandomLike(Protocol):
    """What the simulator needs of ``random.Random`` (injected, never imported here)."""

    def random(self) -> float: ...

    def getrandbits(self, k: int, /) -> int: ...


RngFactory = Callable[[str], RandomLike]  # stream name -> an independent seeded source

ARRIVE, PATIENCE, ANSWER, HANGUP, SHIFT_START, SHIFT_END, READY_AGAIN, DIAL = range(8)
_IDLE: Final = ("ready", "not_ready", "away")
_WORKING: Final = ("reserved", "busy", "wrap_up")


@dataclass(slots=True)
class CallRecord:
    call_id: str
    kind: str  # "inbound" | "callback"
    arrived_at: float
    queue: str
    talk_u: float  # the uniform variate behind the talk time
    outcome: str = ""  # answered | abandoned | callback | voicemail | hangup | unresolved
    waited: float = 0.0  # from queue entry to answer, abandon or overflow
    agent_id: str = ""
    talk: float = 0.0
    no_answers: int = 0  # offers that rang out or failed
    origin: str = ""  # a callback: the inbound call it returns


@dataclass(slots=True)
class AgentTrack:
    agent_id: str
    speed: float
    no_answer: float
    shifts: list[tuple[float, float]]  # seconds, merged
    queues: tuple[str, ...]
    closing: bool  # works until the queues are empty at the end of the day
    state: str = "logged_out"
    since: float = 0.0
    time_in: dict[str, float] = field(default_factory=dict)
    handled: int = 0
    leaving: bool = False
    asked_off: bool = False
    offer_serial: int = 0

    @property
    def logged_in_time(self) -> float:
        return sum(t for s, t in self.time_in.items() if s != "logged_out")


@dataclass(frozen=True, slots=True)
class RunOutput:
    scenario: Scenario
    strategy: str
    records: list[CallRecord]
    agents: list[AgentTrack]
    close: float  # the last moment arrivals come
    end: float
    callbacks_pending: int


class Simulation:
    def __init__(self, scenario: Scenario, strategy: str | None, rngs: RngFactory) -> None:
        self.scenario = scenario
        settings = scenario.acd_settings(strategy)
        self.strategy = strategy or settings.queues[0].strategy
        self.acd = Distributor(settings, rngs("acd"))
        self._arrivals_rng = rngs("arrivals")
        self._calls_rng = rngs("calls")
        self._agents_rng = rngs("agents")
        self.now = 0.0
        self.close = scenario.hours * 3600.0
        self._heap: list[tuple[float, int, int, str, str, int]] = []
        self._seq = 0
        self.records: dict[str, CallRecord] = {}
        self.agents: dict[str, AgentTrack] = {}
        self._inbox: deque[AcdInput] = deque()
        self._leaving: set[str] = set()
        self._pending: deque[tuple[float, str]] = deque()  # (due, inbound call id)
        self._dial_due = False
        self._fixed = sorted(scenario.arrivals.times or [])
        self._fixed_next = 0
        self._calls = 0
        queues_of = {a.id: tuple(a.queues) for a in settings.agents}
        for group in scenario.agents:
            shifts = group.shift_seconds(scenario.hours)
            p = scenario.no_answer_probability
            p = p if group.no_answer_probability is None else group.no_answer_probability
            for agent_id in group.ids():
                closing = shifts[-1][1] >= self.close
                self.agents[agent_id] = AgentTrack(
                    agent_id, group.speed, p, shifts, queues_of[agent_id], closing
                )

    # --- the event loop -----------------------------------------------------------------

    def run(self) -> RunOutput:
        for track in self.agents.values():
            for start, end in track.shifts:
                self._push(start, SHIFT_START, track.agent_id)
                self._push(
                    min(end, self.close) if track.closing else end, SHIFT_END, track.agent_id
                )
        self._next_arrival(0.0)
        stop = self.close + self.scenario.drain_hours * 3600.0
        while True:
            deadline = self.acd.next_deadline()
            due = self._heap[0][0] if self._heap else math.inf
            at = min(due, math.inf if deadline is None else deadline)
            if at > stop:
                break
            self.now = max(self.now, at)
            if deadline is not None and deadline <= due:
                self._take(self.acd.on_timer(self.now))
            else:
                self._fire(heapq.heappop(self._heap))
            self._settle()
        return self._finish(self.now if math.isinf(at) else stop)

    def _push(self, at: float, kind: int, a: str, b: str = "", n: int = 0) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, kind, a, b, n))

    def _fire(self, item: tuple[float, int, int, str, str, int]) -> None:
        _, _, kind, a, b, n = item
        if kind == ARRIVE:
            self._arrive()
        elif kind == PATIENCE:
            if not self.records[a].outcome:
                self._inbox.append(CallerLeft(call_id=a))
        elif kind == ANSWER:
            if self.agents[b].offer_serial == n:
                self._inbox.append(OfferAnswered(call_id=a, agent_id=b))
        elif kind == HANGUP:
            self._inbox.append(AgentCallEnded(call_id=a, agent_id=b))
        elif kind == SHIFT_START:
            self._shift_start(self.agents[a])
        elif kind == SHIFT_END:
            track = self.agents[a]
            track.leaving = True
            self._leaving.add(a)
        elif kind == READY_AGAIN:
            track = self.agents[a]
            back = not track.leaving or (track.closing and self._work_left(track))
            if track.state == "not_ready" and back:
                self._inbox.append(ChangeAgentState(agent_id=a, state="ready"))
        elif kind == DIAL:
            self._dial_due = True

    def _settle(self) -> None:
        """Feed what the last step asked for, then let leaving agents go and the dialer dial."""
        while True:
            while self._inbox:
                item = self._inbox.popleft()
                self._take(self.acd.handle(item, self.now))
            for agent_id in sorted(self._leaving):
                self._try_leave(self.agents[agent_id])
            if self._dial_due and self._pending:
                self._dial()
            self._dial_due = False
            if not self._inbox:
                return

    # --- the world's side ---------------------------------------------------------------

    def _next_arrival(self, t: float) -> None:
        arrivals = self.scenario.arrivals
        if arrivals.times is not None:
            if self._fixed_next < len(self._fixed) and self._fixed[self._fixed_next] < self.close:
                self._push(self._fixed[self._fixed_next], ARRIVE, "")
                self._fixed_next += 1
            return
        while t < self.close:
            hour = int(t // 3600)
            rate = arrivals.rate_at(hour) / 3600.0
            end = min((hour + 1) * 3600.0, self.close)
            if rate > 0:
                t += -math.log1p(-self._arrivals_rng.random()) / rate
                if t < end:
                    self._push(t, ARRIVE, "")
                    return
            t = end  # memoryless: start afresh at the next rate

    def _arrive(self) -> None:
        self._calls += 1
        call_id = f"c{self._calls}"
        patience_u, talk_u = self._calls_rng.random(), self._calls_rng.random()
        queue = self.scenario.arrival_queue
        self.records[call_id] = CallRecord(call_id, "inbound", self.now, queue, talk_u)
        if self.scenario.patience is not None:
            self._push(self.now + self.scenario.patience.quantile(patience_u), PATIENCE, call_id)
        priority = self.scenario.arrivals.priority
        self._inbox.append(QueueCall(call_id=call_id, queue=queue, priority=priority))
        self._next_arrival(self.now)

    def _shift_start(self, track: AgentTrack) -> None:
        track.leaving = track.asked_off = False
        self._leaving.discard(track.agent_id)
        if track.state == "logged_out":
            self._inbox.append(AgentLogin(agent_id=track.agent_id, ready=True))
        elif track.state in ("not_ready", "reserved", "busy"):  # wrap-up: see _agent_moved
            self._inbox.append(ChangeAgentState(agent_id=track.agent_id, state="ready"))

    def _try_leave(self, track: AgentTrack) -> None:
        if track.closing and self._work_left(track):
            return
        if track.state in _IDLE:
            self._leaving.discard(track.agent_id)
            track.leaving = track.asked_off = False
            self._inbox.append(AgentLogout(agent_id=track.agent_id, reason="shift_end"))
        elif track.state in _WORKING and not track.asked_off:
            track.asked_off = True  # pending: taken when the current call's work ends
            self._inbox.append(ChangeAgentState(agent_id=track.agent_id, state="not_ready"))

    def _work_left(self, track: AgentTrack) -> bool:
        for queue in track.queues:
            if self.acd.queue_stats(queue)["waiting"]:
                return True
        return bool(self._pending) and self.scenario.callbacks.after_close

    def _dial(self) -> None:
        callbacks = self.scenario.callbacks
        if self.now >= self.close and not callbacks.after_close:
            return
        while self._pending and self._pending[0][0] <= self.now:
            origin = self.records[self._pending[0][1]]
            queue = callbacks.queue or origin.queue
            stats = self.acd.queue_stats(queue)
            if stats["ready"] == 0 or stats["waiting"]:
                return
            self._pending.popleft()
            self._calls += 1
            call_id = f"b{self._calls}"
            record = CallRecord(call_id, "callback", self.now, queue, origin.talk_u)
            record.origin = origin.call_id
            self.records[call_id] = record
            self._take(
                self.acd.handle(
                    QueueCall(call_id=call_id, queue=queue, priority=callbacks.priority),
                    self.now,
                )
            )

    # --- what the distributor said ------------------------------------------------------

    def _take(self, actions: list[AcdAction]) -> None:
        for action in actions:
            if isinstance(action, Offer):
                self._offer(action)
            elif isinstance(action, WithdrawOffer):
                self.agents[action.agent_id].offer_serial += 1  # a late answer is stale
            elif isinstance(action, Overflow):
                self._overflow(action)
        for event in self.acd.drain_events():
            self._event(event)

    def _offer(self, offer: Offer) -> None:
        track = self.agents[offer.agent_id]
        track.offer_serial += 1
        record = self.records[offer.call_id]
        if record.kind == "callback" or self._agents_rng.random() >= track.no_answer:
            at = self.now + self.scenario.ring_seconds
            self._push(at, ANSWER, offer.call_id, offer.agent_id, track.offer_serial)

    def _overflow(self, overflow: Overflow) -> None:
        record = self.records[overflow.call_id]
        if overflow.target.startswith("queue:"):
            record.queue = overflow.target.removeprefix("queue:")
            return
        if overflow.target == "callback" and record.kind == "callback":
            self._pending.append((self.now, record.origin))  # not taken: back in line
            record.outcome = "redialed"
            return
        record.outcome = overflow.target
        record.waited = self.now - record.arrived_at
        if overflow.target == "callback" and self.scenario.callbacks.dial_back:
            due = self.now + self.scenario.callbacks.delay
            self._pending.append((due, record.call_id))
            if due > self.now:
                self._push(due, DIAL, record.call_id)

    def _event(self, event: ev.Event) -> None:
        if isinstance(event, ev.AgentStateChanged):
            self._agent_moved(event)
        elif isinstance(event, ev.CallDequeued):
            record = self.records[event.call_id]
            track = self.agents[event.agent_id]
            record.outcome, record.waited, record.agent_id = (
                "answered",
                event.waited,
                track.agent_id,
            )
            record.talk = self.scenario.talk_time.quantile(record.talk_u) * track.speed
            track.handled += 1
            self._push(self.now + record.talk, HANGUP, record.call_id, track.agent_id)
        elif isinstance(event, ev.CallAbandoned):
            record = self.records[event.call_id]
            record.outcome, record.waited = "abandoned", event.waited
        if isinstance(event, ev.CallDequeued | ev.CallAbandoned | ev.CallOverflowed):
            self._dial_due = True  # a queue got shorter: an idle agent may now call back
        elif isinstance(event, ev.OfferTimedOut | ev.OfferDeclined):
            self.records[event.call_id].no_answers += 1

    def _agent_moved(self, event: ev.AgentStateChanged) -> None:
        track = self.agents[event.agent_id]
        track.time_in[track.state] = track.time_in.get(track.state, 0.0) + self.now - track.since
        track.state, track.since = event.state, self.now
        if isinstance(event, ev.AgentReady):
            self._dial_due = True
        elif isinstance(event, ev.AgentNotReady):
            if event.reason in ("no_answer", "declined"):
                self._push(self.now + self.scenario.no_answer_pause, READY_AGAIN, track.agent_id)
            elif not track.leaving:  # asked off, then a new shift began during wrap-up
                self._inbox.append(ChangeAgentState(agent_id=track.agent_id, state="ready"))

    def _finish(self, end: float) -> RunOutput:
        for record in self.records.values():
            if not record.outcome:
                record.outcome, record.waited = "unresolved", end - record.arrived_at
        for track in self.agents.values():
            track.time_in[track.state] = track.time_in.get(track.state, 0.0) + end - track.since
            track.since = end
        return RunOutput(
            scenario=self.scenario,
            strategy=self.strategy,
            records=list(self.records.values()),
            agents=list(self.agents.values()),
            close=self.close,
            end=end,
            callbacks_pending=len(self._pending),
        )


def simulate(scenario: Scenario, strategy: str | None, rngs: RngFactory) -> RunOutput:
    """One day of ``scenario`` under ``strategy`` (None: each queue's own)."""
    return Simulation(scenario, strategy, rngs).run()
