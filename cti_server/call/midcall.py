"""What happens inside a connected call: re-INVITE (hold/unhold) and blind transfer (REFER).

Two media modes share this logic. Anchored (a ``MediaPlanner``): each leg negotiates with
us, so a re-INVITE is answered locally (RFC 3264 §8) and a transfer just bridges the
remaining party to the new leg in the media core. Pass-through (no planner): SDP travels
end to end, so a re-INVITE is relayed to the other leg, and a transfer sends the new party
a delayed-offer INVITE whose 2xx offer is carried to the remaining party in a re-INVITE.
"""

from __future__ import annotations

from cti_server import events as ev
from cti_server.actions import (
    AckLeg,
    AnswerReinvite,
    ByeLeg,
    LegAction,
    NotifyRefer,
    ReinviteLeg,
)
from cti_server.call.controller_base import ControllerBase
from cti_server.call.model import Call, CallPhase, Leg, LegInput
from cti_server.sip import leg_events as le


class MidCall(ControllerBase):
    """Base of the CallController: the in-call handlers. State lives in the controller."""

    # --- re-INVITE ------------------------------------------------------------------------

    def _on_reinvite(self, call: Call, leg: Leg, e: le.LegReinvited, now: float) -> list[LegAction]:
        other = call.other(leg)
        if self._plan is not None:
            return self._reinvite_anchored(call, leg, e, now)
        if other is None or not other.up or call.pending_reinvite is not None:
            return [AnswerReinvite(leg_id=leg.leg_id, status=491 if other else 488)]
        if not e.sdp:  # a refresh without an offer: offer the far end's current session back
            return [AnswerReinvite(leg_id=leg.leg_id, status=200, sdp=other.sdp)]
        leg.sdp = e.sdp
        call.pending_reinvite = (leg.leg_id, other.leg_id)
        self._note_hold(call, leg, is_hold(e.sdp), now)
        return [ReinviteLeg(leg_id=other.leg_id, sdp=e.sdp)]

    def _reinvite_anchored(
        self, call: Call, leg: Leg, e: le.LegReinvited, now: float
    ) -> list[LegAction]:
        plan = self._plan
        assert plan is not None
        if not e.sdp:  # offerless re-INVITE: we offer, the ACK brings the answer
            offer = plan.make_offer(leg.leg_id, plan.codec(leg.leg_id), now)
            return [AnswerReinvite(leg_id=leg.leg_id, status=200, sdp=offer)]
        result = plan.reoffer(leg.leg_id, e.sdp)
        if result is None:
            return [AnswerReinvite(leg_id=leg.leg_id, status=488)]
        answer, hold = result
        if hold != call.held:
            self._music_on_hold(call, leg, hold)
        self._note_hold(call, leg, hold, now)
        return [AnswerReinvite(leg_id=leg.leg_id, status=200, sdp=answer)]

    def _music_on_hold(self, call: Call, holder: Leg, hold: bool) -> None:
        """The party left waiting hears music while the other holds (anchored media only)."""
        plan, other = self._plan, call.other(holder)
        if plan is None or self._prompts is None or other is None or not other.up:
            return
        if not hold:
            plan.media.stop_playing(other.leg_id)
            return
        frames = self._prompts.music_on_hold(plan.codec(other.leg_id) or "PCMU")
        if frames:
            plan.media.play(other.leg_id, frames, loop=True)

    def _note_hold(self, call: Call, leg: Leg, hold: bool, now: float) -> None:
        if hold != call.held:
            call.held = hold
            cls = ev.CallHeld if hold else ev.CallRetrieved
            self._events.append(cls(at=now, call_id=call.call_id, leg_id=leg.leg_id))

    def _on_reinvite_answered(
        self, call: Call, leg: Leg, e: le.LegReinviteAnswered, now: float
    ) -> list[LegAction]:
        pending, call.pending_reinvite = call.pending_reinvite, None
        if pending is None or pending[1] != leg.leg_id:
            return []
        origin = self._legs.get(pending[0])
        if origin is None:
            return []
        origin_leg = origin[0]
        if origin_leg is call.transfer_leg:  # transfer: the new party's offer was answered
            return self._complete_transfer(call, origin_leg, e.status, e.sdp, now)
        if 200 <= e.status < 300:
            leg.sdp = e.sdp
        return [AnswerReinvite(leg_id=origin_leg.leg_id, status=e.status, sdp=e.sdp)]

    # --- blind transfer (RFC 3515) ----------------------------------------------------------

    def _on_refer(self, call: Call, leg: Leg, e: le.LegReferred, now: float) -> list[LegAction]:
        other = call.other(leg)
        target = self._router.route(e.target, from_trunk=call.trunk, authenticated=True)
        uris = self._target_uris(target, now) if target else []
        if other is None or not other.up or call.transfer_leg is not None or not uris:
            return [NotifyRefer(leg_id=leg.leg_id, status=404 if not uris else 503, final=True)]
        call.transferor = leg
        call.phase = CallPhase.TRANSFERRING
        self._events.append(
            ev.CallTransferred(at=now, call_id=call.call_id, leg_id=leg.leg_id, target=e.target)
        )
        agent = target.value if target and target.kind == "extension" else None
        caller = call.caller if other is call.inbound else call.called
        prefer = self._plan.codec(other.leg_id) if self._plan is not None else None
        return [
            NotifyRefer(leg_id=leg.leg_id, status=100, final=False),
            *self._originate(
                call, uris, caller, None, b"", 70, agent, now, transfer=True, prefer=prefer
            ),
        ]

    def _transfer_answered(self, call: Call, leg: Leg, sdp: bytes, now: float) -> list[LegAction]:
        """The new party answered: anchored, bridge it; pass-through, re-INVITE the other."""
        remaining = call.peer if call.transferor is call.inbound else call.inbound
        if remaining is None or not remaining.up:
            leg.apply(LegInput.HANGUP, now)
            return [AckLeg(leg_id=leg.leg_id), ByeLeg(leg_id=leg.leg_id)]
        if self._plan is not None:
            if not self._plan.take_answer(leg.leg_id, sdp):
                return self._complete_transfer(call, leg, 488, b"", now)
            self._plan.media.bridge(remaining.leg_id, leg.leg_id)
            return self._complete_transfer(call, leg, 200, b"", now)
        call.pending_reinvite = (leg.leg_id, remaining.leg_id)
        return [ReinviteLeg(leg_id=remaining.leg_id, sdp=sdp)]

    def _complete_transfer(
        self, call: Call, new_leg: Leg, status: int, answer: bytes, now: float
    ) -> list[LegAction]:
        transferor = call.transferor
        silent, call.transfer_silent = call.transfer_silent, False
        call.transfer_leg = None
        call.transferor = None
        anchored = self._plan is not None
        if not 200 <= status < 300:
            call.phase = CallPhase.CONNECTED
            new_leg.apply(LegInput.HANGUP, now)
            out: list[LegAction] = [] if anchored else [AckLeg(leg_id=new_leg.leg_id)]
            out.append(ByeLeg(leg_id=new_leg.leg_id))
            if transferor is not None and not silent:
                out.append(NotifyRefer(leg_id=transferor.leg_id, status=status, final=True))
            return out
        new_leg.apply(LegInput.ACK, now)
        if transferor is call.inbound:  # the caller transferred: the new party takes its place
            call.inbound = new_leg
        else:
            call.peer = new_leg
        if silent and call.dial is not None and transferor is not None:
            call.dial = None  # the agent's leg is gone: from here on an ordinary call
        call.phase = CallPhase.CONNECTED
        self._events.append(
            ev.CallEstablished(
                at=now, call_id=call.call_id, leg_id=new_leg.leg_id, agent_id=new_leg.agent_id
            )
        )
        out = [] if anchored else [AckLeg(leg_id=new_leg.leg_id, sdp=answer)]
        if transferor is not None and transferor.alive:
            transferor.apply(LegInput.HANGUP, now)
            if not silent:
                out.append(NotifyRefer(leg_id=transferor.leg_id, status=200, final=True))
            out.append(ByeLeg(leg_id=transferor.leg_id))
        if silent:
            out += self._release_agent(call, now)
        if transferor is not None and self._plan is not None:
            self._plan.close(transferor.leg_id)
        return out


def is_hold(sdp: bytes) -> bool:
    """sendonly/inactive or the RFC 2543 c=0.0.0.0 form means the sender put us on hold."""
    text = sdp.decode("utf-8", "replace")
    return "a=sendonly" in text or "a=inactive" in text or "c=IN IP4 0.0.0.0" in text
