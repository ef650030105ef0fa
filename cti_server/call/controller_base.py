"""The state and primitives the call controller's parts share.

``CallController`` is assembled from ``MidCall`` (re-INVITE, transfer) and ``PromptFlows``
(announcements, voice mail) so that no file grows past a readable size; both declare here,
once, what they use of the controller. Only ``CallController`` is ever instantiated.
"""

from __future__ import annotations

from cti_server import events as ev
from cti_server.actions import LegAction
from cti_server.call.media_plan import MediaPlanner, PromptSource
from cti_server.call.model import Call, ControllerSettings, Leg
from cti_server.call.routing import Router, RouteTarget


class ControllerBase:
    _plan: MediaPlanner | None  # None: SDP passes through and media flows end to end
    _prompts: PromptSource | None
    _router: Router
    _settings: ControllerSettings
    _events: list[ev.Event]
    _legs: dict[str, tuple[Leg, Call]]

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
