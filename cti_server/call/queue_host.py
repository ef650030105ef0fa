"""The controller's side of the ACD: queued callers, offers that ring agents, and the outcome.

Theory of operation: ``Enqueue`` (from an IVR flow, or a route to ``queue:NAME``) puts the
caller on music on hold and tells the distributor (``acd.distributor``). The distributor
decides; the controller executes: ``Offer`` opens an outbound leg to the agent's registered
phone (marked with ``offer_queue``), ``WithdrawOffer`` cancels it (ring-no-answer is the
distributor's deadline, not ours), ``Announce`` plays position / estimated wait and returns to
the music, ``Overflow`` sends the caller to voice mail, a callback request or a goodbye. The
first offer leg to answer is bridged to the caller. What the agent's phone does goes back to
the distributor (answered, failed); so do the caller leaving and the agent's call ending.
Distributor actions can concern other calls (an agent freed by one call is offered the next),
so they are collected in ``_pending`` and returned by whichever entry point is running.
"""

from __future__ import annotations

from acd.cluster import AgentPresence, presence_input, to_wire
from acd.protocol import (
    AcdAction,
    AcdInput,
    AgentCallEnded,
    AgentLogout,
    Announce,
    CallerLeft,
    Offer,
    OfferAnswered,
    OfferFailed,
    Overflow,
    QueueCall,
    WithdrawOffer,
)
from cti_server import events as ev
from cti_server.actions import CancelLeg, CreateLeg, LegAction
from cti_server.call.controller_base import ControllerBase, offer_failure
from cti_server.call.model import Call, CallPhase, Leg, LegDirection, LegInput
from cti_server.call.services import LoadScreenPop, ServiceRequest, ServiceResult
from cti_server.rtp.bridge import MediaError
from cti_server.sip import leg_events as le
from ivr_flows.protocol import CallbackFinished, Enqueue, RequestCallback

MOH = "moh"
HANGUP = "hangup"


class StandbyError(RuntimeError):
    """An ACD request reached a hot-standby node (the API answers 503)."""


