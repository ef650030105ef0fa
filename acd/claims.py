"""Agents claimed by the dialer: reserved for an outbound call, outside any queue.

A callback is dialled agent-first: the dialer picks a READY agent of the callback's queue and
the host rings that agent's phone before it calls the customer. The agent must leave READY at
once so inbound calls are not offered to them meanwhile, and the answer, the no-answer and the
end of the conversation must count in their figures exactly as an inbound offer's do. A claim
is therefore an offer without a waiting call: ``ClaimAgent`` moves the agent to RESERVED, and
the inputs that end offers (``OfferAnswered``, ``OfferFailed``, ``CallerLeft``) end claims too;
``AgentCallEnded`` then works unchanged (wrap-up, handled calls, AHT). The ring timeout is the
host's (its ``Dial``/``ReserveAgent`` timeout), so a claim has no distributor deadline.
Claims are not in snapshots: after a fail-over the host's attempt is lost anyway and the
dialer's recovery reschedules it.
"""

from __future__ import annotations

from dataclasses import replace

from acd.agent_inputs import AgentInputs
from acd.agent_state import AgentInput, AgentState
from acd.errors import UnknownQueueError
from acd.model import Agent
from acd.protocol import ClaimAgent, WithdrawOffer
from cti_server import events as ev


class Claims(AgentInputs):
    """``claims``: call id -> agent id, for calls the dialer makes."""

    claims: dict[str, str]

    def _claim(self, item: ClaimAgent, now: float) -> None:
        if item.queue not in self.queues:
            raise UnknownQueueError(item.queue)
        if item.call_id in self.claims or item.call_id in self.calls:
            raise ValueError(f"call {item.call_id} already holds an agent or waits in a queue")
        agent = self.roster.get(item.agent_id)
        self.roster.apply(agent, AgentInput.OFFER, now)  # raises unless READY
        self.offer_seq += 1
        view = agent.view
        agent.view = replace(view, offers=view.offers + 1, last_offer_seq=self.offer_seq)
        agent.call_id, agent.call_queue = item.call_id, item.queue
        self.claims[item.call_id] = agent.agent_id
        self.events.append(
            ev.CallOffered(
                at=now, call_id=item.call_id, queue=item.queue, agent_id=agent.agent_id, waited=0.0
            )
        )

    def _claimed(self, call_id: str, agent_id: str | None = None) -> Agent | None:
        owner = self.claims.get(call_id)
        if owner is None or (agent_id is not None and owner != agent_id):
            return None
        agent = self.roster.agents.get(owner)
        if agent is None or agent.state is not AgentState.RESERVED or agent.call_id != call_id:
            self.claims.pop(call_id, None)  # logged out meanwhile
            return None
        return agent

    def _claim_answered(self, call_id: str, agent_id: str, now: float) -> bool:
        agent = self._claimed(call_id, agent_id)
        if agent is None:
            return call_id in self.claims
        del self.claims[call_id]
        view = agent.view
        agent.view = replace(view, offers_answered=view.offers_answered + 1)
        agent.answered_at = now
        self.roster.apply(agent, AgentInput.ANSWER, now)
        return True

    def _claim_failed(self, call_id: str, agent_id: str | None, reason: str, now: float) -> bool:
        """``reason`` "caller_left": the attempt was given up, not the agent's fault."""
        agent = self._claimed(call_id, agent_id)
        if agent is None:
            return False
        del self.claims[call_id]
        queue = self.queues.get(agent.call_queue or "")
        missed = reason != "caller_left"
        if missed:
            self.events.append(
                ev.OfferDeclined(
                    at=now,
                    call_id=call_id,
                    queue=agent.call_queue or "",
                    agent_id=agent.agent_id,
                    reason=reason,
                )
            )
        if missed and queue is not None and queue.settings.no_answer_not_ready:
            self.roster.apply(agent, AgentInput.OFFER_MISSED, now, reason="no_answer")
        else:
            self.roster.apply(agent, AgentInput.OFFER_ENDED, now, fresh_idle=missed)
        self.free_agent(agent)
        return True

    def _release_claim_of(self, agent: Agent) -> bool:
        """The agent logs out while claimed: the host hangs their ringing phone up."""
        call_id = agent.call_id or ""
        if self.claims.get(call_id) != agent.agent_id:
            return False
        del self.claims[call_id]
        self.actions.append(
            WithdrawOffer(call_id=call_id, agent_id=agent.agent_id, reason="agent_logged_out")
        )
        return True
