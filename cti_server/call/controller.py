"""B2BUA call controller: leg events in, leg actions and domain events out.

Theory of operation: an inbound INVITE becomes a Call with an INBOUND leg; the number plan
picks a target; the controller opens an OUTBOUND leg and relays what matters between the
two: provisional responses, the answer, hang-ups from either side, re-INVITEs (hold) and a
blind transfer (REFER). SDP is relayed unchanged in this layer. Deadlines: an outbound leg
that rings longer than ``ring_timeout`` is cancelled; a connected call is probed with an
in-dialog OPTIONS every ``session_expires / 2`` and cleared when a leg no longer knows its
dialog (the reaper for calls whose BYE was lost).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cti_server import events as ev
from cti_server.actions import (
    ByeLeg,
    CancelLeg,
    LegAction,
    NotifyRefer,
    ProbeLeg,
    RespondLeg,
)
from cti_server.call.call_setup import CallSetup
from cti_server.call.deadlines import DeadlineHeap
from cti_server.call.desk_control import DeskControl
from cti_server.call.dial_out import DialOutHost
from cti_server.call.ivr_host import IvrHost
from cti_server.call.media_plan import MediaPlanner, PromptSource
from cti_server.call.midcall import MidCall
from cti_server.call.model import (
    Call,
    CallPhase,
    ControllerSettings,
    Leg,
    LegInput,
    LegState,
)
from cti_server.call.monitor import Monitor
from cti_server.call.prompt_flows import PromptFlows
from cti_server.call.queue_host import QueueHost
from cti_server.call.routing import Router
from cti_server.call.services import IvrFactory, ServiceRequest
from cti_server.call.teardown import Teardown
from cti_server.sip import leg_events as le

# Failure of the outbound leg -> what the caller hears (RFC 3261 §16.7 spirit, simplified).
_FAILURE_MAP = {486: 486, 600: 486, 603: 603, 404: 404, 484: 484, 410: 404, 408: 480, 480: 480}


def caller_status(status: int) -> int:
    if status in _FAILURE_MAP:
        return _FAILURE_MAP[status]
    if 500 <= status < 600:
        return 503
    if 400 <= status < 500:
        return 480
    return 503


Locator = Callable[[str, float], list[str]]  # account user, now -> contact URIs to try
IdSource = Callable[[str], str]  # prefix -> new unique id


class CallController(
    Monitor, CallSetup, MidCall, PromptFlows, IvrHost, QueueHost, DialOutHost, DeskControl, Teardown
):
    def __init__(
        self,
        router: Router,
        locate: Locator,
        new_id: IdSource,
        settings: ControllerSettings,
        planner: MediaPlanner | None = None,
        prompts: PromptSource | None = None,
        *,
        ivr: IvrFactory | None = None,
        acd: Any = None,
        auto_ready: bool = True,
    ) -> None:
        self._router = router
        self._plan = planner  # None: SDP passes through and media flows end to end
        self._prompts = prompts
        self._locate = locate
        self._new_id = new_id
        self._settings = settings
        self.calls: dict[str, Call] = {}
        self._legs: dict[str, tuple[Leg, Call]] = {}
        self._events: list[ev.Event] = []
        self._timers = DeadlineHeap()
        self._ivr_factory = ivr
        self._acd = acd  # acd.distributor.Distributor: queues and agents (None: no ACD)
        self._auto_ready = auto_ready
        self._requests: list[ServiceRequest] = []
        self._pending: list[LegAction] = []

    # --- sans-IO surface ------------------------------------------------------------------

    def drain_events(self) -> list[ev.Event]:
        out, self._events = self._events, []
        return out

    def next_deadline(self) -> float | None:
        due = self._timers.next(self.calls)
        acd_due = self._acd.next_deadline() if self.acd_ready() else None
        if due is None or (acd_due is not None and acd_due < due):
            return acd_due
        return due

    def on_timer(self, now: float) -> list[LegAction]:
        actions: list[LegAction] = self._acd_timer(now)
        for call in self._timers.due(self.calls, now):
            if call.ivr is not None:
                actions += self._ivr_timer(call, now)
                if call.call_id not in self.calls:
                    continue
            for leg in call.legs():
                if leg.ring_deadline is not None and leg.ring_deadline <= now and leg.alive:
                    leg.ring_deadline = None
                    actions += self._cancel_outbound(call, leg, now, status=480)
            if call.voicemail_deadline is not None and call.voicemail_deadline <= now:
                actions += self._voicemail_due(call, now)
                continue
            if call.probe_due is not None and call.probe_due <= now:
                call.probe_due = now + self._settings.session_expires / 2
                actions += [ProbeLeg(leg_id=leg.leg_id) for leg in call.legs() if leg.up]
            self._schedule(call)
        return actions + self._take_pending()

    def _schedule(self, call: Call) -> None:
        if call.call_id in self.calls:
            self._timers.schedule(call)

    def handle(self, event: le.LegEvent, now: float) -> list[LegAction]:
        return self._handle(event, now) + self._take_pending()

    def _handle(self, event: le.LegEvent, now: float) -> list[LegAction]:
        if isinstance(event, le.InviteReceived):
            return self._on_invite(event, now)
        found = self._legs.get(event.leg_id)
        if found is None:
            return []
        leg, call = found
        call.last_activity = now
        match event:
            case le.LegProgress():
                return self._on_progress(call, leg, event, now)
            case le.LegAnswered():
                return self._on_answered(call, leg, event, now)
            case le.LegFailed():
                return self._on_failed(call, leg, event, now)
            case le.LegAcked():
                if leg.state in (LegState.ANSWERED, LegState.CONFIRMED):
                    leg.apply(LegInput.ACK, now)
                if self._plan is not None and event.sdp:  # the answer to our offer in a 2xx
                    self._plan.take_answer(leg.leg_id, event.sdp)
                return []
            case le.LegCancelled():
                return self._clear(call, now, "cancelled", ended=leg)
            case le.LegHungUp():
                return self._on_hangup(call, leg, now)
            case le.LegGone():
                return self._on_hangup(call, leg, now, cause="timeout")
            case le.LegReinvited():
                return self._on_reinvite(call, leg, event, now)
            case le.LegReinviteAnswered():
                return self._on_reinvite_answered(call, leg, event, now)
            case le.LegReferred():
                return self._on_refer(call, leg, event, now)
        return []

    def _on_progress(self, call: Call, leg: Leg, e: le.LegProgress, now: float) -> list[LegAction]:
        if not leg.alive:
            return []
        first = leg.state is not LegState.EARLY
        leg.apply(LegInput.PROGRESS, now)
        if first and leg.offer_queue is not None and leg is not call.peer:
            self._events.append(
                ev.CallAlerting(
                    at=now, call_id=call.call_id, leg_id=leg.leg_id, agent_id=leg.agent_id
                )
            )
        if leg is not call.peer:
            return []
        if first:
            self._events.append(
                ev.CallAlerting(
                    at=now, call_id=call.call_id, leg_id=leg.leg_id, agent_id=leg.agent_id
                )
            )
        if call.inbound.state not in (LegState.INITIAL, LegState.EARLY):
            return []  # the caller is already answered (announcement): nothing to relay
        call.phase = CallPhase.ALERTING
        call.inbound.apply(LegInput.PROGRESS, now)
        if self._plan is None:
            return [RespondLeg(leg_id=call.inbound.leg_id, status=183 if e.sdp else 180, sdp=e.sdp)]
        plan = self._plan
        if e.sdp and plan.take_answer(leg.leg_id, e.sdp) and plan.has_offer(call.inbound.leg_id):
            plan.media.bridge(call.inbound.leg_id, leg.leg_id)  # early media (ringback, IVR)
            sdp = plan.make_answer(call.inbound.leg_id)
            return [RespondLeg(leg_id=call.inbound.leg_id, status=183, sdp=sdp)]
        return [RespondLeg(leg_id=call.inbound.leg_id, status=180)]

    def _on_answered(self, call: Call, leg: Leg, e: le.LegAnswered, now: float) -> list[LegAction]:
        if not leg.alive:
            return []  # answered after we gave up: the endpoint ACKs and we BYE it
        if call.dial is not None and leg is call.inbound:
            return self._dial_first_answered(call, leg, e, now)
        if call.dial is not None and leg is call.peer:
            return self._dial_peer_answered(call, leg, e, now)
        if leg.offer_queue is not None and leg is not call.peer:
            return self._offer_answered(call, leg, e, now)
        leg.apply(LegInput.ANSWER, now)
        leg.ring_deadline = None
        leg.sdp = e.sdp
        if leg is call.transfer_leg:
            return self._transfer_answered(call, leg, e.sdp, now)
        if leg is not call.peer:
            return [ByeLeg(leg_id=leg.leg_id)]
        leg.apply(LegInput.ACK, now)  # the endpoint ACKs a 2xx at once (auto_ack)
        already_answered = call.inbound.up  # we answered it for an announcement
        if not already_answered:
            call.inbound.apply(LegInput.ANSWER, now)
        call.phase = CallPhase.CONNECTED
        call.probe_due = now + self._settings.session_expires / 2
        self._schedule(call)
        self._events.append(
            ev.CallEstablished(
                at=now, call_id=call.call_id, leg_id=leg.leg_id, agent_id=leg.agent_id
            )
        )
        sdp = self._answer_caller(call, leg, e, now)
        if already_answered:
            return []
        return [RespondLeg(leg_id=call.inbound.leg_id, status=200, sdp=sdp)]

    def _answer_caller(self, call: Call, leg: Leg, e: le.LegAnswered, now: float) -> bytes:
        """The SDP of our 200 to the caller: relayed, our answer, or our offer (delayed)."""
        plan = self._plan
        if plan is None:
            return e.sdp
        plan.take_answer(leg.leg_id, e.sdp)
        plan.media.bridge(call.inbound.leg_id, leg.leg_id)
        if plan.has_offer(call.inbound.leg_id):
            return plan.make_answer(call.inbound.leg_id)
        return plan.make_offer(call.inbound.leg_id, plan.codec(leg.leg_id), now)

    def _on_failed(self, call: Call, leg: Leg, e: le.LegFailed, now: float) -> list[LegAction]:
        if leg.offer_queue is not None and leg is not call.peer:
            return self._offer_failed(call, leg, e, now)
        if call.dial is not None and leg is call.inbound:
            return self._dial_first_failed(call, leg, e, now)
        if call.dial is not None and call.dial.customer_first and leg is call.peer:
            return self._dial_peer_failed(call, leg, e, now)
        was_alive = leg.alive
        leg.apply(LegInput.ENDED, now)
        self._legs.pop(leg.leg_id, None)
        self._note_failed(call, leg, e, now)
        if leg is call.transfer_leg:
            call.transfer_leg = None
            call.phase = CallPhase.CONNECTED
            transferor, call.transferor = call.transferor, None
            silent, call.transfer_silent = call.transfer_silent, False
            return (
                [NotifyRefer(leg_id=transferor.leg_id, status=e.status, final=True)]
                if (transferor and transferor.alive and not silent)
                else []
            )
        if leg is not call.peer or not call.inbound.alive:
            return []
        if was_alive and leg.contacts_left and e.status not in (486, 600, 603):
            rest = leg.contacts_left
            return self._originate(
                call, rest, call.caller, None, call.inbound.sdp, 69, leg.agent_id, now
            )
        if call.voicemail_agent is not None:
            voicemail = self._voicemail(call, call.voicemail_agent, call.voicemail_language, now)
            if voicemail is not None:
                return voicemail
        if call.inbound.up:  # answered by us (announcement): nobody to connect to, hang up
            return self._clear(call, now, "rejected" if was_alive else "timeout", ended=leg)
        status = caller_status(e.status) if was_alive else 480
        return self._reject(call, now, status, "rejected" if was_alive else "timeout")

    def _cancel_outbound(self, call: Call, leg: Leg, now: float, status: int) -> list[LegAction]:
        leg.apply(LegInput.HANGUP, now)
        actions: list[LegAction] = [CancelLeg(leg_id=leg.leg_id, reason="ring timeout")]
        if leg is call.peer and call.voicemail_agent is not None:
            voicemail = self._voicemail(call, call.voicemail_agent, call.voicemail_language, now)
            if voicemail is not None:
                return actions + voicemail
        if leg is call.peer and call.inbound.state in (LegState.INITIAL, LegState.EARLY):
            actions += self._reject(call, now, status, "timeout")
        return actions

    # --- in-call --------------------------------------------------------------------------

    def _on_hangup(self, call: Call, leg: Leg, now: float, cause: str = "") -> list[LegAction]:
        leg.apply(LegInput.ENDED, now)
        if leg is call.transfer_leg:
            call.transfer_leg = None
            return []
        if leg is call.transferor:  # the REFER-ing party left, as expected after a transfer
            call.transferor = None
            if leg.agent_id is not None and leg.agent_id == call.acd_agent:
                self._call_left(call, now)  # the agent handed the call on: wrap-up begins
            return []
        if not cause:
            cause = "caller_hangup" if leg is call.inbound else "callee_hangup"
        return self._clear(call, now, cause, ended=leg)
