"""The state and primitives the call controller's parts share.

``CallController`` is assembled from ``MidCall`` (re-INVITE, transfer) and ``PromptFlows``
(announcements, voice mail) so that no file grows past a readable size; both declare here,
once, what they use of the controller. Only ``CallController`` is ever instantiated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cti_server import events as ev
from cti_server.actions import LegAction
from cti_server.call.media_plan import MediaPlanner, PromptSource
from cti_server.call.model import Call, ControllerSettings, Leg, NextHop
from cti_server.call.routing import Router, RouteTarget
from cti_server.call.services import ServiceResult
from cti_server.sip import leg_events as le
from ivr_flows.protocol import Enqueue, IvrInput


def offer_failure(status: int) -> str:
    """Why an agent's phone refused a call, as the ACD counts it."""
    return "busy" if status in (486, 600) else "declined" if status == 603 else "failed"


class ControllerBase:
    calls: dict[str, Call]
    _plan: MediaPlanner | None  # None: SDP passes through and media flows end to end
    _prompts: PromptSource | None
    _router: Router
    _settings: ControllerSettings
    _events: list[ev.Event]
    _legs: dict[str, tuple[Leg, Call]]
    _pending: list[LegAction]  # actions for other calls, returned by the running entry point
    _acd: Any  # acd.distributor.Distributor | None
    _auto_ready: bool

    _locate: Callable[[str, float], list[str]]  # account user, now -> contact URIs
    _new_id: Callable[[str], str]  # prefix -> new unique id

    def _note_failed(self, call: Call, leg: Leg, e: le.LegFailed, now: float) -> None:
        """The ``CallFailed`` event of a leg that got a final failure response."""
        self._events.append(
            ev.CallFailed(
                at=now,
                call_id=call.call_id,
                leg_id=leg.leg_id,
                status=e.status,
                cause=e.reason,
                agent_id=leg.agent_id,
            )
        )

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
        raise NotImplementedError

    def _target_uris(self, target: RouteTarget, now: float) -> list[str]:
        raise NotImplementedError

    def _clear(
        self, call: Call, now: float, cause: str, ended: Leg, *, bye_ended: bool = False
    ) -> list[LegAction]:
        raise NotImplementedError

    def _schedule(self, call: Call) -> None:
        raise NotImplementedError

    def _voicemail(
        self, call: Call, agent: str | None, language: str | None, now: float, *, queue: str = ""
    ) -> list[LegAction] | None:
        raise NotImplementedError

    def _enqueue(self, call: Call, req: Enqueue, now: float) -> list[LegAction]:
        raise NotImplementedError

    def _take_pending(self) -> list[LegAction]:
        raise NotImplementedError

    def _acd_run(self, actions: list[Any], now: float) -> list[LegAction]:
        raise NotImplementedError

    def _release_agent(self, call: Call, now: float) -> list[LegAction]:
        raise NotImplementedError

    def _play_then(
        self, call: Call, parts: list[tuple[str, dict[str, int]]], after: str, now: float
    ) -> bool:
        raise NotImplementedError

    def _play_to_caller(
        self, call: Call, parts: Sequence[tuple[str, Mapping[str, int]]], language: str, now: float
    ) -> bool:
        raise NotImplementedError

    def acd_ready(self) -> bool:
        raise NotImplementedError

    def _reject(self, call: Call, now: float, status: int, cause: str) -> list[LegAction]:
        raise NotImplementedError

    def _start_flow(self, call: Call, flow: str, now: float) -> list[LegAction] | None:
        raise NotImplementedError

    def _announce(
        self, call: Call, target: RouteTarget, hop: NextHop, now: float
    ) -> list[LegAction] | None:
        raise NotImplementedError

    def _on_failed(self, call: Call, leg: Leg, e: le.LegFailed, now: float) -> list[LegAction]:
        raise NotImplementedError

    def _queue_service_done(self, call: Call, result: ServiceResult, now: float) -> list[LegAction]:
        raise NotImplementedError

    def _call_left(self, call: Call, now: float) -> None:
        raise NotImplementedError

    def _ivr_input(self, call: Call, item: IvrInput, now: float) -> list[LegAction]:
        raise NotImplementedError

    def _queue_prompt_done(self, call: Call, now: float) -> list[LegAction]:
        raise NotImplementedError
