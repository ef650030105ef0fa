"""Calls the server places itself: callbacks, campaign leads and click-to-call, agent first.

Theory of operation: ``dial_out`` rings the agent's phone first (the leg is the call's
``inbound`` leg, although it is an outbound INVITE: it is the party the call is "for"), with
the customer's number as the caller and the screen pop loading. When the agent answers, the
customer is called through the number plan (a trunk route), with the queue's or campaign's
caller ID and the attempt's ring timeout. When the customer answers the two legs are bridged;
from then on the call is an ordinary connected call (hold, transfer, hang-up, recording).

Customer first (campaigns with pacing): the customer is called first (the ``inbound`` leg again
is the party the call is for); when they answer, ``DialCustomerAnswered`` tells the dialer,
which asks for an agent within its grace time: ``connect_agent`` rings that agent as the
``peer``. If the agent does not come, the dialer abandons the call: ``hang_up(..., "abandoned")``
plays the abandon message (who called and why) before hanging up, as regulators require.

The ACD sees the agent through a claim (``acd.protocol.ClaimAgent``): RESERVED while the phone
rings, BUSY once they answer, wrap-up after the call, exactly as for an inbound offer. An agent
who is not READY (click-to-call from "not ready") places the call without a claim.

How each attempt ended is read from the events (``CallFailed`` on the customer leg with its
status, ``CallEstablished``, ``CallCleared``): the dialer host maps them to its outcomes, so
nothing here knows about retries or campaigns.
"""

from __future__ import annotations

from dataclasses import dataclass

from acd.protocol import ClaimAgent, OfferAnswered, OfferFailed
from cti_server import events as ev
from cti_server.actions import ByeLeg, CancelLeg, CreateLeg, LegAction, RespondLeg
from cti_server.call.controller_base import ControllerBase, offer_failure
from cti_server.call.model import Call, CallPhase, Leg, LegDirection, LegInput
from cti_server.call.services import LoadScreenPop, ServiceRequest
from cti_server.rtp.bridge import MediaError
from cti_server.sip import leg_events as le


@dataclass(frozen=True, slots=True, kw_only=True)
class DialOut:
    """One attempt: ring ``agent_id``, then ``number``. ``kind``: callback | lead | click."""

    attempt_id: str
    number: str
    agent_id: str
    queue: str
    kind: str
    item_id: str = ""
    caller_id: str = ""
    timeout: float = 30.0
    agent_timeout: float = 20.0
    customer_id: str | None = None
    campaign: str = ""
    note: str = ""
    wait_for_dial: bool = False  # the dialer commits the attempt first, then ``dial_customer``
    customer_first: bool = False  # campaigns: the customer first, then ``connect_agent``


