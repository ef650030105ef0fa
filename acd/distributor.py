"""The distributor: the ACD's single sans-IO entry point.

``handle(input, now)`` applies one input (``acd.protocol``) and returns the actions the host
executes; domain events come out of ``drain_events()``. Ring-no-answer, wrap-up ends,
designated-agent waits, max waits, announcements and retry pauses are deadlines:
``next_deadline()`` / ``on_timer(now)``.

Races between the host and the distributor are normal (a phone answers as the offer times
out, the caller hangs up as an agent answers), so inputs about an offer or call that is no
longer current are ignored. Requests that the agent state forbids (ready while logged out,
wrap-up done outside wrap-up) raise ``IllegalAgentTransition``; unknown agents and queues
raise ``UnknownAgentError`` / ``UnknownQueueError``. A login of a logged-in agent and a
logout of a logged-out one are no-ops (registration refreshes).

Decisions on the ambiguous cases:
- RONA: OfferTimedOut, WithdrawOffer(no_answer), the agent goes NOT_READY "no_answer" when
  the queue says ``no_answer_not_ready`` (else READY, at the back of the idle line), and the
  call is offered to the next agent. OfferFailed is the same with OfferDeclined and reason
  "declined". Under ring-all nobody owned the offer: agents who missed it stay READY.
- The agent who missed a call is not offered that call again for ``RETRY_SECONDS``.
- A pending state (a not-ready or away request made during a call) wins over "no_answer".
- A designated agent who is AWAY: the call goes to that agent's voice mail at once, also
  when they go away while the call waits for them; LOGGED_OUT or unknown: the group at once;
  their offer failing or ringing out: the group at once.
- Overflow with no ``overflow`` configured goes to the queue's voice mail (``hangup`` is
  never chosen: a message is better than losing the caller); an overflow chain that loops
  back to a queue already visited also ends in voice mail.
- ``leave_when_empty`` implies refusing to join an empty queue, whatever ``join_when_empty``.
- ``max_wait`` counts from joining the current queue; every ``waited`` counts from the
  first arrival in the ACD (it is what the caller lived through).
- Max wait during ringing withdraws the offer (reason overflow) and overflows.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from acd.agent_state import AgentInput, AgentState
from acd.audit import audit
from acd.claims import Claims
from acd.errors import DuplicateCallError, UnknownQueueError
from acd.model import Agent, CallStatus, WaitingCall
from acd.protocol import (
    AcdAction,
    AcdInput,
    AgentCallEnded,
    AgentLogin,
    AgentLogout,
    AgentStateName,
    Announce,
    CallerLeft,
    ChangeAgentState,
    ClaimAgent,
    OfferAnswered,
    OfferFailed,
    QueueCall,
    WithdrawOffer,
    WrapUpDone,
)
from acd.queue import QueueState
from acd.settings import AcdSettings
from acd.snapshot import dump, load
from acd.views import AgentRow, QueueStats, agent_row, queue_stats
from cti_server import events as ev
from cti_server.ids import RandomSource


class Distributor(Claims):
    def __init__(self, settings: AcdSettings, rng: RandomSource) -> None:
        super().__init__(settings, rng)

    # --- the sans-IO interface ----------------------------------------------------------

    def handle(self, item: AcdInput, now: float) -> list[AcdAction]:
        self.now = now
        self.actions = []
        match item:
            case QueueCall():
                self._queue_call(item, now)
            case CallerLeft():
                self._caller_left(item, now)
            case OfferAnswered():
                self._answered(item, now)
            case OfferFailed():
                self._failed(item, now)
            case AgentCallEnded():
                self._call_ended(item, now)
            case ClaimAgent():
                self._claim(item, now)
            case AgentLogin():
                self._login(item, now)
            case AgentLogout():
                self._logout(item, now)
            case ChangeAgentState():
                self._change_state(item, now)
            case WrapUpDone():
                self._wrap_up_done(item, now)
            case _:
                raise TypeError(f"not an ACD input: {item!r}")
        self.dispatch(now)
        return self._take_actions()

    def next_deadline(self) -> float | None:
        return self.deadlines.next()

    def on_timer(self, now: float) -> list[AcdAction]:
        self.now = now
        self.actions = []
        while (due := self.deadlines.pop_due(now)) is not None:
            kind, key = due
            if kind == "offer":
                self._offer_timed_out(key, now)
            elif kind == "wrap_up":
                self._wrap_up_over(key, now)
            elif kind == "designated":
                self._designation_over(key, now)
            elif kind == "max_wait":
                if key in self.calls:
                    self.overflow(self.calls[key], "max_wait", now)
            elif kind == "announce":
                self._announce(key, now)
            elif kind == "retry":
                self._retry(key, now)
            elif kind == "dispatch":  # after a restore: let every ready agent look for work
                for agent in self.roster.agents.values():
                    self.free_agent(agent)
            self.dispatch(now)
        return self._take_actions()

    def drain_events(self) -> list[ev.Event]:
        out = list(self.events)
        self.events.clear()
        return out

    def _take_actions(self) -> list[AcdAction]:
        out, self.actions = self.actions, []
        return out

    # --- calls --------------------------------------------------------------------------

    def _queue_call(self, item: QueueCall, now: float) -> None:
        if item.queue not in self.queues:
            raise UnknownQueueError(item.queue)
        existing = self.calls.get(item.call_id)
        if existing is not None:
            raise DuplicateCallError(item.call_id, existing.queue)
        self.call_seq += 1
        call = WaitingCall(info=item, seq=self.call_seq, arrived_at=now, queue=item.queue)
        wanted = self.roster.agents.get(item.designated_agent or "")
        if wanted is not None and wanted.state is AgentState.AWAY:
            self.overflow(call, "agent_away", now, joined=False, agent_id=wanted.agent_id)
            return
        waits = self.queues[item.queue].settings.designated_wait > 0
        if wanted is not None and wanted.state is not AgentState.LOGGED_OUT and waits:
            call.designated = wanted.agent_id
        self.join(call, item.queue, now)

    def _caller_left(self, item: CallerLeft, now: float) -> None:
        if self._claim_failed(item.call_id, None, "caller_left", now):
            return
        call = self.calls.get(item.call_id)
        if call is None:
            return  # answered, overflowed or never queued: not ours any more
        position = self.queues[call.queue].position(call)
        self.withdraw_all(call, "caller_left", now)
        self.remove(call)
        self.events.append(
            ev.CallAbandoned(
                at=now,
                call_id=call.call_id,
                queue=call.queue,
                position=position,
                waited=now - call.arrived_at,
            )
        )

    def _offered(self, call_id: str, agent_id: str) -> tuple[WaitingCall, Agent] | None:
        call = self.calls.get(call_id)
        if call is None or call.status is not CallStatus.OFFERED:
            return None
        if agent_id not in call.offered_to:
            return None
        return call, self.roster.agents[agent_id]

    def _answered(self, item: OfferAnswered, now: float) -> None:
        if self._claim_answered(item.call_id, item.agent_id, now):
            return
        found = self._offered(item.call_id, item.agent_id)
        if found is None:
            return  # withdrawn meanwhile: the host hangs the agent leg up
        call, agent = found
        call.offered_to.remove(agent.agent_id)
        view = agent.view
        agent.view = replace(view, offers_answered=view.offers_answered + 1)
        agent.answered_at = now
        self.remove(call)
        self.events.append(
            ev.CallDequeued(
                at=now,
                call_id=call.call_id,
                queue=call.queue,
                agent_id=agent.agent_id,
                waited=now - call.arrived_at,
            )
        )
        self.roster.apply(agent, AgentInput.ANSWER, now)
        self.withdraw_all(call, "answered_elsewhere", now)

    def _failed(self, item: OfferFailed, now: float) -> None:
        if self._claim_failed(item.call_id, item.agent_id, item.reason, now):
            return
        found = self._offered(item.call_id, item.agent_id)
        if found is None:
            return
        call, agent = found
        self.events.append(
            ev.OfferDeclined(
                at=now,
                call_id=call.call_id,
                queue=call.queue,
                agent_id=agent.agent_id,
                reason=item.reason,
            )
        )
        self.end_offer(call, agent, now, missed=True, reason="declined")

    def _offer_timed_out(self, call_id: str, now: float) -> None:
        call = self.calls.get(call_id)
        if call is None or call.status is not CallStatus.OFFERED:
            return
        missed = call_id not in self.restored_offers  # a fail-over is not the agent's fault
        for agent_id in list(call.offered_to):
            self.events.append(
                ev.OfferTimedOut(at=now, call_id=call_id, queue=call.queue, agent_id=agent_id)
            )
            self.actions.append(
                WithdrawOffer(call_id=call_id, agent_id=agent_id, reason="no_answer")
            )
            self.end_offer(
                call, self.roster.agents[agent_id], now, missed=missed, reason="no_answer"
            )

    def _designation_over(self, call_id: str, now: float) -> None:
        call = self.calls.get(call_id)
        if call is None:
            return
        self.end_designation(call)
        if call.status is CallStatus.DESIGNATED:  # ringing the agent: the group after that
            self.requeue(call, release=True)

    def _announce(self, call_id: str, now: float) -> None:
        call = self.calls.get(call_id)
        if call is None:
            return
        queue = self.queues[call.queue]
        settings = queue.settings
        if settings.announce_every:
            self.deadlines.set("announce", call_id, now + settings.announce_every)
        if call.status is CallStatus.OFFERED:
            return  # an agent's phone is ringing: no need to talk over the music
        position = queue.position(call)
        minutes = None
        if settings.announce_wait:
            ewt = queue.ewt(position)
            minutes = None if ewt is None else max(1, math.ceil(ewt / 60))
        said = position if settings.announce_position else None
        if said is not None or minutes is not None:
            self.actions.append(Announce(call_id=call_id, position=said, minutes=minutes))

    def _retry(self, call_id: str, now: float) -> None:
        call = self.calls.get(call_id)
        if call is None:
            return
        call.excluded = {a: t for a, t in call.excluded.items() if t > now}
        if call.excluded:
            self.deadlines.set("retry", call_id, min(call.excluded.values()))
        if call.status is not CallStatus.OFFERED:
            self.free_call(call)

    # --- queries ------------------------------------------------------------------------

    def agent_state(self, agent_id: str) -> AgentStateName | None:
        """The agent's state, None when ``agent_id`` is not an ACD agent."""
        agent = self.roster.agents.get(agent_id)
        return None if agent is None else agent.state.value

    def agents(self) -> list[AgentRow]:
        return [agent_row(a) for a in self.roster.agents.values()]

    def queue_stats(self, queue: str, now: float | None = None) -> QueueStats:
        """Counters for the wallboard; ``longest_wait`` is measured at ``now`` (default: the
        last time the distributor was fed)."""
        return queue_stats(self._queue(queue), self.calls, self.now if now is None else now)

    def estimated_wait(self, queue: str) -> float | None:
        """Seconds a call joining ``queue`` now can expect to wait (None: nobody staffed)."""
        state = self._queue(queue)
        return state.ewt(len(state.calls) + 1)

    def position(self, call_id: str) -> int | None:
        call = self.calls.get(call_id)
        return None if call is None else self.queues[call.queue].position(call)

    def _queue(self, name: str) -> QueueState:
        state = self.queues.get(name)
        if state is None:
            raise UnknownQueueError(name)
        return state

    def snapshot(self) -> dict[str, Any]:
        """Everything a standby needs to take over, as JSON-able data."""
        return dump(self)

    @classmethod
    def restore(
        cls, settings: AcdSettings, rng: RandomSource, snapshot: dict[str, Any], now: float
    ) -> Distributor:
        """Take over from ``snapshot``. Offers that were ringing count as timed out (not the
        agents' fault): call ``on_timer(now)`` at once to withdraw and redistribute them."""
        distributor = cls(settings, rng)
        load(distributor, snapshot, now)
        return distributor

    def audit(self) -> list[str]:
        """Broken invariants, for tests and debugging (empty when all is well)."""
        return audit(self)
