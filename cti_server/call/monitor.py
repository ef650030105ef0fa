"""Live monitoring: a supervisor listens to an agent's call, whispers to the agent, or barges in.

Theory of operation: the supervisor's phone gets a leg of its own, held in a small pseudo-call
(``Call`` with the ``MonitorSession`` as its ``dial``) that is never in ``calls``: the call's
record, recording, events and the API's call list stay exactly as they were. Two ways in:
``monitor`` (the API, from the wallboard) rings the supervisor's registered phone and joins
it when it answers; dialling a feature code (``*55`` listen, ``*56`` whisper, ``*57`` barge,
then the agent's extension) from a phone whose account may monitor (``monitor_allowed``)
joins at once. The media core mixes (``MediaCore.monitor``); ``set_monitor_mode`` switches
without a gap, and so do the keys 4, 5 and 6 on the supervisor's phone (ChanSpy's keys).

The session ends when the supervisor hangs up, on ``stop_monitor``, or when the call ends or
the agent leaves it (transfer, queue); after a transfer to another agent it follows the new
agent. This class comes first in the CallController's bases, so it sees the supervisor's
legs before the general handlers do and hands everything else on, unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol, cast

from cti_server import events as ev
from cti_server.actions import (
    AnswerReinvite,
    ByeLeg,
    CancelLeg,
    CreateLeg,
    LegAction,
    RespondLeg,
)
from cti_server.call.controller_base import ControllerBase
from cti_server.call.model import Call, CallPhase, Leg, LegDirection, LegInput
from cti_server.rtp.bridge import MONITOR_MODES, DigitReceived, MediaError, MediaEvent
from cti_server.rtp.bridge import MediaTimedOut as MediaTimeout
from cti_server.sip import leg_events as le

FEATURE: Final = re.compile(r"\*5([567])(\d{1,32})")
FEATURE_MODES: Final = {"5": "listen", "6": "whisper", "7": "barge"}
KEY_MODES: Final = {"4": "listen", "5": "whisper", "6": "barge"}
SIP_STATUS: Final = {"no_such_call": 480, "not_connected": 480, "busy": 486, "own_call": 403,
                     "no_media": 503}  # fmt: skip
CAUSES: Final = {"caller_hangup": "supervisor_hangup", "timeout": "supervisor_hangup",
                 "cancelled": "supervisor_hangup", "media_timeout": "media_timeout"}  # fmt: skip


class MonitorError(RuntimeError):
    """Monitoring cannot start or change. ``reason``: bad_mode, no_such_call, not_connected,
    busy (already monitored), own_call, no_registration, no_media, not_monitored."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(slots=True)
class MonitorSession:
    call_id: str  # the monitored call
    supervisor_id: str
    mode: str
    leg: Leg  # the supervisor's leg
    via: str  # api | feature_code
    agent_leg: str | None = None  # the leg watched, once the supervisor is connected


class _Next(Protocol):
    """What the parts after ``Monitor`` in the CallController's bases provide."""

    def _on_invite(self, e: le.InviteReceived, now: float) -> list[LegAction]: ...
    def _dial_first_answered(
        self, call: Call, leg: Leg, e: le.LegAnswered, now: float
    ) -> list[LegAction]: ...
    def _dial_first_failed(
        self, call: Call, leg: Leg, e: le.LegFailed, now: float
    ) -> list[LegAction]: ...
    def _on_reinvite(
        self, call: Call, leg: Leg, e: le.LegReinvited, now: float
    ) -> list[LegAction]: ...
    def _handle_media(self, event: MediaEvent, now: float) -> list[LegAction]: ...
    def _finish(self, call: Call, now: float, cause: str, status: int) -> None: ...
    def _complete_transfer(
        self, call: Call, new_leg: Leg, status: int, answer: bytes, now: float
    ) -> list[LegAction]: ...
    def _to_queue(self, call: Call, agent: Leg, queue: str, now: float) -> list[LegAction]: ...
    def parties(self, call: Call) -> tuple[Leg | None, Leg | None]: ...