class QueueHost(ControllerBase):
    """Base of the CallController for queued calls. State lives in the controller."""

    _pending: list[LegAction]
    _requests: list[ServiceRequest]

    # --- entry points -----------------------------------------------------------------------

    def acd_ready(self) -> bool:
        """Queues are served here (no ACD, or a hot standby's: no)."""
        return self._acd is not None and bool(getattr(self._acd, "active", True))

    def acd_input(self, item: AcdInput, now: float) -> list[LegAction]:
        """Agent state from the API, fed to the distributor (on the leader only: the API
        answers with the state it changed, which only the leader knows)."""
        if not self.acd_ready() or not getattr(self._acd, "is_leader", True):
            raise StandbyError("this node is a standby: the leader distributes calls")
        return self._acd_run(self._acd.handle(item, now), now) + self._take_pending()

    def cluster_input(self, origin: str, item: object, now: float) -> list[LegAction]:
        """An input another node of the cluster sent to this node's distributor (leader)."""
        acd = self._acd
        if acd is None or not getattr(acd, "is_leader", False):
            return []
        return self._acd_run(acd.remote_input(origin, item, now), now) + self._take_pending()

    def cluster_send(self, item: object, now: float) -> list[LegAction]:
        """An input for the cluster leader's distributor (a follower's ACD forwards it)."""
        if self._acd is None:
            return []
        return self._acd_run(self._acd.handle(item, now), now) + self._take_pending()

    def acd_decisions(self, actions: list[AcdAction], now: float) -> list[LegAction]:
        """The leader's decisions for calls this node owns (``acd.cluster``)."""
        return self._acd_run(actions, now) + self._take_pending()

    def agent_presence(self, event: ev.Event, now: float) -> list[LegAction]:
        """A phone registered or its registration ended: log the agent in or out."""
        acd = self._acd
        if not self.acd_ready() or not isinstance(event, ev.AgentRegistered | ev.AgentUnregistered):
            return []
        registered = isinstance(event, ev.AgentRegistered)
        if not registered and self._locate(event.agent_id, now):
            return []  # still registered through another node of the cluster
        presence = AgentPresence(
            agent_id=event.agent_id, registered=registered, ready=self._auto_ready
        )
        if getattr(acd, "forwards_presence", False):  # a cluster: the leader decides
            return self._acd_run(acd.handle(presence, now), now) + self._take_pending()
        item = presence_input(acd.agent_state(event.agent_id), presence)
        return [] if item is None else self.acd_input(item, now)

    def _take_pending(self) -> list[LegAction]:
        out, self._pending = self._pending, []
        return out

    def _acd_timer(self, now: float) -> list[LegAction]:
        acd = self._acd
        if acd is None or not self.acd_ready():
            return []
        due = acd.next_deadline()
        if due is None or due > now:
            return []
        return self._acd_run(acd.on_timer(now), now)

    # --- joining a queue --------------------------------------------------------------------

    def _enqueue(self, call: Call, req: Enqueue, now: float) -> list[LegAction]:
        if not self.acd_ready() or self._plan is None:
            return self._clear(call, now, "unavailable", call.inbound, bye_ended=True)
        call.phase = CallPhase.QUEUED
        call.queue = req.queue
        call.language = req.language or call.language
        if req.customer_id is not None:
            call.customer_id = req.customer_id
            self._requests.append(
                ServiceRequest(
                    call_id=call.call_id,
                    work=LoadScreenPop(customer_id=req.customer_id, auth_method=call.auth_method),
                )
            )
        self._hold_music(call)
        item = QueueCall(
            call_id=call.call_id,
            queue=req.queue,
            caller=call.caller,
            priority=req.priority,
            skills=dict(req.skills),
            customer_id=call.customer_id,
            designated_agent=req.designated_agent,
            language=call.language or self._settings.language,
        )
        call.queued_as = item
        return self._acd_run(self._acd.handle(item, now), now)

    def cluster_calls(self) -> tuple[list[dict[str, object]], list[list[str]]]:
        """The queued calls (as their ``QueueCall``) and the agent-connected calls of this
        node, for a new cluster leader (``acd.cluster.NodeReport``)."""
        queued: list[dict[str, object]] = []
        connected: list[list[str]] = []
        for call in self.calls.values():
            if call.phase is CallPhase.QUEUED and isinstance(call.queued_as, QueueCall):
                row = to_wire(call.queued_as)
                del row["type"]
                row["queue"] = call.queue or row["queue"]  # overflowed to another queue
                queued.append(row)
            elif call.acd_agent is not None and call.queue is not None:
                connected.append([call.call_id, call.acd_agent, call.queue])
        return queued, connected

    # --- executing the distributor's decisions ----------------------------------------------

    def _acd_run(self, actions: list[AcdAction], now: float) -> list[LegAction]:
        out: list[LegAction] = []
        queue = list(actions)
        while queue:
            if self._acd is not None:  # the decision's events before what executing it causes
                self._events.extend(self._acd.drain_events())
            action = queue.pop(0)
            if isinstance(action, Offer):
                legs, more = self._offer(action, now)
                out += legs
                queue += more
            elif isinstance(action, WithdrawOffer):
                out += self._withdraw(action.call_id, action.agent_id, now)
            elif isinstance(action, Announce):
                self._announce_position(action, now)
            elif isinstance(action, Overflow):
                out += self._overflow(action, now)
        if self._acd is not None:
            self._events.extend(self._acd.drain_events())
        return out

    def _offer(self, action: Offer, now: float) -> tuple[list[LegAction], list[AcdAction]]:
        call = self.calls.get(action.call_id)
        if call is None or call.phase is not CallPhase.QUEUED or self._plan is None:
            return [], self._acd.handle(
                OfferFailed(call_id=action.call_id, agent_id=action.agent_id, reason="gone"), now
            )
        uris = self._locate(action.agent_id, now)
        if not uris:  # the phone's registration is gone (or lives on a failed node):
            # the agent cannot take calls here, whatever state they were left in
            logout = AgentLogout(agent_id=action.agent_id, reason="no_registration")
            return [], self._acd.handle(logout, now)
        leg = Leg(
            self._new_id("L"),
            call.call_id,
            LegDirection.OUTBOUND,
            target=uris[0],
            agent_id=action.agent_id,
            created_at=now,
            contacts_left=uris[1:],
            offer_queue=action.queue,
        )
        try:
            sdp = self._plan.make_offer(leg.leg_id, self._plan.codec(call.inbound.leg_id), now)
        except MediaError:
            return [], self._acd.handle(
                OfferFailed(call_id=call.call_id, agent_id=action.agent_id, reason="no_media"),
                now,
            )
        self._legs[leg.leg_id] = (leg, call)
        call.offers[action.agent_id] = leg
        self._events.append(
            ev.CallOriginated(
                at=now,
                call_id=call.call_id,
                leg_id=leg.leg_id,
                target=uris[0],
                agent_id=action.agent_id,
            )
        )
        create = CreateLeg(
            leg_id=leg.leg_id, call_id=call.call_id, uri=uris[0], caller=call.caller, sdp=sdp
        )
        return [create], []

    def _withdraw(self, call_id: str, agent_id: str, now: float) -> list[LegAction]:
        call = self.calls.get(call_id)
        leg = call.offers.pop(agent_id, None) if call is not None else None
        if leg is None or not leg.alive:
            return []
        leg.apply(LegInput.HANGUP, now)
        return [CancelLeg(leg_id=leg.leg_id, reason="offer withdrawn")]

    def _announce_position(self, action: Announce, now: float) -> None:
        call = self.calls.get(action.call_id)
        if call is None or call.phase is not CallPhase.QUEUED:
            return
        parts: list[tuple[str, dict[str, int]]] = []
        if action.position is not None:
            parts.append(("position_is", {"position": action.position}))
        if action.minutes is not None:
            parts.append(("estimated_wait", {"minutes": max(action.minutes, 1)}))
        if self._play_then(call, parts, MOH, now):
            return
        self._hold_music(call)

    def _overflow(self, action: Overflow, now: float) -> list[LegAction]:
        call = self.calls.get(action.call_id)
        if call is None or call.phase is not CallPhase.QUEUED:
            return []
        if action.target.startswith("queue:"):
            call.queue = action.target.removeprefix("queue:")
            return []
        out: list[LegAction] = []
        for agent_id in list(call.offers):
            out += self._withdraw(call.call_id, agent_id, now)
        self._stop_music(call)
        language = call.language or self._settings.language
        if action.target == "voicemail":
            queue = "" if action.agent_id else action.queue
            done = self._voicemail(call, action.agent_id, language, now, queue=queue)
            if done is not None:
                return out + done
        if action.target == "callback" and _dialable(call.caller):
            call.phase = CallPhase.ROUTING  # out of the queue, waiting for the commit
            work = RequestCallback(
                request=self._new_id("R"),
                number=call.caller,
                queue=action.queue,
                customer_id=call.customer_id,
            )
            self._requests.append(ServiceRequest(call_id=call.call_id, work=work))
            return out
        if self._play_then(call, [("goodbye", {})], HANGUP, now):
            call.phase = CallPhase.ROUTING
            return out
        return out + self._clear(call, now, "queue_closed", call.inbound, bye_ended=True)

    def _queue_service_done(self, call: Call, result: ServiceResult, now: float) -> list[LegAction]:
        """A callback commit for a call that overflowed to ``callback``."""
        if not isinstance(result, CallbackFinished):
            return []
        prompt = "callback_confirmed" if result.callback_id else "goodbye"
        if self._play_then(call, [(prompt, {})], f"{HANGUP}:callback", now):
            return []
        return self._clear(call, now, "callback", call.inbound, bye_ended=True)

    # --- the agent's phone ------------------------------------------------------------------

    def _offer_answered(
        self, call: Call, leg: Leg, e: le.LegAnswered, now: float
    ) -> list[LegAction]:
        agent = leg.agent_id or ""
        call.offers.pop(agent, None)
        leg.apply(LegInput.ANSWER, now)
        leg.apply(LegInput.ACK, now)
        leg.sdp = e.sdp
        out = self._acd_run(
            self._acd.handle(OfferAnswered(call_id=call.call_id, agent_id=agent), now), now
        )
        for other in list(call.offers):  # ring-all: the distributor withdrew the rest
            out += self._withdraw(call.call_id, other, now)
        self._stop_music(call)
        call.after_prompt = None
        call.peer = leg
        call.acd_agent = agent
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

    def _offer_failed(self, call: Call, leg: Leg, e: le.LegFailed, now: float) -> list[LegAction]:
        leg.apply(LegInput.ENDED, now)
        self._legs.pop(leg.leg_id, None)
        if self._plan is not None:
            self._plan.close(leg.leg_id)
        agent = leg.agent_id or ""
        if call.offers.get(agent) is not leg:
            return []  # withdrawn by the distributor: it already knows
        del call.offers[agent]
        self._note_failed(call, leg, e, now)
        reason = offer_failure(e.status)
        return self._acd_run(
            self._acd.handle(OfferFailed(call_id=call.call_id, agent_id=agent, reason=reason), now),
            now,
        )

    def _call_left(self, call: Call, now: float) -> None:
        """The call is over (``_finish``): the distributor hears who is free again."""
        acd = self._acd
        if acd is None or call.queue is None or not self.acd_ready():
            return
        if call.acd_agent is not None:
            agent, call.acd_agent = call.acd_agent, None
            item: AcdInput = AgentCallEnded(call_id=call.call_id, agent_id=agent)
        else:
            item = CallerLeft(call_id=call.call_id)
        self._pending += self._acd_run(acd.handle(item, now), now)

    # --- music and queue prompts ------------------------------------------------------------

    def _hold_music(self, call: Call) -> None:
        plan, prompts = self._plan, self._prompts
        if plan is None or prompts is None or not call.inbound.alive:
            return
        frames = prompts.music_on_hold(plan.codec(call.inbound.leg_id) or "PCMU")
        if frames:
            plan.media.play(call.inbound.leg_id, frames, loop=True)

    def _stop_music(self, call: Call) -> None:
        if self._plan is not None and call.inbound.alive:
            self._plan.media.stop_playing(call.inbound.leg_id)

    def _play_then(
        self, call: Call, parts: list[tuple[str, dict[str, int]]], after: str, now: float
    ) -> bool:
        """Play ``parts`` in the call's language, then do ``after`` (music or a hang-up)."""
        language = call.language or self._settings.language
        if not parts or not self._play_to_caller(call, parts, language, now):
            return False
        call.after_prompt = after
        return True

    def _queue_prompt_done(self, call: Call, now: float) -> list[LegAction]:
        after, call.after_prompt = call.after_prompt, None
        if after is not None and after.startswith(HANGUP):
            cause = after.partition(":")[2] or "queue_closed"
            return self._clear(call, now, cause, call.inbound, bye_ended=True)
        if after == MOH and call.phase is CallPhase.QUEUED:
            self._hold_music(call)
        return []


def _dialable(number: str) -> bool:
    digits = number.removeprefix("+")
    return digits.isdigit() and 7 <= len(digits) <= 15
