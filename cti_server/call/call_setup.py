"""Call set-up: an INVITE becomes a Call, the number plan picks a target, and the controller
either opens an outbound leg towards it or answers the caller itself (IVR flow, queue,
announcement, voice mail).
"""

from __future__ import annotations

from cti_server import events as ev
from cti_server.actions import CreateLeg, LegAction, RespondLeg
from cti_server.call.controller_base import ControllerBase
from cti_server.call.model import Call, Leg, LegDirection, LegInput, NextHop
from cti_server.call.routing import RouteTarget
from cti_server.rtp.bridge import MediaError
from cti_server.sip import leg_events as le
from ivr_flows.protocol import Enqueue


class CallSetup(ControllerBase):
    """Base of the CallController: new calls and new outbound legs."""

    def _on_invite(self, e: le.InviteReceived, now: float) -> list[LegAction]:
        call_id = self._new_id("C")
        inbound = Leg(
            e.leg_id, call_id, LegDirection.INBOUND, target=e.called, sdp=e.sdp, created_at=now
        )
        call = Call(
            call_id, inbound, e.caller, e.called, trunk=e.trunk, created_at=now, last_activity=now
        )
        target = self._router.route(
            e.called, from_trunk=e.trunk, authenticated=e.auth_user is not None
        )
        self._events.append(
            ev.CallDelivered(
                at=now,
                call_id=call_id,
                caller=e.caller,
                called=e.called,
                trunk=e.trunk,
                route=f"{target.kind}:{target.value}" if target else "",
            )
        )
        if target is None:
            return self._reject(call, now, 404, "no_route")
        if target.kind in ("flow", "queue"):
            return self._to_service(call, target, e, now)
        uris = self._target_uris(target, now)
        if not uris and not target.voicemail:
            status = 480 if target.kind == "extension" else 503
            return self._reject(call, now, status, "unavailable")
        self.calls[call_id] = call
        self._legs[inbound.leg_id] = (inbound, call)
        codec: str | None = None
        if self._plan is not None:
            try:
                codec = self._plan.accept_offer(inbound.leg_id, e.sdp, now)
            except MediaError:
                return self._reject(call, now, 503, "no_media")
            if codec is None:
                return self._reject(call, now, 488, "rejected")
        if target.voicemail:
            call.voicemail_agent = target.value
            call.voicemail_language = target.language
        if not uris:  # the agent is not registered: straight to voice mail, or 480
            return self._voicemail(call, target.value, target.language, now) or self._reject(
                call, now, 480, "unavailable"
            )
        agent = target.value if target.kind == "extension" else None
        mf = max(e.max_forwards - 1, 0)
        if target.announce:
            hop = NextHop(tuple(uris), e.caller, e.caller_display, mf, agent, codec or None)
            answered = self._announce(call, target, hop, now)
            if answered is not None:
                return answered
        return self._originate(
            call, uris, e.caller, e.caller_display, e.sdp, mf, agent, now, prefer=codec or None
        )

    def _to_service(
        self, call: Call, target: RouteTarget, e: le.InviteReceived, now: float
    ) -> list[LegAction]:
        """A route to an IVR flow or straight to a queue: we answer the caller ourselves."""
        plan = self._plan
        if plan is None or (target.kind == "queue" and not self.acd_ready()):
            return self._reject(call, now, 503, "unavailable")
        self.calls[call.call_id] = call
        self._legs[call.inbound.leg_id] = (call.inbound, call)
        try:
            codec = plan.accept_offer(call.inbound.leg_id, e.sdp, now)
        except MediaError:
            return self._reject(call, now, 503, "no_media")
        if codec is None:
            return self._reject(call, now, 488, "rejected")
        if target.kind == "flow":
            started = self._start_flow(call, target.value, now)
            return started if started is not None else self._reject(call, now, 503, "unavailable")
        call.inbound.apply(LegInput.ANSWER, now)
        answer = RespondLeg(
            leg_id=call.inbound.leg_id, status=200, sdp=plan.make_answer(call.inbound.leg_id)
        )
        language = target.language or self._settings.language
        enqueue = Enqueue(queue=target.value, language=language, designated_agent=target.agent)
        return [answer, *self._enqueue(call, enqueue, now)]

    def _target_uris(self, target: RouteTarget, now: float) -> list[str]:
        if target.kind == "extension":
            return self._locate(target.value, now)
        if target.kind in ("trunk", "uri") and target.uri:
            return [target.uri]
        return []  # flow and queue targets are served by the IVR and ACD layers

    def _originate(
        self,
        call: Call,
        uris: list[str],
        caller: str,
        display: str | None,
        sdp: bytes,
        max_forwards: int,
        agent: str | None,
        now: float,
        *,
        transfer: bool = False,
        prefer: str | None = None,
    ) -> list[LegAction]:
        leg = Leg(
            self._new_id("L"),
            call.call_id,
            LegDirection.OUTBOUND,
            target=uris[0],
            agent_id=agent,
            created_at=now,
            ring_deadline=now + self._settings.ring_timeout,
            contacts_left=uris[1:],
        )
        self._legs[leg.leg_id] = (leg, call)
        if transfer:
            call.transfer_leg = leg
        else:
            call.peer = leg
        self._events.append(
            ev.CallOriginated(
                at=now, call_id=call.call_id, leg_id=leg.leg_id, target=uris[0], agent_id=agent
            )
        )
        self._schedule(call)
        if self._plan is not None:  # anchored: every outbound leg gets our own offer
            try:
                sdp = self._plan.make_offer(leg.leg_id, prefer, now)
            except MediaError:
                return [
                    *self._on_failed(
                        call,
                        leg,
                        le.LegFailed(leg_id=leg.leg_id, status=503, reason="no RTP port"),
                        now,
                    )
                ]
        return [
            CreateLeg(
                leg_id=leg.leg_id,
                call_id=call.call_id,
                uri=uris[0],
                caller=caller,
                caller_display=display,
                sdp=sdp,
                max_forwards=max_forwards,
                auto_ack=not transfer or self._plan is not None,
            )
        ]