class Monitor(ControllerBase):
    """Part of the CallController: supervisors on live calls."""

    monitor_allowed: Callable[[str], bool] | None = None  # feature codes: which accounts may

    # --- requests (API) ---------------------------------------------------------------------

    def monitor(self, call_id: str, supervisor_id: str, mode: str, now: float) -> list[LegAction]:
        """Ring ``supervisor_id``'s phone; it joins the call in ``mode`` when answered.
        Raises MonitorError naming why not."""
        _check_mode(mode)
        call, agent = self._watchable(call_id, supervisor_id)
        uris = self._locate(supervisor_id, now)
        if not uris:
            raise MonitorError("no_registration", f"{supervisor_id} has no registered phone")
        plan = self._plan
        assert plan is not None  # _watchable checked
        leg = Leg(self._new_id("L"), "", LegDirection.OUTBOUND, target=uris[0], created_at=now)
        try:
            sdp = plan.make_offer(leg.leg_id, plan.codec(agent.leg_id), now)
        except MediaError:
            raise MonitorError("no_media", "no RTP port left") from None
        session = self._open_session(call, supervisor_id, mode, leg, "api", now)
        who = agent.agent_id or call.called
        return [
            CreateLeg(
                leg_id=leg.leg_id,
                call_id=leg.call_id,
                uri=uris[0],
                caller=who,
                caller_display=f"monitor {who} ({session.mode})",
                sdp=sdp,
            )
        ]

    def set_monitor_mode(self, call_id: str, mode: str, now: float) -> list[LegAction]:
        _check_mode(mode)
        session = self._sessions().get(call_id)
        if session is None:
            raise MonitorError("not_monitored", f"nobody monitors call {call_id}")
        self._switch_mode(session, mode, now)
        return []

    def stop_monitor(self, call_id: str, now: float) -> list[LegAction]:
        session = self._sessions().get(call_id)
        if session is None:
            raise MonitorError("not_monitored", f"nobody monitors call {call_id}")
        return self._end(session, now, "stopped")

    def monitor_session(self, call_id: str) -> MonitorSession | None:
        return self._sessions().get(call_id)

    # --- the supervisor's leg -----------------------------------------------------------------

    def _on_invite(self, e: le.InviteReceived, now: float) -> list[LegAction]:
        found = FEATURE.fullmatch(e.called)
        if found is None:
            return self._next()._on_invite(e, now)
        supervisor, allowed = e.auth_user, self.monitor_allowed
        if supervisor is None or e.trunk is not None or allowed is None or not allowed(supervisor):
            return [RespondLeg(leg_id=e.leg_id, status=403)]
        call = self._call_of_agent(found.group(2))
        if call is None:
            return [RespondLeg(leg_id=e.leg_id, status=480)]
        try:
            _, agent = self._watchable(call.call_id, supervisor)
        except MonitorError as exc:
            return [RespondLeg(leg_id=e.leg_id, status=SIP_STATUS.get(exc.reason, 480))]
        plan = self._plan
        assert plan is not None
        leg = Leg(e.leg_id, "", LegDirection.INBOUND, target=e.called, sdp=e.sdp, created_at=now)
        try:
            codec = plan.accept_offer(leg.leg_id, e.sdp, now)
        except MediaError:
            return [RespondLeg(leg_id=e.leg_id, status=503)]
        if codec is None:
            plan.close(leg.leg_id)
            return [RespondLeg(leg_id=e.leg_id, status=488)]
        mode = FEATURE_MODES[found.group(1)]
        session = self._open_session(call, supervisor, mode, leg, "feature_code", now)
        if codec:
            sdp = plan.make_answer(leg.leg_id)
        else:  # a delayed offer: we offer in the 200, the ACK answers
            sdp = plan.make_offer(leg.leg_id, plan.codec(agent.leg_id), now)
        leg.apply(LegInput.ANSWER, now)
        self._join(session, now)
        return [RespondLeg(leg_id=e.leg_id, status=200, sdp=sdp)]

    def _dial_first_answered(
        self, call: Call, leg: Leg, e: le.LegAnswered, now: float
    ) -> list[LegAction]:
        session = call.dial
        if not isinstance(session, MonitorSession):
            return self._next()._dial_first_answered(call, leg, e, now)
        leg.apply(LegInput.ANSWER, now)
        leg.apply(LegInput.ACK, now)  # the endpoint ACKs a 2xx at once
        leg.sdp = e.sdp
        if self._plan is None or not self._plan.take_answer(leg.leg_id, e.sdp):
            return self._end(session, now, "no_media")
        return self._join(session, now)

    def _dial_first_failed(
        self, call: Call, leg: Leg, e: le.LegFailed, now: float
    ) -> list[LegAction]:
        session = call.dial
        if not isinstance(session, MonitorSession):
            return self._next()._dial_first_failed(call, leg, e, now)
        leg.apply(LegInput.ENDED, now)
        return self._end(session, now, "unanswered")

    def _on_reinvite(self, call: Call, leg: Leg, e: le.LegReinvited, now: float) -> list[LegAction]:
        """The supervisor's phone holds or refreshes: answered here, nothing to relay."""
        if not isinstance(call.dial, MonitorSession) or self._plan is None:
            return self._next()._on_reinvite(call, leg, e, now)
        plan = self._plan
        if not e.sdp:
            offer = plan.make_offer(leg.leg_id, plan.codec(leg.leg_id), now)
            return [AnswerReinvite(leg_id=leg.leg_id, status=200, sdp=offer)]
        result = plan.reoffer(leg.leg_id, e.sdp)
        if result is None:
            return [AnswerReinvite(leg_id=leg.leg_id, status=488)]
        return [AnswerReinvite(leg_id=leg.leg_id, status=200, sdp=result[0])]

    def _handle_media(self, event: MediaEvent, now: float) -> list[LegAction]:
        found = self._legs.get(event.leg_id)
        session = found[1].dial if found is not None else None
        if not isinstance(session, MonitorSession):
            return self._next()._handle_media(event, now)
        if isinstance(event, DigitReceived) and event.digit in KEY_MODES:
            self._switch_mode(session, KEY_MODES[event.digit], now)
        elif isinstance(event, MediaTimeout):
            return self._end(session, now, "media_timeout")
        return []

    # --- the monitored call changing under the supervisor --------------------------------------

    def _finish(self, call: Call, now: float, cause: str, status: int) -> None:
        session = call.dial
        if isinstance(session, MonitorSession):  # the supervisor's leg ended: not a real call
            self._pending += self._end(session, now, CAUSES.get(cause, cause))
            return
        watched = self._sessions().get(call.call_id)
        if watched is not None and call.phase is not CallPhase.CLEARED:
            self._pending += self._end(watched, now, "call_cleared")  # before CallCleared
        self._next()._finish(call, now, cause, status)

    def _complete_transfer(
        self, call: Call, new_leg: Leg, status: int, answer: bytes, now: float
    ) -> list[LegAction]:
        out = self._next()._complete_transfer(call, new_leg, status, answer, now)
        session = self._sessions().get(call.call_id)
        if session is None or session.agent_leg is None:
            return out
        _, agent = self._next().parties(call)
        if agent is None or not agent.up:
            return out + self._end(session, now, "agent_left")
        try:  # the supervisor follows the agent who has the call now
            if self._plan is not None:
                self._plan.media.monitor(session.leg.leg_id, agent.leg_id, session.mode)
            session.agent_leg = agent.leg_id
        except MediaError:
            return out + self._end(session, now, "agent_left")
        return out

    def _to_queue(self, call: Call, agent: Leg, queue: str, now: float) -> list[LegAction]:
        session = self._sessions().get(call.call_id)
        out = self._end(session, now, "agent_left") if session is not None else []
        return out + self._next()._to_queue(call, agent, queue, now)

    # --- internals ----------------------------------------------------------------------------

    def _next(self) -> _Next:
        return cast(_Next, super())

    def _sessions(self) -> dict[str, MonitorSession]:
        book: dict[str, MonitorSession] = vars(self).setdefault("_monitor_sessions", {})
        return book

    def _watchable(self, call_id: str, supervisor_id: str) -> tuple[Call, Leg]:
        call = self.calls.get(call_id)
        if call is None:
            raise MonitorError("no_such_call", f"no call {call_id!r} in progress")
        if self._plan is None:
            raise MonitorError("no_media", "monitoring needs anchored media (media.mode: anchor)")
        _, agent = self._next().parties(call)
        if call.phase is not CallPhase.CONNECTED or agent is None or not agent.up:
            raise MonitorError("not_connected", f"call {call_id} is {call.phase.value}")
        if agent.agent_id == supervisor_id:
            raise MonitorError("own_call", "you cannot monitor your own call")
        other = self._sessions().get(call_id)
        if other is not None:
            raise MonitorError("busy", f"call {call_id} is monitored by {other.supervisor_id}")
        return call, agent

    def _call_of_agent(self, agent_id: str) -> Call | None:
        for call in self.calls.values():
            _, agent = self._next().parties(call)
            connected = call.phase is CallPhase.CONNECTED and agent is not None and agent.up
            if connected and agent is not None and agent_id in (agent.agent_id, call.acd_agent):
                return call
        return None

    def _open_session(
        self, call: Call, supervisor_id: str, mode: str, leg: Leg, via: str, now: float
    ) -> MonitorSession:
        pseudo = Call(self._new_id("M"), leg, supervisor_id, call.call_id, created_at=now)
        pseudo.phase = CallPhase.ALERTING
        leg.call_id = pseudo.call_id
        session = MonitorSession(call.call_id, supervisor_id, mode, leg, via)
        pseudo.dial = session
        self._legs[leg.leg_id] = (leg, pseudo)
        self._sessions()[call.call_id] = session
        return session

    def _join(self, session: MonitorSession, now: float) -> list[LegAction]:
        """The supervisor's phone is connected: mix it into the call."""
        call = self.calls.get(session.call_id)
        agent = self._next().parties(call)[1] if call is not None else None
        if call is None or agent is None or not agent.up or self._plan is None:
            return self._end(session, now, "call_cleared")
        try:
            self._plan.media.monitor(session.leg.leg_id, agent.leg_id, session.mode)
        except MediaError:
            return self._end(session, now, "no_media")
        found = self._legs.get(session.leg.leg_id)
        if found is not None:
            found[1].phase = CallPhase.CONNECTED  # a silent phone is cleared (media_timeout)
        media = self._plan.media
        if media.legs[session.leg.leg_id].dtmf_pt is not None:  # RFC 4733 keys only: in-band
            media.collect_digits(session.leg.leg_id, True)  # detection could hear speech as 6
        session.agent_leg = agent.leg_id
        self._events.append(
            ev.MonitorStarted(
                at=now,
                call_id=session.call_id,
                supervisor_id=session.supervisor_id,
                agent_id=agent.agent_id or call.acd_agent,
                mode=session.mode,
                leg_id=session.leg.leg_id,
                via=session.via,
            )
        )
        return []

    def _switch_mode(self, session: MonitorSession, mode: str, now: float) -> None:
        if mode == session.mode:
            return
        previous, session.mode = session.mode, mode
        if session.agent_leg is not None and self._plan is not None:
            try:
                self._plan.media.monitor(session.leg.leg_id, session.agent_leg, mode)
            except MediaError:  # the agent's leg is gone: the session ends with the call
                return
        self._events.append(
            ev.MonitorChanged(
                at=now,
                call_id=session.call_id,
                supervisor_id=session.supervisor_id,
                mode=mode,
                previous=previous,
            )
        )

    def _end(self, session: MonitorSession, now: float, cause: str) -> list[LegAction]:
        """Hang the supervisor's leg up (if it is not gone already) and forget the session."""
        if self._sessions().get(session.call_id) is not session:
            return []
        del self._sessions()[session.call_id]
        leg = session.leg
        out: list[LegAction] = []
        if leg.alive and leg.up:
            out.append(ByeLeg(leg_id=leg.leg_id))
            leg.apply(LegInput.HANGUP, now)
        elif leg.alive:
            out.append(CancelLeg(leg_id=leg.leg_id, reason="monitoring ended"))
            leg.apply(LegInput.HANGUP, now)
        self._legs.pop(leg.leg_id, None)
        if self._plan is not None:
            self._plan.media.unmonitor(leg.leg_id)
            self._plan.close(leg.leg_id)
        self._events.append(
            ev.MonitorEnded(
                at=now, call_id=session.call_id, supervisor_id=session.supervisor_id, cause=cause
            )
        )
        return out


def _check_mode(mode: str) -> None:
    if mode not in MONITOR_MODES:
        raise MonitorError("bad_mode", f"mode {mode!r} is not one of {', '.join(MONITOR_MODES)}")