class DialError(RuntimeError):
    """The attempt could not start: ``reason`` is agent_not_ready, no_registration, no_route,
    no_media or standby."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason


class DialOutHost(ControllerBase):
    """Part of the CallController: calls the server places."""

    _requests: list[ServiceRequest]

    def dial_out(self, req: DialOut, now: float) -> tuple[str, list[LegAction]]:
        """Start the attempt; returns the new call's id and the actions. Raises DialError."""
        if self._acd is not None and not self.acd_ready():
            raise DialError("standby", "this node is a standby: the leader dials")
        customer_uris = self._customer_uris(req.number, now)
        if not customer_uris:
            raise DialError("no_route", f"no trunk route in the number plan for {req.number!r}")
        if req.customer_first:
            return self._dial_customer_first(req, customer_uris, now)
        state = self._acd.agent_state(req.agent_id) if self._acd is not None else None
        if req.kind != "click" and state != "ready":
            raise DialError("agent_not_ready", f"agent {req.agent_id} is {state or 'unknown'}")
        uris = self._locate(req.agent_id, now)
        if not uris:
            raise DialError("no_registration", f"agent {req.agent_id} has no registered phone")
        call, sdp = self._first_leg(req, uris, req.agent_id, req.agent_timeout, now)
        out: list[LegAction] = []
        if state == "ready" and req.queue:
            claim = ClaimAgent(call_id=call.call_id, agent_id=req.agent_id, queue=req.queue)
            out += self._acd_run(self._acd.handle(claim, now), now)
        return call.call_id, out + self._ring_first(call, req.number, req.note or None, sdp, now)

    def _dial_customer_first(
        self, req: DialOut, uris: list[str], now: float
    ) -> tuple[str, list[LegAction]]:
        call, sdp = self._first_leg(req, uris, None, req.timeout, now)
        return call.call_id, self._ring_first(call, req.caller_id or req.queue, None, sdp, now)

    def _first_leg(
        self, req: DialOut, uris: list[str], agent_id: str | None, ring: float, now: float
    ) -> tuple[Call, bytes]:
        """The call and its first leg (the agent's, or customer first the customer's)."""
        call_id = self._new_id("C")
        leg = Leg(
            self._new_id("L"),
            call_id,
            LegDirection.OUTBOUND,
            target=uris[0],
            agent_id=agent_id,
            created_at=now,
            ring_deadline=now + ring,
            contacts_left=uris[1:],
        )
        sdp = b""
        if self._plan is not None:
            try:
                sdp = self._plan.make_offer(leg.leg_id, None, now)
            except MediaError:
                raise DialError("no_media", "no RTP port left") from None
        called = agent_id or req.campaign or req.queue
        call = Call(call_id, leg, req.number, called, created_at=now, last_activity=now)
        call.dial = req
        call.queue = req.queue or None
        call.customer_id = req.customer_id
        self.calls[call_id] = call
        self._legs[leg.leg_id] = (leg, call)
        self._events.append(
            ev.CallDialed(
                at=now,
                call_id=call_id,
                number=req.number,
                queue=req.queue,
                kind=req.kind,
                item_id=req.item_id,
                attempt_id=req.attempt_id,
                agent_id=agent_id,
                customer_id=req.customer_id,
                campaign=req.campaign,
            )
        )
        return call, sdp

    def _ring_first(
        self, call: Call, caller: str, display: str | None, sdp: bytes, now: float
    ) -> list[LegAction]:
        leg = call.inbound
        self._events.append(
            ev.CallOriginated(
                at=now,
                call_id=call.call_id,
                leg_id=leg.leg_id,
                target=leg.target,
                agent_id=leg.agent_id,
            )
        )
        req = call.dial
        if req.customer_id is not None:
            pop = LoadScreenPop(customer_id=req.customer_id, auth_method=req.kind)
            self._requests.append(ServiceRequest(call_id=call.call_id, work=pop))
        self._schedule(call)
        return [
            CreateLeg(
                leg_id=leg.leg_id,
                call_id=call.call_id,
                uri=leg.target,
                caller=caller,
                caller_display=display,
                sdp=sdp,
            )
        ]

    def connect_agent(
        self, call_id: str, agent_id: str, timeout: float, now: float
    ) -> list[LegAction]:
        """Customer first: ring ``agent_id`` for a customer who answered. Raises DialError."""
        call = self.calls.get(call_id)
        if call is None or call.dial is None or call.peer is not None or not call.inbound.up:
            raise DialError("gone", f"call {call_id} has no customer waiting for an agent")
        uris = self._locate(agent_id, now)
        if not uris:
            raise DialError("no_registration", f"agent {agent_id} has no registered phone")
        out: list[LegAction] = []
        if self._acd is not None and call.queue and self.acd_ready():
            claim = ClaimAgent(call_id=call_id, agent_id=agent_id, queue=call.queue)
            out += self._acd_run(self._acd.handle(claim, now), now)  # raises unless READY
        codec = self._plan.codec(call.inbound.leg_id) if self._plan is not None else None
        out += self._originate(call, uris, call.caller, None, b"", 70, agent_id, now, prefer=codec)
        if call.peer is not None and call.peer.alive:
            call.peer.ring_deadline = now + timeout
            self._schedule(call)
        return out + self._take_pending()

    def _customer_uris(self, number: str, now: float) -> list[str]:
        target = self._router.route(number, from_trunk=None, authenticated=True)
        if target is None or target.kind not in ("trunk", "uri", "extension"):
            return []
        return self._target_uris(target, now)

    # --- the agent's phone ------------------------------------------------------------------

    def _dial_first_answered(
        self, call: Call, leg: Leg, e: le.LegAnswered, now: float
    ) -> list[LegAction]:
        """The call's first leg answered: the agent (agent first) or the customer."""
        req = call.dial
        if req.customer_first:
            leg.apply(LegInput.ANSWER, now)
            leg.apply(LegInput.ACK, now)
            leg.ring_deadline = None
            leg.sdp = e.sdp
            if self._plan is not None:
                self._plan.take_answer(leg.leg_id, e.sdp)
            self._events.append(
                ev.DialCustomerAnswered(at=now, call_id=call.call_id, attempt_id=req.attempt_id)
            )
            return []
        leg.apply(LegInput.ANSWER, now)
        leg.apply(LegInput.ACK, now)
        leg.ring_deadline = None
        leg.sdp = e.sdp
        call.acd_agent = req.agent_id if req.queue else None
        out: list[LegAction] = []
        if self._acd is not None and req.queue and self.acd_ready():
            answered = OfferAnswered(call_id=call.call_id, agent_id=req.agent_id)
            out += self._acd_run(self._acd.handle(answered, now), now)
        codec = None
        if self._plan is not None:
            self._plan.take_answer(leg.leg_id, e.sdp)
            codec = self._plan.codec(leg.leg_id)
        self._events.append(
            ev.DialAgentConnected(
                at=now, call_id=call.call_id, attempt_id=req.attempt_id, agent_id=req.agent_id
            )
        )
        if req.wait_for_dial:
            return out
        return out + self._call_customer(call, req.caller_id, req.timeout, now, codec)

    def dial_customer(
        self, call_id: str, caller_id: str, timeout: float, now: float
    ) -> list[LegAction]:
        """Call the customer of an attempt whose agent is on the line (``wait_for_dial``)."""
        call = self.calls.get(call_id)
        if call is None or call.dial is None or call.peer is not None or not call.inbound.up:
            raise DialError("gone", f"call {call_id} has no agent waiting for a dial")
        codec = self._plan.codec(call.inbound.leg_id) if self._plan is not None else None
        return self._call_customer(call, caller_id, timeout, now, codec) + self._take_pending()

    def _call_customer(
        self, call: Call, caller_id: str, timeout: float, now: float, codec: str | None
    ) -> list[LegAction]:
        req = call.dial
        uris = self._customer_uris(req.number, now)
        if not uris:  # the number plan changed under us (reload)
            return self._clear(call, now, "no_route", call.inbound, bye_ended=True)
        caller = caller_id or req.caller_id or req.agent_id
        out = self._originate(call, uris, caller, None, b"", 70, None, now, prefer=codec)
        if call.peer is not None and call.peer.alive:
            call.peer.ring_deadline = now + timeout
            self._schedule(call)
        return out

    def hang_up(self, call_id: str, cause: str, now: float) -> list[LegAction]:
        """End a call from outside (the dialer gives an attempt up, an agent's desktop)."""
        call = self.calls.get(call_id)
        if call is None:
            return []
        if cause == "abandoned" and call.inbound.up and call.peer is None:
            parts: list[tuple[str, dict[str, int]]] = [("dialer_abandoned", {})]
            if self._play_then(call, parts, f"hangup:{cause}", now):
                return self._take_pending()
        leg = call.inbound
        out: list[LegAction] = []
        if leg.alive and leg.up:
            out.append(ByeLeg(leg_id=leg.leg_id))
            leg.apply(LegInput.HANGUP, now)
        elif leg.alive and leg.direction is LegDirection.INBOUND:
            out.append(RespondLeg(leg_id=leg.leg_id, status=480))
            leg.apply(LegInput.ENDED, now)
        elif leg.alive:
            out.append(CancelLeg(leg_id=leg.leg_id, reason=cause))
            leg.apply(LegInput.HANGUP, now)
        return out + self._clear(call, now, cause, leg) + self._take_pending()

    def _dial_first_failed(
        self, call: Call, leg: Leg, e: le.LegFailed, now: float
    ) -> list[LegAction]:
        """The first leg did not answer (busy, refused, rang out): the attempt ends here."""
        leg.apply(LegInput.ENDED, now)
        self._note_failed(call, leg, e, now)
        out = self._unclaim(call, leg, e.status, now)
        cause = "rejected" if call.dial.customer_first else "agent_unavailable"
        return out + self._clear(call, now, cause, ended=leg)

    def _dial_peer_failed(
        self, call: Call, leg: Leg, e: le.LegFailed, now: float
    ) -> list[LegAction]:
        """Customer first: the agent did not take the customer; the dialer decides (abandon)."""
        leg.apply(LegInput.ENDED, now)
        self._legs.pop(leg.leg_id, None)
        if self._plan is not None:
            self._plan.close(leg.leg_id)
        call.peer = None
        self._note_failed(call, leg, e, now)
        return self._unclaim(call, leg, e.status, now)

    def _unclaim(self, call: Call, leg: Leg, status: int, now: float) -> list[LegAction]:
        if self._acd is None or not call.queue or not leg.agent_id or not self.acd_ready():
            return []
        failed = OfferFailed(
            call_id=call.call_id, agent_id=leg.agent_id, reason=offer_failure(status)
        )
        return self._acd_run(self._acd.handle(failed, now), now)

    def _dial_peer_answered(
        self, call: Call, leg: Leg, e: le.LegAnswered, now: float
    ) -> list[LegAction]:
        """The second leg answered (the customer, or customer first the agent): bridge."""
        leg.apply(LegInput.ANSWER, now)
        leg.apply(LegInput.ACK, now)
        leg.ring_deadline = None
        leg.sdp = e.sdp
        out: list[LegAction] = []
        agent = leg.agent_id or call.dial.agent_id
        if call.dial.customer_first and leg.agent_id and call.queue:
            call.acd_agent = leg.agent_id
            if self._acd is not None and self.acd_ready():
                answered = OfferAnswered(call_id=call.call_id, agent_id=leg.agent_id)
                out += self._acd_run(self._acd.handle(answered, now), now)
        call.phase = CallPhase.CONNECTED
        call.probe_due = now + self._settings.session_expires / 2
        self._schedule(call)
        self._events.append(
            ev.CallEstablished(at=now, call_id=call.call_id, leg_id=leg.leg_id, agent_id=agent)
        )
        if self._plan is not None:
            self._plan.take_answer(leg.leg_id, e.sdp)
            self._plan.media.bridge(call.inbound.leg_id, leg.leg_id)
        return out
