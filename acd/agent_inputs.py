"""Agent inputs: logins, state choices, wrap-up, and the end of a call an agent handled.

Split from ``acd.distributor`` for size; the decisions on ambiguous cases are listed there.
Bookkeeping of the per-agent statistics strategies sort on happens here: talk time and
handled calls when a call ends, handle time (talk + wrap-up) when the wrap-up ends, which is
also when the queue's AHT history gets the call.
"""

from __future__ import annotations

from dataclasses import replace

from acd.agent_state import AgentInput, AgentState, next_state
from acd.engine import Engine
from acd.errors import UnknownReasonError
from acd.model import Agent
from acd.protocol import (
    AgentCallEnded,
    AgentLogin,
    AgentLogout,
    ChangeAgentState,
    WithdrawOffer,
    WrapUpDone,
)
from acd.queue import QueueState


class AgentInputs(Engine):
    def _release_claim_of(self, agent: Agent) -> bool:
        raise NotImplementedError  # acd.claims.Claims

    def _login(self, item: AgentLogin, now: float) -> None:
        agent = self.roster.get(item.agent_id)
        if agent.state is not AgentState.LOGGED_OUT:
            return
        login = AgentInput.LOGIN_READY if item.ready else AgentInput.LOGIN_NOT_READY
        self.roster.apply(agent, login, now)
        self.free_agent(agent)

    def _logout(self, item: AgentLogout, now: float) -> None:
        agent = self.roster.get(item.agent_id)
        if agent.state is AgentState.LOGGED_OUT:
            return
        if agent.state is AgentState.RESERVED and self._release_claim_of(agent):
            pass
        elif agent.state is AgentState.RESERVED:
            call = self.calls[agent.call_id or ""]
            call.offered_to.remove(agent.agent_id)
            self.actions.append(
                WithdrawOffer(
                    call_id=call.call_id, agent_id=agent.agent_id, reason="agent_logged_out"
                )
            )
            if not call.offered_to:
                self.deadlines.clear("offer", call.call_id)
                self.restored_offers.discard(call.call_id)
                self.requeue(call, release=True)
        elif agent.state is AgentState.BUSY:
            self._count_call(agent, now)
        elif agent.state is AgentState.WRAP_UP:
            self._close_wrap_up(agent, now)
        self.roster.apply(agent, AgentInput.LOGOUT, now, reason=item.reason, by=item.by)
        for call_id in list(self.designated.get(agent.agent_id, ())):
            call = self.calls[call_id]
            self.end_designation(call)
            self.requeue(call, release=True)
        for name in agent.queues:
            self.leave_if_empty(self.queues[name], now)

    def _change_state(self, item: ChangeAgentState, now: float) -> None:
        agent = self.roster.get(item.agent_id)
        if item.state == "ready":
            next_state(agent.agent_id, agent.state, AgentInput.SET_READY)  # raises first
            if agent.state is AgentState.WRAP_UP:
                self._close_wrap_up(agent, now)
            self.roster.apply(agent, AgentInput.SET_READY, now, by=item.by)
            self.free_agent(agent)
            return
        if item.state == "not_ready":
            known = self.settings.not_ready_reasons
            if item.reason and item.reason not in known:
                raise UnknownReasonError(item.reason, known)
            self.roster.apply(agent, AgentInput.SET_NOT_READY, now, reason=item.reason, by=item.by)
            return
        self.roster.apply(agent, AgentInput.SET_AWAY, now, reason=item.reason, by=item.by)
        if agent.state is AgentState.AWAY:
            for call_id in list(self.designated.get(agent.agent_id, ())):
                call = self.calls[call_id]
                self.overflow(call, "agent_away", now, agent_id=agent.agent_id)

    def _wrap_up_done(self, item: WrapUpDone, now: float) -> None:
        agent = self.roster.get(item.agent_id)
        next_state(agent.agent_id, agent.state, AgentInput.WRAP_UP_DONE)  # raises first
        self._close_wrap_up(agent, now)
        self.roster.apply(agent, AgentInput.WRAP_UP_DONE, now)
        self.free_agent(agent)

    def _wrap_up_over(self, agent_id: str, now: float) -> None:
        agent = self.roster.agents.get(agent_id)
        if agent is None or agent.state is not AgentState.WRAP_UP:
            return
        self._close_wrap_up(agent, now)
        self.roster.apply(agent, AgentInput.WRAP_UP_DONE, now)
        self.free_agent(agent)

    def _call_ended(self, item: AgentCallEnded, now: float) -> None:
        agent = self.roster.agents.get(item.agent_id)
        if agent is None or agent.state is not AgentState.BUSY or agent.call_id != item.call_id:
            return  # logged out meanwhile, or not a call the ACD connected
        queue = self._count_call(agent, now)
        wrap_up = queue.settings.wrap_up if queue is not None else 0.0
        if wrap_up > 0:
            agent.wrap_started = now
            self.deadlines.set("wrap_up", agent.agent_id, now + wrap_up)
            self.roster.apply(agent, AgentInput.CALL_ENDED, now)
            return
        if queue is not None:
            queue.record_handle_time(agent.last_talk)
        self.roster.apply(agent, AgentInput.CALL_ENDED_NO_WRAP_UP, now)
        self.free_agent(agent)

    def _count_call(self, agent: Agent, now: float) -> QueueState | None:
        talk = now - agent.answered_at if agent.answered_at is not None else 0.0
        view = agent.view
        agent.view = replace(
            view,
            calls_handled=view.calls_handled + 1,
            talk_time=view.talk_time + talk,
            handle_time=view.handle_time + talk,
        )
        agent.last_talk, agent.answered_at = talk, None
        return self.queues.get(agent.call_queue or "")

    def _close_wrap_up(self, agent: Agent, now: float) -> None:
        self.deadlines.clear("wrap_up", agent.agent_id)
        wrap = now - agent.wrap_started if agent.wrap_started is not None else 0.0
        agent.view = replace(agent.view, handle_time=agent.view.handle_time + wrap)
        agent.wrap_started = None
        queue = self.queues.get(agent.call_queue or "")
        if queue is not None:
            queue.record_handle_time(agent.last_talk + wrap)
