"""The routing core under ``Distributor``: who gets which call, offers, queue entry and exit.

Theory of operation. After every input the engine holds one invariant: no call the group may
take sits in a queue while an agent of that queue who qualifies for it is ready (and no
designated call while its agent is ready). Only two things can break it, a call becoming
available or an agent becoming ready, so both are put on a worklist and ``dispatch`` settles
them one by one:

- an available call looks for agents among its queue's ready agents, by the queue strategy;
- a ready agent looks for a call: first calls designated to them, then, across all their
  queues, the head call (service order) they qualify for with the highest fairness score
  ``waited * queue.weight + priority * PRIORITY_SECONDS`` (ties: earlier arrival). Waiting
  time grows without bound, so a queue's head call eventually outscores any other queue's
  fresh calls: no queue starves, and ``weight`` sets how much faster one queue's callers age.

An agent whose offer failed or rang out is paused for that call for ``RETRY_SECONDS`` (a
``retry`` deadline re-dispatches it), so a phone that refuses at once cannot loop an offer.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import Final

from acd.agent_state import AgentInput, AgentState
from acd.deadlines import Deadlines
from acd.model import Agent, CallStatus, WaitingCall, required_skills
from acd.protocol import AcdAction, Offer, Overflow, OverflowReason, WithdrawOffer, WithdrawReason
from acd.queue import QueueState
from acd.roster import Roster
from acd.settings import AcdSettings
from acd.strategies import strategy_for, validate_strategies
from cti_server import events as ev
from cti_server.ids import RandomSource

PRIORITY_SECONDS: Final = 60.0  # one priority step is worth a minute of waiting
RETRY_SECONDS: Final = 5.0  # Asterisk's default ``retry`` before re-ringing the same agent
CALL_TIMERS: Final = ("offer", "designated", "max_wait", "announce", "retry")


class Engine:
    def __init__(self, settings: AcdSettings, rng: RandomSource) -> None:
        validate_strategies(settings)
        self.settings = settings
        self.rng = rng
        self.events: list[ev.Event] = []
        self.actions: list[AcdAction] = []
        members: dict[str, list[str]] = {q.name: [] for q in settings.queues}
        for a in settings.agents:
            for name in a.queues:
                members[name].append(a.id)
        population = len(settings.agents)
        self.queues = {
            q.name: QueueState(q, strategy_for(q), members[q.name], population)
            for q in settings.queues
        }
        self.roster = Roster(settings, self.queues, self.events)
        self.calls: dict[str, WaitingCall] = {}
        self.designated: dict[str, dict[str, None]] = {}  # agent -> calls reserved for them
        self.deadlines = Deadlines()
        self.restored_offers: set[str] = set()  # calls ringing when a snapshot was taken
        self.claims: dict[str, str] = {}  # dialer calls -> the agent reserved (acd.claims)
        self.call_seq = 0
        self.offer_seq = 0
        self.now = 0.0
        self._free_calls: deque[WaitingCall] = deque()
        self._free_agents: deque[Agent] = deque()

    # --- the worklist -------------------------------------------------------------------

    def free_agent(self, agent: Agent) -> None:
        if agent.state is AgentState.READY:
            self._free_agents.append(agent)

    def free_call(self, call: WaitingCall) -> None:
        self._free_calls.append(call)

    def dispatch(self, now: float) -> None:
        while self._free_agents or self._free_calls:
            if self._free_agents:
                agent = self._free_agents.popleft()
                if agent.state is AgentState.READY:
                    self._route_agent(agent, now)
            else:
                call = self._free_calls.popleft()
                if self.calls.get(call.call_id) is call:
                    self._route_call(call, now)

    def _route_call(self, call: WaitingCall, now: float) -> None:
        if call.status is CallStatus.DESIGNATED:
            agent = self.roster.agents[call.designated or ""]
            if agent.state is AgentState.READY and call.excluded.get(agent.agent_id, 0) <= now:
                self.offer(call, [agent], now)
            return
        if call.status is not CallStatus.WAITING:
            return
        queue = self.queues[call.queue]
        strategy = queue.strategy
        count = queue.settings.ring_all_limit if strategy.ring_all else 1
        draw = self.rng.getrandbits(64) if strategy.uses_draw else 0
        agents = queue.pick(call, count, now, draw)
        if agents:
            self.offer(call, agents, now)

    def _route_agent(self, agent: Agent, now: float) -> None:
        mine = self.designated.get(agent.agent_id)
        if mine:
            calls = [self.calls[c] for c in mine]
            waiting = [
                c
                for c in calls
                if c.status is CallStatus.DESIGNATED and c.excluded.get(agent.agent_id, 0) <= now
            ]
            if waiting:
                self.offer(min(waiting, key=lambda c: c.key), [agent], now)
                return
        best: WaitingCall | None = None
        best_rank = (0.0, 0.0, 0)
        for name in agent.queues:
            queue = self.queues[name]
            if not queue.available:
                continue
            call = queue.first_call_for(agent, self.calls, now)
            if call is None:
                continue
            score = (now - call.arrived_at) * queue.settings.weight
            score += call.info.priority * PRIORITY_SECONDS
            rank = (-score, call.arrived_at, call.seq)
            if best is None or rank < best_rank:
                best, best_rank = call, rank
        if best is not None:
            self.offer(best, [agent], now)

    # --- offers -------------------------------------------------------------------------

    def offer(self, call: WaitingCall, agents: list[Agent], now: float) -> None:
        queue = self.queues[call.queue]
        if call.status is CallStatus.WAITING:
            queue.available.discard(call.key)
            queue.rotation = agents[-1].view.order
        call.status = CallStatus.OFFERED
        call.offered_to = [a.agent_id for a in agents]
        call.offered_at = now
        timeout = queue.settings.offer_timeout
        self.deadlines.set("offer", call.call_id, now + timeout)
        waited = now - call.arrived_at
        for agent in agents:
            self.offer_seq += 1
            view = agent.view
            agent.view = replace(view, offers=view.offers + 1, last_offer_seq=self.offer_seq)
            agent.call_id, agent.call_queue = call.call_id, call.queue
            self.events.append(
                ev.CallOffered(
                    at=now,
                    call_id=call.call_id,
                    queue=call.queue,
                    agent_id=agent.agent_id,
                    waited=waited,
                )
            )
            self.roster.apply(agent, AgentInput.OFFER, now)
            self.actions.append(
                Offer(
                    call_id=call.call_id, agent_id=agent.agent_id, queue=call.queue, timeout=timeout
                )
            )

    def end_offer(
        self, call: WaitingCall, agent: Agent, now: float, *, missed: bool, reason: str = ""
    ) -> None:
        """One agent's offer is over without an answer: the agent returns, the call too when
        nobody else is ringing. ``missed``: their phone rang out or refused (``reason``)."""
        call.offered_to.remove(agent.agent_id)
        queue = self.queues[call.queue].settings
        if missed:
            call.excluded[agent.agent_id] = now + RETRY_SECONDS
            if self.deadlines.when("retry", call.call_id) is None:  # else it comes sooner
                self.deadlines.set("retry", call.call_id, now + RETRY_SECONDS)
        if missed and queue.no_answer_not_ready and not self.queues[call.queue].strategy.ring_all:
            self.roster.apply(agent, AgentInput.OFFER_MISSED, now, reason=reason)
        else:
            self.roster.apply(agent, AgentInput.OFFER_ENDED, now, fresh_idle=missed)
        self.free_agent(agent)
        if not call.offered_to:
            self.deadlines.clear("offer", call.call_id)
            self.restored_offers.discard(call.call_id)
            self.requeue(call, release=missed)

    def requeue(self, call: WaitingCall, *, release: bool) -> None:
        """A call nobody is ringing any more goes back to waiting, to the group when its
        designated agent failed it (``release``) or its designated time is over."""
        if call.designated is not None and not release:
            call.status = CallStatus.DESIGNATED
        else:
            self.end_designation(call)
            call.status = CallStatus.WAITING
            self.queues[call.queue].available.add(call.key)
        self.free_call(call)

    def end_designation(self, call: WaitingCall) -> None:
        if call.designated is None:
            return
        mine = self.designated.get(call.designated)
        if mine is not None:
            mine.pop(call.call_id, None)
            if not mine:
                del self.designated[call.designated]
        call.designated = None
        self.deadlines.clear("designated", call.call_id)

    def withdraw_all(self, call: WaitingCall, reason: WithdrawReason, now: float) -> None:
        """Stop every phone ringing for ``call`` (it leaves the queue); agents are not at
        fault and keep their idle time."""
        for agent_id in list(call.offered_to):
            self.actions.append(
                WithdrawOffer(call_id=call.call_id, agent_id=agent_id, reason=reason)
            )
            agent = self.roster.agents[agent_id]
            call.offered_to.remove(agent_id)
            self.roster.apply(agent, AgentInput.OFFER_ENDED, now, fresh_idle=False)
            self.free_agent(agent)

    # --- queue entry and exit -----------------------------------------------------------

    def join(self, call: WaitingCall, name: str, now: float) -> None:
        """Put ``call`` in queue ``name``, or send it on when the queue refuses it."""
        queue = self.queues[name]
        settings = queue.settings
        call.queue = name
        call.visited.append(name)
        call.joined_at = now
        call.required = required_skills(settings.skills, call.info.skills)
        call.status = CallStatus.WAITING
        if queue.logged_in == 0 and (not settings.join_when_empty or settings.leave_when_empty):
            self.overflow(call, "no_agents", now, joined=False)
            return
        if settings.max_length is not None and len(queue.calls) >= settings.max_length:
            self.overflow(call, "max_length", now, joined=False)
            return
        self.calls[call.call_id] = call
        queue.add_call(call)
        self.events.append(
            ev.CallQueued(
                at=now,
                call_id=call.call_id,
                queue=name,
                priority=call.info.priority,
                position=queue.position(call),
                customer_id=call.info.customer_id,
            )
        )
        if settings.max_wait is not None:
            self.deadlines.set("max_wait", call.call_id, now + settings.max_wait)
        if settings.announce_every and (settings.announce_position or settings.announce_wait):
            self.deadlines.set("announce", call.call_id, now + settings.announce_every)
        if call.designated is not None:
            call.status = CallStatus.DESIGNATED
            self.designated.setdefault(call.designated, {})[call.call_id] = None
            self.deadlines.set("designated", call.call_id, now + settings.designated_wait)
        else:
            queue.available.add(call.key)
        self.free_call(call)

    def overflow(
        self,
        call: WaitingCall,
        reason: OverflowReason,
        now: float,
        *,
        joined: bool = True,
        agent_id: str = "",
    ) -> None:
        """Send ``call`` out of its queue: to the overflow queue (re-joined here, keeping its
        arrival), else to voice mail. A designated agent who is away always means voice mail
        for that agent; an overflow chain that comes back to a visited queue ends in the
        queue's voice mail too."""
        queue = self.queues[call.queue].settings
        target = queue.overflow or "voicemail"
        if reason == "agent_away":
            target = "voicemail"
        if joined:
            self.withdraw_all(call, "overflow", now)
            self.remove(call)
        next_queue = target.removeprefix("queue:") if target.startswith("queue:") else None
        if next_queue is not None and next_queue in call.visited:
            target, next_queue = "voicemail", None
        self.events.append(
            ev.CallOverflowed(
                at=now,
                call_id=call.call_id,
                queue=call.queue,
                target=target,
                reason=reason,
                waited=now - call.arrived_at,
            )
        )
        self.actions.append(
            Overflow(
                call_id=call.call_id,
                queue=call.queue,
                target=target,
                reason=reason,
                agent_id=agent_id,
            )
        )
        if next_queue is not None:
            call.designated = None
            call.excluded.clear()
            self.join(call, next_queue, now)

    def remove(self, call: WaitingCall) -> None:
        """Forget a call that left the ACD (answered, abandoned, overflowed)."""
        self.end_designation(call)
        self.queues[call.queue].remove_call(call)
        del self.calls[call.call_id]
        self.restored_offers.discard(call.call_id)
        for kind in CALL_TIMERS:
            self.deadlines.clear(kind, call.call_id)

    def leave_if_empty(self, queue: QueueState, now: float) -> None:
        if queue.logged_in or not queue.settings.leave_when_empty:
            return
        for key in list(queue.calls):
            self.overflow(self.calls[key[3]], "no_agents", now)
