"""Live call monitoring: a supervisor listens to, whispers to or barges into an agent's call.

``call_id`` is the monitored call; ``supervisor_id`` the account whose phone takes part;
``leg_id`` the supervisor's own leg (never part of the call's record or recording).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cti_server.events.base import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitorStarted(Event):
    """The supervisor's phone is connected to the call in ``mode`` (listen, whisper, barge);
    ``via``: api (the wallboard rang their phone) or feature_code (they dialled *55...)."""

    name: ClassVar[str] = "monitor_started"
    call_id: str
    supervisor_id: str
    agent_id: str | None
    mode: str
    leg_id: str
    via: str = "api"


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitorChanged(Event):
    name: ClassVar[str] = "monitor_changed"
    call_id: str
    supervisor_id: str
    mode: str
    previous: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitorEnded(Event):
    """``cause``: supervisor_hangup, call_cleared, stopped (API), agent_left (transfer or
    queue), unanswered (the supervisor's phone did not take it), media_timeout."""

    name: ClassVar[str] = "monitor_ended"
    call_id: str
    supervisor_id: str
    cause: str
