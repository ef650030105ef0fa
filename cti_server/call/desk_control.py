"""Call control from the agent's desktop: hold, retrieve and blind transfer, without SIP
from the agent's phone (the phone need not support REFER or send a re-INVITE).

Hold works on the anchored media: the bridge between the customer and the agent is taken
down, the customer hears music on hold and the agent silence; retrieving bridges them again.
No re-INVITE goes to either party (each still sends and receives to our anchor), which is
what an anchoring B2BUA may do and what works with every phone.

Transfer is blind: to a number or an agent it reuses the REFER machinery (``MidCall``) with
the agent's leg as the transferor, minus the NOTIFYs a REFER would owe; when the new party
answers, the agent's leg is hung up and the agent goes to wrap-up. To a queue the agent's
leg is hung up at once and the customer waits in that queue (inbound calls only: there the
customer's leg is the call's ``inbound``).
"""

from __future__ import annotations

from acd.protocol import AgentCallEnded
from cti_server import events as ev
from cti_server.actions import ByeLeg, LegAction
from cti_server.call.controller_base import ControllerBase
from cti_server.call.model import Call, CallPhase, Leg, LegInput
from ivr_flows.protocol import Enqueue


class DeskError(RuntimeError):
    """The request does not fit the call's state (the API answers 409)."""


class DeskControl(ControllerBase):
    """Part of the CallController: requests from the agent's desktop."""

    def parties(self, call: Call) -> tuple[Leg | None, Leg | None]:
        """(the customer's leg, the agent's leg) of a call."""
        if call.dial is not None and not call.dial.customer_first:
            return call.peer, call.inbound
        return call.inbound, call.peer

    def desk_hold(self, call_id: str, hold: bool, now: float) -> list[LegAction]:
        call = self._connected(call_id)
        customer, agent = self.parties(call)
        plan = self._plan
        if plan is None:
            raise DeskError("hold from the desktop needs anchored media (media.mode: anchor)")
        if customer is None or agent is None or not customer.up or not agent.up:
            raise DeskError("the call has no two connected parties to hold")
        if hold == call.held:
            return []
        if hold:
            plan.media.unbridge(customer.leg_id)
            prompts = self._prompts
            codec = plan.codec(customer.leg_id) or "PCMU"
            frames = prompts.music_on_hold(codec) if prompts is not None else []
            if frames:
                plan.media.play(customer.leg_id, frames, loop=True)
        else:
            plan.media.stop_playing(customer.leg_id)
            plan.media.bridge(customer.leg_id, agent.leg_id)
        call.held = hold
        cls = ev.CallHeld if hold else ev.CallRetrieved
        self._events.append(cls(at=now, call_id=call.call_id, leg_id=agent.leg_id))
        return []

    def desk_transfer(self, call_id: str, kind: str, target: str, now: float) -> list[LegAction]:
        call = self._connected(call_id)
        customer, agent = self.parties(call)
        if customer is None or agent is None or not customer.up or not agent.up:
            raise DeskError("only a connected call can be transferred")
        if call.transfer_leg is not None:
            raise DeskError("a transfer of this call is already in progress")
        if call.held:
            self.desk_hold(call_id, False, now)
        if kind == "queue":
            return self._to_queue(call, agent, target, now)
        agent_id: str | None
        if kind == "agent":
            uris, agent_id = self._locate(target, now), target
        else:
            route = self._router.route(target, from_trunk=None, authenticated=True)
            uris = self._target_uris(route, now) if route is not None else []
            agent_id = route.value if route is not None and route.kind == "extension" else None
        if not uris:
            raise DeskError(f"nowhere to transfer to: {kind} {target!r} is not reachable")
        call.transferor = agent
        call.transfer_silent = True
        call.phase = CallPhase.TRANSFERRING
        self._events.append(
            ev.CallTransferred(at=now, call_id=call.call_id, leg_id=agent.leg_id, target=target)
        )
        caller = call.caller if customer is call.inbound else call.called
        prefer = self._plan.codec(customer.leg_id) if self._plan is not None else None
        return (
            self._originate(
                call, uris, caller, None, b"", 70, agent_id, now, transfer=True, prefer=prefer
            )
            + self._take_pending()
        )

    def _connected(self, call_id: str) -> Call:
        call = self.calls.get(call_id)
        if call is None:
            raise LookupError(f"no call {call_id!r}")
        if call.phase is not CallPhase.CONNECTED:
            raise DeskError(f"the call is {call.phase.value}, not connected")
        return call

    def _to_queue(self, call: Call, agent: Leg, queue: str, now: float) -> list[LegAction]:
        if call.dial is not None and not call.dial.customer_first:
            raise DeskError("a call the dialer placed cannot be sent to a queue yet")
        if self._acd is None or not self.acd_ready():
            raise DeskError("no ACD here: queues are served by the leader")
        self._events.append(
            ev.CallTransferred(
                at=now, call_id=call.call_id, leg_id=agent.leg_id, target=f"queue:{queue}"
            )
        )
        agent.apply(LegInput.HANGUP, now)
        out: list[LegAction] = [ByeLeg(leg_id=agent.leg_id)]
        if self._plan is not None:
            self._plan.media.unbridge(call.inbound.leg_id)
            self._plan.close(agent.leg_id)
        self._legs.pop(agent.leg_id, None)
        call.peer = None
        out += self._release_agent(call, now)
        language = call.language or self._settings.language
        return (
            out
            + self._enqueue(call, Enqueue(queue=queue, language=language), now)
            + (self._take_pending())
        )

    def _release_agent(self, call: Call, now: float) -> list[LegAction]:
        """The agent handed the call on: their wrap-up begins."""
        agent, call.acd_agent = call.acd_agent, None
        if agent is None or self._acd is None or not self.acd_ready():
            return []
        ended = AgentCallEnded(call_id=call.call_id, agent_id=agent)
        return self._acd_run(self._acd.handle(ended, now), now)
