"""How a call ends: the caller refused before anything rang, or every remaining leg cleared.

``_finish`` is the one place a call leaves the controller: its legs are forgotten, its media
ports released, and exactly one ``CallCleared`` is published.
"""

from __future__ import annotations

from cti_server import events as ev
from cti_server.actions import ByeLeg, CancelLeg, LegAction, RespondLeg
from cti_server.call.controller_base import ControllerBase
from cti_server.call.model import Call, CallPhase, Leg, LegDirection, LegInput
from ivr_flows.protocol import CallerHungUp


class Teardown(ControllerBase):
    """Base of the CallController: rejecting and clearing calls."""

    calls: dict[str, Call]

    def _reject(self, call: Call, now: float, status: int, cause: str) -> list[LegAction]:
        call.inbound.apply(LegInput.ENDED, now)
        self._finish(call, now, cause, status)
        return [RespondLeg(leg_id=call.inbound.leg_id, status=status)]

    def _clear(
        self, call: Call, now: float, cause: str, ended: Leg, *, bye_ended: bool = False
    ) -> list[LegAction]:
        actions: list[LegAction] = []
        if bye_ended and ended.up:  # the leg went silent: it may still think it is connected
            actions.append(ByeLeg(leg_id=ended.leg_id))
        if ended.alive:
            ended.apply(LegInput.ENDED, now)
        for leg in call.legs() + ([call.transferor] if call.transferor else []):
            if leg is ended or not leg.alive:
                continue
            if leg.direction is LegDirection.INBOUND and not leg.up:
                actions.append(
                    RespondLeg(leg_id=leg.leg_id, status=487 if cause == "cancelled" else 480)
                )
                leg.apply(LegInput.ENDED, now)
            elif leg.up:
                actions.append(ByeLeg(leg_id=leg.leg_id))
                leg.apply(LegInput.HANGUP, now)
            else:
                actions.append(CancelLeg(leg_id=leg.leg_id))
                leg.apply(LegInput.HANGUP, now)
        self._finish(call, now, cause, 0)
        return actions

    def _finish(self, call: Call, now: float, cause: str, status: int) -> None:
        if call.phase is CallPhase.CLEARED:
            return
        call.phase = CallPhase.CLEARED
        if call.ivr is not None:  # the caller left mid-flow: the run records how it ended
            run, call.ivr = call.ivr, None
            run.handle(CallerHungUp(), now)
            self._events.extend(run.drain_events())
        self._call_left(call, now)
        self.calls.pop(call.call_id, None)
        for leg in call.legs() + ([call.transferor] if call.transferor else []):
            self._legs.pop(leg.leg_id, None)
            if self._plan is not None:
                self._plan.close(leg.leg_id)
        agent = call.peer.agent_id if call.peer else None
        self._events.append(
            ev.CallCleared(at=now, call_id=call.call_id, cause=cause, status=status, agent_id=agent)
        )
